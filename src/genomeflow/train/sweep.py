"""The ``sweep`` stage for transformers: the local sweep engine (Optuna) trains one model per
trial on the train split and scores it on valid after every epoch, so hyperband prunes weak
trials early (resource = epochs). The best params are written and logged; ``genomeflow train
--params-file best_params.json`` or ``--params-from-run RUN_ID`` trains with them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from genomeflow.config import SweepConfig
from genomeflow.evaluate import canonical_metric
from genomeflow.models.transformer import build_model
from genomeflow.storage import atomic_directory, check_writable
from genomeflow.sweep import SweepSpec, run_sweep
from genomeflow.train.loop import fit
from genomeflow.train.params import resolve_hyperparameters, usable_names, with_hyperparameters
from genomeflow.train.train import prepare, split_of


@dataclass(frozen=True)
class SweepSummary:
    """The best trial of a transformer sweep."""

    output: str
    metric: str
    best_params: dict[str, Any]
    best_value: float
    trials: int
    completed: int
    pruned: int
    failed: int

    def metrics(self) -> dict[str, float]:
        return {
            "sweep_best_value": self.best_value,
            "sweep_trials": self.trials,
            "sweep_pruned": self.pruned,
            "sweep_failed": self.failed,
        }


def sweep_model(config: SweepConfig) -> SweepSummary:
    """Tune the transformer recipe on the valid split; write trials.csv, best_params.json, plots."""
    from genomeflow.tracking import active_run

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
