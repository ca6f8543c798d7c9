"""One hyperparameter-sweep spec, in the wandb sweep format, for every engine.

Users bring wandb sweep files (JSON or YAML) as they are; :class:`SweepSpec` reads and checks
them once, and the engines (local Optuna in :mod:`genomeflow.sweep.local`, a Katib Experiment
later) compile the same object. This module does not import any engine.

One parameter's distribution is :class:`genomeflow.sweep.parameter.Parameter`'s.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from genomeflow.config import load_document
from genomeflow.errors import ConfigError
from genomeflow.sweep.parameter import (
    GRID_LIMIT,
    HELPER_SUFFIX,
    KINDS,
    LOG_KINDS,
    NORMAL_KINDS,
    Kind,
    Parameter,
    check_keys,
    fail,
    is_whole,
    mapping,
    tidy,
)

# Re-exported: the engines import a spec's vocabulary from here.
__all__ = [
    "GRID_LIMIT",
    "HELPER_SUFFIX",
    "KINDS",
    "LOG_KINDS",
    "NORMAL_KINDS",
    "Hyperband",
    "Kind",
    "MetricGoal",
    "Parameter",
    "SweepSpec",
    "tidy",
]

logger = logging.getLogger(__name__)

DEFAULT_TRIALS = 20  # trials of a random/bayes sweep without run_cap or --trials

Method = Literal["random", "grid", "bayes"]
Goal = Literal["maximize", "minimize"]
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


@dataclass(frozen=True)
class MetricGoal:
    """The metric a sweep optimises, named as the user wrote it (``eval/f1``)."""

    name: str
    goal: Goal = "minimize"  # wandb's default when the file gives none

    @classmethod
    def from_mapping(cls, values: Any, source: str = "sweep") -> MetricGoal:
        values = mapping(values, source, "metric")
        check_keys(values, METRIC_KEYS, source, "metric")
        name = values.get("name")
        if not isinstance(name, str) or not name.strip():
            raise fail(source, "metric.name", "give the metric to optimise (e.g. eval/f1)")
        goal = values.get("goal", "minimize")
        if goal not in GOALS:
            raise fail(source, "metric.goal", f"must be maximize or minimize, not {goal!r}")
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
        values = mapping(values, source, path)
        check_keys(values, HYPERBAND_KEYS, source, path)
        if values.get("type") != "hyperband":
            raise fail(
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
            if not is_whole(value):
                raise fail(source, f"{path}.{key}", f"must be a whole number, not {value!r}")
            settings[key] = int(value)
        if "max_iter" not in settings:
            raise fail(
                source, f"{path}.max_iter", "give max_iter: the steps (epochs) a full trial runs"
            )
        if settings["max_iter"] < 1:
            raise fail(source, f"{path}.max_iter", f"must be 1 or more, got {settings['max_iter']}")
        if settings.get("eta", 3) < 2:
            raise fail(source, f"{path}.eta", f"must be 2 or more, got {settings['eta']}")
        if "s" not in settings and "min_iter" not in settings:
            raise fail(source, path, "give s (brackets below max_iter) or min_iter")
        if settings.get("s", 0) < 0:
            raise fail(source, f"{path}.s", f"must be 0 or more, got {settings['s']}")
        min_iter = settings.get("min_iter")
        if min_iter is not None and not 1 <= min_iter <= settings["max_iter"]:
            raise fail(
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
            raise fail(source, unknown[0], f"unknown key; valid keys: {', '.join(TOP_LEVEL_KEYS)}")
        method = values.get("method")
        if method not in METHODS:
            given = "is missing" if method is None else f"is {method!r}"
            raise fail(source, "method", f"{given}; choose random, grid or bayes")
        if "metric" not in values:
            raise fail(source, "metric", "give the metric to optimise: {name: ..., goal: ...}")
        metric = MetricGoal.from_mapping(values["metric"], source)
        raw = mapping(values.get("parameters") or {}, source, "parameters")
        if not raw:
            raise fail(source, "parameters", "give at least one parameter to sweep")
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
        if run_cap is not None and (not is_whole(run_cap) or run_cap < 1):
            raise fail(source, "run_cap", f"must be a whole number of 1 or more, not {run_cap!r}")
        run_cap = None if run_cap is None else int(run_cap)
        name = values.get("name", "sweep")
        description = values.get("description")
        for key, text in (("name", name), ("description", description)):
            if text is not None and not isinstance(text, str):
                raise fail(source, key, f"must be text, not {text!r}")
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


def trial_count(spec: SweepSpec, trials: int | None) -> int:
    """How many trials a sweep runs: ``trials``, else the spec's run_cap, else
    :data:`DEFAULT_TRIALS`; a grid never more than its size (both engines' budget)."""
    count = trials if trials is not None else spec.run_cap
    if spec.method == "grid":
        size = spec.grid_size()
        count = size if count is None else min(count, size)  # a grid has no more points
    count = DEFAULT_TRIALS if count is None else count
    if count < 1:
        raise ConfigError(f"trials must be 1 or more, got {count}")
    return count
