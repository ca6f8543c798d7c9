"""The local sweep engine: a :class:`~genomeflow.sweep.spec.SweepSpec` run with Optuna.

wandb's methods map onto Optuna samplers (random -> RandomSampler, grid -> GridSampler,
bayes -> TPESampler) and wandb's hyperband onto Optuna's HyperbandPruner. Every trial is an
MLflow child run of the sweep's run (when tracking is on); the trials table, the best params
and two plots are written to an output folder.

The objective sees the *transformed* values (``log_uniform`` exponentiated, ``q_*`` rounded,
normal quantiles mapped through the inverse CDF); Optuna's internal values (such as the
``<name>__quantile`` helpers of the normal family) never leave this module.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from genomeflow.errors import ConfigError, GenomeflowError
from genomeflow.storage import atomic_output, open_text_output, write_json
from genomeflow.sweep.spec import HELPER_SUFFIX, NORMAL_KINDS, SweepSpec
from genomeflow.tracking.runs import Run

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

DEFAULT_TRIALS = 20  # trials of a random/bayes sweep without run_cap or --trials
QUANTILE_EDGE = 1e-6  # normal quantiles are sampled in [edge, 1 - edge]: finite values (+-4.75 sd)
PARAMS_ATTR = "genomeflow.params"  # trial user attr holding the transformed params
TRIAL_STATE_TAG = "genomeflow.trial_state"
OBJECTIVE_METRIC = "objective"
RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
TABLE_COLUMNS = ("number", "state", "value")
OUTPUTS = ("trials.csv", "best_params.json", "optimisation_history.png", "parallel_coordinate.png")
PLOT_DPI = 120


class SweepError(GenomeflowError):
    """No trial of a sweep gave a result (every trial failed or was pruned)."""


class _TrialFailed(Exception):
    """A trial's objective raised or returned no number; Optuna records the trial as FAIL."""


@dataclass
class TrialContext:
    """What an objective sees of its trial.

    Attributes:
        number: the trial number (0-based, in start order).
        params: the sampled values by parameter name, transformed (log/q/normal applied;
            integers as int); constants included.
        budget: resource steps (e.g. epochs) to report over: the spec's hyperband ``max_iter``,
            else 1.
        run: this trial's MLflow child run (inactive when tracking is off).
    """

    number: int
    params: dict[str, Any]
    budget: int
    run: Run
    _trial: optuna.trial.Trial | None = field(default=None, repr=False, compare=False)
    _last_step: int | None = field(default=None, repr=False, compare=False)

    def report(self, value: float, step: int) -> None:
        """Report the objective after ``step`` resource steps (1..budget) to the pruner.

        The value is also logged as the run's ``objective`` metric at that step.

        Raises:
            optuna.TrialPruned: when hyperband stops this trial; let it propagate.
        """
        value = float(value)
        self.run.log_metrics({OBJECTIVE_METRIC: value}, step=step)
        self._last_step = step
        if self._trial is None:
            return
        import optuna

        self._trial.report(value, step)
        if self._trial.should_prune():
            raise optuna.TrialPruned(f"trial {self.number} pruned at step {step} ({value:.4g})")


@dataclass(frozen=True)
class SweepResult:
    """The outcome of a sweep.

    Attributes:
        best_params: the best trial's params (transformed, constants included).
        best_value: its objective value.
        best_trial: its trial number.
        trials: trials run; ``completed + pruned + failed``.
        completed: trials that returned a value.
        pruned: trials hyperband stopped early.
        failed: trials whose objective raised or returned NaN.
        files: the outputs written (trials.csv, best_params.json, plots).
    """

    best_params: dict[str, Any]
    best_value: float
    best_trial: int
    trials: int
    completed: int
    pruned: int
    failed: int
    files: list[Path] = field(default_factory=list)


def metric_key(name: str) -> str:
    """An MLflow-safe metric name (letters, digits, ``_ - . / :`` and spaces kept)."""
    return re.sub(r"[^\w\-./: ]", "_", name) or OBJECTIVE_METRIC


def sample_params(trial: optuna.trial.Trial, spec: SweepSpec) -> dict[str, Any]:
    """Draw one value per parameter through ``trial.suggest_*``; returns transformed values.

    A grid sweep suggests every parameter as a categorical over its grid values (the
    GridSampler hands them out). Otherwise each kind uses the matching Optuna distribution,
    in log space for log kinds, so TPE models what wandb samples.
    """
    params: dict[str, Any] = {}
    for name, parameter in spec.parameters.items():
        kind = parameter.kind
        if kind == "constant":
            params[name] = parameter.value
            continue
        if kind == "categorical" or spec.method == "grid":
            params[name] = trial.suggest_categorical(name, parameter.grid_values())
            continue
        if kind in NORMAL_KINDS:
            # TPE cannot model an unbounded normal: sample its quantile, map it through the CDF
            quantile = trial.suggest_float(name + HELPER_SUFFIX, QUANTILE_EDGE, 1 - QUANTILE_EDGE)
            normal = NormalDist(float(parameter.mu or 0.0), float(parameter.sigma or 1.0))
            drawn = normal.inv_cdf(quantile)
            drawn = math.exp(drawn) if parameter.is_log else drawn
        else:
            low, high = float(parameter.min or 0.0), float(parameter.max or 0.0)
            if kind == "int_uniform":
                params[name] = trial.suggest_int(name, int(low), int(high))
                continue
            if kind == "q_uniform":
                low, high = parameter.quantised_range()
                drawn = trial.suggest_float(name, low, high, step=parameter.q)
            elif kind == "log_uniform":
                # exp(U(min, max)) is log-uniform on [e^min, e^max]: sample that, keep the value
                drawn = trial.suggest_float(name, math.exp(low), math.exp(high), log=True)
            else:  # uniform, log_uniform_values, q_log_uniform_values
                drawn = trial.suggest_float(name, low, high, log=parameter.is_log)
        params[name] = parameter.quantise(drawn) if parameter.q is not None else drawn
    return params


def _sampler(spec: SweepSpec, seed: int) -> optuna.samplers.BaseSampler:
    import optuna

    if spec.method == "grid":
        space = {name: p.grid_values() for name, p in spec.searched.items()}
        return optuna.samplers.GridSampler(space, seed=seed)
    if spec.method == "bayes":
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def _pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    import optuna

    hyperband = spec.early_terminate
    if hyperband is None:
        return optuna.pruners.NopPruner()
    return optuna.pruners.HyperbandPruner(
        min_resource=hyperband.min_resource,
        max_resource=hyperband.max_iter,
        reduction_factor=hyperband.eta,
    )


def trial_count(spec: SweepSpec, trials: int | None) -> int:
    count = trials if trials is not None else spec.run_cap
    if spec.method == "grid":
        size = spec.grid_size()
        count = size if count is None else min(count, size)  # a grid has no more points
    count = DEFAULT_TRIALS if count is None else count
    if count < 1:
        raise ConfigError(f"trials must be 1 or more, got {count}")
    return count


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Silence Optuna's per-trial log lines (INFO for each trial, WARNING with a traceback for
    each failure): the progress bar and genomeflow's own warnings say it once."""
    import optuna

    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


class _Sweep:
    """The state one :func:`run_sweep` call shares between its (possibly threaded) trials."""

    def __init__(
        self,
        spec: SweepSpec,
        objective: Callable[[TrialContext], float],
        parent: Run,
        budget: int,
    ) -> None:
        self.spec = spec
        self.objective = objective
        self.parent = parent
        self.budget = budget
        self.metric = metric_key(spec.metric.name)
        self.lock = threading.Lock()
        self.first_failure: BaseException | None = None
        self.user_error: GenomeflowError | None = None

    def __call__(self, trial: optuna.trial.Trial) -> float:
        """Optuna's objective: one trial; a user error stops the sweep (raised after it)."""
        try:
            return self._trial(trial)
        except GenomeflowError as error:
            # the user's to fix (a bad setting, MLflow down): stop rather than fail every trial
            # alike. Optuna re-raises an uncaught error only sometimes with n_jobs > 1 (not for
            # the last trials), so run_sweep raises it once the study has stopped.
            with self.lock:
                self.user_error = self.user_error or error
            trial.study.stop()
            raise _TrialFailed(str(error)) from error

    def _trial(self, trial: optuna.trial.Trial) -> float:
        """Sample, run the user's objective in a child run, record its outcome."""
        import optuna

        params = sample_params(trial, self.spec)
        trial.set_user_attr(PARAMS_ATTR, params)
        tags = {"genomeflow.sweep": self.spec.name, "genomeflow.trial": trial.number}
        with self.parent.child(f"trial-{trial.number}", params, tags) as run:
            context = TrialContext(trial.number, dict(params), self.budget, run, trial)
            state, value, error = self._call(context)
            run.status = RUN_STATUS[state]
            run.set_tags({TRIAL_STATE_TAG: state})
            if state == "COMPLETE":
                run.log_metrics(
                    {OBJECTIVE_METRIC: value, self.metric: value}, step=context._last_step or 0
                )
        if isinstance(error, GenomeflowError):
            raise error
        if state == "PRUNED":
            raise optuna.TrialPruned(str(error))
        if state == "FAIL":
            raise _TrialFailed(str(error)) from error
        assert value is not None
        return value

    def _call(self, context: TrialContext) -> tuple[str, float | None, BaseException | None]:
        """Run the objective once: (state, value, error)."""
        import optuna

        try:
            raw = self.objective(context)
        except optuna.TrialPruned as pruned:
            return "PRUNED", None, pruned
        except GenomeflowError as error:
            return "FAIL", None, error  # raised again once its run is closed
        except Exception as error:
            return "FAIL", None, self._failed(context, error)
        try:
            value = float(raw)
        except (TypeError, ValueError) as error:
            message = f"the objective returned {raw!r}, not a number"
            return "FAIL", None, self._failed(context, TypeError(message), error)
        if math.isnan(value):
            return "FAIL", None, self._failed(context, ValueError("the objective returned NaN"))
        return "COMPLETE", value, None

    def _failed(
        self, context: TrialContext, error: BaseException, cause: BaseException | None = None
    ) -> BaseException:
        if cause is not None:
            error.__cause__ = cause
        with self.lock:
            self.first_failure = self.first_failure or error
        logger.warning(
            "sweep %s: trial %d failed (%s: %s) with params %s",
            self.spec.name,
            context.number,
            type(error).__name__,
            error,
            context.params,
            exc_info=error if logger.isEnabledFor(logging.DEBUG) else None,
        )
        return error


def run_sweep(
    spec: SweepSpec,
    objective: Callable[[TrialContext], float],
    *,
    trials: int | None = None,
    seed: int = 42,
    parallel: int = 1,
    output: str | Path | None = None,
    parent: Run | None = None,
) -> SweepResult:
    """Run a sweep locally with Optuna.

    Args:
        spec: the sweep (method, metric, parameters, early termination).
        objective: called once per trial with a :class:`TrialContext`; returns the metric's
            value (``spec.metric.name``, on the validation split). With hyperband it should
            call ``context.report(value, step)`` after each of ``context.budget`` steps (and
            let the ``optuna.TrialPruned`` it may raise propagate). A
            :class:`~genomeflow.errors.GenomeflowError` it raises stops the sweep and is
            raised again; any other exception, or NaN, fails only that trial.
        trials: trials to run; default ``spec.run_cap``, else the grid size for grid (a grid
            is capped at its size), else 20.
        seed: seeds the sampler; with ``parallel == 1`` the same seed, spec and objective give
            the same trials.
        parallel: trials run at once in threads (``study.optimize(n_jobs=...)``). Results are
            then not reproducible run to run: trials finish in varying order and Optuna
            reseeds the sampler in each thread.
        output: a local folder (created) for trials.csv, best_params.json,
            optimisation_history.png and parallel_coordinate.png.
        parent: the MLflow run the trials become children of; None or inactive: no tracking.
            The outputs are also stored as its artifacts.

    Returns:
        The best params and value, trial counts and the files written.

    Raises:
        GenomeflowError: the first user error an objective raised (the sweep stops).
        SweepError: when no trial completed (the message names the first failure).
        ConfigError: ``trials`` or ``parallel`` below 1.
    """
    import optuna
    from tqdm import tqdm

    if parallel < 1:
        raise ConfigError(f"parallel must be 1 or more, got {parallel}")
    count = trial_count(spec, trials)
    parent = parent if parent is not None else Run(None, None)
    budget = spec.early_terminate.max_iter if spec.early_terminate is not None else 1
    sweep = _Sweep(spec, objective, parent, budget)
    direction = "maximize" if spec.metric.goal == "maximize" else "minimize"

    with _quiet_optuna():
        study = optuna.create_study(
            study_name=spec.name,  # hyperband assigns brackets by hashing study name + trial
            direction=direction,
            sampler=_sampler(spec, seed),
            pruner=_pruner(spec),
        )
        with tqdm(total=count, desc=f"sweep {spec.name}", unit="trial", disable=None) as bar:
            progress_lock = threading.Lock()

            def progress(study: optuna.study.Study, _: optuna.trial.FrozenTrial) -> None:
                with progress_lock:
                    bar.update(1)
                    best = _best_value(study)
                    if best is not None:
                        bar.set_postfix(best=f"{best:.4g}", refresh=False)

            study.optimize(
                sweep,
                n_trials=count,
                n_jobs=parallel,
                catch=(_TrialFailed,),
                callbacks=[progress],
            )
    if sweep.user_error is not None:
        raise sweep.user_error

    finished = study.get_trials(deepcopy=False)
    states = [t.state.name for t in finished]
    completed, pruned, failed = (states.count(s) for s in ("COMPLETE", "PRUNED", "FAIL"))
    folder = Path(output) if output is not None else None
    files: list[Path] = []
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        for name in OUTPUTS:  # a previous sweep's results must not pass for this one's
            (folder / name).unlink(missing_ok=True)
        files.append(_write_table(folder / "trials.csv", spec, finished))
    if completed == 0:
        first = sweep.first_failure
        cause = f"; the first error: {type(first).__name__}: {first}" if first else ""
        raise SweepError(
            f"sweep {spec.name}: no trial completed ({failed} failed, {pruned} pruned of "
            f"{len(finished)}){cause}; fix the objective or the parameter ranges"
        ) from first

    best = study.best_trial
    best_params = dict(best.user_attrs[PARAMS_ATTR])
    assert best.value is not None
    logger.info(
        "sweep %s: best %s %.4g in trial %d with %s (%d completed, %d pruned, %d failed)",
        spec.name,
        spec.metric.name,
        best.value,
        best.number,
        best_params,
        completed,
        pruned,
        failed,
    )
    if folder is not None:
        summary = {
            "metric": spec.metric.name,
            "goal": spec.metric.goal,
            "best_value": best.value,
            "best_trial": best.number,
            "params": best_params,
        }
        write_json(folder / "best_params.json", summary)
        reports = [folder / "best_params.json"]
        reports.append(_plot_history(folder / "optimisation_history.png", study, spec))
        coordinates = _plot_parallel_coordinates(
            folder / "parallel_coordinate.png", spec, finished, direction
        )
        reports += [coordinates] if coordinates is not None else []
        files += reports
        for report in reports:
            parent.log_artifact(report)
    return SweepResult(
        best_params=best_params,
        best_value=float(best.value),
        best_trial=best.number,
        trials=len(finished),
        completed=completed,
        pruned=pruned,
        failed=failed,
        files=files,
    )


def _best_value(study: optuna.study.Study) -> float | None:
    try:
        return study.best_value
    except ValueError:  # no completed trial yet
        return None


def _cell(value: Any) -> Any:
    """A CSV cell: None empty, lists/dicts as JSON, numbers and text as they are."""
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def _write_table(path: Path, spec: SweepSpec, trials: list[optuna.trial.FrozenTrial]) -> Path:
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


def _plot_history(path: Path, study: optuna.study.Study, spec: SweepSpec) -> Path:
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


def _plot_parallel_coordinates(
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
