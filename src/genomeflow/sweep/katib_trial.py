"""The trial template of a Katib Experiment: a ``batch/v1`` Job running ``genomeflow train
DATASET --output=PREFIX/<trial> ...`` in the project image, with the GPU request, node selector,
toleration, resources and Secret references of :mod:`genomeflow.cluster`.

Every searched parameter becomes a ``${trialParameters.X}`` flag of the command, X defined once
and referring to an Experiment parameter; the shared train settings, the sweep metric and the
spec's constants become fixed flags. Secrets are referenced by name, never written.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from kubeflow.katib import V1beta1ParameterSpec, V1beta1TrialParameterSpec, V1beta1TrialTemplate
from kubernetes import client as k8s

from genomeflow.cluster import ClusterSettings
from genomeflow.config import TrainConfig
from genomeflow.errors import ConfigError
from genomeflow.kube.pods import flag, flag_name, gpu_pod, gpu_resources, stage_env
from genomeflow.kube.pytorchjob import CONTAINER as PYTORCH_CONTAINER
from genomeflow.kube.pytorchjob import pytorch_job
from genomeflow.metric_names import canonical_metric
from genomeflow.sweep.katib_parameters import decimal_text
from genomeflow.sweep.spec import SweepSpec

CONTAINER = "training-container"  # the primary container name of Katib's examples
TRIAL_NAME = "trialName"  # the trial parameter holding the trial's own name
# `genomeflow train` settings a trial never takes from the sweep's settings: per-trial paths,
# the hyperparameter sources already resolved into values, and --nproc (a trial is one process).
# A PyTorchJob trial: Katib reads the metrics from the master pod's container and follows the
# job's own conditions (the settings of Katib's PyTorchJob examples).
JOB_ROLE_LABEL = "training.kubeflow.org/job-role"
JOB_SUCCEEDED = 'status.conditions.#(type=="Succeeded")#|#(status=="True")#'
JOB_FAILED = 'status.conditions.#(type=="Failed")#|#(status=="True")#'
NOT_TRIAL_FLAGS = frozenset(
    {"dataset", "output", "params", "params_file", "params_from_run", "checkpoints", "resume"}
    | {"nproc"}
)


def _trial_parameter(name: str) -> str:
    """The trial-template name of a hyperparameter, camelCase as Katib's examples
    (``learning_rate`` -> ``learningRate``)."""
    first, *rest = re.split(r"[_.\-]+", name)
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def _flag(name: str, value: Any) -> str:
    """One ``genomeflow train`` argument, numbers as plain decimals as Katib holds them."""
    return flag(name, decimal_text(value) if isinstance(value, float) else value)


def _trial_job(
    command: list[str], cluster: ClusterSettings, mlflow_experiment: str, kfp_run_id: str | None
) -> k8s.V1Job:
    """The trial's ``batch/v1`` Job: one GPU pod, never restarted nor retried (a failed trial is
    Katib's to count), stopped after the cluster's GPU timeout. With ``kfp_run_id`` the trial's
    MLflow run nests under that pipeline run's."""
    container = k8s.V1Container(
        name=CONTAINER,
        image=cluster.image,
        command=command,  # Katib's StdOut collector wraps `command`: it must be set, not args
        env=stage_env(cluster, mlflow_experiment, kfp_run_id),
        resources=gpu_resources(cluster),
    )
    job = k8s.V1JobSpec(
        template=gpu_pod(container, cluster),
        backoff_limit=0,  # Kubernetes' default 6 would rerun a failed trial's pod 6 times
        active_deadline_seconds=cluster.gpu_timeout_s or None,
    )
    return k8s.V1Job(api_version="batch/v1", kind="Job", spec=job)


def _fixed_flags(
    spec: SweepSpec, train_flags: Mapping[str, Any], searched: Sequence[str]
) -> dict[str, Any]:
    """The settings every trial shares: the train flags, the sweep metric (trials choose
    their checkpoint and stop early on it, as local trials do) and the spec's constants."""
    known = {item.name for item in dataclasses.fields(TrainConfig)} - NOT_TRIAL_FLAGS
    unknown = sorted(set(train_flags) - known)
    if unknown:
        raise ConfigError(
            f"train flags {', '.join(unknown)} are not `genomeflow train` settings a trial can "
            f"share; valid: {', '.join(sorted(known))}"
        )
    constants = {n: p.value for n, p in spec.parameters.items() if not p.searched}
    fixed = {**train_flags, "metric": canonical_metric(spec.metric.name), **constants}
    return {name: value for name, value in fixed.items() if name not in searched}


def trial_template(
    spec: SweepSpec,
    parameters: Sequence[V1beta1ParameterSpec],
    *,
    dataset: str,
    output: str,
    train_flags: Mapping[str, Any],
    cluster: ClusterSettings,
    mlflow_experiment: str,
    kfp_run_id: str | None = None,
    nodes: int = 1,
) -> V1beta1TrialTemplate:
    """The trial template: ``genomeflow train`` with a ``${trialParameters.X}`` per searched
    parameter, each X defined once and referring to an Experiment parameter.

    Args:
        spec: the sweep (its metric and constants become fixed flags).
        parameters: the Experiment's parameters, one flag each.
        dataset: URI of the dataset folder every trial trains on.
        output: URI prefix of the trial models; a trial writes ``<output>/<trial name>``.
        train_flags: ``genomeflow train`` settings every trial shares, by field name.
        cluster: image, GPU scheduling, resources and Secrets of the trial pods.
        mlflow_experiment: the MLflow experiment the trials record their runs in.
        kfp_run_id: the pipeline run the sweep step belongs to: the trials' MLflow runs nest
            under its parent run.
        nodes: pods per trial; above 1 each trial is a PyTorchJob (genomeflow.kube.pytorchjob)
            whose master pod Katib reads the metrics from.

    Raises:
        ConfigError: a train flag no trial can take.
    """
    names = [parameter.name for parameter in parameters]
    trial_parameters = [
        V1beta1TrialParameterSpec(
            name=TRIAL_NAME,
            description="the trial's name: its model folder",
            reference="${trialSpec.Name}",
        )
    ] + [
        V1beta1TrialParameterSpec(
            name=_trial_parameter(name),
            description=f"genomeflow train --{flag_name(name)}",
            reference=name,
        )
        for name in names
    ]
    command = [
        "genomeflow",
        "train",
        dataset,
        f"--output={output.rstrip('/')}/${{trialParameters.{TRIAL_NAME}}}",
        *(_flag(name, value) for name, value in _fixed_flags(spec, train_flags, names).items()),
        *(f"--{flag_name(name)}=${{trialParameters.{_trial_parameter(name)}}}" for name in names),
    ]
    if nodes > 1:
        return V1beta1TrialTemplate(
            primary_container_name=PYTORCH_CONTAINER,
            primary_pod_labels={JOB_ROLE_LABEL: "master"},
            success_condition=JOB_SUCCEEDED,
            failure_condition=JOB_FAILED,
            trial_parameters=trial_parameters,
            trial_spec=pytorch_job(None, command, nodes, cluster, mlflow_experiment, kfp_run_id),
        )
    return V1beta1TrialTemplate(
        primary_container_name=CONTAINER,
        trial_parameters=trial_parameters,
        trial_spec=_trial_job(command, cluster, mlflow_experiment, kfp_run_id),
    )
