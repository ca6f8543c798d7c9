"""One hyperparameter of a sweep spec: its wandb distribution, checked once, for every engine.

Distributions follow wandb: ``log_uniform`` takes natural-log *exponents* as min/max
(X = exp(U(min, max))), ``log_uniform_values`` takes the values themselves; quantised kinds
round to multiples of ``q`` and give ints when ``q`` is an int; the normal family takes ``mu``
and ``sigma`` (0 and 1 when absent), ``log_normal`` being X = exp(N(mu, sigma)). The checking
helpers here (``fail``, ``check_keys``, ``mapping``) are :mod:`genomeflow.sweep.spec`'s too.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

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


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_whole(value: Any) -> bool:
    """An int, or a float with no fraction: KFP passes a ``dict`` parameter through a protobuf
    Struct, so a spec's ``run_cap: 4`` arrives in a pipeline step as ``4.0``."""
    return is_int(value) or (is_number(value) and float(value).is_integer())


def fail(source: str, path: str, message: str) -> ConfigError:
    return ConfigError(f"{source}: {path}: {message}")


def check_keys(values: Mapping[str, Any], allowed: tuple[str, ...], source: str, path: str) -> None:
    unknown = [str(key) for key in values if key not in allowed]
    if unknown:
        raise fail(
            source,
            f"{path}.{unknown[0]}" if path else unknown[0],
            f"unknown key; valid keys{' here' if path else ''}: {', '.join(allowed)}",
        )


def mapping(value: Any, source: str, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise fail(source, path, f"must be a mapping of key: value, not {type(value).__name__}")
    return value


def number(values: Mapping[str, Any], key: str, source: str, path: str) -> float:
    value = values.get(key, DEFAULTS.get(key))
    if value is None:
        raise fail(source, path, f"needs {key}")
    if not is_number(value) or not math.isfinite(value):
        raise fail(source, f"{path}.{key}", f"must be a finite number, not {value!r}")
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
        values = mapping(values, source, path)
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise fail(
                source,
                path,
                "a parameter name must start with a letter or _ and hold only letters, digits, "
                "_, . and -",
            )
        if name.endswith(HELPER_SUFFIX):
            raise fail(source, path, f"names ending in {HELPER_SUFFIX} are reserved; rename it")
        kind = values.get("distribution")
        if kind is None:
            kind = _infer_kind(values, source, path)
        elif kind not in KINDS:
            raise fail(
                source,
                f"{path}.distribution",
                f"unknown distribution {kind!r}; valid: {', '.join(KINDS)}",
            )
        check_keys(values, ("distribution", *KIND_KEYS[kind]), source, path)
        if kind == "constant":
            if "value" not in values:
                raise fail(source, path, "a constant needs value")
            return cls(name, kind, value=values["value"])
        if kind == "categorical":
            return cls(name, kind, values=_choices(values.get("values"), source, path))
        if kind in NORMAL_KINDS:
            mu, sigma = (number(values, key, source, path) for key in ("mu", "sigma"))
            if sigma <= 0:
                raise fail(source, f"{path}.sigma", f"must be above 0, got {sigma}")
            q = _quantum(values, source, path) if kind.startswith("q_") else None
            return cls(name, kind, mu=mu, sigma=sigma, q=q)
        low, high = (number(values, key, source, path) for key in RANGE)
        if low > high:
            raise fail(source, path, f"min ({low}) is above max ({high}); swap them")
        if kind == "int_uniform" and not (is_whole(low) and is_whole(high)):
            raise fail(source, path, f"int_uniform needs integer min and max, got {low}, {high}")
        if kind in ("log_uniform_values", "q_log_uniform_values") and low <= 0:
            raise fail(
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
            raise fail(source, path, f"no multiple of q ({q}) lies between min and max")
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
            return is_int(self.q)
        if self.kind == "categorical":
            return all(is_int(v) for v in self.values or ())
        return self.kind == "constant" and is_int(self.value)

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
            numbers = [v for v in choices or () if is_number(v)]
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
        return int(rounded) if is_int(self.q) else tidy(rounded)


def _infer_kind(values: Mapping[str, Any], source: str, path: str) -> str:
    """wandb's distribution for an entry without ``distribution``."""
    if "values" in values:
        return "categorical"
    if "value" in values:
        return "constant"
    if "min" in values and "max" in values:
        both_int = is_int(values["min"]) and is_int(values["max"])
        return "int_uniform" if both_int else "uniform"
    raise fail(
        source,
        path,
        f"give values: [...], value: x, min and max, or a distribution ({', '.join(KINDS)})",
    )


def _check_exponents(low: float, high: float, source: str, path: str) -> None:
    """log_uniform takes natural-log exponents: catch overflow, flag likely value bounds."""
    if max(abs(low), abs(high)) > 700:  # exp(710) overflows a float
        raise fail(
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
        raise fail(source, f"{path}.values", "must be a non-empty list of choices")
    seen: set[tuple[type, Any]] = set()
    for index, value in enumerate(values):
        where = f"{path}.values[{index}]"
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise fail(
                source, where, f"choices must be numbers, strings or booleans, not {value!r}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise fail(source, where, f"choices must be finite, not {value}")
        if (type(value), value) in seen:
            raise fail(source, where, f"{value!r} is listed twice; list each choice once")
        seen.add((type(value), value))
    return tuple(values)


def _quantum(values: Mapping[str, Any], source: str, path: str) -> float:
    q = number(values, "q", source, path)
    if q <= 0:
        raise fail(source, f"{path}.q", f"must be above 0, got {q}")
    return q
