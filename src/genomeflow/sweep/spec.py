"""One hyperparameter-sweep spec, in the wandb sweep format, for every engine.

Users bring wandb sweep files (JSON or YAML) as they are; :class:`SweepSpec` reads and checks
them once, and the engines (local Optuna in :mod:`genomeflow.sweep.local`, a Katib Experiment
later) compile the same object. This module does not import any engine.

Distributions follow wandb: ``log_uniform`` takes natural-log *exponents* as min/max
(X = exp(U(min, max))), ``log_uniform_values`` takes the values themselves; quantised kinds
round to multiples of ``q`` and give ints when ``q`` is an int; the normal family takes ``mu``
and ``sigma`` (0 and 1 when absent), ``log_normal`` being X = exp(N(mu, sigma)).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from genomeflow.config import load_document
from genomeflow.errors import ConfigError

logger = logging.getLogger(__name__)

Method = Literal["random", "grid", "bayes"]
Goal = Literal["maximize", "minimize"]
Kind = Literal[
    "constant",
    "categorical",
    "int_uniform",
    "uniform",
    "q_uniform",
    "log_uniform",
    "log_uniform_values",
    "q_log_uniform_values",
    "normal",
    "q_normal",
    "log_normal",
    "q_log_normal",
]

METHODS = ("random", "grid", "bayes")
GOALS = ("maximize", "minimize")
TOP_LEVEL_KEYS = (
    "name",
    "description",
    "method",
    "metric",
    "parameters",
    "early_terminate",
    "run_cap",
)
LAUNCHER_KEYS = ("program", "command", "project", "entity")  # wandb agent settings: not ours
METRIC_KEYS = ("name", "goal")
HYPERBAND_KEYS = ("type", "s", "eta", "max_iter", "min_iter")

# The keys each distribution takes (besides ``distribution``), with defaults where wandb has one.
RANGE = ("min", "max")
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "constant": ("value",),
    "categorical": ("values",),
    "int_uniform": RANGE,
    "uniform": RANGE,
    "q_uniform": (*RANGE, "q"),
    "log_uniform": RANGE,
    "log_uniform_values": RANGE,
    "q_log_uniform_values": (*RANGE, "q"),
    "normal": ("mu", "sigma"),
    "q_normal": ("mu", "sigma", "q"),
    "log_normal": ("mu", "sigma"),
    "q_log_normal": ("mu", "sigma", "q"),
}
KINDS: tuple[str, ...] = tuple(KIND_KEYS)
DEFAULTS = {"q": 1.0, "mu": 0.0, "sigma": 1.0}
LOG_KINDS = frozenset(
    {"log_uniform", "log_uniform_values", "q_log_uniform_values", "log_normal", "q_log_normal"}
)
NORMAL_KINDS = frozenset({"normal", "q_normal", "log_normal", "q_log_normal"})
GRID_LIMIT = 1000  # most values an int_uniform range may enumerate for a grid
# wandb's parameter-name pattern; names become CLI flags, MLflow params and Katib parameters
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
HELPER_SUFFIX = "__quantile"  # engines may keep helper values under <name>__quantile


def tidy(value: float) -> float:
    """``value`` without float noise (``0.30000000000000004`` -> ``0.3``): 12 significant digits."""
    return float(f"{value:.12g}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_whole(value: Any) -> bool:
    """An int, or a float with no fraction: KFP passes a ``dict`` parameter through a protobuf
    Struct, so a spec's ``run_cap: 4`` arrives in a pipeline step as ``4.0``."""
    return _is_int(value) or (_is_number(value) and float(value).is_integer())


def _fail(source: str, path: str, message: str) -> ConfigError:
    return ConfigError(f"{source}: {path}: {message}")


def _check_keys(
    values: Mapping[str, Any], allowed: tuple[str, ...], source: str, path: str
) -> None:
    unknown = [str(key) for key in values if key not in allowed]
    if unknown:
        raise _fail(
            source,
            f"{path}.{unknown[0]}" if path else unknown[0],
            f"unknown key; valid keys{' here' if path else ''}: {', '.join(allowed)}",
        )


def _mapping(value: Any, source: str, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(source, path, f"must be a mapping of key: value, not {type(value).__name__}")
    return value


def _number(values: Mapping[str, Any], key: str, source: str, path: str) -> float:
    value = values.get(key, DEFAULTS.get(key))
    if value is None:
        raise _fail(source, path, f"needs {key}")
    if not _is_number(value) or not math.isfinite(value):
        raise _fail(source, f"{path}.{key}", f"must be a finite number, not {value!r}")
    return value


@dataclass(frozen=True)
class Parameter:
    """One searched (or constant) hyperparameter.

    Attributes:
        name: the hyperparameter name, as the objective / training config knows it.
        kind: the distribution (wandb name), see :data:`KINDS`.
        values: the choices of a ``categorical`` parameter.
        value: the value of a ``constant`` parameter.
        min: lower bound of a range kind (an exponent for ``log_uniform``).
        max: upper bound of a range kind (an exponent for ``log_uniform``).
        q: quantisation step of the ``q_*`` kinds.
        mu: mean of the normal family (of log X for ``log_normal``).
        sigma: standard deviation of the normal family (of log X for ``log_normal``).
    """

    name: str
    kind: Kind
    values: tuple[Any, ...] | None = None
    value: Any = None
    min: float | None = None
    max: float | None = None
    q: float | None = None
    mu: float | None = None
    sigma: float | None = None

    @classmethod
    def from_mapping(
        cls, name: str, values: Any, source: str = "sweep", path: str | None = None
    ) -> Parameter:
        """Read one wandb parameter entry (``{"values": [...]}``, ``{"min": 0, "max": 1}``...).

        Without ``distribution``, wandb's inference applies: ``values`` -> categorical,
        ``value`` -> constant, int min and max -> int_uniform, other min/max -> uniform.

        Raises:
            ConfigError: naming ``source`` and the key path when the entry cannot work.
        """
        path = path or f"parameters.{name}"
        values = _mapping(values, source, path)
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise _fail(
                source,
                path,
                "a parameter name must start with a letter or _ and hold only letters, digits, "
                "_, . and -",
            )
        if name.endswith(HELPER_SUFFIX):
            raise _fail(source, path, f"names ending in {HELPER_SUFFIX} are reserved; rename it")
        kind = values.get("distribution")
        if kind is None:
            kind = _infer_kind(values, source, path)
        elif kind not in KINDS:
            raise _fail(
                source,
                f"{path}.distribution",
                f"unknown distribution {kind!r}; valid: {', '.join(KINDS)}",
            )
        _check_keys(values, ("distribution", *KIND_KEYS[kind]), source, path)
        if kind == "constant":
            if "value" not in values:
                raise _fail(source, path, "a constant needs value")
            return cls(name, kind, value=values["value"])
        if kind == "categorical":
            return cls(name, kind, values=_choices(values.get("values"), source, path))
        if kind in NORMAL_KINDS:
            mu, sigma = (_number(values, key, source, path) for key in ("mu", "sigma"))
            if sigma <= 0:
                raise _fail(source, f"{path}.sigma", f"must be above 0, got {sigma}")
            q = _quantum(values, source, path) if kind.startswith("q_") else None
            return cls(name, kind, mu=mu, sigma=sigma, q=q)
        low, high = (_number(values, key, source, path) for key in RANGE)
        if low > high:
            raise _fail(source, path, f"min ({low}) is above max ({high}); swap them")
        if kind == "int_uniform" and not (_is_whole(low) and _is_whole(high)):
            raise _fail(source, path, f"int_uniform needs integer min and max, got {low}, {high}")
        if kind in ("log_uniform_values", "q_log_uniform_values") and low <= 0:
            raise _fail(
                source,
                f"{path}.min",
                f"{kind} needs min above 0 (the values themselves), got {low}; for exponents "
                "use log_uniform",
            )
        if kind == "log_uniform":
            _check_exponents(low, high, source, path)
        q = _quantum(values, source, path) if kind.startswith("q_") else None
        parameter = cls(name, kind, min=low, max=high, q=q)
        if kind == "q_uniform" and not parameter.grid_values():
            raise _fail(source, path, f"no multiple of q ({q}) lies between min and max")
        return parameter

    def to_dict(self) -> dict[str, Any]:
        """The wandb form (``distribution`` left out where wandb infers it)."""
        if self.kind == "constant":
            return {"value": self.value}
        if self.kind == "categorical":
            return {"values": list(self.values or ())}
        keys = KIND_KEYS[self.kind]
        return {"distribution": self.kind, **{key: getattr(self, key) for key in keys}}

    @property
    def is_log(self) -> bool:
        """Whether the values spread on a log scale (search and plot in log space)."""
        return self.kind in LOG_KINDS

    @property
    def is_integer(self) -> bool:
        """Whether every value is an int (int_uniform; q kinds with an int q; int choices)."""
        if self.kind == "int_uniform":
            return True
        if self.kind.startswith("q_"):
            return _is_int(self.q)
        if self.kind == "categorical":
            return all(_is_int(v) for v in self.values or ())
        return self.kind == "constant" and _is_int(self.value)

    @property
    def searched(self) -> bool:
        """Whether an engine samples it (a constant is only passed on)."""
        return self.kind != "constant"

    @property
    def bounds(self) -> tuple[float, float] | None:
        """Lowest and highest value (value space: exponents of log_uniform applied).

        None for the unbounded normal family and for non-numeric choices.
        """
        if self.kind in NORMAL_KINDS:
            return None
        if self.kind in ("categorical", "constant"):
            choices = self.values if self.kind == "categorical" else (self.value,)
            numbers = [v for v in choices or () if _is_number(v)]
            return (min(numbers), max(numbers)) if len(numbers) == len(choices or ()) else None
        assert self.min is not None and self.max is not None
        if self.kind == "log_uniform":
            return (math.exp(self.min), math.exp(self.max))
        return (self.min, self.max)

    def grid_values(self) -> list[Any]:
        """Every value a grid search visits, in order.

        Raises:
            ConfigError: for a distribution that has no finite list of values.
        """
        if self.kind == "categorical":
            return list(self.values or ())
        if self.kind == "constant":
            return [self.value]
        if self.kind == "int_uniform":
            assert self.min is not None and self.max is not None
            count = int(self.max) - int(self.min) + 1
            if count > GRID_LIMIT:
                raise ConfigError(
                    f"parameters.{self.name}: grid needs enumerable values and int_uniform "
                    f"{self.min}..{self.max} has {count} (at most {GRID_LIMIT}); narrow it or "
                    "use method random/bayes"
                )
            return list(range(int(self.min), int(self.max) + 1))
        if self.kind == "q_uniform":
            low, high = self.quantised_range()
            count = round((high - low) / self.q) + 1 if high >= low else 0  # type: ignore[operator]
            if count > GRID_LIMIT:
                raise ConfigError(
                    f"parameters.{self.name}: grid needs enumerable values and q_uniform gives "
                    f"{count} (at most {GRID_LIMIT}); raise q or use method random/bayes"
                )
            return [self.quantise(low + k * self.q) for k in range(count)]  # type: ignore[operator]
        raise ConfigError(
            f"parameters.{self.name}: grid needs enumerable values (values, value, int_uniform "
            f"or q_uniform), not {self.kind}; change the parameter or use method random/bayes"
        )

    def quantised_range(self) -> tuple[float, float]:
        """First and last multiple of ``q`` within [min, max] (q_uniform)."""
        assert self.q is not None and self.min is not None and self.max is not None
        slack = 1e-9  # min/max that are multiples of q up to float noise count as such
        low = math.ceil(self.min / self.q - slack) * self.q
        high = math.floor(self.max / self.q + slack) * self.q
        return tidy(low), tidy(high)

    def quantise(self, value: float) -> float | int:
        """``value`` rounded to a multiple of ``q`` (an int when ``q`` is an int), as wandb."""
        assert self.q is not None
        rounded = round(value / self.q) * self.q
        return int(rounded) if _is_int(self.q) else tidy(rounded)


def _infer_kind(values: Mapping[str, Any], source: str, path: str) -> str:
    """wandb's distribution for an entry without ``distribution``."""
    if "values" in values:
        return "categorical"
    if "value" in values:
        return "constant"
    if "min" in values and "max" in values:
        both_int = _is_int(values["min"]) and _is_int(values["max"])
        return "int_uniform" if both_int else "uniform"
    raise _fail(
        source,
        path,
        f"give values: [...], value: x, min and max, or a distribution ({', '.join(KINDS)})",
    )


def _check_exponents(low: float, high: float, source: str, path: str) -> None:
    """log_uniform takes natural-log exponents: catch overflow, flag likely value bounds."""
    if max(abs(low), abs(high)) > 700:  # exp(710) overflows a float
        raise _fail(
            source, path, "log_uniform min/max are natural-log exponents; keep them in +-700"
        )
    if low >= 0 and high <= 1:
        logger.warning(
            "%s: %s: log_uniform takes natural-log exponents, so values run from %.4g to %.4g; "
            "if min/max are the values themselves, use log_uniform_values",
            source,
            path,
            math.exp(low),
            math.exp(high),
        )


def _choices(values: Any, source: str, path: str) -> tuple[Any, ...]:
    if not isinstance(values, list) or not values:
        raise _fail(source, f"{path}.values", "must be a non-empty list of choices")
    seen: set[tuple[type, Any]] = set()
    for index, value in enumerate(values):
        where = f"{path}.values[{index}]"
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise _fail(
                source, where, f"choices must be numbers, strings or booleans, not {value!r}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise _fail(source, where, f"choices must be finite, not {value}")
        if (type(value), value) in seen:
            raise _fail(source, where, f"{value!r} is listed twice; list each choice once")
        seen.add((type(value), value))
    return tuple(values)


def _quantum(values: Mapping[str, Any], source: str, path: str) -> float:
    q = _number(values, "q", source, path)
    if q <= 0:
        raise _fail(source, f"{path}.q", f"must be above 0, got {q}")
    return q


@dataclass(frozen=True)
class MetricGoal:
    """The metric a sweep optimises, named as the user wrote it (``eval/f1``)."""

    name: str
    goal: Goal = "minimize"  # wandb's default when the file gives none

    @classmethod
    def from_mapping(cls, values: Any, source: str = "sweep") -> MetricGoal:
        values = _mapping(values, source, "metric")
        _check_keys(values, METRIC_KEYS, source, "metric")
        name = values.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _fail(source, "metric.name", "give the metric to optimise (e.g. eval/f1)")
        goal = values.get("goal", "minimize")
        if goal not in GOALS:
            raise _fail(source, "metric.goal", f"must be maximize or minimize, not {goal!r}")
        return cls(name, goal)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "goal": self.goal}


@dataclass(frozen=True)
class Hyperband:
    """wandb's hyperband early termination.

    Trials are checked at brackets ``max_iter / eta**k`` (k = 1..s), or ``min_iter * eta**k``
    when ``min_iter`` is given; a trial below the top 1/eta at a bracket stops.

    Attributes:
        max_iter: resource steps (e.g. epochs) a full trial runs.
        s: number of brackets, counted back from ``max_iter``.
        eta: reduction factor: the top 1/eta trials go on at each bracket.
        min_iter: the first bracket; wins over ``s``.
    """

    max_iter: int
    s: int | None = None
    eta: int = 3
    min_iter: int | None = None

    @classmethod
    def from_mapping(cls, values: Any, source: str = "sweep") -> Hyperband:
        path = "early_terminate"
        values = _mapping(values, source, path)
        _check_keys(values, HYPERBAND_KEYS, source, path)
        if values.get("type") != "hyperband":
            raise _fail(
                source,
                f"{path}.type",
                f"must be hyperband (the only early termination wandb has), not "
                f"{values.get('type')!r}",
            )
        settings: dict[str, Any] = {}
        for key in ("max_iter", "s", "eta", "min_iter"):
            value = values.get(key)
            if value is None:
                continue
            if not _is_whole(value):
                raise _fail(source, f"{path}.{key}", f"must be a whole number, not {value!r}")
            settings[key] = int(value)
        if "max_iter" not in settings:
            raise _fail(
                source, f"{path}.max_iter", "give max_iter: the steps (epochs) a full trial runs"
            )
        if settings["max_iter"] < 1:
            raise _fail(
                source, f"{path}.max_iter", f"must be 1 or more, got {settings['max_iter']}"
            )
        if settings.get("eta", 3) < 2:
            raise _fail(source, f"{path}.eta", f"must be 2 or more, got {settings['eta']}")
        if "s" not in settings and "min_iter" not in settings:
            raise _fail(source, path, "give s (brackets below max_iter) or min_iter")
        if settings.get("s", 0) < 0:
            raise _fail(source, f"{path}.s", f"must be 0 or more, got {settings['s']}")
        min_iter = settings.get("min_iter")
        if min_iter is not None and not 1 <= min_iter <= settings["max_iter"]:
            raise _fail(
                source,
                f"{path}.min_iter",
                f"must be between 1 and max_iter ({settings['max_iter']}), got {min_iter}",
            )
        return cls(**settings)

    @property
    def min_resource(self) -> int:
        """Steps a trial runs before it can first be stopped."""
        if self.min_iter is not None:
            return self.min_iter
        return max(1, self.max_iter // self.eta ** (self.s or 0))

    @property
    def brackets(self) -> list[int]:
        """The steps at which trials are compared, ascending (wandb's bracket points)."""
        if self.min_iter is not None:
            found, step = [], self.min_iter
            while step < self.max_iter:
                found.append(step)
                step *= self.eta
            return found
        points = {self.max_iter // self.eta**k for k in range(1, (self.s or 0) + 1)}
        return sorted(p for p in points if p >= 1)

    def to_dict(self) -> dict[str, Any]:
        values: dict[str, Any] = {"type": "hyperband", "eta": self.eta, "max_iter": self.max_iter}
        if self.s is not None:
            values["s"] = self.s
        if self.min_iter is not None:
            values["min_iter"] = self.min_iter
        return values


@dataclass(frozen=True)
class SweepSpec:
    """A hyperparameter sweep: search method, metric, parameters, early termination.

    Attributes:
        name: the sweep's name (also the Optuna study name, which seeds hyperband brackets).
        method: random, grid or bayes (Optuna TPE locally, Katib's Bayesian optimisation).
        metric: the metric and whether to maximise or minimise it.
        parameters: the hyperparameters by name, in file order.
        early_terminate: hyperband settings, or None to run every trial to the end.
        run_cap: most trials to run; None lets the engine choose.
        description: free text.
    """

    name: str
    method: Method
    metric: MetricGoal
    parameters: dict[str, Parameter] = field(default_factory=dict)
    early_terminate: Hyperband | None = None
    run_cap: int | None = None
    description: str | None = None

    @classmethod
    def from_mapping(cls, values: Any, source: str = "sweep") -> SweepSpec:
        """Build and check a spec from a wandb sweep mapping.

        Args:
            values: the parsed document.
            source: its name in error messages (the file name).

        Raises:
            ConfigError: one line naming ``source`` and the key path of the first problem.
        """
        if not isinstance(values, Mapping):
            raise ConfigError(
                f"{source}: a sweep must be a mapping (name, method, metric, parameters), "
                f"not {type(values).__name__}"
            )
        ignored = [key for key in LAUNCHER_KEYS if key in values]
        if ignored:
            logger.info(
                "%s: ignoring wandb launcher key(s) %s: genomeflow runs the trials itself",
                source,
                ", ".join(ignored),
            )
        unknown = [str(k) for k in values if k not in TOP_LEVEL_KEYS + LAUNCHER_KEYS]
        if unknown:
            raise _fail(source, unknown[0], f"unknown key; valid keys: {', '.join(TOP_LEVEL_KEYS)}")
        method = values.get("method")
        if method not in METHODS:
            given = "is missing" if method is None else f"is {method!r}"
            raise _fail(source, "method", f"{given}; choose random, grid or bayes")
        if "metric" not in values:
            raise _fail(source, "metric", "give the metric to optimise: {name: ..., goal: ...}")
        metric = MetricGoal.from_mapping(values["metric"], source)
        raw = _mapping(values.get("parameters") or {}, source, "parameters")
        if not raw:
            raise _fail(source, "parameters", "give at least one parameter to sweep")
        parameters = {
            str(name): Parameter.from_mapping(name, entry, source) for name, entry in raw.items()
        }
        if method == "grid":
            for parameter in parameters.values():
                try:
                    parameter.grid_values()
                except ConfigError as error:
                    raise ConfigError(f"{source}: {error}") from None
        early = values.get("early_terminate")
        run_cap = values.get("run_cap")
        if run_cap is not None and (not _is_whole(run_cap) or run_cap < 1):
            raise _fail(source, "run_cap", f"must be a whole number of 1 or more, not {run_cap!r}")
        run_cap = None if run_cap is None else int(run_cap)
        name = values.get("name", "sweep")
        description = values.get("description")
        for key, text in (("name", name), ("description", description)):
            if text is not None and not isinstance(text, str):
                raise _fail(source, key, f"must be text, not {text!r}")
        return cls(
            name=name or "sweep",
            method=method,
            metric=metric,
            parameters=parameters,
            early_terminate=None if early is None else Hyperband.from_mapping(early, source),
            run_cap=run_cap,
            description=description,
        )

    @classmethod
    def from_file(cls, path: str | Path) -> SweepSpec:
        """Read a wandb sweep file (JSON or YAML).

        Raises:
            ConfigError: a missing file, bad syntax (with its line) or an invalid spec.
        """
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: no such sweep file; check the path")
        document = load_document(path.read_text(encoding="utf-8"), str(path))
        return cls.from_mapping(document, str(path))

    def to_dict(self) -> dict[str, Any]:
        """The spec in wandb form; ``SweepSpec.from_mapping(spec.to_dict()) == spec``."""
        values: dict[str, Any] = {
            "name": self.name,
            "method": self.method,
            "metric": self.metric.to_dict(),
            "parameters": {name: p.to_dict() for name, p in self.parameters.items()},
        }
        if self.description is not None:
            values["description"] = self.description
        if self.early_terminate is not None:
            values["early_terminate"] = self.early_terminate.to_dict()
        if self.run_cap is not None:
            values["run_cap"] = self.run_cap
        return values

    @property
    def searched(self) -> dict[str, Parameter]:
        """The parameters an engine samples (constants left out)."""
        return {name: p for name, p in self.parameters.items() if p.searched}

    def grid_size(self) -> int:
        """Number of distinct grid points (1 when every parameter is constant)."""
        return math.prod(len(p.grid_values()) for p in self.searched.values())
