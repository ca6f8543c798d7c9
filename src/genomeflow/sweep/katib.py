"""The cluster sweep engine: a :class:`~genomeflow.sweep.spec.SweepSpec` compiled to a Katib
v1beta1 ``Experiment`` whose trials are ``genomeflow train`` pods.

The mapping (what the local Optuna engine does, on Katib):

- method: random -> ``random``, grid -> ``grid``, bayes -> ``tpe``. Katib's ``tpe`` is
  hyperopt's TPE, the same family as the local engine's Optuna TPESampler, and it draws every
  spec kind (all four Katib distributions, with ``step``); ``bayesianoptimization`` (a
  scikit-optimize Gaussian process) refuses normal/logNormal and ignores ``step``.
- metric: the spec's name (``eval/f1``, ``f1``, ``eval_f1``, ``loss``...) becomes the name
  ``genomeflow train`` prints per epoch as a Katib StdOut line (``<time> eval_f1=0.819216``);
  the other printed metrics become ``additionalMetricNames``.
- parameters: ``int_uniform`` and ``q_*`` kinds with an int ``q`` -> ``int``; other ranges ->
  ``double``; ``q`` -> ``step``; ``log_uniform_values`` -> ``distribution: logUniform``
  (``log_uniform`` takes exponents: min/max ``exp()``-ed); ``normal``/``log_normal`` ->
  ``normal``/``logNormal``, which Katib reads as mu = (min + max) / 2, sigma = (max - min) / 6,
  so min/max are mu -+ 3 sigma; ``categorical`` -> ``categorical`` (choices as text);
  ``constant`` -> a fixed flag of the trial command. Names the reference toolkit sampled but
  never used (``decay``, ``momentum``) are dropped with a warning, as locally.
- early termination: a spec with wandb's hyperband ``early_terminate`` gets Katib's
  ``medianstop`` early stopping (checks from the first hyperband bracket on). With
  ``algorithm="hyperband"`` (``genomeflow sweep --katib-algorithm hyperband``) the Experiment
  runs Katib's hyperband instead: ``epochs`` is the resource (``r_l`` = ``max_iter``, ``eta``
  from the spec), trials are sampled at random within brackets and the spec's ``epochs``
  values are replaced by the bracket budgets.
- trial: a ``batch/v1`` Job running ``genomeflow train DATASET --output=PREFIX/<trial> ...`` in
  the project image with the GPU request, node selector, toleration, resources and Secret
  references of :mod:`genomeflow.cluster`.
- namespace: as kubectl chooses (:func:`default_namespace`): the pod's, the kubeconfig
  context's, else ``kubeflow``; the Secrets must exist there.

:func:`create_and_wait` creates the Experiment through ``KatibClient``, waits for it and returns
the best trial's params; every failure becomes one :class:`KatibError` line that says how to
fix it. ``python -m genomeflow.sweep.katib --write-examples docs/examples/katib`` regenerates
the reviewed example Experiments.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import logging
import math
import os
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from kubeflow.katib import (
    KatibClient,
    V1beta1AlgorithmSetting,
    V1beta1AlgorithmSpec,
    V1beta1CollectorSpec,
    V1beta1EarlyStoppingSetting,
    V1beta1EarlyStoppingSpec,
    V1beta1Experiment,
    V1beta1ExperimentSpec,
    V1beta1FeasibleSpace,
    V1beta1FilterSpec,
    V1beta1MetricsCollectorSpec,
    V1beta1ObjectiveSpec,
    V1beta1OptimalTrial,
    V1beta1ParameterSpec,
    V1beta1SourceSpec,
    V1beta1TrialParameterSpec,
    V1beta1TrialTemplate,
)
from kubernetes import client as k8s

from genomeflow.cluster import ClusterSettings, SecretEnv
from genomeflow.config import TrainConfig
from genomeflow.errors import ConfigError, GenomeflowError
from genomeflow.evaluate.metrics import canonical_metric
from genomeflow.sweep.local import trial_count
from genomeflow.sweep.spec import NORMAL_KINDS, Hyperband, Parameter, SweepSpec, tidy
from genomeflow.train.params import usable_names
from genomeflow.train.train import KATIB_METRICS

if TYPE_CHECKING:
    from genomeflow.config import SweepConfig

logger = logging.getLogger(__name__)

API_VERSION = "kubeflow.org/v1beta1"
CONTAINER = "training-container"  # the primary container name of Katib's examples
ALGORITHMS = {"random": "random", "grid": "grid", "bayes": "tpe"}  # see the module docstring
KatibAlgorithm = Literal["spec", "hyperband"]
DEFAULT_NAMESPACE = "kubeflow"  # the last resort of default_namespace()
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_PARALLEL = 3
DEFAULT_FAILED = 3
MEDIAN_MIN_TRIALS = 3  # Katib's medianstop default: finished trials before it compares
DEFAULT_TIMEOUT_S = 24 * 3600.0
POLL_S = 15.0  # the SDK's default polling interval
NAME_PATTERN = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")  # Katib's webhook rule for names
NAME_BASE_LENGTH = 30  # + "-" + 6 hex; trial, job and pod names add ~15 within k8s' 63
TRIAL_NAME = "trialName"  # the trial parameter holding the trial's own name
RESOURCE = "epochs"  # hyperband's resource: the trial's budget of passes over train
ISTIO_ANNOTATION = {"sidecar.istio.io/inject": "false"}  # as Katib's examples: no mesh sidecar
# genomeflow's metric lines: `name=number`. Katib's default filter in older releases parsed
# `1e-05` as 1 and newer ones accept an empty value (`eval_loss=nan` would become ""); this one
# takes exponents and needs a digit, so a NaN line is skipped. The RFC 3339 time in front is
# read by the collector as the line's timestamp and has no `=`, so it never matches.
METRICS_FILTER = r"([\w|-]+)\s*=\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
# What `genomeflow train` prints per epoch (genomeflow.train.train.katib_lines): canonical
# metric -> line name; eval_f1 is macro F1 (the reference's eval/f1), eval_loss the log loss.
LINE_NAMES: dict[str, str] = {
    "log_loss": "eval_loss",
    "f1_macro": "eval_f1",
    **{name: f"eval_{name}" for name in KATIB_METRICS},
}
PRINTED_METRICS: tuple[str, ...] = (*LINE_NAMES.values(), "train_loss")
DISTRIBUTIONS = {
    "log_uniform": "logUniform",
    "log_uniform_values": "logUniform",
    "q_log_uniform_values": "logUniform",
    "normal": "normal",
    "q_normal": "normal",
    "log_normal": "logNormal",
    "q_log_normal": "logNormal",
}
# kubeflow-katib < 0.18 has no FeasibleSpace.distribution: log and normal kinds cannot compile
SDK_DISTRIBUTIONS = "distribution" in V1beta1FeasibleSpace.openapi_types
# `genomeflow train` settings a trial never takes from the sweep's settings: per-trial paths
# and the hyperparameter sources already resolved into values.
NOT_TRIAL_FLAGS = frozenset(
    {"dataset", "output", "params", "params_file", "params_from_run", "checkpoints", "resume"}
)


class KatibError(GenomeflowError):
    """A Katib Experiment could not be created, failed, or did not finish in time."""


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
        cluster: image, GPU scheduling, resources and Secrets of the trial pods.
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
    cluster: ClusterSettings = field(default_factory=ClusterSettings)


# --- names -------------------------------------------------------------------------------


def default_namespace() -> str:
    """Where an Experiment goes when no namespace is given, as kubectl would choose.

    In a pod (a pipeline step, a Kubeflow notebook) its service account's namespace, the
    user's profile namespace; else the current kubeconfig context's namespace; else
    ``kubeflow``, Katib's own namespace in its standalone install and all its examples.
    """
    from kubernetes.config import ConfigException, list_kube_config_contexts

    if SERVICE_ACCOUNT_NAMESPACE.is_file():
        found = SERVICE_ACCOUNT_NAMESPACE.read_text(encoding="utf-8").strip()
        if found:
            return found
    try:
        _, current = list_kube_config_contexts()
    except (ConfigException, OSError):  # no kubeconfig
        return DEFAULT_NAMESPACE
    return (current or {}).get("context", {}).get("namespace") or DEFAULT_NAMESPACE


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


def katib_metric(name: str) -> str:
    """The StdOut metric name ``genomeflow train`` prints for a sweep metric.

    ``eval/f1``, ``eval_f1``, ``f1`` and ``f1_macro`` give ``eval_f1``; ``loss`` gives
    ``eval_loss``; a printed name (``train_loss``) is taken as it is.

    Raises:
        ConfigError: the metric is not one ``genomeflow train`` reports to Katib.
    """
    text = name.strip().lower().replace("/", "_").replace("-", "_")
    if text in PRINTED_METRICS:
        return text
    try:
        found = LINE_NAMES.get(canonical_metric(name))
    except ConfigError:
        found = None
    if found is None:
        raise ConfigError(
            f"metric {name!r}: `genomeflow train` reports {', '.join(PRINTED_METRICS)} to Katib "
            "(validation split); set metric.name to one of them (f1, eval/f1, accuracy, mcc, "
            "roc_auc, loss... are mapped)"
        )
    return found


def _trial_parameter(name: str) -> str:
    """The trial-template name of a hyperparameter, camelCase as Katib's examples
    (``learning_rate`` -> ``learningRate``)."""
    first, *rest = re.split(r"[_.\-]+", name)
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


# --- values ------------------------------------------------------------------------------


def decimal_text(value: float) -> str:
    """A number as a plain decimal string (``1e-05`` -> ``0.00001``), float noise removed."""
    return format(Decimal(repr(tidy(float(value)))), "f")


def _bound(value: float, integer: bool) -> str:
    return str(int(value)) if integer else decimal_text(value)


def _choice_text(name: str, value: Any) -> str:
    """A categorical choice as Katib holds it (text) and as a command-line value."""
    if value is None or isinstance(value, bool):
        raise ConfigError(
            f"parameters.{name}: choice {value!r} cannot be passed to `genomeflow train` as a "
            "flag value; use numbers or text"
        )
    return decimal_text(value) if isinstance(value, float) else str(value)


def _typed(text: str, parameter_type: str) -> Any:
    """A Katib parameter assignment (text) as the value ``genomeflow train`` got."""
    if parameter_type == "int":
        return int(float(text))
    if parameter_type == "double":
        return tidy(float(text))
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        return float(text)
    return text


def _flag_name(name: str) -> str:
    """A setting's flag without its dashes (``learning_rate`` -> ``learning-rate``)."""
    return name.replace("_", "-")


def _flag(name: str, value: Any) -> str:
    """One ``genomeflow train`` argument (``--learning-rate=0.001``, ``--no-compile``)."""
    option = _flag_name(name)
    if isinstance(value, bool):
        return f"--{option}" if value else f"--no-{option}"
    if isinstance(value, float):
        value = decimal_text(value)
    return f"--{option}={value}"


# --- parameters --------------------------------------------------------------------------


def _range(parameter: Parameter) -> tuple[float, float]:
    """min and max of a numeric parameter in value space, as Katib reads them."""
    if parameter.kind in NORMAL_KINDS:
        mu, sigma = float(parameter.mu or 0.0), float(parameter.sigma or 1.0)
        low, high = mu - 3 * sigma, mu + 3 * sigma  # Katib: mu = mid-range, sigma = range / 6
        if parameter.is_log:
            low, high = math.exp(low), math.exp(high)
    elif parameter.q is not None:
        low, high = parameter.quantised_range()  # multiples of q, so a grid step lands on them
        if high < low:
            raise ConfigError(
                f"parameters.{parameter.name}: no multiple of q ({parameter.q}) lies between min "
                "and max; widen the range or lower q"
            )
    else:
        low, high = parameter.bounds or (0.0, 0.0)  # log_uniform exponents applied
    if parameter.is_integer:  # Katib's int parameters take whole bounds; widen, never narrow
        low, high = math.floor(low), math.ceil(high)
        low = max(low, 1) if parameter.is_log else low  # a log scale needs min above 0
    return low, high


def parameter_spec(parameter: Parameter, grid: bool = False) -> V1beta1ParameterSpec:
    """The Katib parameter of one searched spec parameter (see the module docstring).

    Args:
        parameter: a searched (non-constant) parameter.
        grid: the Experiment runs Katib's grid: int parameters get ``step: "1"``.

    Raises:
        ConfigError: the SDK cannot express the distribution.
    """
    name = parameter.name
    if parameter.kind == "categorical":
        choices = [_choice_text(name, value) for value in parameter.values or ()]
        return V1beta1ParameterSpec(
            name=name,
            parameter_type="categorical",
            feasible_space=V1beta1FeasibleSpace(list=choices),
        )
    integer = parameter.is_integer
    low, high = _range(parameter)
    space = V1beta1FeasibleSpace(min=_bound(low, integer), max=_bound(high, integer))
    distribution = DISTRIBUTIONS.get(parameter.kind)
    if distribution is not None:
        if not SDK_DISTRIBUTIONS:
            raise ConfigError(
                f"parameters.{name}: {parameter.kind} needs Katib's {distribution} distribution, "
                "which this kubeflow-katib SDK cannot express; install kubeflow-katib>=0.18 or "
                "use uniform/int_uniform/categorical"
            )
        space.distribution = distribution
    step = parameter.q if parameter.q is not None else (1 if grid and integer else None)
    if step is not None:
        space.step = _bound(step, integer)
    return V1beta1ParameterSpec(
        name=name, parameter_type="int" if integer else "double", feasible_space=space
    )


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


# --- trial template ----------------------------------------------------------------------


def _secret_env(secret: SecretEnv) -> list[k8s.V1EnvVar]:
    """Environment variables read from a Secret by reference: no value is ever written here."""

    def ref(key: str, optional: bool) -> k8s.V1EnvVar:
        selector = k8s.V1SecretKeySelector(name=secret.name, key=key, optional=optional or None)
        return k8s.V1EnvVar(name=key, value_from=k8s.V1EnvVarSource(secret_key_ref=selector))

    return [ref(key, False) for key in secret.keys] + [
        ref(key, True) for key in secret.optional_keys
    ]


def _resources(cluster: ClusterSettings) -> k8s.V1ResourceRequirements:
    heavy, gpu = cluster.heavy, cluster.gpu
    limits = {"cpu": heavy.cpu_limit, "memory": heavy.memory_limit, gpu.resource: str(gpu.count)}
    return k8s.V1ResourceRequirements(
        requests={"cpu": heavy.cpu, "memory": heavy.memory},
        limits={name: value for name, value in limits.items() if value is not None},
    )


def _trial_job(command: list[str], settings: KatibSettings) -> k8s.V1Job:
    """The trial's ``batch/v1`` Job: one GPU pod, never restarted (a failed trial is Katib's to
    count), without an Istio sidecar (it would keep the Job from completing)."""
    cluster = settings.cluster
    env = [k8s.V1EnvVar(name="GENOMEFLOW_EXPERIMENT", value=settings.mlflow_experiment)]
    for secret in cluster.secrets:
        env += _secret_env(secret)
    container = k8s.V1Container(
        name=CONTAINER,
        image=cluster.image,
        command=command,  # Katib's StdOut collector wraps `command`: it must be set, not args
        env=env,
        resources=_resources(cluster),
    )
    pod = k8s.V1PodSpec(
        containers=[container],
        node_selector={cluster.gpu.node_label: cluster.gpu.node_value},
        tolerations=[
            k8s.V1Toleration(key=cluster.gpu.taint_key, operator="Exists", effect="NoSchedule")
        ],
        restart_policy="Never",
    )
    template = k8s.V1PodTemplateSpec(
        metadata=k8s.V1ObjectMeta(annotations=dict(ISTIO_ANNOTATION)), spec=pod
    )
    return k8s.V1Job(api_version="batch/v1", kind="Job", spec=k8s.V1JobSpec(template=template))


def _fixed_flags(
    spec: SweepSpec, settings: KatibSettings, searched: Sequence[str]
) -> dict[str, Any]:
    """The settings every trial shares: the train flags, the sweep metric (trials choose
    their checkpoint and stop early on it, as local trials do) and the spec's constants."""
    known = {item.name for item in dataclasses.fields(TrainConfig)} - NOT_TRIAL_FLAGS
    unknown = sorted(set(settings.train_flags) - known)
    if unknown:
        raise ConfigError(
            f"train flags {', '.join(unknown)} are not `genomeflow train` settings a trial can "
            f"share; valid: {', '.join(sorted(known))}"
        )
    constants = {n: p.value for n, p in spec.parameters.items() if not p.searched}
    fixed = {**settings.train_flags, "metric": canonical_metric(spec.metric.name), **constants}
    return {name: value for name, value in fixed.items() if name not in searched}


def _trial_template(
    spec: SweepSpec, settings: KatibSettings, parameters: Sequence[V1beta1ParameterSpec]
) -> V1beta1TrialTemplate:
    """The trial template: ``genomeflow train`` with a ``${trialParameters.X}`` per searched
    parameter, each X defined once and referring to an Experiment parameter."""
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
            description=f"genomeflow train --{_flag_name(name)}",
            reference=name,
        )
        for name in names
    ]
    output = settings.output.rstrip("/")
    command = [
        "genomeflow",
        "train",
        settings.dataset,
        f"--output={output}/${{trialParameters.{TRIAL_NAME}}}",
        *(_flag(name, value) for name, value in _fixed_flags(spec, settings, names).items()),
        *(f"--{_flag_name(name)}=${{trialParameters.{_trial_parameter(name)}}}" for name in names),
    ]
    return V1beta1TrialTemplate(
        primary_container_name=CONTAINER,
        trial_parameters=trial_parameters,
        trial_spec=_trial_job(command, settings),
    )


# --- the Experiment ----------------------------------------------------------------------


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
            trial_template=_trial_template(spec, settings, parameters),
        ),
    )


def experiment_dict(experiment: V1beta1Experiment) -> dict[str, Any]:
    """The Experiment as plain JSON-ready data (camelCase keys, None fields left out)."""
    return k8s.ApiClient().sanitize_for_serialization(experiment)


def experiment_yaml(experiment: V1beta1Experiment) -> str:
    """The Experiment as a YAML document for ``kubectl apply -f`` (long lines kept whole)."""
    return yaml.safe_dump(experiment_dict(experiment), sort_keys=False, width=2**16)


def write_experiment(experiment: V1beta1Experiment, path: str | os.PathLike[str]) -> Path:
    """Write the Experiment's YAML to a file; returns the path."""
    from genomeflow.storage import write_bytes

    write_bytes(path, experiment_yaml(experiment).encode("utf-8"))
    return Path(path)


# --- the Katib API -----------------------------------------------------------------------


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


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else type(error).__name__


def _api_cause(error: BaseException) -> BaseException | None:
    """The Kubernetes client error behind an SDK error: the SDK raises its own
    RuntimeError/TimeoutError inside ``except``, so the cause is in ``__context__``."""
    from multiprocessing import TimeoutError as NoAnswer  # the SDK's request timeout

    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

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
            f"cannot reach the Kubernetes API ({_first_line(cause)}); check that the cluster is "
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
        reason = _explain(cause, namespace, name) if cause is not None else _first_line(error)
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
    from kubernetes.config import ConfigException

    try:
        return KatibClient(namespace=namespace)
    except (ConfigException, OSError) as error:
        raise KatibError(
            f"no Kubernetes API access ({_first_line(error)}); point KUBECONFIG at your "
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
        a.name: _typed(a.value, types.get(a.name, "categorical"))
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


def create_and_wait(
    experiment: V1beta1Experiment,
    namespace: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    client: KatibClient | None = None,
    polling_interval: float = POLL_S,
) -> dict[str, Any]:
    """Create the Experiment, wait for it and return the best params by genomeflow name.

    See :func:`run_experiment` for the arguments and errors.
    """
    return run_experiment(experiment, namespace, timeout_s, client, polling_interval).params


# --- genomeflow sweep --backend katib ----------------------------------------------------


@dataclass(frozen=True)
class KatibSweep:
    """A compiled sweep: the spec as compiled (ignored names dropped) and its Experiment."""

    spec: SweepSpec
    experiment: V1beta1Experiment

    @property
    def namespace(self) -> str:
        return self.experiment.metadata.namespace

    def to_yaml(self) -> str:
        return experiment_yaml(self.experiment)


def trial_flags(config: SweepConfig) -> dict[str, Any]:
    """The sweep's ``genomeflow train`` settings that differ from train's defaults."""
    shared = {
        item.name: item.default
        for item in dataclasses.fields(TrainConfig)
        if item.name not in NOT_TRIAL_FLAGS and item.default is not dataclasses.MISSING
    }
    return {
        name: getattr(config, name)
        for name, default in shared.items()
        if getattr(config, name) != default
    }


def katib_sweep(config: SweepConfig, name: str | None = None) -> KatibSweep:
    """Compile ``genomeflow sweep --backend katib``'s settings into an Experiment.

    Trials read ``config.dataset`` and write their models under ``<config.output>/trials/``;
    ``--params-file``/``--params-from-run``/``--params`` values become shared train flags.

    Args:
        config: the sweep stage's settings.
        name: the Experiment's name; default the spec's name with a random suffix.
    """
    from genomeflow.train.params import resolve_hyperparameters

    config = resolve_hyperparameters(config)
    spec = usable_spec(SweepSpec.from_file(config.spec))
    for what, value in (("DATASET", config.dataset), ("--output", config.output)):
        if not str(value).startswith("s3://"):
            logger.warning(
                "%s %s is not an s3:// URI: trial pods could not read or write it", what, value
            )
    settings = KatibSettings(
        dataset=config.dataset,
        output=f"{config.output.rstrip('/')}/trials",
        name=name or experiment_name(spec.name),
        namespace=config.namespace or default_namespace(),
        train_flags=trial_flags(config),
        max_trials=config.trials,
        parallel_trials=config.parallel,
        algorithm=config.katib_algorithm,
        mlflow_experiment=os.environ.get("GENOMEFLOW_EXPERIMENT", "genomeflow"),
    )
    return KatibSweep(spec, compile_experiment(spec, settings))


def run_katib_sweep(
    sweep: KatibSweep,
    output: str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    client: KatibClient | None = None,
    polling_interval: float = POLL_S,
) -> KatibResult:
    """Run a compiled sweep and write ``<output>/best_params.json`` as the local engine does
    (``genomeflow train --params-file`` reads it); constants are included in the params."""
    from genomeflow.storage import OUTPUT_MARKER, is_remote, write_bytes
    from genomeflow.storage.local import marker_bytes

    if not is_remote(output):
        Path(output).mkdir(parents=True, exist_ok=True)
    # the trials write under the output from the start: marked as genomeflow's, a retry may
    # replace it (--overwrite)
    write_bytes(f"{output.rstrip('/')}/{OUTPUT_MARKER}", marker_bytes("sweep"))
    result = run_experiment(sweep.experiment, sweep.namespace, timeout_s, client, polling_interval)
    constants = {n: p.value for n, p in sweep.spec.parameters.items() if not p.searched}
    found = {**result.params, **constants}
    # in spec order, as the local engine's; hyperband's epochs (if not in the spec) last
    params = {n: found[n] for n in sweep.spec.parameters if n in found}
    params |= {n: value for n, value in found.items() if n not in params}
    result = dataclasses.replace(result, params=params)
    summary = {
        "metric": sweep.spec.metric.name,
        "goal": sweep.spec.metric.goal,
        "best_value": result.best_value,
        "best_trial": result.best_trial,
        "params": result.params,
        "katib_experiment": result.experiment,
    }
    text = json.dumps(summary, indent=2) + "\n"
    write_bytes(f"{output.rstrip('/')}/best_params.json", text.encode("utf-8"))
    return result


# --- reviewed examples -------------------------------------------------------------------

EXAMPLE_SPEC = Path("../shared/reference/sweeps/dna_promoter.json")  # from the repository root
EXAMPLE_ALGORITHMS: dict[str, KatibAlgorithm] = {
    "dna_promoter.yaml": "spec",
    "dna_promoter_hyperband.yaml": "hyperband",
}
EXAMPLE_HEADER = (
    "# Generated from the reference sweep dna_promoter.json by\n"
    "#   python -m genomeflow.sweep.katib --write-examples docs/examples/katib\n"
    "# Do not edit: tests/test_katib.py checks it equals a fresh generation.\n"
)


def example_documents(spec: SweepSpec) -> dict[str, str]:
    """The reviewed example Experiments (file name -> YAML) of a spec, with fixed settings."""
    documents = {}
    for file_name, algorithm in EXAMPLE_ALGORITHMS.items():
        settings = KatibSettings(
            dataset="s3://genomeflow/datasets/ecoli-promoters",
            output="s3://genomeflow/sweeps/dna-promoter/trials",
            name=experiment_name(Path(file_name).stem, unique=False),
            namespace=DEFAULT_NAMESPACE,
            train_flags={"architecture": "distilbert", "preset": "small"},
            algorithm=algorithm,
        )
        documents[file_name] = EXAMPLE_HEADER + experiment_yaml(compile_experiment(spec, settings))
    return documents


def write_examples(folder: str | os.PathLike[str], spec_path: str | os.PathLike[str]) -> list[Path]:
    """Write :func:`example_documents` of a spec file into ``folder``; returns the files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, text in example_documents(SweepSpec.from_file(spec_path)).items():
        (folder / file_name).write_text(text, encoding="utf-8")
        written.append(folder / file_name)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m genomeflow.sweep.katib --write-examples FOLDER [--spec SPEC]``."""
    parser = argparse.ArgumentParser(
        prog="python -m genomeflow.sweep.katib", description="Write the example Experiments."
    )
    parser.add_argument("--write-examples", metavar="FOLDER", required=True)
    parser.add_argument("--spec", default=str(EXAMPLE_SPEC), help="(default: %(default)s)")
    args = parser.parse_args(argv)
    for path in write_examples(args.write_examples, args.spec):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
