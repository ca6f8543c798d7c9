"""What a local sweep leaves in its output folder besides the best params: the trials table
(``trials.csv``) and two plots (the optimisation history, and parallel coordinates of the
searched parameters against the objective)."""

from __future__ import annotations

import csv
import json
import logging
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genomeflow.storage import atomic_output, open_text_output
from genomeflow.sweep.spec import SweepSpec

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

TABLE_COLUMNS = ("number", "state", "value")
PLOT_DPI = 120
PARAMS_ATTR = "genomeflow.params"  # trial user attr holding the transformed params


def _cell(value: Any) -> Any:
    """A CSV cell: None empty, lists/dicts as JSON, numbers and text as they are."""
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def write_table(path: Path, spec: SweepSpec, trials: list[optuna.trial.FrozenTrial]) -> Path:
    """trials.csv: number, state, value, the transformed params, duration_s; one row a trial.

    A pruned trial's value is the last value it reported.
    """
    names = list(spec.parameters)
    with open_text_output(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([*TABLE_COLUMNS, *names, "duration_s"])
        for trial in sorted(trials, key=lambda t: t.number):
            params = trial.user_attrs.get(PARAMS_ATTR, {})
            duration = trial.duration.total_seconds() if trial.duration is not None else None
            writer.writerow(
                [
                    trial.number,
                    trial.state.name,
                    _cell(trial.value),
                    *(_cell(params.get(name)) for name in names),
                    _cell(None if duration is None else round(duration, 3)),
                ]
            )
    return path


def plot_history(path: Path, study: optuna.study.Study, spec: SweepSpec) -> Path:
    """Optuna's optimisation-history plot (objective per trial and best so far)."""
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization.matplotlib import plot_optimization_history

    # optuna's plot sets pyplot's ggplot style globally: rc_context puts the caller's back
    with warnings.catch_warnings(), plt.rc_context():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        axes = plot_optimization_history(study, target_name=spec.metric.name)
        figure = axes.get_figure()
        try:
            axes.set_title(f"sweep {spec.name}: optimisation history")
            with atomic_output(path) as temporary:
                figure.savefig(temporary, format="png", dpi=PLOT_DPI, bbox_inches="tight")
        finally:
            plt.close(figure)
    return path


def plot_parallel_coordinates(
    path: Path, spec: SweepSpec, trials: list[optuna.trial.FrozenTrial], direction: str
) -> Path | None:
    """One line per completed trial across its (transformed) params and the objective.

    Drawn here rather than with Optuna's plot so the axes show the values the objective saw
    (not Optuna's internal exponents/quantiles). Log-scale parameters use log axes; categorical
    choices sit evenly spaced in spec order. Skipped when nothing was searched.
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    done = [t for t in trials if t.state.name == "COMPLETE" and t.value is not None]
    searched = spec.searched
    if not done or not searched:
        logger.info("sweep %s: no parallel-coordinate plot (nothing searched)", spec.name)
        return None
    objective_values = [float(t.value) for t in done]  # type: ignore[arg-type]
    columns: list[tuple[str, list[float], list[tuple[float, str]]]] = []
    for name, parameter in searched.items():
        values = [t.user_attrs[PARAMS_ATTR][name] for t in done]
        if parameter.kind == "categorical":
            choices = list(parameter.values or ())
            spread = max(len(choices) - 1, 1)
            positions = [choices.index(v) / spread if len(choices) > 1 else 0.5 for v in values]
            ticks = [
                (i / spread if len(choices) > 1 else 0.5, str(c)) for i, c in enumerate(choices)
            ]
            columns.append((name, positions, ticks))
        else:
            columns.append((name, *_scaled(values, parameter.is_log)))
    columns.append((spec.metric.name, *_scaled(objective_values, False)))

    width = max(6.0, 1.5 * len(columns) + 1.5)
    figure = Figure(figsize=(width, 4.5), layout="constrained")
    axes = figure.add_subplot()
    colour_map = colormaps["viridis" if direction == "maximize" else "viridis_r"]
    norm = Normalize(min(objective_values), max(objective_values))
    order = sorted(
        range(len(done)),
        key=lambda i: objective_values[i] if direction == "maximize" else -objective_values[i],
    )  # best drawn last, on top
    xs = list(range(len(columns)))
    for i in order:
        ys = [column[1][i] for column in columns]
        axes.plot(xs, ys, color=colour_map(norm(objective_values[i])), alpha=0.7, linewidth=1.2)
    for x, (_, _, ticks) in enumerate(columns):
        axes.axvline(x, color="0.3", linewidth=0.8)
        for position, label in ticks:
            axes.text(x + 0.03, position, label, fontsize=7, va="center", ha="left")
    axes.set_xticks(xs, [column[0] for column in columns], rotation=20, ha="right")
    axes.set_yticks([])
    axes.set_xlim(-0.1, len(columns) - 0.6)
    axes.set_ylim(-0.05, 1.05)
    for side in ("left", "right", "top"):
        axes.spines[side].set_visible(False)
    figure.colorbar(ScalarMappable(norm=norm, cmap=colour_map), ax=axes, label=spec.metric.name)
    axes.set_title(f"sweep {spec.name}: {len(done)} completed trials")
    with atomic_output(path) as temporary:
        figure.savefig(temporary, format="png", dpi=PLOT_DPI)
    return path


def _scaled(values: list[Any], log: bool) -> tuple[list[float], list[tuple[float, str]]]:
    """Positions of numbers in [0, 1] (log10 scale when ``log``) and min/mid/max tick labels."""
    numbers = [float(v) for v in values]
    use_log = log and min(numbers) > 0
    points = [math.log10(v) for v in numbers] if use_log else numbers
    low, high = min(points), max(points)
    span = high - low
    if span == 0:
        return [0.5] * len(points), [(0.5, f"{numbers[0]:.3g}")]
    positions = [(p - low) / span for p in points]
    middle = low + span / 2
    ticks = [
        (0.0, f"{min(numbers):.3g}"),
        (0.5, f"{10**middle if use_log else middle:.3g}"),
        (1.0, f"{max(numbers):.3g}"),
    ]
    return positions, ticks
