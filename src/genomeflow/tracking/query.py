"""Reading finished runs back from MLflow: an experiment's runs as a table, one run's artifact,
the hyperparameters a run used.

``genomeflow summarise`` uses these to put the runs of an experiment (train, baseline, crossval
folds, sweep trials) side by side. Like the rest of :mod:`genomeflow.tracking`, it is the only
place that talks to MLflow; a server that cannot be reached is one TrackingError.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genomeflow.errors import InputError, TrackingError
from genomeflow.tracking.runs import recording, resolve_tracking_uri

PAGE_SIZE = 1000  # runs per search request (MLflow's server allows up to 50,000)
STAGE_TAG = "genomeflow.stage"
FOLD_TAG = "genomeflow.fold"
TRIAL_TAG = "genomeflow.trial"
PARENT_TAG = "mlflow.parentRunId"
RUN_COLUMNS = (
    "run_id",
    "run_name",
    "status",
    "start_time",
    "stage",
    "parent_run_id",
    "fold",
    "trial",
)


def _server(uri: str | None, what: str) -> str:
    """The tracking URI to read from, or a TrackingError saying how to set one."""
    resolved = resolve_tracking_uri(uri)
    if resolved is None:
        raise TrackingError(
            f"{what}: no MLflow server is known; start one with `genomeflow services up`, or set "
            "MLFLOW_TRACKING_URI / pass --tracking-uri URI"
        )
    return resolved


def experiment_runs(experiment: str, uri: str | None = None) -> Any:
    """Every (not deleted) run of an MLflow experiment, one row per run.

    Args:
        experiment: the experiment's name.
        uri: the tracking URI (default: :func:`~genomeflow.tracking.resolve_tracking_uri`).

    Returns:
        A pandas DataFrame with :data:`RUN_COLUMNS` (``stage`` is the ``genomeflow.stage`` tag,
        ``parent_run_id`` the ``mlflow.parentRunId`` tag, ``fold``/``trial`` the fold and trial
        tags of crossval folds and sweep trials; None where a run lacks them), then one
        ``params.<name>`` column per param (MLflow keeps them as text) and one
        ``metrics.<name>`` column per metric (its last value), in start order.

    Raises:
        InputError: the server has no experiment of that name (the message lists the known).
        TrackingError: no server is set, or it cannot be read.
    """
    import pandas as pd
    from mlflow import MlflowClient

    server = _server(uri, f"the runs of experiment {experiment!r}")
    client = MlflowClient(server)
    with recording(server, f"read the experiment {experiment!r}"):
        found = client.get_experiment_by_name(experiment)
        known = [] if found is not None else [e.name for e in client.search_experiments()]
    if found is None:
        raise InputError(
            f"MLflow at {server} has no experiment {experiment!r} (experiments there: "
            f"{', '.join(sorted(known)) or 'none'}); check the name"
        )
    runs = []
    token = None
    with recording(server, f"read the runs of experiment {experiment!r}"):
        while True:
            page = client.search_runs(
                [found.experiment_id],
                max_results=PAGE_SIZE,
                order_by=["attributes.start_time ASC"],
                page_token=token,
            )
            runs.extend(page)
            token = page.token
            if not token:
                break
    rows = []
    for run in runs:
        tags = run.data.tags
        row: dict[str, Any] = {
            "run_id": run.info.run_id,
            "run_name": run.info.run_name,
            "status": run.info.status,
            "start_time": pd.Timestamp(run.info.start_time, unit="ms", tz="UTC"),
            "stage": tags.get(STAGE_TAG),
            "parent_run_id": tags.get(PARENT_TAG),
            "fold": tags.get(FOLD_TAG),
            "trial": tags.get(TRIAL_TAG),
        }
        row |= {f"params.{name}": value for name, value in run.data.params.items()}
        row |= {f"metrics.{name}": value for name, value in run.data.metrics.items()}
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else list(RUN_COLUMNS))


def run_artifact_text(run_id: str, path: str, uri: str | None = None) -> str | None:
    """The text of one artifact of a run (``reports/cv_folds.tsv``), None when it has none.

    Raises:
        TrackingError: no server is set, or it cannot be read.
    """
    from mlflow import MlflowClient

    server = _server(uri, f"the artifact {path} of run {run_id}")
    folder, _, _ = path.rpartition("/")
    with recording(server, f"read the artifact {path} of run {run_id}"):
        client = MlflowClient(server)
        listed = {item.path for item in client.list_artifacts(run_id, folder or None)}
        if path not in listed:
            return None
        with tempfile.TemporaryDirectory(prefix="genomeflow-artifact-") as target:
            local = client.download_artifacts(run_id, path, target)
            return Path(local).read_text(encoding="utf-8")


USED_PREFIX = "used."  # how runs before genomeflow recorded the values used once named them
SWEEP_BEST_PARAMS = "best_params.json"  # what a sweep run stores (genomeflow.sweep.local)


def run_hyperparameters(
    run_id: str, names: Sequence[str], uri: str | None = None
) -> dict[str, Any]:
    """The hyperparameters a finished run used: a sweep run's best params, else its params.

    Args:
        run_id: the MLflow run id.
        names: the parameter names to take from an ordinary run's params.
        uri: the tracking URI (default: :func:`resolve_tracking_uri`).

    Returns:
        Name -> value (numbers and booleans parsed back from MLflow's strings).

    Raises:
        TrackingError: no tracking server, or the run cannot be read.
    """
    from mlflow import MlflowClient

    from genomeflow.config import load_document

    uri = resolve_tracking_uri(uri)
    if uri is None:
        raise TrackingError(
            f"--params-from-run {run_id}: no MLflow server is known; start `genomeflow services "
            "up` or set MLFLOW_TRACKING_URI"
        )
    with recording(uri, f"read the run {run_id}"):
        client = MlflowClient(uri)
        run = client.get_run(run_id)
        listed = {item.path for item in client.list_artifacts(run_id)}
        if SWEEP_BEST_PARAMS in listed:
            with tempfile.TemporaryDirectory() as folder:
                path = client.download_artifacts(run_id, SWEEP_BEST_PARAMS, folder)
                return dict(json.loads(Path(path).read_text(encoding="utf-8"))["params"])
    params = run.data.params
    # ``used.<name>``: what the stage resolved (sweep params, files) over the flags it was given
    chosen = {name: params.get(f"{USED_PREFIX}{name}", params.get(name)) for name in names}
    return {
        name: load_document(value, f"run {run_id} param {name}")
        for name, value in chosen.items()
        if value is not None
    }
