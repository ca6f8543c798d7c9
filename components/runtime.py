"""What every component body does after unpacking its artifacts: run the stage, record metrics.

Imported inside component bodies (it ships in the project image as genomeflow.components), so
the component files stay thin and hold no logic.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from genomeflow.stages import run_command

log = logging.getLogger(__name__)


def run_step(
    command: str, settings: dict[str, Any], experiment: str, metrics: Any = None
) -> dict[str, float]:
    """Run ``command`` with ``settings`` (flag values win over the free-form ``settings``) as an
    MLflow child run of the pipeline's run; copy its metrics into the KFP Metrics artifact.

    A retried step may replace its own earlier output (a genomeflow output at its artifact
    path), never an input: the step runs with ``overwrite``."""
    values = run_command(command, settings, experiment, overwrite=True)
    if metrics is not None:
        for name, value in values.items():
            metrics.log_metric(name, float(value))
    return values


def merged(settings: dict[str, Any], **fixed: Any) -> dict[str, Any]:
    """The stage settings: the free-form ``settings`` mapping, then the typed parameters
    (empty strings and None mean "not given", so a pipeline can leave an optional one out)."""
    return {**settings, **{k: v for k, v in fixed.items() if v not in ("", None)}}


def path_of(artifact: Any) -> str | None:
    """An optional input artifact's local path (None when the pipeline gave none)."""
    return None if artifact is None else artifact.path


def uri_of(artifact: Any) -> str | None:
    """An optional input artifact's s3:// URI (None when the pipeline gave none)."""
    return None if artifact is None else object_store_uri(artifact.uri)


def run_job_step(
    command: str,
    settings: dict[str, Any],
    output: Any,
    nodes: int,
    experiment: str,
    metrics: Any = None,
) -> None:
    """Run ``command`` as a PyTorchJob of ``nodes`` pods (genomeflow.kube.stage_job) and copy
    its output into the ``output`` artifact. ``settings`` name inputs by s3:// URI; a local
    params file (the sweep's best params) is resolved here, as the job's pods cannot read it."""
    from genomeflow.kube.stage_job import JOB_SUFFIX, run_stage_job
    from genomeflow.stages import STAGES
    from genomeflow.train.params import resolve_hyperparameters

    remote = {**settings, "output": object_store_uri(output.uri) + JOB_SUFFIX}
    config = STAGES[command].config.from_mapping(remote, source=f"{command} step")
    if hasattr(config, "params_file"):
        resolved = resolve_hyperparameters(config).to_dict()
        for name in ("params_file", "params_from_run", "params"):
            resolved.pop(name)
        config = STAGES[command].config.from_mapping(resolved, source=f"{command} step")
    values = run_stage_job(command, config, output.path, nodes, experiment)
    if metrics is not None:
        for name, value in values.items():
            metrics.log_metric(name, float(value))


def log_classification(evaluation_json: str | Path, artifact: Any) -> None:
    """Give a KFP ClassificationMetrics artifact the confusion matrix and a ROC curve.

    The Kubeflow UI draws one ROC curve per artifact: the last class's one-vs-rest curve (the
    positive class of a binary task); every class's curve is in the stage's plots.
    """
    document = json.loads(Path(evaluation_json).read_text(encoding="utf-8"))
    labels = document["label_names"]
    artifact.log_confusion_matrix(labels, document["confusion"])
    roc = document["curves"][labels[-1]]["roc"]
    if roc is not None:
        artifact.log_roc_curve(roc["fpr"], roc["tpr"], roc["thresholds"])
        artifact.metadata["roc_class"] = labels[-1]


def copy_file(source: str | Path, target: str) -> None:
    """Copy one report file to an artifact path (HTML/Markdown artifacts are single files)."""
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def object_store_uri(uri: str) -> str:
    """A KFP artifact's URI as the s3:// URI genomeflow reads: KFP names its MinIO store
    ``minio://`` but speaks S3 to it (the genomeflow-s3 Secret must point at that store)."""
    if uri.startswith("minio://"):
        return "s3://" + uri.removeprefix("minio://")
    if not uri.startswith("s3://"):
        raise ValueError(f"{uri}: Katib trials read artifacts from S3; use an S3 pipeline root")
    return uri


def run_sweep_step(
    settings: dict[str, Any],
    dataset: Any,
    result: Any,
    backend: str,
    experiment: str,
    metrics: Any,
    init_from: Any = None,
    nodes: int = 1,
) -> None:
    """The sweep on this machine (Optuna) or as a Katib Experiment; ``auto`` picks Katib inside
    a Kubernetes pod. Katib trials read the dataset (and the ``init_from`` checkpoint) from the
    object store and write their models under ``<result>-trials``, each trial a PyTorchJob of
    ``nodes`` pods when ``nodes`` > 1; the best params land in the result artifact either way."""
    from genomeflow.storage import download

    if backend == "auto":
        backend = "katib" if os.environ.get("KUBERNETES_SERVICE_HOST") else "local"
    if backend == "local":
        if nodes > 1:
            log.warning("nodes=%d applies to Katib trials; Optuna's run in this step", nodes)
        step = {**settings, "dataset": dataset.path, "output": result.path}
        run_step("sweep", merged(step, init_from=path_of(init_from)), experiment, metrics)
        return
    trials = object_store_uri(result.uri) + "-trials"
    step = {**settings, "dataset": object_store_uri(dataset.uri), "output": trials}
    if init_from is not None:
        step["init_from"] = object_store_uri(init_from.uri)
    run_step("sweep", {**step, "backend": "katib", "nodes": nodes}, experiment, metrics)
    download(f"{trials}/best_params.json", Path(result.path) / "best_params.json")
