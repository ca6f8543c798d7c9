"""Class labels: one FASTA file per class, or a CSV/TSV table of id and label."""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from genomeflow.errors import InputError
from genomeflow.io.files import open_input
from genomeflow.io.sequences import SequenceRecord, read_sequence_files, read_sequences
from genomeflow.io.text import SEQUENCE_SUFFIXES, TextColumns, file_classes, read_documents
from genomeflow.sequence.alphabet import Alphabet

log = logging.getLogger(__name__)


def label_from_path(path: str | os.PathLike[str]) -> str:
    """Name a class after its file: ``data/promoter.fasta.gz`` -> ``promoter``."""
    name = Path(path).name.removesuffix(".gz")
    stem, dot, suffix = name.rpartition(".")
    return stem if dot and f".{suffix.lower()}" in SEQUENCE_SUFFIXES else name


def read_label_table(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a CSV/TSV table whose header names an ``id`` and a ``label`` column.

    The delimiter is a tab for ``.tsv``/``.tab`` names and sniffed (comma, tab, semicolon)
    otherwise; other columns are ignored; the file may be gzip-compressed.

    Returns:
        Record id -> label, in table order.

    Raises:
        InputError: missing/empty file, no id/label header, an empty cell, or an id listed twice.
    """
    path = Path(path)
    with open_input(path, "label table (CSV/TSV)") as binary:
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        header_line = text.readline()
        delimiter = _delimiter(path, header_line)
        header_cells = next(csv.reader([header_line], delimiter=delimiter), [])
        header = [cell.strip().lower() for cell in header_cells]
        if "id" not in header or "label" not in header:
            raise InputError(
                f"{path}: the first row must name an 'id' and a 'label' column, found {header}; "
                "add a header row such as id,label"
            )
        id_column, label_column = header.index("id"), header.index("label")
        labels: dict[str, str] = {}
        first_line: dict[str, int] = {}
        for line_number, row in enumerate(csv.reader(text, delimiter=delimiter), start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) <= max(id_column, label_column):
                raise InputError(
                    f"{path}: line {line_number} has {len(row)} columns but the header has "
                    f"{len(header)}; fill in the missing cells"
                )
            record_id, label = row[id_column].strip(), row[label_column].strip()
            if not record_id or not label:
                raise InputError(f"{path}: line {line_number} has an empty id or label; fill it in")
            if record_id in labels:
                raise InputError(
                    f"{path}: line {line_number} repeats the id {record_id!r} of line "
                    f"{first_line[record_id]}; give each id one row"
                )
            labels[record_id] = label
            first_line[record_id] = line_number
    if not labels:
        raise InputError(f"{path}: the label table has a header but no rows")
    return labels


def _delimiter(path: Path, header_line: str) -> str:
    if path.name.removesuffix(".gz").lower().endswith((".tsv", ".tab")):
        return "\t"
    try:
        return csv.Sniffer().sniff(header_line, delimiters=",\t;").delimiter
    except csv.Error:
        return ","


def labelled_records(
    fasta_paths: Sequence[str | os.PathLike[str]],
    label_table: str | os.PathLike[str] | None = None,
    labels: Sequence[str] | None = None,
    alphabet: Alphabet | str | None = None,
    allow_duplicate_ids: bool = False,
    columns: TextColumns | None = None,
) -> Iterator[tuple[SequenceRecord, str]]:
    """Stream ``(record, label)`` pairs.

    Without a table, each file is one class, named by ``labels`` (in file order) or by the file
    stems. With a table, every record of every file takes the label the table gives its id.
    A text corpus (``alphabet`` text) is read by genomeflow.io.text, its table's ``columns``
    giving each document's label.

    Raises:
        InputError: labels that do not match the files, two files named alike, or a record
            missing from the table.
    """
    if alphabet is not None and Alphabet.parse(alphabet).is_text:
        yield from read_documents(fasta_paths, columns or TextColumns(), labels)
        return
    if not fasta_paths:
        raise InputError("no sequence files given; give one FASTA/FASTQ file per class")
    if label_table is None:
        names = file_classes(fasta_paths, labels, label_from_path)
        for index, record in read_sequence_files(fasta_paths, alphabet, allow_duplicate_ids):
            yield record, names[index]
        return
    if labels:
        raise InputError("give either a label table or --labels, not both")
    table = read_label_table(label_table)
    matched: set[str] = set()
    for record in read_sequences(fasta_paths, alphabet, allow_duplicate_ids):
        if record.id not in table:
            raise InputError(
                f"{label_table}: has no label for record {record.id!r}; add a row for it or "
                "remove the record"
            )
        matched.add(record.id)
        yield record, table[record.id]
    if len(matched) < len(table):
        unmatched = len(table) - len(matched)
        log.warning("%s: %d ids in the table match no record", label_table, unmatched)
