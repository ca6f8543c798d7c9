"""`genomeflow services up|down|status`: a real MLflow server and, optionally, a real S3 store.

State (URIs, credentials, pids) goes to ``<home>/services.json``, which the tracking and
storage modules read when no URI or endpoint is given. ``down`` stops only the processes this
project started (by pid); a healthy MLflow server found on the port is reused and left alone.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from genomeflow.config import ServicesConfig
from genomeflow.services.mlflow_server import healthy, start_mlflow
from genomeflow.services.objectstore import start_object_store
from genomeflow.services.process import http_ok, stop
from genomeflow.storage.home import genomeflow_home, pid_alive, read_state, write_state

log = logging.getLogger(__name__)

# State key, kept across `down`: the tracking database holds runs whose artifacts are in the
# object store. The store keeps its data in memory (Ceph memstore), so a fresh store means those
# artifacts are gone and the database would point at nothing.
ARTIFACTS_IN_STORE = "tracking_artifacts_in_object_store"


def s3_environment(store: dict[str, Any]) -> dict[str, str]:
    """Environment variables that point S3 clients (boto3, MLflow) at a recorded store."""
    return {
        "MLFLOW_S3_ENDPOINT_URL": store["endpoint"],
        "AWS_ENDPOINT_URL_S3": store["endpoint"],
        "AWS_ACCESS_KEY_ID": store["access_key"],
        "AWS_SECRET_ACCESS_KEY": store["secret_key"],
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def _store_running(store: dict[str, Any] | None) -> bool:
    return bool(store) and all(map(pid_alive, store["pids"])) and http_ok(store["endpoint"])


def services_up(config: ServicesConfig) -> dict[str, Any]:
    """Start (or reuse) the services; returns the recorded state."""
    home = genomeflow_home(config.home)
    state = read_state(home)
    store = state.get("object_store")
    fresh_store = False
    if config.object_store and not _store_running(store):
        folder = home / "objectstore"
        store = start_object_store(
            folder, config.s3_port, config.mon_port, config.bucket, config.timeout
        ).as_state()
        state["object_store"] = store
        fresh_store = True
        write_state(state, home)  # record the pids now: a later failure can still be stopped
    server = state.get("mlflow")
    # Also a state written before ARTIFACTS_IN_STORE was recorded: its server's artifact root.
    in_store = state.pop(ARTIFACTS_IN_STORE, False) or str(
        (server or {}).get("artifacts", "")
    ).startswith("s3://")
    if server and server.get("pid") and (fresh_store or not healthy(server["uri"])):
        stop([server["pid"]])  # restart ours: new store keys, or it stopped answering
        server = None
    if not server or not healthy(server["uri"]):
        if fresh_store and in_store:
            _set_aside_tracking_database(home)
        artifacts = (
            f"s3://{config.bucket}/mlflow" if config.object_store else str(home / "mlartifacts")
        )
        s3_env = s3_environment(store) if config.object_store and store else {}
        state["mlflow"] = start_mlflow(
            home, config.mlflow_port, artifacts, s3_env, config.timeout
        ).as_state()
    if config.object_store or (in_store and not fresh_store):
        state[ARTIFACTS_IN_STORE] = True
    write_state(state, home)
    return state


def _set_aside_tracking_database(home: Path) -> None:
    """Keep the tracking database of an earlier object store under another name: its runs and
    registered versions point at artifacts that went with that store, so a registry consumer
    (the pipeline's champion) would find a version with no files. Nothing is deleted."""
    database = home / "mlflow.db"
    if not database.exists():
        return
    kept = home / f"mlflow-before-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.db"
    database.rename(kept)
    log.warning(
        "the object store started empty (it keeps data in memory only), so the runs and models "
        "tracked with the earlier one lost their files; their database is kept as %s and MLflow "
        "starts a new one",
        kept,
    )


def services_down(config: ServicesConfig) -> list[str]:
    """Stop what genomeflow started; returns the names of the services stopped."""
    home = genomeflow_home(config.home)
    state = read_state(home)
    stopped = []
    server = state.pop("mlflow", None)
    if server and str(server.get("artifacts", "")).startswith("s3://"):
        state[ARTIFACTS_IN_STORE] = True  # what the next fresh store's `up` must know
    if server and server.get("pid"):
        stop([server["pid"]])
        stopped.append("mlflow")
    store = state.pop("object_store", None)
    if store:
        stop(list(reversed(store["pids"])))  # gateway, OSD, then monitor
        stopped.append("object store")
    write_state(state, home)
    return stopped


def services_status(config: ServicesConfig) -> dict[str, str]:
    """``{service: "running at ..." | "not running"}`` for MLflow and the object store."""
    state = read_state(config.home)
    server, store = state.get("mlflow"), state.get("object_store")
    return {
        "mlflow": f"running at {server['uri']}"
        if server and healthy(server["uri"])
        else "not running",
        "object store": f"running at {store['endpoint']} (bucket {store['bucket']})"
        if _store_running(store)
        else "not running",
    }
