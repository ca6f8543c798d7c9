"""Metric names as users write them: the canonical names genomeflow computes, their aliases, and
which split a prefixed name asks for. Imports nothing but the errors, so configs can check
``--metric`` without loading numpy, scikit-learn or MLflow."""

from __future__ import annotations

import re

from genomeflow.errors import ConfigError

METRIC_NAMES: tuple[str, ...] = (
    "accuracy",
    "balanced_accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "mcc",
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
    "ece",
)
HIGHER_IS_BETTER: dict[str, bool] = {
    name: name not in ("log_loss", "brier", "ece") for name in METRIC_NAMES
}

# A split name in front of a metric, as trainers and sweep files write it ("eval/f1", "test_acc").
_SPLIT_PREFIX = re.compile(r"^(?:eval|evaluation|valid|validation|val|test|train)[/_.-]")
_ALIASES = {
    "acc": "accuracy",
    "balanced_acc": "balanced_accuracy",
    "precision": "precision_macro",
    "recall": "recall_macro",
    "f1": "f1_macro",
    "macro_f1": "f1_macro",
    "weighted_f1": "f1_weighted",
    "auc": "roc_auc",
    "auroc": "roc_auc",
    "roc_auc_ovr": "roc_auc",
    "auprc": "pr_auc",
    "aupr": "pr_auc",
    "average_precision": "pr_auc",
    "matthews": "mcc",
    "matthews_corrcoef": "mcc",
    "loss": "log_loss",
    "logloss": "log_loss",
    "cross_entropy": "log_loss",
    "brier_score": "brier",
}


def canonical_metric(name: str) -> str:
    """The metric name as :data:`METRIC_NAMES` spells it, from the way users write it.

    Case and ``-`` versus ``_`` do not matter; a split prefix (``eval/``, ``eval_``, ``valid_``,
    ``validation/``, ``val_``, ``test_``, ``train_``) is dropped, and common aliases are mapped
    (``f1`` -> ``f1_macro``, ``auc`` -> ``roc_auc``, ``auprc`` -> ``pr_auc``, ``loss`` ->
    ``log_loss`` ...). ``canonical_metric("eval/f1") == "f1_macro"``.

    Raises:
        ConfigError: the name is none of ours, even after that mapping.
    """
    text = str(name).strip().lower().replace("-", "_")
    while (match := _SPLIT_PREFIX.match(text)) and len(text) > match.end():
        text = text[match.end() :]
    text = _ALIASES.get(text, text)
    if text not in METRIC_NAMES:
        raise ConfigError(
            f"unknown metric {name!r}; use one of {', '.join(METRIC_NAMES)} (aliases such as "
            "'f1', 'auc', 'acc', 'loss' and a split prefix such as 'eval/' are accepted)"
        )
    return text


_CHOICE_PREFIX = re.compile(r"^(test|valid|validation|val|eval|held|cv)[/_.-]")
PREFIX_SPLIT = {
    "test": "test",
    "valid": "valid",
    "validation": "valid",
    "val": "valid",
    "eval": "valid",
    "held": "cv",
    "cv": "cv",
}


def metric_choice(metric: str) -> tuple[str, str | None]:
    """``(canonical metric, split or None)`` from the way users write a metric.

    ``test_f1_macro`` -> ``("f1_macro", "test")``; ``held_mcc``/``cv_mcc_mean`` -> ``("mcc",
    "cv")``; ``eval/f1`` -> ``("f1_macro", "valid")``; ``auc`` -> ``("roc_auc", None)``.

    Raises:
        ConfigError: not a metric genomeflow computes.
    """
    text = str(metric).strip().lower().replace("-", "_")
    split = None
    match = _CHOICE_PREFIX.match(text)
    if match and len(text) > match.end():
        split = PREFIX_SPLIT[match.group(1)]
        text = text[match.end() :]
        if split == "cv":
            text = text.removesuffix("_mean")
    return canonical_metric(text), split
