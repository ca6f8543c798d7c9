"""The ``sweep`` stage: tune the transformer recipe on the valid split with a wandb-style spec,
on this machine or on a cluster (``config.backend``).

- ``local``: the local sweep engine (Optuna) trains one model per trial on the train split and
  scores it on valid after every epoch, so hyperband prunes weak trials early (resource =
  epochs); the trials table, the best params and plots are written and logged.
- ``katib``: the spec compiles to a Katib Experiment whose trials are ``genomeflow train`` pods
  (:mod:`genomeflow.sweep.katib`); the stage creates it, waits for it and writes the best
  params. With ``dry_run`` it only compiles the Experiment and returns its YAML.

``genomeflow train --params-file best_params.json`` or ``--params-from-run RUN_ID`` trains with
the best params.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from genomeflow.config import SweepConfig
from genomeflow.metric_names import canonical_metric
from genomeflow.models.transformer import build_model
from genomeflow.storage import atomic_directory, check_writable
from genomeflow.sweep import SweepSpec, run_sweep
from genomeflow.sweep.hyperparameters import usable_names
from genomeflow.tracking import active_run
from genomeflow.train.loop import fit
from genomeflow.train.params import resolve_hyperparameters, with_hyperparameters
from genomeflow.train.train import prepare, split_of


@dataclass(frozen=True)
class SweepSummary:
    """The best trial of a transformer sweep, on either engine.

    Attributes:
        output: where ``best_params.json`` (and, locally, the trials table) was written.
        metric: the metric trials were ranked by: its canonical name locally (``f1_macro``),
            the printed line's name on Katib (``eval_f1``).
        best_params: the best trial's hyperparameters by genomeflow name.
        best_value: its metric value; None when Katib recorded none (or on a dry run).
        trials: trials run.
        completed: trials that ran to their end.
        pruned: trials stopped early (hyperband locally, medianstop on Katib).
        failed: trials that failed.
        backend: the engine: ``local`` (Optuna here) or ``katib``.
        experiment: the Katib Experiment (``namespace/name``); None locally.
        best_trial: the best Katib trial's name; None locally.
        experiment_yaml: a Katib dry run's Experiment, compiled and not created; nothing ran.
    """

    output: str
    metric: str
    best_params: dict[str, Any]
    best_value: float | None
    trials: int
    completed: int
    pruned: int
    failed: int
    backend: Literal["local", "katib"] = "local"
    experiment: str | None = None
    best_trial: str | None = None
    experiment_yaml: str | None = None

    def metrics(self) -> dict[str, float]:
        if self.experiment_yaml is not None:
            return {}  # a dry run: nothing to record
        counts = {
            "sweep_trials": self.trials,
            "sweep_pruned": self.pruned,
            "sweep_failed": self.failed,
        }
        if self.best_value is None:
            return counts
        return {"sweep_best_value": self.best_value} | counts


def sweep_model(config: SweepConfig) -> SweepSummary:
    """Tune the transformer recipe on the valid split with ``config.backend``'s engine.

    Locally: write trials.csv, best_params.json and plots. On Katib: run the Experiment (or,
    with ``dry_run``, only compile it) and write best_params.json.
    """
    if config.backend == "katib":
        return _katib_sweep(resolve_hyperparameters(config))
    return _local_sweep(config)


def _katib_sweep(config: SweepConfig) -> SweepSummary:
    """The sweep as a Katib Experiment: compiled, then (unless a dry run) created and awaited."""
    # kubeflow-katib is heavy and installed beside genomeflow only where clusters are used
    from genomeflow.sweep.katib import katib_sweep, run_katib_sweep

    sweep = katib_sweep(config)
    if config.dry_run:
        objective = sweep.experiment.spec.objective.objective_metric_name
        metadata = sweep.experiment.metadata
        return SweepSummary(
            str(config.output),
            objective,
            {},
            None,
            0,
            0,
            0,
            0,
            backend="katib",
            experiment=f"{metadata.namespace}/{metadata.name}",
            experiment_yaml=sweep.to_yaml(),
        )
    result = run_katib_sweep(sweep, config.output, config.timeout)
    return SweepSummary(
        str(config.output),
        result.metric,
        result.params,
        result.best_value,
        result.trials,
        result.succeeded,
        result.early_stopped,
        result.failed,
        backend="katib",
        experiment=result.experiment,
        best_trial=result.best_trial,
    )


def _local_sweep(config: SweepConfig) -> SweepSummary:
    """The sweep on this machine: one Optuna trial per model, each an MLflow child run."""
    check_writable(config.output)
    config = resolve_hyperparameters(config)
    spec = SweepSpec.from_file(config.spec)
    names = usable_names(spec.parameters, config.spec)
    spec = dataclasses.replace(spec, parameters={n: spec.parameters[n] for n in names})
    metric = canonical_metric(spec.metric.name)
    base = dataclasses.replace(config, metric=metric)
    data = prepare(base).data
    encoded: dict[tuple, Any] = {}  # (residues?, strands?, max_length, stride) -> splits

    def objective(trial) -> float:
        trial_config = with_hyperparameters(
            base, trial.params, f"{config.spec} trial {trial.number}"
        )
        prepared = prepare(trial_config, data)
        residues = prepared.tokenizer is None  # a cnn trial: residue windows, not tokens
        key = (residues, prepared.strand_average, prepared.spec.max_length, prepared.stride)
        if key not in encoded:
            encoded[key] = {
                s: split_of(prepared, prepared.data.splits[s], evaluated=s != "train")
                for s in ("train", "valid")
            }
        splits = encoded[key]
        model = build_model(prepared.spec, trial_config.attention, trial_config.seed)
        result = fit(
            model,
            splits["train"],
            splits["valid"],
            prepared.data.label_names,
            prepared.schedule,
            prepared.runtime,
            on_epoch=lambda epoch, _, evaluation: trial.report(
                _value(evaluation.metrics[metric]), epoch
            ),
        )
        return _value(result.best_value)

    with atomic_directory(config.output) as folder:
        result = run_sweep(
            spec,
            objective,
            trials=config.trials,
            seed=config.seed,
            parallel=config.parallel,
            output=folder,
            parent=active_run(),
        )
    return SweepSummary(
        str(config.output),
        metric,
        result.best_params,
        result.best_value,
        result.trials,
        result.completed,
        result.pruned,
        result.failed,
    )


def _value(value: float | None) -> float:
    return float("nan") if value is None else float(value)
