"""A :class:`~genomeflow.sweep.spec.SweepSpec` compiled to a Katib v1beta1 ``Experiment`` whose
trials are ``genomeflow train`` pods (:func:`compile_experiment`).

The mapping (what the local Optuna engine does, on Katib):

- method: random -> ``random``, grid -> ``grid``, bayes -> ``tpe``. Katib's ``tpe`` is
  hyperopt's TPE, the same family as the local engine's Optuna TPESampler, and it draws every
  spec kind (all four Katib distributions, with ``step``); ``bayesianoptimization`` (a
  scikit-optimize Gaussian process) refuses normal/logNormal and ignores ``step``.
- metric: the spec's name (``eval/f1``, ``f1``, ``eval_f1``, ``loss``...) becomes the name
  ``genomeflow train`` prints per epoch as a Katib StdOut line (``<time> eval_f1=0.819216``);
  the other printed metrics become ``additionalMetricNames`` (:mod:`.katib_metrics`).
- parameters: Katib parameters and distributions (:mod:`.katib_parameters`); ``constant`` ->
  a fixed flag of the trial command. Names the reference toolkit sampled but never used
  (``decay``, ``momentum``) are dropped with a warning, as locally.
- early termination: a spec with wandb's hyperband ``early_terminate`` gets Katib's
  ``medianstop`` early stopping (checks from the first hyperband bracket on). With
  ``algorithm="hyperband"`` (``genomeflow sweep --katib-algorithm hyperband``) the Experiment
  runs Katib's hyperband instead: ``epochs`` is the resource (``r_l`` = ``max_iter``, ``eta``
  from the spec), trials are sampled at random within brackets and the spec's ``epochs``
  values are replaced by the bracket budgets.
- trial: a ``batch/v1`` Job running ``genomeflow train`` (:mod:`.katib_trial`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from kubeflow.katib import (
    V1beta1AlgorithmSetting,
    V1beta1AlgorithmSpec,
    V1beta1CollectorSpec,
    V1beta1EarlyStoppingSetting,
    V1beta1EarlyStoppingSpec,
    V1beta1Experiment,
    V1beta1ExperimentSpec,
    V1beta1FilterSpec,
    V1beta1MetricsCollectorSpec,
    V1beta1ObjectiveSpec,
    V1beta1SourceSpec,
)
from kubernetes import client as k8s

from genomeflow.cluster import ClusterSettings
from genomeflow.errors import ConfigError
from genomeflow.kube.api import DEFAULT_NAMESPACE
from genomeflow.sweep.hyperparameters import usable_names
from genomeflow.sweep.katib_metrics import METRICS_FILTER, PRINTED_METRICS, katib_metric
from genomeflow.sweep.katib_parameters import parameter_spec
from genomeflow.sweep.katib_trial import trial_template
from genomeflow.sweep.spec import NORMAL_KINDS, Hyperband, Parameter, SweepSpec, trial_count

logger = logging.getLogger(__name__)

API_VERSION = "kubeflow.org/v1beta1"
ALGORITHMS = {"random": "random", "grid": "grid", "bayes": "tpe"}  # see the module docstring
KatibAlgorithm = Literal["spec", "hyperband"]
DEFAULT_PARALLEL = 3
DEFAULT_FAILED = 3
MEDIAN_MIN_TRIALS = 3  # Katib's medianstop default: finished trials before it compares
NAME_PATTERN = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")  # Katib's webhook rule for names
NAME_BASE_LENGTH = 30  # + "-" + 6 hex; trial, job and pod names add ~15 within k8s' 63
RESOURCE = "epochs"  # hyperband's resource: the trial's budget of passes over train


@dataclass(frozen=True)
class KatibSettings:
    """How the trials of a Katib sweep run.

    Attributes:
        dataset: URI of the dataset folder every trial trains on (``s3://`` on a cluster).
        output: URI prefix of the trial models; a trial writes ``<output>/<trial name>``.
        name: the Experiment's name: lower-case letters, digits and ``-``, starting with a
            letter (see :func:`experiment_name`).
        namespace: the Kubernetes namespace of the Experiment, its trials and the Secrets.
        train_flags: ``genomeflow train`` settings every trial shares, by field name
            (``preset``, ``architecture``, ``epochs``...); searched names win over them.
        max_trials: ``maxTrialCount``; None: the spec's run_cap, else the grid size (grid),
            the hyperband schedule (hyperband), else 20.
        parallel_trials: ``parallelTrialCount``; None: 3, or hyperband's first bracket.
        failed_trials: ``maxFailedTrialCount`` (capped at ``max_trials``).
        algorithm: ``spec``: the spec's method (random, grid, bayes -> tpe), with medianstop
            early stopping when the spec has early_terminate; ``hyperband``: Katib's hyperband
            over ``epochs`` (needs the spec's hyperband early_terminate).
        mlflow_experiment: the MLflow experiment the trials record their runs in.
        kfp_run_id: the pipeline run of the sweep step (its ``KFP_RUN_ID``): the trials' MLflow
            runs nest under that run's parent run; None outside a pipeline.
        cluster: image, GPU scheduling, resources, timeout and Secrets of the trial pods.
        nodes: pods per trial; above 1 a trial is a PyTorchJob of that many pods.
    """

    dataset: str
    output: str
    name: str
    namespace: str = DEFAULT_NAMESPACE
    train_flags: Mapping[str, Any] = field(default_factory=dict)
    max_trials: int | None = None
    parallel_trials: int | None = None
    failed_trials: int = DEFAULT_FAILED
    algorithm: KatibAlgorithm = "spec"
    mlflow_experiment: str = "genomeflow"
    kfp_run_id: str | None = None
    # the compiled pipeline's settings when run as its sweep step, else the defaults
    cluster: ClusterSettings = field(default_factory=ClusterSettings.from_env)
    nodes: int = 1


def experiment_name(base: str, unique: bool = True) -> str:
    """A valid Experiment name from a sweep name (``"DNA promoter"`` -> ``dna-promoter-3f9a1c``).

    Args:
        base: the sweep's name.
        unique: append 6 random hex digits: Katib refuses a second Experiment of one name.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")
    slug = slug if slug[:1].isalpha() else f"sweep-{slug}".rstrip("-")
    slug = slug[:NAME_BASE_LENGTH].rstrip("-")
    return f"{slug}-{secrets.token_hex(3)}" if unique else slug


def usable_spec(spec: SweepSpec) -> SweepSpec:
    """The spec without the names the reference toolkit sampled but never applied (``decay``,
    ``momentum``: dropped with a warning, as the local engine does).

    Raises:
        ConfigError: a parameter that is no ``genomeflow train`` hyperparameter.
    """
    kept = usable_names(spec.parameters, f"sweep {spec.name!r}")
    if len(kept) == len(spec.parameters):
        return spec
    return dataclasses.replace(spec, parameters={name: spec.parameters[name] for name in kept})


# --- algorithm and early stopping --------------------------------------------------------


def _settings(kind: type, values: Mapping[str, Any]) -> list[Any]:
    return [kind(name=name, value=str(value)) for name, value in values.items()]


def _median_stop(spec: SweepSpec) -> V1beta1EarlyStoppingSpec | None:
    """Katib's medianstop for a spec with hyperband early termination: a trial whose best
    value is worse than the median of finished trials at the same epoch stops, from the
    first hyperband bracket on (one metric line per epoch, so steps are epochs)."""
    if spec.early_terminate is None:
        return None
    settings = {
        "min_trials_required": MEDIAN_MIN_TRIALS,
        "start_step": spec.early_terminate.min_resource,
    }
    return V1beta1EarlyStoppingSpec(
        algorithm_name="medianstop",
        algorithm_settings=_settings(V1beta1EarlyStoppingSetting, settings),
    )


def _hyperband_rungs(hyperband: Hyperband) -> tuple[int, int]:
    """Katib's hyperband schedule: (the first bracket's size, the trials of all brackets).

    Katib computes s_max = int(log(r_l) / log(eta)) in floating point and requires
    ``parallelTrialCount >= eta**s_max``; this repeats that arithmetic (r_l = max_iter).
    """
    eta, r_l = hyperband.eta, hyperband.max_iter
    s_max = int(math.log(r_l) / math.log(eta))
    total = 0
    for s in range(s_max, -1, -1):
        n = math.ceil((s_max + 1) * eta**s / (s + 1))
        total += sum(math.ceil(n * eta ** (-i)) for i in range(s + 1))
    return eta**s_max, total


def _hyperband(spec: SweepSpec) -> tuple[V1beta1AlgorithmSpec, Parameter]:
    """Katib's hyperband algorithm and its resource parameter (``epochs``).

    Raises:
        ConfigError: no hyperband early_terminate in the spec, or a normal-family parameter
            (Katib's hyperband samples every parameter uniformly between min and max).
    """
    hyperband = spec.early_terminate
    if hyperband is None:
        raise ConfigError(
            f"sweep {spec.name!r}: Katib's hyperband takes eta and max_iter from the spec's "
            "early_terminate; add early_terminate: {type: hyperband, eta: 3, max_iter: 27, s: 2} "
            "or use --katib-algorithm spec"
        )
    for parameter in spec.searched.values():
        if parameter.kind in NORMAL_KINDS:
            raise ConfigError(
                f"parameters.{parameter.name}: Katib's hyperband samples every parameter "
                f"uniformly between min and max and cannot draw a {parameter.kind} distribution; "
                "use --katib-algorithm spec (random/bayes support it) or a bounded distribution"
            )
        if parameter.is_log and parameter.name != RESOURCE:
            logger.warning(
                "parameters.%s: Katib's hyperband samples %s uniformly between its bounds, not "
                "on a log scale",
                parameter.name,
                parameter.kind,
            )
    if spec.method != "random":
        logger.warning(
            "sweep %s: Katib's hyperband samples at random within its brackets; method %s is "
            "not used",
            spec.name,
            spec.method,
        )
    if RESOURCE in spec.searched:
        logger.warning(
            "parameters.%s: replaced by hyperband's budgets (1 to %d epochs, eta %d)",
            RESOURCE,
            hyperband.max_iter,
            hyperband.eta,
        )
    settings = {"resource_name": RESOURCE, "eta": hyperband.eta, "r_l": hyperband.max_iter}
    algorithm = V1beta1AlgorithmSpec(
        algorithm_name="hyperband",
        algorithm_settings=_settings(V1beta1AlgorithmSetting, settings),
    )
    # Katib overrides the sampled value with each bracket's budget; the bounds only type it
    resource = Parameter(RESOURCE, "int_uniform", min=1, max=hyperband.max_iter)
    return algorithm, resource


def _trial_counts(
    spec: SweepSpec, settings: KatibSettings, hyperband: Hyperband | None
) -> tuple[int, int, int]:
    """(maxTrialCount, parallelTrialCount, maxFailedTrialCount) that Katib accepts.

    Args:
        spec: the sweep (run_cap, grid size).
        settings: the requested counts.
        hyperband: the spec's hyperband when Katib's hyperband runs the trials.

    Raises:
        ConfigError: counts Katib's webhook or its hyperband would refuse.
    """
    minimum, schedule = (1, None) if hyperband is None else _hyperband_rungs(hyperband)
    requested = settings.max_trials if settings.max_trials is not None else spec.run_cap
    if requested is None and schedule is not None:
        max_trials = schedule  # hyperband's brackets, as a grid's size
    else:
        max_trials = trial_count(spec, requested)  # the local engine's budget (grid: its size)
    parallel = settings.parallel_trials
    if parallel is None:
        parallel = max(minimum, min(DEFAULT_PARALLEL, max_trials))
    if parallel < minimum:
        assert hyperband is not None
        raise ConfigError(
            f"Katib's hyperband with eta {hyperband.eta} and max_iter {hyperband.max_iter} "
            f"starts {minimum} trials at once and needs --parallel {minimum} or more (got "
            f"{parallel}); raise it, or lower max_iter"
        )
    if parallel > max_trials:
        raise ConfigError(
            f"{parallel} parallel trials exceed the {max_trials} trials to run, which Katib "
            "refuses: lower --parallel or raise --trials"
        )
    if settings.failed_trials < 0:
        raise ConfigError(f"failed trials must be 0 or more, got {settings.failed_trials}")
    return max_trials, parallel, min(settings.failed_trials, max_trials)


# --- the Experiment ----------------------------------------------------------------------


def compile_experiment(spec: SweepSpec, settings: KatibSettings) -> V1beta1Experiment:
    """Compile a sweep spec and trial settings into a Katib v1beta1 Experiment.

    Args:
        spec: the sweep (method, metric, parameters, early termination, run_cap).
        settings: dataset, output prefix, name, namespace, shared train flags, trial counts,
            algorithm choice and cluster settings.

    Returns:
        The Experiment (SDK models); :func:`experiment_yaml` serialises it.

    Raises:
        ConfigError: an unknown metric or hyperparameter, a distribution Katib cannot draw,
            an invalid name, or trial counts Katib would refuse.
    """
    if not NAME_PATTERN.fullmatch(settings.name) or len(settings.name) > 63:
        raise ConfigError(
            f"Katib Experiment name {settings.name!r}: use lower-case letters, digits and '-', "
            "starting with a letter and ending with a letter or digit, at most 63 characters"
        )
    spec = usable_spec(spec)
    metric = katib_metric(spec.metric.name)
    searched = dict(spec.searched)
    hyperband = settings.algorithm == "hyperband"
    if hyperband:
        algorithm, resource = _hyperband(spec)
        searched[RESOURCE] = resource
        early_stopping = None
    elif settings.algorithm == "spec":
        algorithm = V1beta1AlgorithmSpec(algorithm_name=ALGORITHMS[spec.method])
        early_stopping = _median_stop(spec)
    else:
        raise ConfigError(f"Katib algorithm {settings.algorithm!r}: choose spec or hyperband")
    if not searched:
        raise ConfigError(f"sweep {spec.name!r}: every parameter is constant; nothing to search")
    parameters = [parameter_spec(p, spec.method == "grid") for p in searched.values()]
    max_trials, parallel, failed = _trial_counts(
        spec, settings, spec.early_terminate if hyperband else None
    )
    objective = V1beta1ObjectiveSpec(
        type=spec.metric.goal,
        objective_metric_name=metric,
        additional_metric_names=[name for name in PRINTED_METRICS if name != metric],
    )
    collector = V1beta1MetricsCollectorSpec(
        collector=V1beta1CollectorSpec(kind="StdOut"),
        source=V1beta1SourceSpec(filter=V1beta1FilterSpec(metrics_format=[METRICS_FILTER])),
    )
    template = trial_template(
        spec,
        parameters,
        dataset=settings.dataset,
        output=settings.output,
        train_flags=settings.train_flags,
        cluster=settings.cluster,
        mlflow_experiment=settings.mlflow_experiment,
        kfp_run_id=settings.kfp_run_id,
        nodes=settings.nodes,
    )
    return V1beta1Experiment(
        api_version=API_VERSION,
        kind="Experiment",
        metadata=k8s.V1ObjectMeta(name=settings.name, namespace=settings.namespace),
        spec=V1beta1ExperimentSpec(
            objective=objective,
            algorithm=algorithm,
            early_stopping=early_stopping,
            max_trial_count=max_trials,
            parallel_trial_count=parallel,
            max_failed_trial_count=failed,
            metrics_collector_spec=collector,
            parameters=parameters,
            trial_template=template,
        ),
    )


def experiment_dict(experiment: V1beta1Experiment) -> dict[str, Any]:
    """The Experiment as plain JSON-ready data (camelCase keys, None fields left out)."""
    return k8s.ApiClient().sanitize_for_serialization(experiment)


def experiment_yaml(experiment: V1beta1Experiment) -> str:
    """The Experiment as a YAML document for ``kubectl apply -f`` (long lines kept whole)."""
    return yaml.safe_dump(experiment_dict(experiment), sort_keys=False, width=2**16)
