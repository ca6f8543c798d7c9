"""The ``baseline`` stage: sequence features x a classic classifier, tuned, cross-validated, saved.

Order of work, which keeps the test split untouched until the end:
featurise (fitted on train only) -> optional sweep (trials scored on valid) -> final model on
train -> valid report -> k-fold CV on train+valid (fresh featuriser and model per fold, grouped
by source sequence) -> importances (valid) -> the test split, evaluated once -> save.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from genomeflow import __version__
from genomeflow.config import BaselineConfig
from genomeflow.data import grouped_folds, load_dataset
from genomeflow.data.build import TOKENISER_FOLDER
from genomeflow.evaluate import Evaluation, evaluate_predictions, write_evaluation
from genomeflow.evaluate.folds import fold_summary, fold_table, plot_folds
from genomeflow.features.featurisers import (
    FeatureSettings,
    Featuriser,
    make_featuriser,
)
from genomeflow.io.files import file_digests
from genomeflow.metric_names import canonical_metric
from genomeflow.models.baseline import MANIFEST
from genomeflow.models.classic import IMPORTANCE_KIND, ClassicModel, check_hyperparameters
from genomeflow.models.importance import importance_table, plot_importance
from genomeflow.sequence.alphabet import Alphabet
from genomeflow.storage import (
    atomic_directory,
    check_writable,
    write_json,
)
from genomeflow.sweep import SweepSpec, run_sweep
from genomeflow.tokenise.tokenizer import GenomeTokenizer
from genomeflow.tracking import active_run

log = logging.getLogger(__name__)

REPORTS = "reports"


@dataclass(frozen=True)
class BaselineSummary:
    """What :func:`train_baseline` wrote and measured."""

    output: str
    params: dict[str, Any]
    valid: Evaluation
    test: Evaluation
    cv: dict[str, float]
    sweep_best: float | None

    def metrics(self) -> dict[str, float]:
        """Everything numeric, with MLflow/Katib/KFP names (``test_f1_macro``, ``cv_mcc_mean``)."""
        sweep = {} if self.sweep_best is None else {"sweep_best_value": self.sweep_best}
        return {**self.valid.scalars("valid_"), **self.test.scalars("test_"), **self.cv, **sweep}


def _threads(config: BaselineConfig) -> int:
    """Threads per model: all cores shared among parallel sweep trials."""
    cores = config.threads or os.cpu_count() or 1
    return max(1, cores // config.parallel)


def _feature_settings(config: BaselineConfig) -> FeatureSettings:
    return FeatureSettings(
        kind=config.features,
        ngram=(config.ngram[0], config.ngram[1]),
        max_features=config.max_features,
        vector_size=config.vector_size,
        window=config.window,
        epochs=config.word2vec_epochs,
        seed=config.seed,
    )


def _fit_features(
    settings: FeatureSettings,
    tokenizer: GenomeTokenizer,
    alphabet: Alphabet,
    train: Sequence[str],
    *others: Sequence[str],
) -> tuple[Featuriser, list[Any]]:
    """Fit a featuriser on ``train``; returns it and the matrices of train and ``others``."""
    featuriser = make_featuriser(settings, tokenizer, alphabet).fit(train)
    return featuriser, [featuriser.transform(rows) for rows in (train, *others)]


def _sweep(
    config: BaselineConfig,
    params: dict[str, Any],
    matrices: tuple[Any, Any],
    labels: tuple[np.ndarray, np.ndarray],
    label_names: list[str],
    output: Path,
) -> tuple[dict[str, Any], float]:
    """Tune hyperparameters on the valid split; returns the merged params and the best score."""
    spec = SweepSpec.from_file(config.sweep)
    metric = canonical_metric(spec.metric.name)
    (train_x, valid_x), (train_y, valid_y) = matrices, labels
    check_hyperparameters(config.model, spec.parameters)  # before any trial runs

    def objective(trial) -> float:
        model = ClassicModel(
            config.model, {**params, **trial.params}, config.seed, _threads(config), config.device
        )
        value = float("nan")
        for stage in model.fit_in_stages(train_x, train_y, trial.budget):
            scored = evaluate_predictions(valid_y, model.predict_proba(valid_x), label_names)
            value = float("nan") if scored.metrics[metric] is None else scored.metrics[metric]
            trial.report(value, stage)
        return value

    result = run_sweep(
        spec,
        objective,
        trials=config.trials,
        seed=config.seed,
        parallel=config.parallel,
        output=output,
        parent=active_run(),
    )
    return {**params, **result.best_params}, result.best_value


def _cross_validate(config, settings, tokenizer, alphabet, params, frame, label_names, reports):
    """k-fold CV on train+valid: fresh featuriser and model per fold; held-out '+' rows scored."""
    folds = grouped_folds(
        frame["label"].tolist(), frame["group"].tolist(), config.folds, config.seed
    )
    evaluations = []
    for train_rows, held_rows in tqdm(folds, desc="cross-validation", unit="fold", disable=None):
        train, held = frame.iloc[train_rows], frame.iloc[held_rows]
        held = held[held["strand"] == "+"]  # augmented copies are not independent test rows
        _, (train_x, held_x) = _fit_features(
            settings, tokenizer, alphabet, train["sequence"].tolist(), held["sequence"].tolist()
        )
        model = ClassicModel(config.model, params, config.seed, _threads(config), config.device)
        model.fit(train_x, train["label"].to_numpy())
        probabilities = model.predict_proba(held_x)
        evaluations.append(
            evaluate_predictions(held["label"].to_numpy(), probabilities, label_names)
        )
    table = fold_table(evaluations)
    table.to_csv(reports / "cv_folds.tsv", sep="\t", index=False, float_format="%.6g")
    plot_folds(table, reports / "cv.png", f"{config.features} + {config.model}")
    return fold_summary(table)


def train_baseline(config: BaselineConfig) -> BaselineSummary:
    """Run the baseline stage (see the module docstring) and publish the model folder."""
    import pandas as pd

    check_writable(config.output)
    data = load_dataset(config.dataset)
    label_names, alphabet = data.label_names, Alphabet.parse(data.alphabet)
    tokenizer = data.tokeniser()
    settings = _feature_settings(config)
    params = config.model_params()
    train, valid, test = (data.splits[s] for s in ("train", "valid", "test"))
    log.info("fitting %s features on %d train rows", config.features, len(train))
    featuriser, (train_x, valid_x) = _fit_features(
        settings, tokenizer, alphabet, train["sequence"].tolist(), valid["sequence"].tolist()
    )
    train_y, valid_y = train["label"].to_numpy(), valid["label"].to_numpy()
    with atomic_directory(config.output) as folder:
        reports = folder / REPORTS
        reports.mkdir()
        sweep_best = None
        if config.sweep:
            params, sweep_best = _sweep(
                config,
                params,
                (train_x, valid_x),
                (train_y, valid_y),
                label_names,
                reports / "sweep",
            )
        model = ClassicModel(config.model, params, config.seed, _threads(config), config.device)
        model.fit(train_x, train_y)
        valid_eval = evaluate_predictions(valid_y, model.predict_proba(valid_x), label_names)
        write_evaluation(valid_eval, reports, "valid_")
        cv = {}
        if config.folds:
            both = pd.concat([train, valid], ignore_index=True)
            cv = _cross_validate(
                config, settings, tokenizer, alphabet, model.params, both, label_names, reports
            )
        names = featuriser.feature_names()
        table = importance_table(
            model,
            names,
            valid_x,
            valid_y,
            config.importance_top,
            config.permutation_repeats,
            config.seed,
        )
        table.to_csv(reports / "importance.tsv", sep="\t", index=False, float_format="%.6g")
        plot_importance(table, IMPORTANCE_KIND[model.kind], reports / "importance.png")
        test_x = featuriser.transform(test["sequence"].tolist())  # the test split, once
        test_eval = evaluate_predictions(
            test["label"].to_numpy(), model.predict_proba(test_x), label_names
        )
        write_evaluation(test_eval, reports, "test_")
        summary = BaselineSummary(
            str(config.output), model.params, valid_eval, test_eval, cv, sweep_best
        )
        _save(folder, config, featuriser, model, tokenizer, data, summary)
    return summary


def _save(folder, config, featuriser, model, tokenizer, data, summary) -> None:
    featuriser.save(folder)
    model_file = model.save(folder)
    (folder / TOKENISER_FOLDER).mkdir()
    tokenizer.save(folder / TOKENISER_FOLDER)
    manifest = {
        "stage": "baseline",
        "kind": "baseline",
        "genomeflow_version": __version__,
        "config": config.to_dict(),
        "features": featuriser.settings.to_dict(),
        "model": model.kind,
        "model_file": model_file,
        "params": model.params,
        "label_names": data.label_names,
        "alphabet": data.alphabet,
        "dataset": data.provenance(config.dataset),
        "metrics": summary.metrics(),
        # What the classifier loads, so a damaged file is named when it is loaded again.
        "files": file_digests(
            folder,
            sorted(
                str(path.relative_to(folder))
                for path in [*folder.iterdir(), *(folder / TOKENISER_FOLDER).iterdir()]
                if path.is_file()
            ),
        ),
    }
    write_json(folder / MANIFEST, manifest)
