"""Plots of an :class:`~genomeflow.evaluate.metrics.Evaluation`, and writing it to a folder.

Every figure is a :class:`matplotlib.figure.Figure` with its own Agg canvas rather than pyplot:
no global backend is set (a notebook's stays as it was), no figure registry fills up, and
figures can be drawn from several threads at once.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genomeflow.errors import ConfigError
from genomeflow.evaluate.metrics import Evaluation
from genomeflow.storage import write_bytes, write_json

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 120
LEGEND_LIMIT = 10  # more classes than this: curves without a per-class legend
NAME_LIMIT = 24  # characters of a label name shown on axes and in legends


def roc_figure(evaluation: Evaluation) -> Figure:
    """ROC curves: the positive class (index 1) when binary, else one line per class (OvR)."""
    figure = _figure(6.0, 5.4)
    axes = figure.subplots()
    names = _curve_classes(evaluation, "roc")
    legend = len(names) <= LEGEND_LIMIT
    for name, colour in zip(names, _colours(len(names)), strict=True):
        curve = evaluation.curves[name]["roc"]
        label = f"{_short(name)} (AUC {curve['auc']:.3f})" if legend else None
        axes.plot(curve["fpr"], curve["tpr"], color=colour, lw=1.6, label=label)
    axes.plot([0, 1], [0, 1], ls="--", lw=1, color="grey", label="chance (AUC 0.5)")
    _unit_square(axes, "False positive rate", "True positive rate")
    auc = evaluation.metrics["roc_auc"]
    if len(evaluation.label_names) == 2:
        title = f"ROC, positive class {_short(evaluation.label_names[1])!r}"
    else:
        title = "ROC, one-vs-rest" + (f" (macro AUC {auc:.3f})" if auc is not None else "")
    axes.set_title(f"{title}, n = {evaluation.count}")
    _finish(axes, names, legend, "lower right", "ROC")
    return figure


def pr_figure(evaluation: Evaluation) -> Figure:
    """Precision-recall curves with each class's prevalence (a random ranking) as baseline."""
    figure = _figure(6.0, 5.4)
    axes = figure.subplots()
    names = _curve_classes(evaluation, "pr")
    legend = len(names) <= LEGEND_LIMIT
    for name, colour in zip(names, _colours(len(names)), strict=True):
        curve = evaluation.curves[name]["pr"]
        label = f"{_short(name)} (AP {curve['average_precision']:.3f})" if legend else None
        # Steps, as average precision sums them; a straight line between points overstates it.
        axes.plot(
            curve["recall"],
            curve["precision"],
            color=colour,
            lw=1.6,
            drawstyle="steps-post",
            label=label,
        )
        if legend:  # one dotted baseline per class; with many classes they would hide the data
            axes.axhline(curve["prevalence"], color=colour, ls=":", lw=1)
    if names and legend:
        axes.plot([], [], color="grey", ls=":", lw=1, label="baseline: class prevalence")
    elif names:
        mean = float(np.mean([evaluation.curves[name]["pr"]["prevalence"] for name in names]))
        axes.axhline(mean, color="grey", ls=":", lw=1)
        axes.text(0.02, mean, f" mean prevalence {mean:.3f}", va="bottom", color="grey")
    _unit_square(axes, "Recall", "Precision")
    ap = evaluation.metrics["pr_auc"]
    if len(evaluation.label_names) == 2:
        title = f"Precision-recall, positive class {_short(evaluation.label_names[1])!r}"
    else:
        title = "Precision-recall, one-vs-rest" + (
            f" (macro AP {ap:.3f})" if ap is not None else ""
        )
    axes.set_title(f"{title}, n = {evaluation.count}")
    _finish(axes, names, legend, "lower left", "precision-recall")
    return figure


def confusion_figure(evaluation: Evaluation) -> Figure:
    """Confusion matrix: counts in the cells, shading by share of the true class (row)."""
    matrix = np.asarray(evaluation.confusion, dtype=float)
    k = len(evaluation.label_names)
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)  # empty row: all zero
    side = min(max(5.0, 0.42 * k + 3.0), 16.0)  # inches: cells stay readable up to ~30 classes
    figure = _figure(side + 1.0, side)
    axes = figure.subplots()
    image = axes.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    size = 10 if k <= 8 else 8 if k <= 15 else 6
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if share[row, column] > 0.6 else "black"
        axes.text(column, row, f"{int(count)}", ha="center", va="center", color=colour, size=size)
    names = [_short(name) for name in evaluation.label_names]
    axes.set_xticks(range(k), names)
    axes.set_yticks(range(k), names)
    if k > 6 or max(len(name) for name in names) > 6:
        axes.tick_params(axis="x", labelrotation=45)
        for label in axes.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")
    axes.set_xlabel("Predicted label")
    axes.set_ylabel("True label")
    accuracy = evaluation.metrics["accuracy"]
    axes.set_title(f"Confusion matrix, n = {evaluation.count}, accuracy {accuracy:.3f}")
    figure.colorbar(image, ax=axes, shrink=0.8, label="Share of the true label's row")
    return figure


def calibration_figure(evaluation: Evaluation) -> Figure:
    """Reliability diagram of the top-label confidence, with bin counts underneath."""
    figure = _figure(6.0, 6.2)
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    bins = evaluation.calibration["bins"]
    lower = [b["lower"] for b in bins]
    width = [b["upper"] - b["lower"] for b in bins]
    filled = [b for b in bins if b["count"]]
    top.bar(
        [b["lower"] for b in filled],
        [b["accuracy"] for b in filled],
        [b["upper"] - b["lower"] for b in filled],
        align="edge",
        color="C0",
        alpha=0.6,
        edgecolor="white",
        label="Accuracy in bin",
    )
    top.plot(
        [b["confidence"] for b in filled],
        [b["accuracy"] for b in filled],
        "o-",
        color="C3",
        lw=1.4,
        ms=4,
        label="Accuracy at mean confidence",
    )
    top.plot([0, 1], [0, 1], ls="--", lw=1, color="grey", label="Perfect calibration")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.02)
    top.set_ylabel("Accuracy")
    top.grid(alpha=0.3)
    top.legend(loc="upper left", fontsize="small")
    ece = evaluation.calibration["ece"]
    top.set_title(f"Reliability (top-label confidence), ECE {ece:.3f}, n = {evaluation.count}")
    bottom.bar(
        lower, [b["count"] for b in bins], width, align="edge", color="grey", edgecolor="white"
    )
    bottom.set_xlabel("Top-label confidence (10 equal-width bins)")
    bottom.set_ylabel("Examples")
    bottom.grid(alpha=0.3, axis="y")
    return figure


def figure_png(figure: Figure) -> bytes:
    """PNG bytes of a figure at 120 dpi, without a time stamp (equal figures, equal bytes)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


PLOTS: dict[str, Callable[[Evaluation], Figure]] = {
    "roc": roc_figure,
    "pr": pr_figure,
    "confusion": confusion_figure,
    "calibration": calibration_figure,
}


def write_evaluation(
    evaluation: Evaluation, folder: str | os.PathLike[str], prefix: str = ""
) -> list[Path]:
    """Write ``{prefix}metrics.json`` and the four plots as PNG into a local folder.

    Args:
        evaluation: what :func:`~genomeflow.evaluate.metrics.evaluate_predictions` returned.
        folder: created if missing. For an ``s3://`` destination write to a local folder
            inside :func:`genomeflow.storage.publish`.
        prefix: put in front of every file name, e.g. ``"test_"``.

    Returns:
        The paths written: metrics.json, roc.png, pr.png, confusion.png, calibration.png (each
        with the prefix). Every file is written atomically.
    """
    if "/" in prefix or "\\" in prefix:
        raise ConfigError(
            f"file prefix {prefix!r} holds a path separator; give the folder as `folder` and a "
            "plain prefix such as 'test_'"
        )
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    paths = [root / f"{prefix}metrics.json"]
    write_json(paths[0], evaluation.to_dict())
    for name, draw in PLOTS.items():
        paths.append(root / f"{prefix}{name}.png")
        write_bytes(paths[-1], figure_png(draw(evaluation)))
    return paths


def _figure(width: float, height: float) -> Figure:
    """A figure with its own Agg canvas (``width`` and ``height`` in inches)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _curve_classes(evaluation: Evaluation, kind: str) -> list[str]:
    """Classes whose ``kind`` curve is drawn: binary, the positive class only."""
    names = (
        evaluation.label_names[1:] if len(evaluation.label_names) == 2 else evaluation.label_names
    )
    return [name for name in names if evaluation.curves[name][kind] is not None]


def _colours(count: int) -> list[Any]:
    from matplotlib import colormaps

    if count <= LEGEND_LIMIT:
        return [f"C{i}" for i in range(count)]
    return list(colormaps["turbo"](np.linspace(0.05, 0.95, count)))


def _unit_square(axes: Any, xlabel: str, ylabel: str) -> None:
    axes.set_xlim(-0.01, 1.01)
    axes.set_ylim(-0.01, 1.02)
    axes.set_aspect("equal")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)


def _finish(axes: Any, names: list[str], legend: bool, where: str, what: str) -> None:
    """Legend, or a note where no class has a curve (every example of a single class)."""
    if not names:
        axes.text(
            0.5,
            0.5,
            f"{what} undefined:\na class has no examples",
            ha="center",
            va="center",
            transform=axes.transAxes,
        )
    if axes.get_legend_handles_labels()[1]:
        axes.legend(loc=where, fontsize="small" if legend else "medium")


def _short(name: str) -> str:
    return name if len(name) <= NAME_LIMIT else name[: NAME_LIMIT - 1] + "…"
