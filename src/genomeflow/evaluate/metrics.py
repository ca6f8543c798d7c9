"""Classification metrics from predicted probabilities: one definition for every trainer.

Baselines, transformer training, sweeps, Katib and the KFP evaluate step all call
:func:`evaluate_predictions` with class indices and a probability matrix, so a number named
``f1_macro`` means the same thing everywhere.

ROC-AUC and PR-AUC (average precision) are computed from the predicted probabilities. The
reference toolkit computed ROC from hard (argmax) labels, which collapses the curve to a single
operating point: that "AUC" is just balanced accuracy, and it cannot rank models that differ only
in how confident they are. We never do that.

Definitions (``k`` classes, ``n`` examples, predicted label = argmax of a row):

- precision/recall/F1 ``_macro`` and ``_weighted`` are scikit-learn's with ``zero_division=0``;
  the macro mean is over the classes seen in the labels or the predictions (sklearn's default),
  so a class absent from both does not count as a zero.
- ``roc_auc``: binary, the positive class (index 1); ``k > 2``, one-vs-rest macro mean.
  ``pr_auc``: average precision, the same way. Both are None when a class has no examples.
- ``log_loss``: cross-entropy with all ``k`` classes; ``brier``: mean over rows of
  ``sum_c (p_c - onehot_c)^2`` (range 0..2; for binary twice sklearn's ``brier_score_loss``);
  ``ece``: expected calibration error of the top-label confidence over 10 equal-width bins.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from genomeflow.errors import InputError
from genomeflow.metric_names import METRIC_NAMES

logger = logging.getLogger(__name__)

CALIBRATION_BINS = 10  # equal-width bins of top-label confidence on [0, 1]
CURVE_POINTS = 200  # most points kept per ROC/PR curve, so metrics.json stays small
SUM_TOLERANCE = 1e-3  # a probability row may sum to 1 +- this (float32 softmax drifts)


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate_predictions` measured on one set of predictions.

    Attributes:
        label_names: class names; index ``i`` is class ``i`` of the labels and probabilities.
        metrics: every name of :data:`METRIC_NAMES`; None where undefined on this data.
        per_class: label -> ``precision``, ``recall``, ``f1``, ``support`` (examples),
            ``roc_auc`` and ``pr_auc`` (one-vs-rest; None when undefined).
        confusion: rows = true label, columns = predicted label, in ``label_names`` order.
        curves: label -> ``{"roc": {"fpr", "tpr", "thresholds", "auc"} | None, "pr": {"precision",
            "recall", "prevalence", "average_precision"} | None}``, at most ~200 points each.
        calibration: ``ece``, ``bin_edges`` and ``bins`` (``lower``, ``upper``, ``count``,
            mean ``confidence`` and ``accuracy``, None for an empty bin) of the top-label
            confidence.
        count: examples evaluated.
    """

    label_names: list[str]
    metrics: dict[str, float | None]
    per_class: dict[str, dict[str, float | None]]
    confusion: list[list[int]]
    curves: dict[str, Any]
    calibration: dict[str, Any]
    count: int

    def scalars(self, prefix: str = "") -> dict[str, float]:
        """Finite metrics as ``{prefix + name: value}``, for MLflow, Katib and sweeps.

        Per-class F1 is added as ``f"{prefix}f1_class_{label}"``, the label reduced to
        ``[A-Za-z0-9_.-]`` (other characters become ``_``; labels that collide that way get
        their class index appended).
        """
        values = {
            f"{prefix}{name}": float(value)
            for name, value in self.metrics.items()
            if _finite(value) is not None
        }
        for label, safe in zip(self.label_names, safe_labels(self.label_names), strict=True):
            f1 = _finite(self.per_class[label].get("f1"))
            if f1 is not None:
                values[f"{prefix}f1_class_{safe}"] = f1
        return values

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy: plain Python numbers, None instead of NaN or infinity."""
        return _json_ready(asdict(self))

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Evaluation:
        """Rebuild an evaluation from :meth:`to_dict` output (e.g. a ``metrics.json``)."""
        try:
            return cls(
                label_names=list(document["label_names"]),
                metrics=dict(document["metrics"]),
                per_class=dict(document["per_class"]),
                confusion=[list(row) for row in document["confusion"]],
                curves=dict(document["curves"]),
                calibration=dict(document["calibration"]),
                count=int(document["count"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise InputError(
                f"not an evaluation document ({type(error).__name__}: {error}); give a "
                "metrics.json written by genomeflow.evaluate.write_evaluation"
            ) from error


def safe_labels(label_names: Sequence[str]) -> list[str]:
    """Label names reduced to ``[A-Za-z0-9_.-]`` for metric keys; collisions get ``_<index>``."""
    safe = [re.sub(r"[^A-Za-z0-9_.-]", "_", str(name)) for name in label_names]
    return [f"{name}_{index}" if safe.count(name) > 1 else name for index, name in enumerate(safe)]


def evaluate_predictions(
    labels: Sequence[int] | np.ndarray,
    probabilities: Sequence[Sequence[float]] | np.ndarray,
    label_names: Sequence[str],
) -> Evaluation:
    """Measure predicted class probabilities against the true labels.

    Args:
        labels: class indices, shape ``(n,)``, each in ``0..k-1``.
        probabilities: shape ``(n, k)`` with ``k == len(label_names)``; each row non-negative
            and summing to 1 (within 1e-3; rows are renormalised before use). A binary model
            with one score per example gives ``np.column_stack([1 - p, p])``.
        label_names: class names, in index order.

    Returns:
        Every metric of :data:`METRIC_NAMES` (see the module docstring for definitions), per
        class scores, the confusion matrix, ROC/PR curves and calibration bins. A metric
        undefined on this data (AUC when a class has no examples) is None and logged as a
        warning naming the class.

    Raises:
        InputError: the inputs do not fit together or are not probabilities; the message says
            which and how to fix it.
    """
    names = _check_label_names(label_names)
    y, p = _check_inputs(labels, probabilities, len(names))
    # Imported here: `import genomeflow.evaluate` (e.g. canonical_metric in config checks)
    # should not pay for scikit-learn.
    from sklearn import metrics as skm

    k, n = len(names), len(y)
    classes = list(range(k))
    predicted = p.argmax(axis=1)
    support = np.bincount(y, minlength=k)
    for c in np.flatnonzero(support == 0):
        logger.warning(
            "class %r has no examples among the %d labels: roc_auc and pr_auc are undefined "
            "without it and are reported as None",
            names[c],
            n,
        )

    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        y, predicted, labels=classes, average=None, zero_division=0
    )
    averaged = {
        average: skm.precision_recall_fscore_support(y, predicted, average=average, zero_division=0)
        for average in ("macro", "weighted")
    }
    with warnings.catch_warnings():
        # "y_pred contains classes not in y_true": the mean recall over the classes present is
        # still what balanced accuracy means; the absent class was already logged above.
        warnings.simplefilter("ignore", UserWarning)
        balanced = skm.balanced_accuracy_score(y, predicted)

    per_class: dict[str, dict[str, float | None]] = {}
    curves: dict[str, Any] = {}
    for c, name in enumerate(names):
        positive = y == c
        defined = 0 < support[c] < n  # one-vs-rest needs positives and negatives
        roc = _roc_curve(skm, positive, p[:, c]) if defined else None
        pr = _pr_curve(skm, positive, p[:, c]) if defined else None
        per_class[name] = {
            "precision": float(precision[c]),
            "recall": float(recall[c]),
            "f1": float(f1[c]),
            "support": int(support[c]),
            "roc_auc": roc["auc"] if roc else None,
            "pr_auc": pr["average_precision"] if pr else None,
        }
        curves[name] = {"roc": roc, "pr": pr}

    every_class_present = bool((support > 0).all())
    if not every_class_present:
        roc_auc = pr_auc = None
    elif k == 2:
        roc_auc = float(skm.roc_auc_score(y, p[:, 1]))
        pr_auc = float(skm.average_precision_score(y == 1, p[:, 1]))
    else:
        roc_auc = float(skm.roc_auc_score(y, p, multi_class="ovr", average="macro", labels=classes))
        onehot = np.eye(k, dtype=int)[y]
        pr_auc = float(skm.average_precision_score(onehot, p, average="macro"))

    calibration = _calibration(p, y, predicted)
    onehot = np.eye(k)[y]
    metrics: dict[str, float | None] = {
        "accuracy": float(skm.accuracy_score(y, predicted)),
        "balanced_accuracy": float(balanced),
        "precision_macro": float(averaged["macro"][0]),
        "recall_macro": float(averaged["macro"][1]),
        "f1_macro": float(averaged["macro"][2]),
        "precision_weighted": float(averaged["weighted"][0]),
        "recall_weighted": float(averaged["weighted"][1]),
        "f1_weighted": float(averaged["weighted"][2]),
        "mcc": float(skm.matthews_corrcoef(y, predicted)),
        "roc_auc": roc_auc,
        "pr_auc": pr_auc,
        "log_loss": float(skm.log_loss(y, p, labels=classes)),
        "brier": float(np.mean(np.sum((p - onehot) ** 2, axis=1))),
        "ece": calibration["ece"],
    }
    return Evaluation(
        label_names=names,
        metrics={name: _finite(metrics[name]) for name in METRIC_NAMES},
        per_class=per_class,
        confusion=skm.confusion_matrix(y, predicted, labels=classes).tolist(),
        curves=curves,
        calibration=calibration,
        count=n,
    )


def _check_label_names(label_names: Sequence[str]) -> list[str]:
    if isinstance(label_names, str):
        raise InputError(
            f"label_names is the string {label_names!r}; give a list of class names, one per "
            "probability column"
        )
    names = [str(name) for name in label_names]
    if len(names) < 2:
        raise InputError(
            f"label_names has {len(names)} class(es); classification needs at least 2, one per "
            "probability column"
        )
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InputError(
            f"label_names repeats {', '.join(map(repr, duplicates))}; give each class a "
            "distinct name"
        )
    return names


def _check_inputs(labels: Any, probabilities: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert; returns int labels and row-normalised float64 probabilities."""
    y = np.asarray(labels)
    if y.size == 0:
        raise InputError("no examples to evaluate (0 labels); check the split is not empty")
    if y.ndim != 1:
        raise InputError(
            f"labels must be 1-D class indices, shape (n,); got shape {y.shape}"
            + ("; flatten them, e.g. labels.ravel()" if y.ndim == 2 and 1 in y.shape else "")
        )
    if y.dtype.kind == "b":
        y = y.astype(int)
    elif y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all():
        y = y.astype(int)  # 0.0/1.0 from a float tensor are still class indices
    elif y.dtype.kind not in "iu":
        raise InputError(
            f"labels must be integer class indices 0..{k - 1}, got {y.dtype} values such as "
            f"{y.flat[0]!r}; map names to indices with label_names.index(name)"
        )
    try:
        p = np.asarray(probabilities, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(
            f"probabilities are not a numeric (n, k) array ({error}); give one row of {k} "
            "class probabilities per example"
        ) from error
    if p.ndim != 2:
        raise InputError(
            f"probabilities must be 2-D, shape (n examples, {k} classes); got shape {p.shape}. "
            "For one positive-class score per example pass np.column_stack([1 - p, p])"
        )
    if len(y) != p.shape[0]:
        raise InputError(
            f"{len(y)} labels but {p.shape[0]} probability rows; give one row per label"
        )
    if p.shape[1] != k:
        raise InputError(
            f"probabilities have {p.shape[1]} columns but there are {k} label_names; give one "
            "column per class, in label_names order"
        )
    outside = np.flatnonzero((y < 0) | (y >= k))
    if outside.size:
        raise InputError(
            f"label {y[outside[0]]} at row {outside[0]} is outside 0..{k - 1} "
            f"({outside.size} such rows); labels are indices into label_names"
        )
    bad = np.flatnonzero(~np.isfinite(p).all(axis=1))
    if bad.size:
        raise InputError(
            f"probabilities hold NaN or infinity at row {bad[0]} ({bad.size} such rows); "
            "check the model output for overflow before evaluating"
        )
    negative = np.flatnonzero((p < 0).any(axis=1))
    if negative.size:
        raise InputError(
            f"probabilities are negative at row {negative[0]} ({negative.size} such rows); "
            "these look like logits: apply softmax first"
        )
    sums = p.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1.0) > SUM_TOLERANCE)
    if off.size:
        raise InputError(
            f"probability row {off[0]} sums to {sums[off[0]]:.6g}, not 1 ({off.size} such "
            f"rows, tolerance {SUM_TOLERANCE:g}); apply softmax to logits, or normalise rows"
        )
    # sklearn's AUC and log loss demand rows summing to 1 far tighter than our tolerance.
    return y.astype(np.int64), p / sums[:, None]


def _roc_curve(skm: Any, positive: np.ndarray, score: np.ndarray) -> dict[str, Any]:
    fpr, tpr, thresholds = skm.roc_curve(positive, score, drop_intermediate=True)
    # sklearn starts at threshold +inf (nothing called positive); probabilities never exceed 1.
    thresholds = np.minimum(thresholds, 1.0)
    fpr, tpr, thresholds = _downsample(fpr, tpr, thresholds)
    auc = float(skm.roc_auc_score(positive, score))
    return {"fpr": fpr, "tpr": tpr, "thresholds": thresholds, "auc": auc}


def _pr_curve(skm: Any, positive: np.ndarray, score: np.ndarray) -> dict[str, Any]:
    precision, recall, _ = skm.precision_recall_curve(positive, score, drop_intermediate=True)
    precision, recall = _downsample(precision, recall)
    return {
        "precision": precision,
        "recall": recall,
        "prevalence": float(positive.mean()),  # the precision of a random ranking
        "average_precision": float(skm.average_precision_score(positive, score)),
    }


def _downsample(*columns: np.ndarray) -> tuple[list[float], ...]:
    """At most CURVE_POINTS evenly spaced points (first and last kept), rounded to 6 digits."""
    size = len(columns[0])
    keep = np.unique(np.linspace(0, size - 1, min(size, CURVE_POINTS)).round().astype(int))
    return tuple([round(float(v), 6) for v in column[keep]] for column in columns)


def _calibration(p: np.ndarray, y: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Top-label reliability bins and the expected calibration error."""
    confidence = p.max(axis=1)
    correct = (predicted == y).astype(float)
    # floor(conf * 10): bins [0, 0.1), ..., [0.9, 1.0], a confidence of exactly 1 in the last.
    index = np.minimum((confidence * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    counts = np.bincount(index, minlength=CALIBRATION_BINS)
    confidence_sum = np.bincount(index, weights=confidence, minlength=CALIBRATION_BINS)
    correct_sum = np.bincount(index, weights=correct, minlength=CALIBRATION_BINS)
    # sum_b (n_b / n) |acc_b - conf_b| == sum_b |correct_b - confidence_b| / n
    ece = float(np.abs(correct_sum - confidence_sum).sum() / len(y))
    edges = [round(i / CALIBRATION_BINS, 6) for i in range(CALIBRATION_BINS + 1)]
    bins = [
        {
            "lower": edges[b],
            "upper": edges[b + 1],
            "count": int(counts[b]),
            "confidence": float(confidence_sum[b] / counts[b]) if counts[b] else None,
            "accuracy": float(correct_sum[b] / counts[b]) if counts[b] else None,
        }
        for b in range(CALIBRATION_BINS)
    ]
    return {"ece": ece, "bin_edges": edges, "bins": bins}


def _finite(value: Any) -> float | None:
    """``value`` as a float, or None when it is None, NaN or infinite."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _json_ready(value: Any) -> Any:
    """Numpy scalars to Python numbers, NaN/inf to None, tuples to lists, recursively."""
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _finite(value)
    return value
