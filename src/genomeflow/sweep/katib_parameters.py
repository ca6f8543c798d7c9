"""The search space of a Katib Experiment: one ``V1beta1ParameterSpec`` per searched parameter
of a sweep spec, and the values Katib assigns read back as ``genomeflow train`` got them.

- ``int_uniform`` and ``q_*`` kinds with an int ``q`` -> ``int``; other ranges -> ``double``;
  ``q`` -> ``step``; ``log_uniform_values`` -> ``distribution: logUniform`` (``log_uniform``
  takes exponents: min/max ``exp()``-ed); ``normal``/``log_normal`` -> ``normal``/``logNormal``,
  which Katib reads as mu = (min + max) / 2, sigma = (max - min) / 6, so min/max are
  mu -+ 3 sigma; ``categorical`` -> ``categorical`` (choices as text).
- Katib holds every bound and choice as text: numbers are written as plain decimals
  (``0.00001``, never ``1e-05``).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

from kubeflow.katib import V1beta1FeasibleSpace, V1beta1ParameterSpec

from genomeflow.errors import ConfigError
from genomeflow.sweep.spec import NORMAL_KINDS, Parameter, tidy

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


def assigned_value(text: str, parameter_type: str) -> Any:
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
