"""What went wrong talking to the Kubernetes API, as one line with its fix.

The Katib and training-operator SDKs raise their own ``RuntimeError``/``TimeoutError`` inside
``except`` blocks; the Kubernetes client's error behind them is found in the exception chain.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing import TimeoutError as NoAnswer  # the SDKs' request timeout
from pathlib import Path

from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException, list_kube_config_contexts
from urllib3.exceptions import HTTPError

from genomeflow.errors import first_line

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_NAMESPACE = "kubeflow"  # Kubeflow's own namespace in its standalone installs and examples


def default_namespace() -> str:
    """Where a resource goes when no namespace is given, as kubectl would choose.

    In a pod (a pipeline step, a Kubeflow notebook) its service account's namespace, the
    user's profile namespace; else the current kubeconfig context's namespace; else
    ``kubeflow``.
    """
    if SERVICE_ACCOUNT_NAMESPACE.is_file():
        found = SERVICE_ACCOUNT_NAMESPACE.read_text(encoding="utf-8").strip()
        if found:
            return found
    try:
        _, current = list_kube_config_contexts()
    except (ConfigException, OSError):  # no kubeconfig
        return DEFAULT_NAMESPACE
    return (current or {}).get("context", {}).get("namespace") or DEFAULT_NAMESPACE


@dataclass(frozen=True)
class Resource:
    """A custom resource genomeflow creates.

    Attributes:
        kind: ``Experiment``, ``PyTorchJob``.
        plural: its API plural (``experiments``), as kubectl and RBAC rules name it.
        api_version: ``kubeflow.org/v1beta1``.
        operator: who serves it (``Katib``), for the hint to install it.
    """

    kind: str
    plural: str
    api_version: str
    operator: str


def api_cause(error: BaseException) -> BaseException | None:
    """The Kubernetes client error behind an SDK error, if any."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (ApiException, HTTPError, ConnectionError, NoAnswer)):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def api_detail(cause: BaseException) -> str:
    """The API server's message (an admission webhook names the field it rejects)."""
    body = getattr(cause, "body", None)
    try:
        message = json.loads(body).get("message") if body else None
    except (ValueError, AttributeError):
        message = None
    return " ".join(str(message or getattr(cause, "reason", None) or cause).split())[:500]


def explain(cause: BaseException, resource: Resource, namespace: str, name: str) -> str:
    """What went wrong creating or reading ``namespace/name``, and how to fix it."""
    status = getattr(cause, "status", None)
    if status is None:
        return (
            f"cannot reach the Kubernetes API ({first_line(cause)}); check that the cluster is "
            "up and KUBECONFIG points at it"
        )
    detail = api_detail(cause)
    kind, group = resource.kind, resource.api_version.split("/")[0]
    if status == 409:
        return (
            f"{kind} {namespace}/{name} already exists; delete it (kubectl delete "
            f"{kind.lower()} {name} -n {namespace}) or choose another name"
        )
    if status in (401, 403):
        return (
            f"the Kubernetes API refused access (HTTP {status}: {detail}); your account needs "
            f"rights on {resource.plural}.{group} in namespace {namespace}, or pass --namespace "
            "with your Kubeflow profile's namespace"
        )
    if status == 404:
        return (
            f"HTTP 404 ({detail}): the {kind}, namespace {namespace} or {resource.operator} "
            f"itself (the {resource.plural}.{resource.api_version} API) is missing; install "
            f"{resource.operator} or fix --namespace"
        )
    return f"the Kubernetes API answered HTTP {status}: {detail}"


@contextlib.contextmanager
def api_errors(
    action: str, what: str, resource: Resource, namespace: str, name: str, error: type
) -> Iterator[None]:
    """Turn an SDK's failures to talk to the API into one ``error`` line:
    ``could not <action> <what> <namespace>/<name>: <reason and fix>``."""
    try:
        yield
    except Exception as failure:
        cause = api_cause(failure)
        if cause is None and not isinstance(failure, (RuntimeError, TimeoutError)):
            raise  # not an API failure: a bug, keep its traceback
        reason = (
            explain(cause, resource, namespace, name) if cause is not None else first_line(failure)
        )
        raise error(f"could not {action} {what} {namespace}/{name}: {reason}") from failure


def wait_failure(
    failure: BaseException,
    what: str,
    resource: Resource,
    namespace: str,
    name: str,
    timeout_s: float,
    error: type,
    remedy: str = "",
) -> Exception | None:
    """The one-line ``error`` for an SDK wait that ended in an API failure or its timeout;
    None when the resource itself failed (the caller says why)."""
    where = f"{namespace}/{name}"
    cause = api_cause(failure)
    if cause is not None:
        reason = explain(cause, resource, namespace, name)
        return error(f"could not follow {what} {where}: {reason}")
    if isinstance(failure, TimeoutError):
        return error(
            f"{what} {where} did not succeed within {timeout_s:g} s; it keeps running in the "
            f"cluster: follow it with `kubectl get {resource.kind.lower()} {name} -n "
            f"{namespace}`{remedy}"
        )
    return None
