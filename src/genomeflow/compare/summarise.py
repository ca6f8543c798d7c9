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
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genomeflow import __version__
from genomeflow.compare.report import colours, new_figure
from genomeflow.errors import ConfigError, InputError
from genomeflow.evaluate import METRIC_NAMES, canonical_metric

log = logging.getLogger(__name__)

SPLITS = ("test", "cv", "valid")
_SPLIT_PREFIX = re.compile(r"^(test|valid|validation|val|eval|held|cv)[/_.-]")
PREFIX_SPLIT = {
    "test": "test",
    "valid": "valid",
    "validation": "valid",
    "val": "valid",
    "eval": "valid",
    "held": "cv",
    "cv": "cv",
}
GROUP_BY_METHOD = ("stage", "method")  # group by the method each run trained
GROUP_BY_NAME = "name"  # group by run/folder name
CV_FOLDS = "reports/cv_folds.tsv"
FOLD_STAGE = re.compile(r"fold-(\d+)$")
TRIAL_STAGE = re.compile(r"trial-(\d+)$")
TRIAL = "sweep-trial"
NOT_SCORES = {"objective"}  # a sweep trial's objective repeats its metric under another name
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


def metric_choice(metric: str) -> tuple[str, str | None]:
    """``(canonical metric, split or None)`` from the way users write a metric.

    ``test_f1_macro`` -> ``("f1_macro", "test")``; ``held_mcc``/``cv_mcc_mean`` -> ``("mcc",
    "cv")``; ``eval/f1`` -> ``("f1_macro", "valid")``; ``auc`` -> ``("roc_auc", None)``.

    Raises:
        ConfigError: not a metric genomeflow computes.
    """
    text = str(metric).strip().lower().replace("-", "_")
    split = None
    match = _SPLIT_PREFIX.match(text)
    if match and len(text) > match.end():
        split = PREFIX_SPLIT[match.group(1)]
        text = text[match.end() :]
        if split == "cv":
            text = text.removesuffix("_mean")
    return canonical_metric(text), split


def _scores(metrics: Mapping[str, Any], prefix: str) -> dict[str, float]:
    """The finite values of every known metric logged as ``<prefix><metric>``."""
    scores = {}
    for name in METRIC_NAMES:
        value = _finite(metrics.get(prefix + name))
        if value is not None:
            scores[name] = value
    return scores


def _trial_scores(metrics: Mapping[str, Any]) -> dict[str, float]:
    """A sweep trial's metric under the spec's name (``eval/f1``), canonical names as keys."""
    scores = {}
    for key, value in metrics.items():
        if key in NOT_SCORES or key.startswith(("system/", "epoch/")):
            continue
        try:
            name = canonical_metric(key)
        except ConfigError:
            continue
        if _finite(value) is not None:
            scores[name] = float(value)
    return scores


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _row(
    method: str,
    split: str,
    source: str,
    name: str,
    stage: str,
    params: Mapping[str, Any],
    scores: Mapping[str, float],
    fold: int | None = None,
) -> dict[str, Any]:
    return {
        "method": method,
        "split": split,
        "source": source,
        "name": name,
        "stage": stage,
        "fold": fold,
        "params": dict(params),
        **scores,
    }


def _method(params: Mapping[str, Any], fallback: str) -> str:
    """``distilbert-tiny``, ``tfidf+rf``, else ``fallback``."""
    if params.get("architecture") and params.get("preset"):
        return f"{params['architecture']}-{params['preset']}"
    if params.get("features") and params.get("model"):
        return f"{params['features']}+{params['model']}"
    return fallback


def _fold_rows(
    text: str, method: str, source: str, name: str, stage: str, params: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Rows of a ``cv_folds.tsv`` (``fold``, ``rows``, one column per metric)."""
    import pandas as pd

    table = pd.read_csv(io.StringIO(text), sep="\t")
    rows = []
    for record in table.to_dict("records"):
        scores = _scores(record, "")
        if scores:
            rows.append(
                _row(method, "cv", source, name, stage, params, scores, int(record["fold"]))
            )
    return rows


# --- result folders --------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: not readable JSON ({error}); give an intact folder") from error


def folder_rows(folder: str | Path) -> list[dict[str, Any]]:
    """The values of one result folder: a train or baseline model folder, or a crossval folder.

    Raises:
        InputError: the folder is none of those.
    """
    path = Path(folder)
    source, name = str(folder), path.resolve().name
    if not path.is_dir():
        raise InputError(
            f"{folder}: no such folder; give model folders (`genomeflow train` / `baseline`) "
            "or crossval folders"
        )
    metrics_path = path / "metrics.json"
    if (path / "transformer.json").is_file() or (path / "baseline.json").is_file():
        transformer = (path / "transformer.json").is_file()
        manifest = _read_json(path / ("transformer.json" if transformer else "baseline.json"))
        config = manifest.get("config", {})
        params = {**config, **manifest.get("params", {})}
        if transformer:
            params |= {k: manifest.get("model", {}).get(k) for k in ("architecture", "preset")}
        stage = "train" if transformer else "baseline"
        method = _method(params, stage)
        metrics = _read_json(metrics_path) if metrics_path.is_file() else manifest["metrics"]
        rows = []
        for split in ("test", "valid"):
            scores = _scores(metrics, f"{split}_")
            if scores:
                rows.append(_row(method, split, source, name, stage, params, scores))
        folds = path / CV_FOLDS
        if folds.is_file():
            rows += _fold_rows(
                folds.read_text(encoding="utf-8"), method, source, name, stage, params
            )
        return rows
    if (path / "crossval.json").is_file():
        manifest = _read_json(path / "crossval.json")
        params = {**manifest.get("config", {}), **manifest.get("params", {})}
        folds = path / CV_FOLDS
        if not folds.is_file():
            raise InputError(f"{folder}: a crossval folder without {CV_FOLDS}; run it again")
        return _fold_rows(
            folds.read_text(encoding="utf-8"),
            _method(params, "crossval"),
            source,
            name,
            "crossval",
            params,
        )
    raise InputError(
        f"{folder}: not a genomeflow result folder (no transformer.json, baseline.json or "
        "crossval.json); give model folders from `genomeflow train` / `baseline`, or folders "
        "from `genomeflow crossval`"
    )


# --- MLflow experiments ----------------------------------------------------------------------


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _prefixed(record: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """``params.x``/``metrics.x`` entries of a run record as ``x``."""
    return {key[len(prefix) :]: value for key, value in record.items() if key.startswith(prefix)}


def _run_params(record: Mapping[str, Any]) -> dict[str, Any]:
    """A run record's params, the hyperparameters it trained with (``used.x``) over its flags."""
    from genomeflow.tracking.runs import USED_PREFIX

    params = _prefixed(record, "params.")
    return params | _prefixed(params, USED_PREFIX)


def experiment_rows(experiment: str, uri: str | None = None) -> list[dict[str, Any]]:
    """The values of the FINISHED runs of an MLflow experiment (see the module docstring).

    Raises:
        InputError: no such experiment.
        TrackingError: no server, or it cannot be read.
    """
    from genomeflow.tracking.query import experiment_runs, run_artifact_text

    runs = experiment_runs(experiment, uri)
    if runs.empty:
        return []
    # A run lacking a tag or param has NaN in that column: leave it out of the run's record.
    records = [
        {key: value for key, value in record.items() if not _missing(value)}
        for record in runs.to_dict("records")
    ]
    finished = {r["run_id"]: r for r in records if r["status"] == "FINISHED"}
    skipped = len(records) - len(finished)
    if skipped:
        log.info("%s: %d run(s) not FINISHED left out", experiment, skipped)
    rows: list[dict[str, Any]] = []
    for record in finished.values():
        stage = str(record.get("stage") or record.get("run_name") or "run")
        params = _run_params(record)
        metrics = _prefixed(record, "metrics.")
        source, name = f"mlflow:{record['run_id']}", str(record.get("run_name") or stage)
        parent = finished.get(record.get("parent_run_id"))
        parent_params = _run_params(parent) if parent else {}
        fold = FOLD_STAGE.fullmatch(stage)
        if fold and parent is not None and parent.get("stage") == "crossval":
            number = _finite(record.get("fold"))
            scores = _scores(metrics, "held_")
            method = _method(parent_params, "crossval")
            if scores:
                fold_number = int(number) if number is not None else int(fold.group(1))
                rows.append(
                    _row(method, "cv", source, name, "crossval", parent_params, scores, fold_number)
                )
            continue
        if record.get("trial") is not None or TRIAL_STAGE.fullmatch(stage):
            if parent is None:
                continue  # its sweep failed or is still running
            merged = {**parent_params, **params}
            scores = _trial_scores(metrics)
            if scores:
                method = _method(merged, str(parent.get("stage") or "sweep"))
                rows.append(_row(method, "valid", source, name, TRIAL, merged, scores))
            continue
        method = _method(params, stage)
        for split in ("test", "valid"):
            scores = _scores(metrics, f"{split}_")
            if scores:
                rows.append(_row(method, split, source, name, stage, params, scores))
        # A baseline's folds are in its artifacts (a crossval run's are its fold child runs).
        if stage != "crossval" and any(key.startswith("cv_") for key in metrics):
            text = run_artifact_text(record["run_id"], CV_FOLDS, uri)
            if text is not None:
                rows += _fold_rows(text, method, source, name, stage, params)
    return rows


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


def summarise_runs(
    experiment: str | None,
    folders: Sequence[str],
    metric: str,
    output: str | Path,
    group_by: str = "stage",
    uri: str | None = None,
) -> SummariseSummary:
    """Collect one metric across MLflow runs and result folders; write a table and a plot.

    ``output`` receives (atomically): ``runs.tsv`` (one row per value: group, method, split,
    source, name, stage, fold, then the metric and every other metric of that evaluation),
    ``summary.tsv`` (group, split, n, mean, sd, median, min, max of the metric),
    ``<metric>.png`` (violin + box plot with every value as a point, one column per group and
    split) and ``summarise.json`` (what was read and how).

    Args:
        experiment: an MLflow experiment whose FINISHED runs to read, or None.
        folders: model folders (``genomeflow train`` / ``baseline``) and crossval folders.
        metric: ``f1_macro``, ``test_f1_macro``, ``held_mcc``, ``eval/f1``, ``auc``... (see
            :func:`metric_choice`).
        output: the report folder (replaced if it exists).
        group_by: ``stage`` (or ``method``): the method each run trained; ``name``: the run or
            folder name; any other value: that hyperparameter's value (``learning_rate``...).
        uri: the MLflow tracking URI (default: :func:`genomeflow.tracking.resolve_tracking_uri`).

    Raises:
        ConfigError: neither an experiment nor folders, or an unknown metric.
        InputError: a folder or experiment is not there, the metric has no value anywhere
            (the message lists the metrics found), or ``group_by`` is no run's parameter.
        TrackingError: MLflow cannot be read.
    """
    import pandas as pd

    from genomeflow.evaluate import figure_png
    from genomeflow.storage import atomic_directory, write_json

    if isinstance(folders, (str, Path)):
        folders = [str(folders)]  # a lone path is one folder, not a sequence of characters
    if not experiment and not folders:
        raise ConfigError(
            "nothing to summarise: give an MLflow experiment (--from-experiment NAME) and/or "
            "result folders"
        )
    if not group_by:
        raise ConfigError("--group-by is empty: use stage, name or a hyperparameter name")
    name, split = metric_choice(metric)
    rows: list[dict[str, Any]] = []
    sources = []
    if experiment:
        rows += experiment_rows(experiment, uri)
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
    with atomic_directory(output) as target:
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
    return SummariseSummary(str(output), name, split, len(table), summary, files)


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
