"""Cross-validation results: one row of metrics per fold, mean/sd, and a box plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genomeflow.evaluate.metrics import Evaluation

PLOTTED_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "mcc", "roc_auc", "pr_auc")


def fold_table(evaluations: Sequence[Evaluation]) -> Any:
    """A DataFrame: one row per fold (``fold`` 1..k, ``rows``), one column per metric."""
    import pandas as pd

    return pd.DataFrame(
        [
            {"fold": number, "rows": evaluation.count, **evaluation.metrics}
            for number, evaluation in enumerate(evaluations, start=1)
        ]
    )


def fold_summary(table: Any, prefix: str = "cv_") -> dict[str, float]:
    """``cv_<metric>_mean`` and ``cv_<metric>_sd`` (sample sd) of every defined metric."""
    summary = {}
    for name in table.columns.drop(["fold", "rows"]):
        values = table[name].dropna().astype(float)
        if len(values):
            summary[f"{prefix}{name}_mean"] = float(values.mean())
            summary[f"{prefix}{name}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return summary


def plot_folds(table: Any, path: Path, title: str) -> None:
    """Box plot (with the fold points) of the main metrics across folds."""
    from matplotlib.figure import Figure

    names = [n for n in PLOTTED_METRICS if n in table and table[n].notna().any()]
    figure = Figure(figsize=(1.3 * len(names) + 2, 4), layout="constrained")
    axes = figure.subplots()
    values = [table[n].dropna().astype(float).to_numpy() for n in names]
    axes.boxplot(values, tick_labels=names, showmeans=True)
    for position, points in enumerate(values, start=1):
        axes.scatter([position] * len(points), points, s=14, color="#333333", zorder=3)
    axes.set_ylabel("score")
    axes.set_title(f"{title}: {len(table)} folds")
    axes.grid(axis="y", alpha=0.3)
    figure.savefig(path, dpi=120)
