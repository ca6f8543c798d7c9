"""Config of the baseline stage (features x a classic classifier)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from genomeflow.config.base import (
    StageConfig,
    _require,
    option,
    parse_assignments,
    read_settings_file,
)


@dataclass
class BaselineConfig(StageConfig):
    """Settings of ``genomeflow baseline``: a classic classifier on sequence features."""

    dataset: str = option(
        help="dataset folder written by genomeflow dataset", positional=True, role="input"
    )
    output: str = option(
        help="model folder: model, featuriser, tokeniser, baseline.json, reports/",
        short="-o",
        role="output",
    )
    features: Literal["count", "tfidf", "word2vec", "onehot"] = option(
        "tfidf",
        help="count/tfidf: sparse token n-gram counts; word2vec: pooled [mean, max] vectors "
        "of a word2vec trained on the train split; onehot: residue x position (fixed length)",
    )
    model: Literal["rf", "xgb", "logreg"] = option(
        "rf", help="rf: random forest; xgb: XGBoost (hist); logreg: logistic regression"
    )
    ngram: list[int] = option([1, 1], help="smallest and largest token n-gram for count/tfidf")
    max_features: int = option(0, help="most frequent n-grams kept by count/tfidf (0 = all)")
    vector_size: int = option(100, help="word2vec dimensions (features are twice this)")
    window: int = option(5, help="word2vec context window (tokens)")
    word2vec_epochs: int = option(10, help="word2vec passes over the training tokens")
    params: list[str] = option(
        [], help="model hyperparameters as name=value, e.g. n_estimators=800 max_depth=12"
    )
    params_file: str | None = option(
        None, help="YAML/JSON mapping of model hyperparameters (--params win)", role="input"
    )
    sweep: str | None = option(
        None,
        help="sweep spec (wandb-style JSON/YAML): tune the hyperparameters on the valid split",
        role="input",
    )
    trials: int | None = option(
        None, help="sweep trials", shown="the spec's run_cap, the grid size, else 20"
    )
    parallel: int = option(1, help="sweep trials run at once (threads; >1 is not reproducible)")
    folds: int = option(
        5, help="stratified grouped cross-validation folds on train+valid (0 = none)"
    )
    importance_top: int = option(
        30, help="features whose permutation importance is measured (top by model importance)"
    )
    permutation_repeats: int = option(5, help="shuffles per feature for permutation importance")
    device: Literal["cpu", "cuda"] = option("cpu", help="XGBoost device")
    threads: int = option(0, help="threads per model (0 = all cores)")
    seed: int = option(42, help="random seed of features, models, sweep and folds")

    def __post_init__(self) -> None:
        _require(bool(self.dataset), "give a dataset folder (genomeflow dataset ... -o DATASET)")
        _require(bool(self.output), "give an output folder (--output model/)")
        self._check_choices()
        _require(
            len(self.ngram) == 2 and 1 <= self.ngram[0] <= self.ngram[1],
            f"--ngram needs two sizes, smallest first (e.g. 1 3), got {self.ngram}",
        )
        for name in ("vector_size", "window", "word2vec_epochs", "parallel", "permutation_repeats"):
            _require(getattr(self, name) >= 1, f"--{name.replace('_', '-')} must be at least 1")
        for name in ("max_features", "importance_top", "threads"):
            _require(getattr(self, name) >= 0, f"--{name.replace('_', '-')} must be 0 or more")
        _require(self.trials is None or self.trials >= 1, "--trials must be at least 1")
        _require(
            self.folds == 0 or self.folds >= 2, f"--folds must be 0 or at least 2, got {self.folds}"
        )
        parse_assignments(self.params, "--params")  # fail early on a malformed item

    def model_params(self) -> dict[str, Any]:
        """Hyperparameters: ``params_file`` overridden by ``params``."""
        from_file = read_settings_file(self.params_file) if self.params_file else {}
        return {**from_file, **parse_assignments(self.params, "--params")}


# The transformer families (pretrain builds these; train, crossval and sweep the cnn too).
