"""The ``crossval`` stage: k-fold cross-validation of the transformer recipe.

Folds are stratified by label and grouped by source sequence on train+valid (the test split is
never touched). Every fold builds a freshly initialised model (the reference re-fine-tuned its
already trained one, so its folds were not independent); early stopping and the epoch choice
use an inner validation tenth carved, grouped, from the fold's training part, never the
held-out fold, which is scored once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from genomeflow.config import CrossvalConfig
from genomeflow.data import grouped_folds
from genomeflow.errors import InputError
from genomeflow.evaluate import Evaluation
from genomeflow.evaluate.folds import fold_summary, fold_table, plot_folds
from genomeflow.models.transformer import build_model
from genomeflow.storage import atomic_directory, check_writable, write_json
from genomeflow.train.distributed import Processes
from genomeflow.train.loop import epoch_metrics, evaluate_split, fit
from genomeflow.train.params import resolve_hyperparameters
from genomeflow.train.train import (
    REPORTS,
    prepare,
    resolved_hyperparameters,
    split_of,
)

log = logging.getLogger(__name__)

INNER_VALID_FOLDS = 10  # the inner validation part is one tenth of a fold's training rows


@dataclass(frozen=True)
class CrossvalSummary:
    """Per-fold evaluations and their mean/sd (``cv_<metric>_mean``, ``cv_<metric>_sd``)."""

    output: str
    params: dict
    folds: list[Evaluation]
    summary: dict[str, float]

    def metrics(self) -> dict[str, float]:
        return dict(self.summary)


def _inner_split(part, seed: int):
    """A grouped, stratified tenth of a fold's training rows for early stopping."""
    fewest = int(part.groupby("label")["group"].nunique().min())
    folds = min(INNER_VALID_FOLDS, fewest)
    if folds < 2:
        raise InputError(
            f"a cross-validation fold has {fewest} source sequence(s) of some class, too few to "
            "hold out an inner validation part; lower --folds or add sequences"
        )
    inner = grouped_folds(part["label"].tolist(), part["group"].tolist(), folds, seed)[0][1]
    return part.drop(index=inner), part.iloc[inner]


def crossval_model(config: CrossvalConfig) -> CrossvalSummary | None:
    """Cross-validate; write metrics.json and reports/ (cv_folds.tsv, cv.png, and
    cv_assignments.tsv: the held-out fold of every row) into ``config.output``.

    Under torchrun or ``--nproc`` every process trains each fold; rank 0 scores, writes and
    returns the summary, the others None."""
    import pandas as pd

    from genomeflow.tracking import active_run

    check_writable(config.output)
    processes = Processes.from_env()  # several under torchrun or --nproc; rank 0 writes
    config = resolve_hyperparameters(config)
    prepared = prepare(config)
    processes.start(prepared.runtime.device)
    splits = prepared.data.splits
    frame = pd.concat([splits["train"], splits["valid"]], ignore_index=True)
    label_names = prepared.data.label_names
    folds = grouped_folds(
        frame["label"].tolist(), frame["group"].tolist(), config.folds, config.seed
    )
    parent = active_run()
    parent.log_params(resolved_hyperparameters(config, prepared))  # the values used
    evaluations = []
    assignments = frame[["id", "group"]].assign(fold=0)
    for number, (train_rows, held_rows) in enumerate(folds, start=1):
        assignments.iloc[held_rows, assignments.columns.get_loc("fold")] = number
        part = frame.iloc[train_rows].reset_index(drop=True)
        fit_part, inner_valid = _inner_split(part, config.seed)
        held = frame.iloc[held_rows]
        held = held[held["strand"] == "+"]  # augmented copies are not independent test rows
        with parent.child(f"fold-{number}", tags={"genomeflow.fold": number}) as run:
            log.info(
                "fold %d/%d: %d train, %d inner valid, %d held out",
                number,
                config.folds,
                len(fit_part),
                len(inner_valid),
                len(held),
            )
            model = build_model(prepared.spec, config.attention, config.seed + number)
            fit(
                model,
                split_of(prepared, fit_part, evaluated=False),
                split_of(prepared, inner_valid[inner_valid["strand"] == "+"]),
                label_names,
                prepared.schedule,
                prepared.runtime,
                on_epoch=lambda epoch, record, _: run.log_metrics(
                    epoch_metrics(record), step=epoch
                ),
                processes=processes,
            )
            if not processes.main:
                continue  # rank 0 scores the held-out fold
            scored = evaluate_split(
                model, split_of(prepared, held), label_names, prepared.schedule, prepared.runtime
            )
            run.log_metrics(scored.scalars("held_"))
        evaluations.append(scored)
    processes.stop()
    if not processes.main:
        return None
    params = resolved_hyperparameters(config, prepared)
    with atomic_directory(config.output) as folder:
        reports = folder / REPORTS
        reports.mkdir()
        table = fold_table(evaluations)
        table.to_csv(reports / "cv_folds.tsv", sep="\t", index=False, float_format="%.6g")
        title = f"{config.architecture}-{config.preset}"
        plot_folds(table, reports / "cv.png", title)
        assignments.to_csv(reports / "cv_assignments.tsv", sep="\t", index=False)
        summary = fold_summary(table)
        write_json(folder / "metrics.json", summary)
        write_json(folder / "crossval.json", {"config": config.to_dict(), "params": params})
    return CrossvalSummary(str(config.output), params, evaluations, summary)
