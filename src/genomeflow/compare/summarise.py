"""One metric across many runs: MLflow experiments and result folders in one table and plot.

Where the values come from (``split`` says which evaluation each one is):

- ``test``: a trained model's test split, evaluated once: ``genomeflow train`` and
  ``genomeflow baseline`` runs (MLflow metrics ``test_<metric>``) and model folders
  (``metrics.json``);
- ``cv``: one held-out fold of a cross-validation: the fold child runs of a ``genomeflow
  crossval`` run (``held_<metric>``), a crossval folder's or a baseline's
  ``reports/cv_folds.tsv`` (a baseline run's is read from its MLflow artifacts);
- ``valid``: the validation split: a model's chosen epoch (``valid_<metric>``) and sweep trials
  (the sweep spec's metric, e.g. ``eval/f1``).

A metric given without a split prefix (``f1_macro``) takes the test and cv values, and the
valid values of sweep trials (they have no other); ``test_f1_macro``, ``cv_f1_macro`` /
``held_f1_macro`` or ``valid_f1_macro`` / ``eval/f1`` take that split only. Values of different
splits are never pooled: they form separate groups in the plot and the summary.

A method is ``<architecture>-<preset>`` for transformers (train, crossval, sweep) and
``<features>+<model>`` for baselines, else the run's stage or name. Only FINISHED MLflow runs
count (failed runs and pruned trials have partial metrics).

:func:`summarise_runs` is the ``genomeflow summarise`` stage: it takes a
:class:`~genomeflow.config.SummariseConfig`, gathers the rows (:mod:`genomeflow.compare.collect`),
keeps the asked metric and split (:mod:`genomeflow.compare.splits`), and writes the table, the
per-group summary and the plot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from genomeflow import __version__
from genomeflow.compare.collect import TRIAL, experiment_rows, folder_rows
from genomeflow.config import SummariseConfig
from genomeflow.errors import InputError
from genomeflow.metric_names import METRIC_NAMES, metric_choice
from genomeflow.report.plots import colours, figure_png, new_figure
from genomeflow.storage import atomic_directory, write_json

GROUP_BY_METHOD = ("stage", "method")  # group by the method each run trained
GROUP_BY_NAME = "name"  # group by run/folder name
BASE_COLUMNS = ("group", "method", "split", "source", "name", "stage", "fold")


@dataclass(frozen=True)
class SummariseSummary:
    """What :func:`summarise_runs` wrote.

    Attributes:
        output: the report folder.
        metric: the canonical metric name (``f1_macro``).
        split: the split asked for, or None (test and cv, and sweep trials' valid).
        rows: values in the table (runs, folds, trials).
        summary: a DataFrame: group, split, n, mean, sd, median, min, max.
        files: the files written.
    """

    output: str
    metric: str
    split: str | None
    rows: int
    summary: Any
    files: list[str]

    def metrics(self) -> dict[str, float]:
        return {"rows": self.rows, "groups": len(self.summary)}


# --- the summary -----------------------------------------------------------------------------


def _group(row: Mapping[str, Any], group_by: str) -> str:
    if group_by in GROUP_BY_METHOD:
        return str(row["method"])
    if group_by == GROUP_BY_NAME:
        return str(row["name"])
    value = row["params"].get(group_by)
    return "-" if value is None else str(value)


def _found(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every ``<split>_<metric>`` with a value somewhere, for messages."""
    found = {f"{row['split']}_{name}" for row in rows for name in METRIC_NAMES if name in row}
    return sorted(found)


def summarise_runs(config: SummariseConfig) -> SummariseSummary:
    """Collect one metric across MLflow runs and result folders; write a table and a plot.

    ``config.output`` receives (atomically): ``runs.tsv`` (one row per value: group, method,
    split, source, name, stage, fold, then the metric and every other metric of that
    evaluation), ``summary.tsv`` (group, split, n, mean, sd, median, min, max of the metric),
    ``<metric>.png`` (violin + box plot with every value as a point, one column per group and
    split) and ``summarise.json`` (what was read and how).

    The config says where the values come from (``from_experiment``: an MLflow experiment whose
    FINISHED runs to read, on the server of :func:`genomeflow.tracking.resolve_tracking_uri`;
    ``folders``: model folders and crossval folders), which ``metric`` (``f1_macro``,
    ``test_f1_macro``, ``held_mcc``, ``eval/f1``, ``auc``...: see
    :func:`~genomeflow.compare.splits.metric_choice`) and how to group the values
    (``group_by``: ``stage`` or ``method``, the method each run trained; ``name``, the run or
    folder name; any other value, that hyperparameter's value).

    Raises:
        ConfigError: an unknown metric.
        InputError: a folder or experiment is not there, the metric has no value anywhere
            (the message lists the metrics found), or ``group_by`` is no run's parameter.
        TrackingError: MLflow cannot be read.
    """
    import pandas as pd  # pandas loads when the stage runs (start-up time)

    experiment, folders, group_by = config.from_experiment, config.folders, config.group_by
    name, split = metric_choice(config.metric)
    rows: list[dict[str, Any]] = []
    sources = []
    if experiment:
        rows += experiment_rows(experiment)
        sources.append(f"MLflow experiment {experiment!r}")
    for folder in folders:
        rows += folder_rows(folder)
    if folders:
        sources.append(f"{len(folders)} folder(s)")
    if split is None:
        chosen = [r for r in rows if r["split"] != "valid" or r["stage"] == TRIAL]
    else:
        chosen = [r for r in rows if r["split"] == split]
    chosen = [r for r in chosen if name in r]
    if not chosen:
        wanted = f"{split}_{name}" if split else f"{name} (test, cv or sweep-trial values)"
        found = ", ".join(_found(rows)) or "none (no finished train, baseline, crossval or sweep)"
        raise InputError(
            f"no {wanted} in {' and '.join(sources)}; metrics found: {found}; choose one of "
            "those with --metric"
        )
    if group_by not in (*GROUP_BY_METHOD, GROUP_BY_NAME) and not any(
        group_by in r["params"] for r in chosen
    ):
        seen = sorted({key for r in chosen for key in r["params"]})
        raise InputError(
            f"--group-by {group_by}: no run or folder has that parameter; use stage, name or "
            f"one of: {', '.join(seen) or 'none'}"
        )
    for row in chosen:
        row["group"] = _group(row, group_by)
    metrics = [name] + [m for m in METRIC_NAMES if m != name and any(m in r for r in chosen)]
    table = pd.DataFrame(chosen).drop(columns="params")
    table = table.reindex(columns=[*BASE_COLUMNS, *metrics])
    table["fold"] = table["fold"].astype("Int64")
    summary = summary_table(table, name)
    figure = metric_figure(table, summary, name)
    png = figure_png(figure)
    with atomic_directory(config.output) as target:
        table.to_csv(target / "runs.tsv", sep="\t", index=False, float_format="%.6g")
        summary.to_csv(target / "summary.tsv", sep="\t", index=False, float_format="%.6g")
        (target / f"{name}.png").write_bytes(png)
        write_json(
            target / "summarise.json",
            {
                "stage": "summarise",
                "genomeflow_version": __version__,
                "experiment": experiment,
                "folders": [str(f) for f in folders],
                "metric": name,
                "split": split,
                "group_by": group_by,
                "rows": len(table),
            },
        )
        files = sorted(path.name for path in target.iterdir())
    return SummariseSummary(str(config.output), name, split, len(table), summary, files)


def summary_table(table: Any, metric: str) -> Any:
    """Per group and split: n, mean, sample sd (NaN for one value), median, min, max."""
    import pandas as pd

    rows = []
    for (group, split), part in table.groupby(["group", "split"], sort=True):
        values = part[metric].astype(float)
        rows.append(
            {
                "group": group,
                "split": split,
                "n": len(values),
                "mean": values.mean(),
                "sd": values.std(ddof=1) if len(values) > 1 else float("nan"),
                "median": values.median(),
                "min": values.min(),
                "max": values.max(),
            }
        )
    return pd.DataFrame(rows)


def metric_figure(table: Any, summary: Any, metric: str) -> Any:
    """Violin (where a group has three or more distinct values) + box plot + every value."""
    import numpy as np

    several_splits = table["split"].nunique() > 1
    groups = list(summary[["group", "split", "n"]].itertuples(index=False, name=None))
    values = [
        table.loc[(table["group"] == group) & (table["split"] == split), metric]
        .astype(float)
        .to_numpy()
        for group, split, _ in groups
    ]
    labels = [
        f"{group}\n{split}, n={n}" if several_splits else f"{group}\nn={n}"
        for group, split, n in groups
    ]
    figure = new_figure(max(5.5, 1.4 * len(groups) + 2.0), 4.8)
    axes = figure.subplots()
    positions = np.arange(1, len(groups) + 1)
    palette = colours(len(groups))
    for position, points, colour in zip(positions, values, palette, strict=True):
        if len(np.unique(points)) >= 3:  # a kernel density of fewer points says nothing
            parts = axes.violinplot([points], positions=[position], widths=0.8, showextrema=False)
            for body in parts["bodies"]:
                body.set_facecolor(colour)
                body.set_edgecolor(colour)
                body.set_alpha(0.25)
    axes.boxplot(
        values,
        positions=positions,
        widths=0.22,
        tick_labels=labels,
        showmeans=True,
        medianprops={"color": "#333333"},
        meanprops={"marker": "D", "markerfacecolor": "white", "markeredgecolor": "#333333"},
    )
    jitter = np.random.default_rng(0)  # fixed: the same table draws the same figure
    for position, points, colour in zip(positions, values, palette, strict=True):
        offsets = jitter.uniform(-0.08, 0.08, len(points))
        axes.scatter(position + offsets, points, s=16, color=colour, zorder=3, alpha=0.9)
    every = np.concatenate(values)
    pad = max(0.06 * (every.max() - every.min()), 0.02)  # equal values: a readable axis
    axes.set_ylim(every.min() - pad, every.max() + pad)
    axes.ticklabel_format(axis="y", useOffset=False)
    axes.set_ylabel(metric)
    axes.set_title(f"{metric}: {len(table)} values in {len(groups)} groups")
    axes.grid(axis="y", alpha=0.3)
    if max(len(label) for label in labels) > 14:
        for label in axes.get_xticklabels():
            label.set_rotation(20)
            label.set_horizontalalignment("right")
    return figure
