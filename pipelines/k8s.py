"""Kubernetes settings of pipeline tasks, applied in one place at compile time.

Values come from :class:`genomeflow.cluster.ClusterSettings` (shared with the Katib trial
template and manifests/). The KFP local runner ignores all of them; they live in the compiled
YAML (``resources`` and the kfp-kubernetes platform spec).
"""

from __future__ import annotations

from kfp import kubernetes
from kfp.dsl import PipelineTask

from genomeflow.cluster import CLUSTER_ENV, ClusterSettings, Resources

RUN_ID_FIELD = "metadata.labels['pipeline/runid']"  # KFP labels every task pod with its run id
BACKOFF = {"backoff_duration": "30s", "backoff_factor": 2.0}  # 30 s, 60 s, 120 s...


def _resources(task: PipelineTask, resources: Resources) -> None:
    task.set_cpu_request(resources.cpu).set_memory_request(resources.memory)
    if resources.cpu_limit:
        task.set_cpu_limit(resources.cpu_limit)
    if resources.memory_limit:
        task.set_memory_limit(resources.memory_limit)


def configure(
    task: PipelineTask,
    settings: ClusterSettings,
    *,
    gpu: bool = False,
    cache: bool = False,
    network: bool = True,
    launches_pods: bool = False,
) -> PipelineTask:
    """Give ``task`` its image, resources, scheduling, credentials, run id, caching and retries.

    Args:
        task: a task of a pipeline being defined.
        settings: the cluster's settings.
        gpu: needs a GPU: accelerator limit, GPU node selector and toleration, heavy resources,
            and a timeout (a hung step does not hold its GPU for ever).
        cache: deterministic in its inputs (data stages): KFP may reuse an earlier result.
        network: talks to MLflow or the object store beyond KFP's own artifact passing:
            retried with backoff on failure.
        launches_pods: may start pods of its own (the sweep's Katib trials, the PyTorchJob of a
            train or pretrain step with ``nodes`` > 1): it gets ``settings``
            in $GENOMEFLOW_CLUSTER, so those pods run the same image with the same scheduling.
    """
    task.set_container_image(settings.image)  # over the image the component was declared with
    if settings.image_pull_secrets:
        kubernetes.set_image_pull_secrets(task, list(settings.image_pull_secrets))
    _resources(task, settings.heavy if gpu else settings.light)
    if gpu:
        if settings.gpu_timeout_s:
            kubernetes.set_timeout(task, settings.gpu_timeout_s)
        accelerator = settings.gpu
        task.set_accelerator_type(accelerator.resource)  # KFP on Kubernetes: the resource name
        task.set_accelerator_limit(accelerator.count)
        kubernetes.add_node_selector(task, accelerator.node_label, accelerator.node_value)
        kubernetes.add_toleration(
            task, key=accelerator.taint_key, operator="Exists", effect="NoSchedule"
        )
    for secret in settings.secrets:
        kubernetes.use_secret_as_env(task, secret.name, {key: key for key in secret.keys})
        if secret.optional_keys:
            keys = {key: key for key in secret.optional_keys}
            kubernetes.use_secret_as_env(task, secret.name, keys, optional=True)
    kubernetes.use_field_path_as_env(task, "KFP_RUN_ID", RUN_ID_FIELD)
    if launches_pods:
        task.set_env_variable(CLUSTER_ENV, settings.to_json())
    task.set_caching_options(cache)
    if network and settings.retries:
        task.set_retry(num_retries=settings.retries, **BACKOFF)
    return task
