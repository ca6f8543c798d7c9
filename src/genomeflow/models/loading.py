"""A saved genomeflow classifier from its folder, whatever its kind: a classic baseline, a
transformer or CNN, or an ensemble of those. Used by predict, evaluate, interpret, the registry's
pyfunc model and the best-of-run choice."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genomeflow.errors import InputError
from genomeflow.io.sequences import matching_alphabet
from genomeflow.io.text import TextColumns
from genomeflow.models import baseline, ensemble, transformer
from genomeflow.models.classifier import TransformerClassifier
from genomeflow.sequence.alphabet import Alphabet
from genomeflow.storage import read_manifest


def model_manifest(folder: str | Path) -> tuple[str, dict[str, Any]]:
    """``(kind, manifest)`` of a model folder, ``kind`` ``baseline``, ``transformer`` or
    ``ensemble``, read without loading the model: its classes and alphabet, to check inputs
    against first.

    Raises:
        InputError: not a genomeflow model folder, or its manifest is not JSON.
    """
    folder = Path(folder)
    for kind, name, command in (
        ("baseline", baseline.MANIFEST, "genomeflow baseline"),
        ("transformer", transformer.MANIFEST, "genomeflow train"),
        ("ensemble", ensemble.MANIFEST, "genomeflow register"),
    ):
        if (folder / name).is_file():
            remedy = f"re-run `{command}`"
            return kind, read_manifest(folder, name, f"genomeflow {kind} model", remedy)
    if not folder.exists():
        raise InputError(f"{folder}: no such model folder; check the path")
    raise InputError(
        f"{folder}: not a genomeflow model folder (no {baseline.MANIFEST} or "
        f"{transformer.MANIFEST}); give a folder written by `genomeflow baseline` or "
        "`genomeflow train`"
    )


def load_classifier(folder: str | Path) -> Any:
    """The classifier saved in the model folder ``folder``: an object with ``label_names``,
    ``alphabet`` and ``predict_proba(sequences)`` (a registered version: resolve it first with
    genomeflow.tracking.registry.resolve_model).

    Raises:
        InputError: not a model folder, or one of its files is missing, truncated or corrupt.
    """
    kind, manifest = model_manifest(folder)
    if kind == "baseline":
        return baseline.BaselineClassifier(folder)
    if kind == "ensemble":
        members = [load_classifier(m) for m in ensemble.member_folders(folder)]
        return ensemble.EnsembleClassifier(members, manifest)
    return TransformerClassifier(folder)


def trained_columns(folder: str | Path, manifest: dict[str, Any]) -> TextColumns:
    """The text and label columns of the table a text model was trained from (an ensemble: its
    first member's), for reading new tables the same way; ``text``/``label`` for folders that
    do not record them (older ones, plain-file corpora)."""
    if "members" in manifest:
        first = ensemble.member_folders(folder)[0]
        return trained_columns(first, model_manifest(first)[1])
    named = manifest.get("dataset", {}).get("text_columns") or {}
    return TextColumns(named.get("text", "text"), named.get("label", "label"))


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
