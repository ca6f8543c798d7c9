"""The Katib client: create an Experiment through ``KatibClient``, wait for it to succeed and
read its best trial (:func:`run_experiment`).

Every failure becomes one :class:`KatibError` line that says what went wrong and how to fix it:
no API access, creation refused (the name taken, no rights, Katib missing, a field the webhook
rejects), the Experiment failed or did not finish in time, or no trial reported the metric.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing import TimeoutError as NoAnswer  # the SDK's request timeout
from pathlib import Path
from typing import Any

from kubeflow.katib import KatibClient, V1beta1Experiment, V1beta1OptimalTrial
from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException, list_kube_config_contexts
from urllib3.exceptions import HTTPError

from genomeflow.errors import GenomeflowError, first_line
from genomeflow.sweep.katib_compile import API_VERSION, DEFAULT_NAMESPACE
from genomeflow.sweep.katib_parameters import assigned_value
from genomeflow.sweep.katib_trial import CONTAINER

logger = logging.getLogger(__name__)

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_TIMEOUT_S = 24 * 3600.0
POLL_S = 15.0  # the SDK's default polling interval


class KatibError(GenomeflowError):
    """A Katib Experiment could not be created, failed, or did not finish in time."""


def default_namespace() -> str:
    """Where an Experiment goes when no namespace is given, as kubectl would choose.

    In a pod (a pipeline step, a Kubeflow notebook) its service account's namespace, the
    user's profile namespace; else the current kubeconfig context's namespace; else
    ``kubeflow``, Katib's own namespace in its standalone install and all its examples.
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
class KatibResult:
    """The outcome of a finished Katib Experiment.

    Attributes:
        experiment: ``namespace/name``.
        metric: the objective's Katib metric name (``eval_f1``).
        params: the best trial's values by genomeflow name (ints as int, floats as float).
        best_value: its objective value (the best epoch's), None if Katib recorded none.
        best_trial: the best trial's name.
        trials: trials created; ``succeeded + failed + early_stopped`` and any killed.
        succeeded: trials that ran to their end.
        failed: trials that failed.
        early_stopped: trials medianstop stopped.
    """

    experiment: str
    metric: str
    params: dict[str, Any]
    best_value: float | None
    best_trial: str
    trials: int = 0
    succeeded: int = 0
    failed: int = 0
    early_stopped: int = 0

    def metrics(self) -> dict[str, float]:
        """The names the local sweep stage records (early stopped counted as pruned)."""
        values = {
            "sweep_trials": self.trials,
            "sweep_pruned": self.early_stopped,
            "sweep_failed": self.failed,
        }
        return values if self.best_value is None else {"sweep_best_value": self.best_value} | values


def _api_cause(error: BaseException) -> BaseException | None:
    """The Kubernetes client error behind an SDK error: the SDK raises its own
    RuntimeError/TimeoutError inside ``except``, so the cause is in ``__context__``."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (ApiException, HTTPError, ConnectionError, NoAnswer)):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _api_detail(cause: BaseException) -> str:
    """The API server's message (Katib's webhook names the field it rejects)."""
    body = getattr(cause, "body", None)
    try:
        message = json.loads(body).get("message") if body else None
    except (ValueError, AttributeError):
        message = None
    return " ".join(str(message or getattr(cause, "reason", None) or cause).split())[:500]


def _explain(cause: BaseException, namespace: str, name: str) -> str:
    """What went wrong talking to the API, and how to fix it."""
    status = getattr(cause, "status", None)
    if status is None:
        return (
            f"cannot reach the Kubernetes API ({first_line(cause)}); check that the cluster is "
            "up and KUBECONFIG points at it"
        )
    detail = _api_detail(cause)
    if status == 409:
        return (
            f"an Experiment {namespace}/{name} already exists; delete it (kubectl delete "
            f"experiment {name} -n {namespace}) or choose another name"
        )
    if status in (401, 403):
        return (
            f"the Kubernetes API refused access (HTTP {status}: {detail}); your account needs "
            f"rights on experiments.kubeflow.org in namespace {namespace}, or pass --namespace "
            "with your Kubeflow profile's namespace"
        )
    if status == 404:
        return (
            f"HTTP 404 ({detail}): the Experiment, namespace {namespace} or Katib itself (the "
            f"experiments.{API_VERSION} API) is missing; install Katib or fix --namespace"
        )
    return f"the Kubernetes API answered HTTP {status}: {detail}"


@contextlib.contextmanager
def _api_errors(action: str, namespace: str, name: str) -> Iterator[None]:
    """Turn the SDK's failures to talk to the API into one :class:`KatibError`."""
    try:
        yield
    except Exception as error:
        cause = _api_cause(error)
        if cause is None and not isinstance(error, (RuntimeError, TimeoutError)):
            raise  # not an API failure: a bug, keep its traceback
        reason = _explain(cause, namespace, name) if cause is not None else first_line(error)
        raise KatibError(
            f"could not {action} Katib Experiment {namespace}/{name}: {reason}"
        ) from error


class _DebugLog(io.TextIOBase):
    """A stream whose lines go to the debug log: the SDK prints the whole Experiment status
    on every poll."""

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                logger.debug("katib: %s", line)
        return len(text)


def connect(namespace: str) -> KatibClient:
    """A Katib client from the kubeconfig (``$KUBECONFIG``) or the pod's service account.

    Raises:
        KatibError: no cluster configuration found.
    """
    try:
        return KatibClient(namespace=namespace)
    except (ConfigException, OSError) as error:
        raise KatibError(
            f"no Kubernetes API access ({first_line(error)}); point KUBECONFIG at your "
            "cluster's kubeconfig or run inside the cluster, or add --dry-run to print the "
            "Experiment without creating it"
        ) from error


def _trials_hint(name: str, namespace: str) -> str:
    """Where to look into the trials of an Experiment."""
    return (
        f"its trials (`kubectl get trials -n {namespace} -l katib.kubeflow.org/experiment="
        f"{name}`) and a trial pod's log (`kubectl logs -n {namespace} POD -c {CONTAINER}`)"
    )


def _failed_reason(katib: KatibClient, name: str, namespace: str) -> str:
    """The Failed condition's reason and message, when the API still answers."""
    try:
        experiment = katib.get_experiment(name, namespace)
    except (RuntimeError, TimeoutError):
        return "reason unknown"
    conditions = (experiment.status and experiment.status.conditions) or []
    failed = [c for c in conditions if c.type == "Failed" and c.status == "True"]
    if not failed:
        return "reason unknown"
    return f"{failed[-1].reason}: {failed[-1].message}"


def _wait(
    katib: KatibClient, name: str, namespace: str, timeout_s: float, polling_interval: float
) -> V1beta1Experiment:
    """Wait for the Succeeded condition.

    Raises:
        KatibError: the Experiment failed, did not finish in time, or the API failed.
    """
    where = f"{namespace}/{name}"
    # the SDK polls round(timeout / interval) times: at least once, whatever the timeout
    interval = min(polling_interval, timeout_s)
    try:
        with contextlib.redirect_stdout(_DebugLog()):
            return katib.wait_for_experiment_condition(
                name, namespace, timeout=timeout_s, polling_interval=interval
            )
    except (TimeoutError, RuntimeError) as error:  # the SDK's errors for API failures too
        cause = _api_cause(error)
        if cause is not None:
            reason = _explain(cause, namespace, name)
            raise KatibError(f"could not follow Katib Experiment {where}: {reason}") from error
        if isinstance(error, TimeoutError):
            raise KatibError(
                f"Katib Experiment {where} did not succeed within {timeout_s:g} s; it keeps "
                f"running in the cluster: follow it with `kubectl get experiment {name} -n "
                f"{namespace}`, or raise --timeout"
            ) from error
        raise KatibError(
            f"Katib Experiment {where} failed ({_failed_reason(katib, name, namespace)}); see "
            f"`kubectl describe experiment {name} -n {namespace}`, {_trials_hint(name, namespace)}"
        ) from error


def _best_value(optimal: V1beta1OptimalTrial, metric: str, goal: str) -> float | None:
    """The objective value Katib ranked the trial by: its max (maximize) or min (minimize)
    over the epochs, Katib's default metric strategy."""
    for found in (optimal.observation and optimal.observation.metrics) or []:
        if found.name == metric:
            text = found.max if goal == "maximize" else found.min
            return float(text if text not in (None, "") else found.latest)
    return None


def run_experiment(
    experiment: V1beta1Experiment,
    namespace: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    client: KatibClient | None = None,
    polling_interval: float = POLL_S,
) -> KatibResult:
    """Create the Experiment, wait until it succeeds, and read its best trial.

    Args:
        experiment: a compiled Experiment.
        namespace: where to create it; default its metadata's namespace.
        timeout_s: seconds to wait for the Succeeded condition.
        client: a KatibClient; default one from the kubeconfig or the pod's service account.
        polling_interval: seconds between status checks.

    Raises:
        KatibError: one line saying what failed (no API access, creation refused, the
            Experiment failed, timeout, no trial reported the metric) and how to fix it.
    """
    name = experiment.metadata.name
    namespace = namespace or experiment.metadata.namespace or default_namespace()
    katib = client if client is not None else connect(namespace)
    with _api_errors("create", namespace, name):
        katib.create_experiment(experiment, namespace)
    logger.info("Katib Experiment %s/%s created; waiting up to %g s", namespace, name, timeout_s)
    finished = _wait(katib, name, namespace, timeout_s, polling_interval)
    with _api_errors("read the best trial of", namespace, name):
        optimal = katib.get_optimal_hyperparameters(name, namespace)
    metric = experiment.spec.objective.objective_metric_name
    if optimal is None:
        raise KatibError(
            f"Katib Experiment {namespace}/{name} finished but no trial reported {metric}; look "
            f"for `{metric}=` lines: {_trials_hint(name, namespace)}"
        )
    types = {p.name: p.parameter_type for p in experiment.spec.parameters}
    params = {
        a.name: assigned_value(a.value, types.get(a.name, "categorical"))
        for a in optimal.parameter_assignments or []
    }
    status = finished.status
    return KatibResult(
        experiment=f"{namespace}/{name}",
        metric=metric,
        params=params,
        best_value=_best_value(optimal, metric, experiment.spec.objective.type),
        best_trial=optimal.best_trial_name or "",
        trials=(status and status.trials) or 0,
        succeeded=(status and status.trials_succeeded) or 0,
        failed=(status and status.trials_failed) or 0,
        early_stopped=(status and status.trials_early_stopped) or 0,
    )
