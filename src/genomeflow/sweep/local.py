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

import logging
import math
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genomeflow.errors import ConfigError, GenomeflowError
from genomeflow.storage import write_json
from genomeflow.sweep.outputs import (
    PARAMS_ATTR,
    plot_history,
    plot_parallel_coordinates,
    write_table,
)
from genomeflow.sweep.sampling import pruner, sample_params, sampler
from genomeflow.sweep.spec import SweepSpec, trial_count
from genomeflow.tracking.runs import Run

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

TRIAL_STATE_TAG = "genomeflow.trial_state"
OBJECTIVE_METRIC = "objective"
RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
OUTPUTS = ("trials.csv", "best_params.json", "optimisation_history.png", "parallel_coordinate.png")


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
            sampler=sampler(spec, seed),
            pruner=pruner(spec),
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
        files.append(write_table(folder / "trials.csv", spec, finished))
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
        reports.append(plot_history(folder / "optimisation_history.png", study, spec))
        coordinates = plot_parallel_coordinates(
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
