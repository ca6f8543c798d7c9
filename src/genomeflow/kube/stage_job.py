"""Run one training stage (``train``, ``pretrain``) as a PyTorchJob and bring its output back.

A pipeline step with ``nodes`` above 1 calls :func:`run_stage_job` instead of running the
stage in its own pod: the job's pods read the inputs from the object store, rank 0 writes the
output folder to ``<output artifact>-job`` and records the MLflow run (nested under the
pipeline run), and the step copies that folder into its own output artifact.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from genomeflow.cluster import ClusterSettings
from genomeflow.kube.api import default_namespace
from genomeflow.kube.pods import KFP_RUN_ID, stage_command
from genomeflow.kube.pytorchjob import job_name, pytorch_job
from genomeflow.kube.training_client import POLL_S, TrainingClient, run_job
from genomeflow.storage import download

JOB_SUFFIX = "-job"  # the job's output beside the step's own artifact
DEFAULT_TIMEOUT_S = 24 * 3600.0  # when the cluster sets no GPU timeout


def run_stage_job(
    stage: str,
    config: Any,
    local_output: str | Path,
    nodes: int,
    mlflow_experiment: str,
    cluster: ClusterSettings | None = None,
    client: TrainingClient | None = None,
    polling_interval: float = POLL_S,
) -> dict[str, float]:
    """Run ``genomeflow STAGE`` with ``config`` (s3:// inputs, an s3:// ``output``) on
    ``nodes`` pods, copy its output folder to ``local_output`` and return its metrics.

    Raises:
        TrainingJobError: the job could not be created, failed or timed out.
    """
    cluster = cluster or ClusterSettings.from_env()
    config = dataclasses.replace(config, nproc=1)  # torchrun starts the processes, not --nproc
    job = pytorch_job(
        job_name(stage, config.output),
        stage_command(stage, config),
        nodes,
        cluster,
        mlflow_experiment,
        os.environ.get(KFP_RUN_ID),
        default_namespace(),
    )
    run_job(job, float(cluster.gpu_timeout_s or DEFAULT_TIMEOUT_S), client, polling_interval)
    folder = download(config.output, local_output)
    return json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
