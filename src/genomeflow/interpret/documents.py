"""The inputs of a text model's interpretation, and its per-class word tables.

A text model explains documents of a text corpus (genomeflow.io.text): tables whose label
column, when they have one, gives each document's true label, or plain-text files of one class
each (named by --labels or by the file). Motif discovery (TF-MoDISco, TOMTOM against JASPAR or
a motif file, the k-mer summary) is about residues; for text the words ranked by their mean
attribution towards each class take its place (genomeflow.interpret.words).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from genomeflow.config import InterpretConfig
from genomeflow.errors import InputError
from genomeflow.interpret.attributions import SequenceAttribution
from genomeflow.interpret.reports import write_class_table
from genomeflow.interpret.words import Word, class_documents, plot_words, word_table
from genomeflow.io.files import check_readable
from genomeflow.io.records import SequenceRecord
from genomeflow.io.text import SEQUENCE_SUFFIXES, TextColumns, read_documents, table_format
from genomeflow.sequence.alphabet import Alphabet

TEXT_NOTE = (
    "Motif discovery (TF-MoDISco, naming against JASPAR or a motif file, the k-mer summary) "
    "applies to DNA, RNA and protein sequences, not to text: the per-class word tables take "
    "its place."
)
# read_documents' last check (a class needs two documents to be split for training) means
# nothing to an explanation, where one document of a class is as good as many.
ONE_DOCUMENT = "has this one document"


def check_text_inputs(config: InterpretConfig, model: str) -> None:
    """Refuse, before the model is loaded, what a text model cannot read: sequence files
    (named or declared as such) and unreadable files."""
    if config.alphabet is not None and config.alphabet is not Alphabet.TEXT:
        raise InputError(
            f"--alphabet {config.alphabet.value}: the model {model} reads text; drop --alphabet"
        )
    for path in config.inputs:
        name = Path(path).name.lower().removesuffix(".gz")
        if Path(name).suffix in SEQUENCE_SUFFIXES:
            raise InputError(
                f"{path}: a FASTA/FASTQ file, but the model {model} reads text; give a text "
                "corpus (a .csv/.tsv/.jsonl/.parquet table, or plain .txt files, one document "
                "per line), or a model trained on sequences"
            )
    check_readable(config.inputs, "text corpus file")


def text_notes(config: InterpretConfig) -> list[str]:
    """What interpret.json and the summary say about motif work on a text model."""
    notes = [TEXT_NOTE]
    if config.motif_database or config.jaspar_release or config.motif_taxon:
        notes.append(
            "The motif database settings (--motif-database, --jaspar-release, --motif-taxon) "
            "were ignored: a text model has no motifs to name."
        )
    return notes


def read_text_inputs(config: InterpretConfig) -> Iterator[tuple[SequenceRecord, str | None]]:
    """``(document, true label or None)`` of the input files, at most ``config.limit``."""
    columns = TextColumns(config.text_column or "text", config.label_column or "label")
    return itertools.islice(_documents(config.inputs, columns, config.labels), config.limit)


def _documents(
    paths: Sequence[str], columns: TextColumns, labels: Sequence[str]
) -> Iterator[tuple[SequenceRecord, str | None]]:
    if not paths:
        return
    documents = read_documents(paths, columns, labels or None, labelled=False)
    if table_format(paths[0]) is None:  # plain files: one class each, their labels
        yield from documents
        return
    next(documents, None)  # the checks of the set of files (no --labels for tables...)
    for path in paths:
        yield from _table(path, columns)


def _table(path: str, columns: TextColumns) -> Iterator[tuple[SequenceRecord, str | None]]:
    """A table's documents, with the label column's values when it has that column."""
    try:  # the first row tells whether the table has the label column
        next(read_documents([path], columns, labelled=True), None)
        labelled = True
    except InputError:
        # an error that is not about labels (no text column, not a table...) comes again here
        next(read_documents([path], columns, labelled=False), None)
        labelled = False
    documents = read_documents([path], columns, labelled=labelled)
    try:
        for record, label in documents:
            yield record, label if labelled else None
    except InputError as error:
        if ONE_DOCUMENT not in str(error):  # raised after the last row: every row was read
            raise


def write_word_tables(
    items: Sequence[SequenceAttribution],
    words: Sequence[Sequence[Word]],
    normalise: Callable[[str], str],
    folder: Path,
    config: InterpretConfig,
) -> dict[str, list[str]]:
    """Per class, the word table (words_<class>.tsv) and its bar plot (.png); returns the
    ranked words of each class that has a table."""
    ranked: dict[str, list[str]] = {}
    taken: set[str] = set()
    for target, indices in class_documents(items).items():
        table = word_table(
            [words[i] for i in indices],
            normalise,
            top=config.motif_top,
            min_support=config.motif_min_support,
        )
        if table.empty:
            continue
        title = f"words towards {target} ({len(indices)} documents)"
        write_class_table(folder, f"words_{target}", table, taken, plot_words, title)
        ranked[target] = [str(word) for word in table["word"]]
    return ranked


def normaliser(classifier: Any) -> Callable[[str], str]:
    """The tokeniser's normal form of a word (NFKC, lower case...), or the word itself."""
    backend = classifier.tokenizer.hf.backend_tokenizer if classifier.tokenizer else None
    if backend is None or backend.normalizer is None:
        return str
    return backend.normalizer.normalize_str
