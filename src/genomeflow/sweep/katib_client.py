"""The Katib client: create an Experiment through ``KatibClient``, wait for it to succeed and
read its best trial (:func:`run_experiment`).

Every failure becomes one :class:`KatibError` line that says what went wrong and how to fix it:
no API access, creation refused (the name taken, no rights, Katib missing, a field the webhook
rejects), the Experiment failed or did not finish in time, or no trial reported the metric.
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass
from typing import Any

from kubeflow.katib import KatibClient, V1beta1Experiment, V1beta1OptimalTrial
from kubernetes.config import ConfigException

from genomeflow.errors import GenomeflowError, first_line
from genomeflow.kube.api import Resource, api_errors, default_namespace, wait_failure
from genomeflow.sweep.katib_compile import API_VERSION
from genomeflow.sweep.katib_parameters import assigned_value
from genomeflow.sweep.katib_trial import CONTAINER

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 24 * 3600.0
POLL_S = 15.0  # the SDK's default polling interval
EXPERIMENT = Resource("Experiment", "experiments", API_VERSION, "Katib")


class KatibError(GenomeflowError):
    """A Katib Experiment could not be created, failed, or did not finish in time."""


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


def _api_errors(action: str, namespace: str, name: str) -> Any:
    """The SDK's failures to talk to the API as one :class:`KatibError`."""
    return api_errors(action, "Katib Experiment", EXPERIMENT, namespace, name, KatibError)


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
        args = ("Katib Experiment", EXPERIMENT, namespace, name, timeout_s, KatibError)
        known = wait_failure(error, *args, remedy=", or raise --timeout")
        if known is not None:
            raise known from error
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
