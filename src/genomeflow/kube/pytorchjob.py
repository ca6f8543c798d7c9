"""A Kubeflow training-operator ``PyTorchJob`` that runs one genomeflow stage on many GPU pods.

``nodes`` pods (one Master, the rest Workers) each start ``torchrun --no-python genomeflow
STAGE ...`` with one process per GPU (``nprocPerNode`` = the cluster's GPUs per pod). The
operator gives every pod the ``PET_NNODES``/``PET_NODE_RANK``/``PET_MASTER_ADDR``/``PET_*``
variables torchrun reads, and torchrun gives each process ``RANK``/``WORLD_SIZE``/
``LOCAL_RANK``, which :mod:`genomeflow.train.distributed` reads: rank 0 alone writes the model
and the MLflow run. Every process reads its s3:// inputs itself.
"""

from __future__ import annotations

import hashlib
import re

from kubeflow.training import (
    KubeflowOrgV1PyTorchJob,
    KubeflowOrgV1PyTorchJobSpec,
    KubeflowOrgV1ReplicaSpec,
    KubeflowOrgV1RunPolicy,
)
from kubernetes import client as k8s

from genomeflow.cluster import ClusterSettings
from genomeflow.errors import ConfigError
from genomeflow.kube.api import Resource
from genomeflow.kube.pods import gpu_pod, gpu_resources, stage_env

PYTORCHJOB = Resource(
    "PyTorchJob", "pytorchjobs", "kubeflow.org/v1", "the Kubeflow training operator"
)
CONTAINER = "pytorch"  # the operator sets the rendezvous variables and port on this container only
MASTER, WORKER = "Master", "Worker"
PART_OF = {"app.kubernetes.io/part-of": "genomeflow"}
NAME_LENGTH = 52  # pod names add "-worker-<n>" and must stay within 63 characters


def job_name(stage: str, key: str) -> str:
    """``genomeflow-<stage>-<10 hex digits of key>``: one name per pipeline task (the key), so a
    retried step finds its own job taken (HTTP 409) instead of starting a second one."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return (
        f"{re.sub(r'[^a-z0-9-]+', '-', f'genomeflow-{stage}'.lower())[: NAME_LENGTH - 11]}-{digest}"
    )


def pytorch_job(
    name: str | None,
    command: list[str],
    nodes: int,
    cluster: ClusterSettings,
    mlflow_experiment: str,
    kfp_run_id: str | None = None,
    namespace: str | None = None,
) -> KubeflowOrgV1PyTorchJob:
    """The PyTorchJob: ``nodes`` pods x the cluster's GPUs per pod, each running ``command``
    (``genomeflow STAGE ...``) under torchrun. ``name`` None: a template (a Katib trial's,
    which Katib names).

    Pods are never restarted and the job never retried (``backoffLimit`` 0): a rank that dies
    stops the others, and rerunning all of them is the pipeline step's retry to make. The job
    stops after the cluster's GPU timeout; pods still running when it ends are removed, finished
    ones kept for their logs.

    Raises:
        ConfigError: fewer than 2 nodes (one pod is the plain pipeline step).
    """
    if nodes < 2:
        raise ConfigError(f"nodes={nodes}: a PyTorchJob needs 2 or more; 1 trains in the step")
    container = k8s.V1Container(
        name=CONTAINER,
        image=cluster.image,
        command=["torchrun", "--no-python", *command],
        env=stage_env(cluster, mlflow_experiment, kfp_run_id),
        resources=gpu_resources(cluster),
    )
    template = gpu_pod(container, cluster)
    replicas = {
        MASTER: KubeflowOrgV1ReplicaSpec(replicas=1, restart_policy="Never", template=template),
        WORKER: KubeflowOrgV1ReplicaSpec(
            replicas=nodes - 1, restart_policy="Never", template=template
        ),
    }
    spec = KubeflowOrgV1PyTorchJobSpec(
        nproc_per_node=str(max(1, cluster.gpu.count)),
        pytorch_replica_specs=replicas,
        run_policy=KubeflowOrgV1RunPolicy(
            backoff_limit=0,
            active_deadline_seconds=cluster.gpu_timeout_s or None,
            clean_pod_policy="Running",
        ),
    )
    return KubeflowOrgV1PyTorchJob(
        api_version=PYTORCHJOB.api_version,
        kind=PYTORCHJOB.kind,
        metadata=k8s.V1ObjectMeta(name=name, namespace=namespace, labels=dict(PART_OF)),
        spec=spec,
    )
