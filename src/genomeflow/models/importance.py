"""Feature importances of a fitted classic model: model-based and permutation, table + plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from genomeflow.models.classic import IMPORTANCE_KIND, ClassicModel

PLOTTED = 20  # features shown in the bar plot


def permutation_importance(
    model: ClassicModel,
    features: Any,
    labels: np.ndarray,
    columns: np.ndarray,
    repeats: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of the log-loss increase when each of ``columns`` is shuffled across rows.

    scikit-learn's permutation_importance shuffles every column; with tens of thousands of
    sparse n-gram columns that is too slow, so only the given columns are measured. Log-loss
    (of the predicted probabilities) is used because it moves smoothly, where accuracy or F1
    on a small validation split often does not move at all.
    """
    from sklearn.metrics import log_loss

    classes = list(range(model.predict_proba(features[:1]).shape[1]))
    baseline = log_loss(labels, model.predict_proba(features), labels=classes)
    rng = np.random.default_rng(seed)
    increases = np.zeros((len(columns), repeats))
    for i, column in enumerate(columns):
        for r in range(repeats):
            shuffled = _shuffle_column(features, int(column), rng)
            increases[i, r] = log_loss(labels, model.predict_proba(shuffled), labels=classes)
    increases -= baseline
    return increases.mean(axis=1), increases.std(axis=1)


def _shuffle_column(features: Any, column: int, rng: np.random.Generator) -> Any:
    """A copy of the matrix with one column's values shuffled across rows (sparse stays sparse:
    the column's row indices are permuted)."""
    if hasattr(features, "tocsc"):
        matrix = features.tocsc(copy=True)
        start, end = matrix.indptr[column], matrix.indptr[column + 1]
        permutation = rng.permutation(matrix.shape[0])
        matrix.indices[start:end] = permutation[matrix.indices[start:end]]
        matrix.has_sorted_indices = False
        return matrix.tocsr()
    matrix = np.array(features, copy=True)
    matrix[:, column] = rng.permutation(matrix[:, column])
    return matrix


def importance_table(
    model: ClassicModel,
    names: list[str],
    features: Any,
    labels: np.ndarray,
    top: int,
    repeats: int,
    seed: int,
) -> Any:
    """A DataFrame of the ``top`` features by model importance, with permutation importance."""
    import pandas as pd

    scores = model.importances()
    order = np.argsort(-scores, kind="stable")[:top]
    mean, sd = permutation_importance(model, features, labels, order, repeats, seed)
    return pd.DataFrame(
        {
            "feature": [names[i] for i in order],
            IMPORTANCE_KIND[model.kind]: scores[order],
            "permutation_mean": mean,
            "permutation_sd": sd,
        }
    )


def plot_importance(table: Any, kind: str, path: Path) -> None:
    """Horizontal bars: model importance and permutation importance of the top features."""
    from matplotlib.figure import Figure

    shown = table.head(PLOTTED).iloc[::-1]
    figure = Figure(figsize=(10, 0.3 * len(shown) + 1.6), layout="constrained")
    left, right = figure.subplots(1, 2, sharey=True)
    left.barh(shown["feature"], shown[kind], color="#4C72B0")
    left.set_xlabel(kind.replace("_", " "))
    left.set_title("model importance")
    right.barh(
        shown["feature"], shown["permutation_mean"], xerr=shown["permutation_sd"], color="#DD8452"
    )
    right.axvline(0, color="grey", linewidth=0.8)
    right.set_xlabel("log-loss increase when shuffled (valid split)")
    right.set_title("permutation importance")
    figure.suptitle(f"top {len(shown)} features")
    figure.savefig(path, dpi=120)
