"""Running one stage the same way from the CLI and (later) from pipeline components.

The stage runs inside an MLflow run (when tracking is on) on local paths: ``s3://`` inputs are
downloaded first and outputs uploaded after (genomeflow.storage, through the config's
input/output roles). Input digests, the stage's metrics and its small reports are recorded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from genomeflow.config import StageConfig
from genomeflow.storage import OUTPUT_MARKER, check_outputs, output_stage, record_files
from genomeflow.tracking.lineage import run_title, stage_datasets
from genomeflow.tracking.runs import Run, Tracker

REPORT_SUFFIXES = {".json", ".png", ".tsv", ".csv", ".md", ".html", ".meme"}  # .meme: motifs
REPORTS_FOLDER = "reports"  # a stage's plots and tables, logged whole
REPORT_MAX_BYTES = 10 * 2**20  # larger outputs stay in their folder; MLflow gets the reports


def config_paths(config: StageConfig, role: str) -> list[str]:
    """Every set path of a config with this role (``input`` or ``output``), in field order."""
    found = []
    for item in dataclasses.fields(config):  # type: ignore[arg-type]
        value = getattr(config, item.name)
        if item.metadata.get("role") == role and value is not None:
            found += [str(v) for v in (value if isinstance(value, list) else [value])]
    return found


def tracked_params(config: StageConfig) -> dict[str, Any]:
    """The settings a stage run records as params before it starts: those given a value, less
    those the stage resolves and records itself once it knows the values used
    (``RESOLVED_PARAMS``: e.g. the learning rate a params file or the architecture sets)."""
    resolved = getattr(config, "RESOLVED_PARAMS", ())
    return {k: v for k, v in config.to_dict().items() if v is not None and k not in resolved}


def run_tracked_stage(
    name: str,
    config: StageConfig,
    stage: Callable[[Any], Mapping[str, float]],
    tracker: Tracker,
    system_metrics: bool = False,
    overwrite: bool = False,
) -> tuple[dict[str, float], list[str]]:
    """Run ``stage(local_config)`` as the MLflow run ``name``.

    ``stage`` returns the metrics to record. The run ends FAILED if anything raises. Before
    anything starts, the outputs are checked (genomeflow.storage.guard): one that overlaps an
    input is refused, and an existing one unless ``overwrite`` is given and genomeflow wrote it.
    The local files the stage writes are recorded as genomeflow's.

    Raises:
        OutputError: an output may not be written; nothing was run or recorded.

    Returns:
        The stage's metrics and the s3:// URIs it published.
    """
    published = []
    check_outputs(
        config_paths(config, "input"),
        config_paths(config, "output"),
        overwrite,
        exists_check=not getattr(config, "dry_run", False),  # a dry run writes nothing
    )
    with (
        output_stage(name),
        tracker.run(name, tracked_params(config), system_metrics, run_title(name, config)) as run,
        config.localised() as local,
    ):
        if run.active:
            run.log_datasets(stage_datasets(config, local))
        metrics = dict(stage(local))
        record_files(config_paths(config, "output"))  # local files; s3:// objects carry metadata
        run.log_metrics(metrics)
        targets = config_paths(config, "output")
        for target, path in zip(targets, config_paths(local, "output"), strict=True):
            if target != path:
                published.append(target)
            _log_reports(run, Path(path))
    return metrics, published


def _log_reports(run: Run, output: Path) -> None:
    """Store an output's small reports (JSON, PNG, TSV...) as run artifacts: the files at its
    top level and everything under its ``reports/`` folder (kept as folders)."""
    if not output.is_dir():
        candidates = [output]
    else:
        reports = output / REPORTS_FOLDER
        candidates = sorted(output.iterdir()) + (
            sorted(reports.rglob("*")) if reports.is_dir() else []
        )
    for report in candidates:
        if (
            report.is_file()
            and report.name != OUTPUT_MARKER
            and report.suffix in REPORT_SUFFIXES
            and report.stat().st_size <= REPORT_MAX_BYTES
        ):
            folder = None if report.parent in (output, output.parent) else report.parent
            run.log_artifact(report, folder and str(folder.relative_to(output)))
