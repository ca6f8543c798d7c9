"""Submit a PyTorchJob through the training operator's ``TrainingClient`` and wait for it.

Every failure becomes one :class:`TrainingJobError` line that says what went wrong and how to
fix it: no API access, creation refused, the job failed or did not finish in time.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from kubeflow.training import KubeflowOrgV1PyTorchJob, TrainingClient
from kubernetes.config import ConfigException

from genomeflow.errors import GenomeflowError, first_line
from genomeflow.kube.api import api_cause, api_errors, default_namespace, wait_failure
from genomeflow.kube.pytorchjob import CONTAINER, MASTER, PYTORCHJOB

log = logging.getLogger(__name__)

POLL_S = 15.0  # the SDK's default polling interval


class TrainingJobError(GenomeflowError):
    """A PyTorchJob could not be created, failed, or did not finish in time."""


def connect(namespace: str) -> TrainingClient:
    """A client from the kubeconfig (``$KUBECONFIG``) or the pod's service account.

    Raises:
        TrainingJobError: no cluster configuration found.
    """
    try:
        return TrainingClient(namespace=namespace, job_kind=PYTORCHJOB.kind)
    except (ConfigException, OSError) as error:
        raise TrainingJobError(
            f"no Kubernetes API access ({first_line(error)}); point KUBECONFIG at your "
            "cluster's kubeconfig or run inside the cluster, or set nodes to 1"
        ) from error


def _api_errors(action: str, namespace: str, name: str) -> Any:
    """The SDK's failures to talk to the API as one :class:`TrainingJobError`."""
    return api_errors(action, "PyTorchJob", PYTORCHJOB, namespace, name, TrainingJobError)


def _logs_hint(name: str, namespace: str) -> str:
    """Where to read why a job failed: the master pod's log (rank 0 names input errors)."""
    pod = f"{name}-{MASTER.lower()}-0"
    return (
        f"see `kubectl describe pytorchjob {name} -n {namespace}` and the master's log "
        f"(`kubectl logs -n {namespace} {pod} -c {CONTAINER}`)"
    )


def _failed_reason(job: KubeflowOrgV1PyTorchJob | None) -> str:
    conditions = (job is not None and job.status and job.status.conditions) or []
    failed = [c for c in conditions if c.type == "Failed" and c.status == "True"]
    return f"{failed[-1].reason}: {failed[-1].message}" if failed else "reason unknown"


def run_job(
    job: KubeflowOrgV1PyTorchJob,
    timeout_s: float,
    client: TrainingClient | None = None,
    polling_interval: float = POLL_S,
) -> KubeflowOrgV1PyTorchJob:
    """Create the job (or follow the one of that name a retried step already started) and
    wait until it succeeds.

    Raises:
        TrainingJobError: one line saying what failed and how to fix it.
    """
    name = job.metadata.name
    namespace = job.metadata.namespace or default_namespace()
    training = client if client is not None else connect(namespace)
    try:
        with _api_errors("create", namespace, name):
            training.create_job(job=job, namespace=namespace)
        log.info("PyTorchJob %s/%s created; waiting up to %g s", namespace, name, timeout_s)
    except TrainingJobError as error:
        if getattr(api_cause(error), "status", None) != 409:
            raise
        log.info("PyTorchJob %s/%s exists (a retried step): following it", namespace, name)
    where = f"{namespace}/{name}"
    try:
        # the SDK polls round(timeout / interval) times: at least once, whatever the timeout
        return training.wait_for_job_conditions(
            name,
            namespace,
            PYTORCHJOB.kind,
            wait_timeout=timeout_s,
            polling_interval=min(polling_interval, timeout_s),
        )
    except (TimeoutError, RuntimeError) as error:
        args = ("PyTorchJob", PYTORCHJOB, namespace, name, timeout_s, TrainingJobError)
        known = wait_failure(error, *args)
        if known is not None:
            raise known from error
        with contextlib.suppress(RuntimeError, TimeoutError):
            job = training.get_job(name, namespace, PYTORCHJOB.kind)
        raise TrainingJobError(
            f"PyTorchJob {where} failed ({_failed_reason(job)}); {_logs_hint(name, namespace)}; "
            "delete it before a rerun"
        ) from error
