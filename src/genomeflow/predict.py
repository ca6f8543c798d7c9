"""The ``predict`` stage: a saved classifier scores new FASTA/FASTQ sequences in batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from genomeflow.config import PredictConfig
from genomeflow.errors import InputError
from genomeflow.io.files import check_readable
from genomeflow.io.sequences import matching_alphabet, read_sequence_files
from genomeflow.sequence.alphabet import Alphabet
from genomeflow.sequence.complement import reverse_complement
from genomeflow.storage import atomic_output, check_writable, read_manifest


@dataclass(frozen=True)
class PredictSummary:
    """What :func:`predict_files` wrote: rows per predicted label."""

    output: str
    rows: int
    per_label: dict[str, int]


def resolve_model(location: str | Path) -> Path:
    """The local model folder of ``location``: the folder itself, or a registered version
    (``models:/NAME@ALIAS``, ``models:/NAME/VERSION``) downloaded once from the MLflow registry."""
    if str(location).startswith("models:/"):
        from genomeflow.tracking.registry import download_registered

        return download_registered(str(location))
    return Path(location)


def model_manifest(folder: str | Path) -> tuple[str, dict[str, Any]]:
    """``(kind, manifest)`` of a model folder, ``kind`` ``baseline``, ``transformer`` or
    ``ensemble``, read without loading the model: its classes and alphabet, to check inputs
    against first.

    Raises:
        InputError: not a genomeflow model folder, or its manifest is not JSON.
    """
    from genomeflow.models import baseline, ensemble
    from genomeflow.train import train

    folder = Path(folder)
    for kind, name, command in (
        ("baseline", baseline.MANIFEST, "genomeflow baseline"),
        ("transformer", train.MANIFEST, "genomeflow train"),
        ("ensemble", ensemble.MANIFEST, "genomeflow register"),
    ):
        if (folder / name).is_file():
            remedy = f"re-run `{command}`"
            return kind, read_manifest(folder, name, f"genomeflow {kind} model", remedy)
    if not folder.exists():
        raise InputError(f"{folder}: no such model folder; check the path")
    raise InputError(
        f"{folder}: not a genomeflow model folder (no {baseline.MANIFEST} or "
        f"{train.MANIFEST}); give a folder written by `genomeflow baseline` or `genomeflow train`"
    )


def load_classifier(location: str | Path) -> Any:
    """The classifier saved at ``location``: an object with ``label_names``, ``alphabet`` and
    ``predict_proba(sequences)``.

    ``location`` is a model folder, or a registered version: ``models:/NAME@ALIAS`` or
    ``models:/NAME/VERSION`` (downloaded once from the MLflow registry).

    Raises:
        InputError: not a model folder, or one of its files is missing, truncated or corrupt.
    """
    from genomeflow.models import baseline

    folder = resolve_model(location)
    kind, manifest = model_manifest(folder)
    if kind == "baseline":
        return baseline.BaselineClassifier(folder)
    if kind == "ensemble":
        from genomeflow.models.ensemble import EnsembleClassifier, member_folders

        return EnsembleClassifier([load_classifier(m) for m in member_folders(folder)], manifest)
    from genomeflow.train.classifier import TransformerClassifier

    return TransformerClassifier(folder)


def check_sequence_inputs(
    paths: Sequence[str],
    declared: Alphabet | None,
    manifest: dict[str, Any],
    owner: str,
    reverse_complement: bool | None = False,
) -> Alphabet:
    """Check every input file against a model's manifest before the model is loaded: each
    file readable, FASTA/FASTQ, and of the alphabet the model was trained on.

    Returns:
        The inputs' alphabet.

    Raises:
        InputError: the first file that does not fit, named, with the fix.
    """
    expected = Alphabet.parse(manifest["alphabet"])
    for path in paths:
        matching_alphabet(path, declared, expected, owner, reverse_complement)
    return expected


def _batches(config: PredictConfig, size: int):
    """``(file, ids, sequences)`` batches of the inputs in order."""
    batch: list[tuple[int, str, str]] = []
    for index, record in read_sequence_files(
        config.inputs, config.alphabet, config.allow_duplicate_ids
    ):
        batch.append((index, record.id, record.sequence))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def predict_files(config: PredictConfig) -> PredictSummary:
    """Score every record of the inputs; write id, file, label, probability and p_<class>."""
    import pandas as pd

    # Inputs first (files, alphabet against the model's manifest), then the model.
    check_readable(config.inputs, "FASTA/FASTQ file")
    check_writable(config.output)
    folder = resolve_model(config.model)
    _, manifest = model_manifest(folder)
    alphabet = check_sequence_inputs(
        config.inputs,
        config.alphabet,
        manifest,
        f"the model {config.model}",
        config.reverse_complement,
    )
    classifier = load_classifier(folder)
    frames = []
    with tqdm(desc="predicting", unit="seq", disable=None) as progress:
        for batch in _batches(config, config.batch_size):
            sequences = [sequence for _, _, sequence in batch]
            probabilities = classifier.predict_proba(sequences)
            if config.reverse_complement:
                flipped = [reverse_complement(s, alphabet) for s in sequences]
                probabilities = (probabilities + classifier.predict_proba(flipped)) / 2
            frames.append(_frame(batch, probabilities, classifier.label_names, config.inputs))
            progress.update(len(batch))
    table = pd.concat(frames, ignore_index=True)
    _write_table(table, Path(config.output))
    counts = table["label"].value_counts()
    per_label = {name: int(counts.get(name, 0)) for name in classifier.label_names}
    return PredictSummary(str(config.output), len(table), per_label)


def _frame(batch, probabilities: np.ndarray, label_names: list[str], inputs: list[str]) -> Any:
    import pandas as pd

    best = probabilities.argmax(axis=1)
    frame = pd.DataFrame(
        {
            "id": [record_id for _, record_id, _ in batch],
            "file": [Path(inputs[index]).name for index, _, _ in batch],
            "label": [label_names[i] for i in best],
            "probability": probabilities[np.arange(len(best)), best],
        }
    )
    for column, name in enumerate(label_names):
        frame[f"p_{name}"] = probabilities[:, column]
    return frame


def _write_table(table: Any, path: Path) -> None:
    """CSV, TSV or Parquet by the file's extension, written atomically."""
    with atomic_output(path) as temporary:
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            table.to_parquet(temporary, index=False)
        else:
            table.to_csv(temporary, sep="\t" if suffix == ".tsv" else ",", index=False)
