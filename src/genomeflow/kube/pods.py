"""The pod of a GPU step that genomeflow launches itself (a Katib trial, a PyTorchJob replica):
the project image, the GPU request, node selector and toleration, resources, Secret references
and image pull secrets of :mod:`genomeflow.cluster`, and ``genomeflow`` command lines.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from kubernetes import client as k8s

from genomeflow.cluster import ClusterSettings, SecretEnv

ISTIO_ANNOTATION = {"sidecar.istio.io/inject": "false"}  # no mesh sidecar: it keeps pods alive
KFP_RUN_ID = "KFP_RUN_ID"  # the pipeline run a stage's MLflow run nests under (tracking.runs)
EXPERIMENT_ENV = "GENOMEFLOW_EXPERIMENT"  # the MLflow experiment the stage records its run in


def flag_name(name: str) -> str:
    """A setting's flag without its dashes (``learning_rate`` -> ``learning-rate``)."""
    return name.replace("_", "-")


def flag(name: str, value: Any) -> str:
    """One ``genomeflow`` option (``--learning-rate=0.001``, ``--no-compile``)."""
    option = flag_name(name)
    if isinstance(value, bool):
        return f"--{option}" if value else f"--no-{option}"
    return f"--{option}={value.value if isinstance(value, enum.Enum) else value}"


def stage_command(stage: str, config: Any) -> list[str]:
    """``genomeflow STAGE ...`` that rebuilds ``config``: positional fields in order, then an
    option for every other field that differs from its default (lists as repeated values)."""
    positional: list[str] = []
    options: list[str] = []
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        if item.metadata.get("positional"):
            positional += [str(v) for v in value] if isinstance(value, list) else [str(value)]
            continue
        default = (
            item.default_factory()
            if item.default_factory is not dataclasses.MISSING
            else item.default
        )
        if value is None or value == default:
            continue
        if isinstance(value, list):
            options += [f"--{flag_name(item.name)}", *map(str, value)]
        else:
            options.append(flag(item.name, value))
    return ["genomeflow", *stage.split(), *positional, *options]


def secret_env(secret: SecretEnv) -> list[k8s.V1EnvVar]:
    """Environment variables read from a Secret by reference: no value is ever written here."""

    def ref(key: str, optional: bool) -> k8s.V1EnvVar:
        selector = k8s.V1SecretKeySelector(name=secret.name, key=key, optional=optional or None)
        return k8s.V1EnvVar(name=key, value_from=k8s.V1EnvVarSource(secret_key_ref=selector))

    return [ref(key, False) for key in secret.keys] + [
        ref(key, True) for key in secret.optional_keys
    ]


def stage_env(
    cluster: ClusterSettings, mlflow_experiment: str, kfp_run_id: str | None
) -> list[k8s.V1EnvVar]:
    """The MLflow experiment, the pipeline run to nest under (when given) and the Secrets."""
    env = [k8s.V1EnvVar(name=EXPERIMENT_ENV, value=mlflow_experiment)]
    if kfp_run_id:
        env.append(k8s.V1EnvVar(name=KFP_RUN_ID, value=kfp_run_id))
    for secret in cluster.secrets:
        env += secret_env(secret)
    return env


def gpu_resources(cluster: ClusterSettings) -> k8s.V1ResourceRequirements:
    """The heavy steps' CPU/memory and the cluster's GPUs per pod."""
    heavy, gpu = cluster.heavy, cluster.gpu
    limits = {"cpu": heavy.cpu_limit, "memory": heavy.memory_limit, gpu.resource: str(gpu.count)}
    return k8s.V1ResourceRequirements(
        requests={"cpu": heavy.cpu, "memory": heavy.memory},
        limits={name: value for name, value in limits.items() if value is not None},
    )


def gpu_pod(container: k8s.V1Container, cluster: ClusterSettings) -> k8s.V1PodTemplateSpec:
    """A never-restarted pod on the GPU node pool (its label and taint), pulling the image with
    the cluster's pull secrets, without an Istio sidecar."""
    pod = k8s.V1PodSpec(
        containers=[container],
        node_selector={cluster.gpu.node_label: cluster.gpu.node_value},
        tolerations=[
            k8s.V1Toleration(key=cluster.gpu.taint_key, operator="Exists", effect="NoSchedule")
        ],
        restart_policy="Never",
        image_pull_secrets=[k8s.V1LocalObjectReference(name=n) for n in cluster.image_pull_secrets]
        or None,
    )
    return k8s.V1PodTemplateSpec(
        metadata=k8s.V1ObjectMeta(annotations=dict(ISTIO_ANNOTATION)), spec=pod
    )
