"""Metric values of finished runs: read from result folders and from MLflow experiments.

Each value becomes a row: ``method``, ``split`` (``test``, ``cv`` or ``valid``), ``source``,
``name``, ``stage``, ``fold``, the run's ``params``, and every metric of that evaluation under
its canonical name. :func:`folder_rows` reads a model folder (``genomeflow train`` /
``baseline``) or a crossval folder; :func:`experiment_rows` the FINISHED runs of an MLflow
experiment (train, baseline, crossval folds, sweep trials). See
:mod:`genomeflow.compare.summarise` for how the rows are chosen and summarised. MLflow and the
tracking modules are imported inside :func:`experiment_rows` (start-up time, and no import
circle with :mod:`genomeflow.config`).
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genomeflow.errors import ConfigError, InputError
from genomeflow.metric_names import METRIC_NAMES, canonical_metric

log = logging.getLogger(__name__)

CV_FOLDS = "reports/cv_folds.tsv"
FOLD_STAGE = re.compile(r"fold-(\d+)$")
TRIAL_STAGE = re.compile(r"trial-(\d+)$")
TRIAL = "sweep-trial"
NOT_SCORES = {"objective"}  # a sweep trial's objective repeats its metric under another name


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
    from genomeflow.tracking.query import USED_PREFIX

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
