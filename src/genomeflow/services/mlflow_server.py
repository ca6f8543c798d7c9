"""A real ``mlflow server`` on loopback: SQLite backend, local or S3 artifact destination."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genomeflow.services.process import http_ok, require_free_port, spawn, wait_until


@dataclass(frozen=True)
class MlflowServer:
    """A running (or reused) MLflow server."""

    uri: str
    pid: int | None  # None: reused a server genomeflow did not start, never stopped by us
    artifacts: str
    log: str
    seconds_to_start: float

    def as_state(self) -> dict[str, Any]:
        return dict(self.__dict__)


def healthy(uri: str) -> bool:
    return http_ok(f"{uri}/health")


def start_mlflow(
    home: Path, port: int, artifacts: str, s3_env: dict[str, str], timeout_s: float
) -> MlflowServer:
    """Start ``mlflow server`` (one worker: 2 cores) unless one already answers on ``port``.

    Args:
        home: folder of the SQLite database and the log.
        port: TCP port on 127.0.0.1.
        artifacts: artifact destination, a folder or ``s3://bucket/prefix`` (proxied: clients
            need no S3 credentials).
        s3_env: S3 endpoint and credentials for an ``s3://`` destination.
        timeout_s: seconds to wait for /health (about 16-26 s here).
    """
    uri = f"http://127.0.0.1:{port}"
    log = home / "logs" / "mlflow.log"
    if healthy(uri):
        return MlflowServer(uri, None, artifacts, str(log), 0.0)
    require_free_port(port, "--mlflow-port", "mlflow server")
    began = time.monotonic()
    mlflow = Path(sys.executable).with_name("mlflow")
    argv = [
        str(mlflow) if mlflow.exists() else "mlflow",
        "server",
        "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
        "--artifacts-destination", artifacts,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip
    pid = spawn(argv, log, env={**os.environ, **s3_env})
    wait_until(lambda: healthy(uri), "mlflow server", log, timeout_s, [pid])
    return MlflowServer(uri, pid, artifacts, str(log), round(time.monotonic() - began, 1))
