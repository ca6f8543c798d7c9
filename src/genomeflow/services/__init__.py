"""`genomeflow services up|down|status`: a real MLflow server and, optionally, a real S3 store.

State (URIs, credentials, pids) goes to ``<home>/services.json``, which the tracking and
storage modules read when no URI or endpoint is given. ``down`` stops only the processes this
project started (by pid); a healthy MLflow server found on the port is reused and left alone.
"""

from __future__ import annotations

from typing import Any

from genomeflow.config import ServicesConfig
from genomeflow.services.mlflow_server import healthy, start_mlflow
from genomeflow.services.objectstore import start_object_store
from genomeflow.services.process import http_ok, stop
from genomeflow.storage.home import genomeflow_home, pid_alive, read_state, write_state


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
    if server and server.get("pid") and (fresh_store or not healthy(server["uri"])):
        stop([server["pid"]])  # restart ours: new store keys, or it stopped answering
        server = None
    if not server or not healthy(server["uri"]):
        artifacts = (
            f"s3://{config.bucket}/mlflow" if config.object_store else str(home / "mlartifacts")
        )
        s3_env = s3_environment(store) if config.object_store and store else {}
        state["mlflow"] = start_mlflow(
            home, config.mlflow_port, artifacts, s3_env, config.timeout
        ).as_state()
    write_state(state, home)
    return state


def services_down(config: ServicesConfig) -> list[str]:
    """Stop what genomeflow started; returns the names of the services stopped."""
    home = genomeflow_home(config.home)
    state = read_state(home)
    stopped = []
    server = state.pop("mlflow", None)
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
