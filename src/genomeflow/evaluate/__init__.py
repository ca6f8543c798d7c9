"""Evaluation shared by every trainer: metrics from predicted probabilities, plots, reports.

``evaluate_predictions(labels, probabilities, label_names)`` gives an :class:`Evaluation`;
``write_evaluation(evaluation, folder)`` writes ``metrics.json`` and ROC, precision-recall,
confusion and calibration plots. The names themselves live in genomeflow.metric_names.
"""

from __future__ import annotations

from genomeflow.evaluate.metrics import (
    METRIC_NAMES,
    Evaluation,
    evaluate_predictions,
    safe_labels,
)
from genomeflow.evaluate.plots import (
    calibration_figure,
    confusion_figure,
    figure_png,
    pr_figure,
    roc_figure,
    write_evaluation,
)

__all__ = [
    "METRIC_NAMES",
    "Evaluation",
    "calibration_figure",
    "confusion_figure",
    "evaluate_predictions",
    "figure_png",
    "pr_figure",
    "roc_figure",
    "safe_labels",
    "write_evaluation",
]
