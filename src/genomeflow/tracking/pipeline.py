"""One MLflow parent run per pipeline run; every stage of that pipeline run is its child.

KFP runs each stage in its own process (pod), so stages cannot hand each other an MLflow run.
They share the KFP run id instead: the pipeline's first task opens the parent run tagged
``kfp.run_id``; a stage that finds ``KFP_RUN_ID`` in its environment opens its run as a child of
the run carrying that tag (:func:`pipeline_parent`); the exit task closes the parent with the
pipeline's final state. The id reaches pods through the downward API (``pipelines/k8s.py``) and
local runs through the environment (``genomeflow pipeline run --local``), never as a component
input, so cached data stages keep their cache keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genomeflow.errors import TrackingError
from genomeflow.tracking.lineage import KFP_RUN_ID_TAG, kfp_run_id, provenance_tags
from genomeflow.tracking.runs import Run, Tracker, recording

PIPELINE_TAG = "genomeflow.pipeline"  # on the parent run: the pipeline's name
RUN_ID_TAG = KFP_RUN_ID_TAG
# KFP's PipelineTaskFinalStatus.state -> the MLflow status the parent run ends with.
FINAL_STATES = {"SUCCEEDED": "FINISHED", "FAILED": "FAILED", "CANCELED": "KILLED"}


def require_kfp_run_id() -> str:
    """The KFP run id, or a TrackingError saying how a task gets it."""
    run_id = kfp_run_id()
    if run_id is None:
        raise TrackingError(
            "KFP_RUN_ID is not set: compile the pipeline with `genomeflow pipeline compile` (its "
            "tasks read it from the pod label pipeline/runid) or run it with `genomeflow "
            "pipeline run --local`"
        )
    return run_id


def _client_and_experiment(tracker: Tracker) -> tuple[Any, str | None]:
    from mlflow import MlflowClient

    client = MlflowClient(tracker.uri)
    experiment = client.get_experiment_by_name(tracker.experiment)
    return client, None if experiment is None else experiment.experiment_id


def pipeline_parent(tracker: Tracker, run_id: str | None = None) -> str | None:
    """The MLflow run id of the parent run of KFP run ``run_id`` (default: this process's).

    None when tracking is off, outside a pipeline, or when no parent run was opened.
    """
    run_id = run_id or kfp_run_id()
    if tracker.uri is None or run_id is None:
        return None
    with recording(tracker.uri, f"find the pipeline run of KFP run {run_id}"):
        client, experiment_id = _client_and_experiment(tracker)
        if experiment_id is None:
            return None
        found = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{RUN_ID_TAG}` = '{run_id}' and tags.`{PIPELINE_TAG}` != ''",
            order_by=["attributes.start_time ASC"],
            max_results=1,
        )
    return found[0].info.run_id if found else None


def open_pipeline_run(
    tracker: Tracker, pipeline: str, run_id: str, params: Mapping[str, Any]
) -> str:
    """Open (or, on a retried task, find) the parent run of KFP run ``run_id``; returns its id.

    The run stays RUNNING until :func:`close_pipeline_run`.
    """
    if tracker.uri is None:
        raise TrackingError("a pipeline run needs MLflow: set MLFLOW_TRACKING_URI")
    existing = pipeline_parent(tracker, run_id)
    if existing is not None:
        return existing
    import mlflow
    from mlflow import MlflowClient

    tags = {**provenance_tags(f"genomeflow pipeline {pipeline}"), RUN_ID_TAG: run_id}
    tags[PIPELINE_TAG] = pipeline
    with recording(tracker.uri, f"open the pipeline run {pipeline!r}"):
        mlflow.set_tracking_uri(tracker.uri)
        experiment_id = mlflow.set_experiment(tracker.experiment).experiment_id
        handle = MlflowClient(tracker.uri).create_run(
            experiment_id,
            run_name=pipeline,
            tags={"genomeflow.stage": pipeline}
            | {key: str(value) for key, value in tags.items() if value is not None},
        )
    Run(tracker.uri, handle.info.run_id).log_params(params)
    return handle.info.run_id


def close_pipeline_run(tracker: Tracker, run_id: str, state: str) -> str | None:
    """End the parent run of KFP run ``run_id`` with KFP's final ``state``; returns its id."""
    parent = pipeline_parent(tracker, run_id)
    if parent is None:
        return None
    from mlflow import MlflowClient

    status = FINAL_STATES.get(state.upper(), "FAILED")
    with recording(tracker.uri or "", "close the pipeline run"):
        MlflowClient(tracker.uri).set_terminated(parent, status=status)
    return parent


def stage_runs(tracker: Tracker, parent: str) -> list[Any]:
    """The stage runs (direct children) of a parent run, oldest first."""
    with recording(tracker.uri or "", "list the stage runs"):
        client, experiment_id = _client_and_experiment(tracker)
        return client.search_runs(
            [experiment_id],
            filter_string=f"tags.`mlflow.parentRunId` = '{parent}'",
            order_by=["attributes.start_time ASC"],
        )


SUMMARY_METRICS = ("accuracy", "f1_macro", "mcc", "roc_auc")


def stage_row(run: Any) -> dict[str, Any]:
    """One stage run as a summary row: its name (which says what ran: ``baseline onehot+rf``,
    genomeflow.tracking.lineage.run_title), status, seconds and the headline test metrics
    (cross-validation means for crossval)."""
    name, metrics = run.info.run_name, run.data.metrics
    elapsed = ((run.info.end_time or run.info.start_time) - run.info.start_time) / 1000
    row: dict[str, Any] = {"stage": name, "status": run.info.status, "seconds": elapsed}
    for metric in SUMMARY_METRICS:
        row[metric] = metrics.get(f"test_{metric}", metrics.get(f"cv_{metric}_mean"))
    return row
