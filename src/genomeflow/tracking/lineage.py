"""Lineage in MLflow's own vocabulary: where a run came from, what data it read, what ran.

- Source: ``mlflow.source.name`` is the genomeflow command that ran (``genomeflow train``), not
  the KFP launcher script; ``mlflow.source.git.commit`` the commit of the genomeflow source.
- Data: a stage's dataset folder is logged as its three splits through ``mlflow.data`` (context
  ``train``, ``validation``, ``test``, each with the digest its manifest recorded); raw sequence
  files as one dataset each (context ``input``). Settings files, models and tokenisers are not
  data, and are not logged as datasets.
- Names: a run is named after what ran (``baseline onehot+rf``, ``train cnn-tiny``); the
  ``genomeflow.stage`` tag keeps the bare stage name for queries.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from genomeflow import __version__
from genomeflow.cluster import source_revision

SOURCE_NAME = "mlflow.source.name"
GIT_COMMIT = "mlflow.source.git.commit"
KFP_RUN_ID_TAG = "kfp.run_id"
KFP_RUN_ID_VARIABLES = ("GENOMEFLOW_KFP_RUN_ID", "KFP_RUN_ID")
SPLIT_CONTEXTS = {"train": "train", "valid": "validation", "test": "test"}  # split -> context
DATASET_MANIFEST = "manifest.json"  # what genomeflow dataset writes (genomeflow.data.build)
# Config fields whose files are sequence data (FASTA/FASTQ, label tables); the other inputs are
# settings (params files, sweep specs), models, tokenisers or motif databases.
SEQUENCE_FIELDS = ("inputs", "fasta", "label_table")
DIGEST_CHARACTERS = 36  # MLflow's dataset digest column holds 36 characters


def git_sha() -> str | None:
    """The commit of the genomeflow source (see :func:`genomeflow.cluster.source_revision`)."""
    return source_revision()


def kfp_run_id() -> str | None:
    """The KFP run this process belongs to, from the environment (None outside a pipeline)."""
    return next((os.environ[v] for v in KFP_RUN_ID_VARIABLES if os.environ.get(v)), None)


def provenance_tags(source: str | None = None) -> dict[str, Any]:
    """Tags every genomeflow run carries: package version, git commit, KFP run id, and the
    source (the genomeflow command) when given."""
    return {
        "genomeflow.version": __version__,
        GIT_COMMIT: git_sha(),
        KFP_RUN_ID_TAG: kfp_run_id(),
        SOURCE_NAME: source,
    }


def source_name(stage: str) -> str:
    """What ran, as ``mlflow.source.name`` shows it: ``genomeflow train``."""
    return f"genomeflow {stage.replace('-', ' ')}"


def run_title(stage: str, config: Any) -> str:
    """The run name of ``stage`` run with ``config``: the stage and the recipe that ran."""
    features, model = getattr(config, "features", None), getattr(config, "model", None)
    if isinstance(features, str) and isinstance(model, str) and hasattr(config, "dataset"):
        return f"{stage} {features}+{model}"  # a baseline: featuriser + classifier
    architecture, preset = getattr(config, "architecture", None), getattr(config, "preset", None)
    if isinstance(architecture, str) and isinstance(preset, str):
        return f"{stage} {architecture}-{preset}"
    return stage


def _digest(text: str) -> str:
    return text.removeprefix("sha256:")[:DIGEST_CHARACTERS]


def _uri(location: str) -> str:
    return location if "://" in location else f"file://{Path(location).resolve()}"


def file_dataset(path: Path, source: str) -> Any:
    """A sequence file as an ``mlflow.data`` dataset named after the file."""
    from mlflow.data.http_dataset_source import HTTPDatasetSource
    from mlflow.data.meta_dataset import MetaDataset

    from genomeflow.storage import file_digest

    return MetaDataset(
        HTTPDatasetSource(_uri(source)), name=path.name, digest=_digest(file_digest(path))
    )


def split_datasets(folder: Path, source: str, splits: tuple[str, ...] = ()) -> list[tuple]:
    """The splits of a genomeflow dataset folder as ``(dataset, context)`` pairs.

    Args:
        folder: the local dataset folder (its manifest names each split's digest and rows).
        source: where the user's dataset lives (``s3://...`` or a path): the datasets' source.
        splits: the splits to give (``valid``...); all three when empty.

    Returns:
        ``(mlflow.data dataset, context)`` per split, named ``<folder>/<split>``, its digest the
        split's Parquet file's, its profile the row count; empty for a folder without manifest.
    """
    from mlflow.data.http_dataset_source import HTTPDatasetSource
    from mlflow.data.meta_dataset import MetaDataset

    class SplitDataset(MetaDataset):
        """A MetaDataset with a profile (its rows), which MLflow's UI shows."""

        def __init__(self, rows: int | None, **kwargs: Any) -> None:
            self._rows = rows
            super().__init__(**kwargs)

        @property
        def profile(self) -> Any:
            return None if self._rows is None else {"num_rows": self._rows}

        def to_dict(self) -> dict[str, str]:
            shown = {"profile": json.dumps(self.profile)} if self.profile else {}
            return super().to_dict() | shown

    manifest_path = folder / DATASET_MANIFEST
    if not manifest_path.is_file():
        return []
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    files, rows = manifest.get("files") or {}, manifest.get("rows") or {}
    found = []
    for split, context in SPLIT_CONTEXTS.items():
        digest = files.get(f"parquet/{split}.parquet")
        if (splits and split not in splits) or digest is None:
            continue
        count = sum((rows.get(split) or {}).values()) if split in rows else None
        dataset = SplitDataset(
            count,
            source=HTTPDatasetSource(f"{_uri(source).rstrip('/')}/parquet/{split}.parquet"),
            name=f"{Path(source.rstrip('/')).name}/{split}",
            digest=_digest(digest),
        )
        found.append((dataset, context))
    return found


def stage_datasets(config: Any, local: Any) -> list[tuple]:
    """The data a stage reads, as ``(dataset, context)`` pairs to log as run inputs.

    Args:
        config: the stage config as the user gave it (sources: paths or ``s3://`` URIs).
        local: the same config with local copies of its inputs.
    """
    found: list[tuple] = []
    for item in dataclasses.fields(config):
        if item.metadata.get("role") != "input" or getattr(config, item.name) is None:
            continue
        given, here = getattr(config, item.name), getattr(local, item.name)
        pairs = zip(*(v if isinstance(v, list) else [v] for v in (given, here)), strict=True)
        for source, path in pairs:
            path = Path(path)
            if path.is_dir() and (path / DATASET_MANIFEST).is_file():
                found += split_datasets(path, str(source), _splits_read(config, item.name))
            elif item.name in SEQUENCE_FIELDS and path.is_file():
                found.append((file_dataset(path, str(source)), "input"))
    return found


def _splits_read(config: Any, field: str) -> tuple[str, ...]:
    """The splits a stage reads from a dataset folder: the one it names (``--split``); the train
    split of a folder given as sequences (``pretrain`` never reads valid or test); else all."""
    if isinstance(getattr(config, "split", None), str):
        return (config.split,)
    return ("train",) if field in SEQUENCE_FIELDS else ()
