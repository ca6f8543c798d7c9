"""Human-language text corpora: tables (CSV, TSV, JSON Lines, Parquet) with a text and a label
column, or one plain-text file per class holding one document per line.

A corpus is read only when it is declared (``--alphabet text`` or ``--text-column``), never
guessed from content, so a FASTA file is never taken for text; a declared corpus that looks like
FASTA/FASTQ is refused. Documents come out as :class:`SequenceRecord` objects whose id is
``<file name>:<row>`` (the line of a plain or JSON Lines file, the data row of a CSV/TSV or
Parquet table), so every later stage names a document the way it names a sequence record.
Errors name the file, the row and the value, as the FASTA reader's do.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genomeflow.errors import InputError
from genomeflow.io.files import open_input
from genomeflow.io.records import SequenceRecord

# Table formats by file suffix (a .gz after it is allowed, except for Parquet).
TABLE_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}
PLAIN_SUFFIXES = (".txt", ".text")  # dropped from a plain file's name to name its class
# Names that say FASTA/FASTQ: such a file declared text is a mistake, not a corpus.
SEQUENCE_SUFFIXES = {".fa", ".fasta", ".fas", ".fna", ".ffn", ".faa", ".frn", ".fq", ".fastq"}
PARQUET_BATCH = 8192  # rows per Parquet read: memory stays flat on large tables


@dataclass(frozen=True)
class TextColumns:
    """The columns of a table that hold each document's text and label."""

    text: str = "text"
    label: str = "label"


def _name(path: Path) -> str:
    return path.name.removesuffix(".gz")


def table_format(path: str | os.PathLike[str]) -> str | None:
    """``csv``, ``tsv``, ``jsonl`` or ``parquet`` from the file name; None for a plain file."""
    return TABLE_FORMATS.get(Path(_name(Path(path))).suffix.lower())


def class_name(path: str | os.PathLike[str]) -> str:
    """A plain file's class: ``corpus/sport.txt.gz`` -> ``sport``."""
    name = _name(Path(path))
    lowered = name.lower()
    for suffix in PLAIN_SUFFIXES:
        if lowered.endswith(suffix):
            return name[: -len(suffix)]
    return name


def check_corpus_files(paths: Sequence[str | os.PathLike[str]]) -> None:
    """Refuse a set of inputs that is not one text corpus: FASTA/FASTQ-named files, tables mixed
    with plain files, or two files of one name (their document ids would collide)."""
    if not paths:
        raise InputError("no text files given; give a table, or one plain-text file per class")
    names: dict[str, Path] = {}
    for path in map(Path, paths):
        suffix = Path(_name(path)).suffix.lower()
        if suffix in SEQUENCE_SUFFIXES:
            raise InputError(
                f"{path}: named as FASTA/FASTQ, but a text corpus is expected here (--alphabet "
                "text, --text-column, or a text tokeniser or model): give .csv/.tsv/.jsonl/"
                ".parquet tables or plain .txt files, or drop the text flags to read sequences"
            )
        if _name(path) in names:
            raise InputError(
                f"{path}: has the name of {names[_name(path)]}; document ids are "
                "<file name>:<row>, so rename one of them"
            )
        names[_name(path)] = path
    kinds = {table_format(path) is not None for path in paths}
    if len(kinds) > 1:
        raise InputError(
            "the inputs mix tables and plain-text files; give tables (with a label column) or "
            "one plain-text file per class, not both"
        )


def file_classes(
    paths: Sequence[str | os.PathLike[str]],
    labels: Sequence[str] | None,
    name: Callable[[str | os.PathLike[str]], str],
) -> list[str]:
    """The class of each file when every file is one class: ``labels`` in file order, or each
    file's ``name``; two files may not map to one class."""
    names = list(labels) if labels else [name(path) for path in paths]
    if len(names) != len(paths):
        raise InputError(
            f"{len(names)} labels given for {len(paths)} files; give one label per file"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InputError(
            f"files map to the same label {', '.join(repeated)}; rename the files or give "
            "--labels, one per file"
        )
    return names


def read_documents(
    paths: Sequence[str | os.PathLike[str]],
    columns: TextColumns = TextColumns(),
    labels: Sequence[str] | None = None,
    labelled: bool = True,
) -> Iterator[tuple[SequenceRecord, str]]:
    """Stream ``(document, label)`` pairs from a text corpus, validated.

    Tables give each row's label from ``columns.label``; plain files are one class each, named
    by ``labels`` in file order or by the file names. With ``labelled`` False (a tokeniser's
    corpus) the label column is not needed and labels come out empty.

    Raises:
        InputError: see :func:`check_corpus_files`; a missing column, an empty document or
            label, a value that is not text, malformed JSON, non-UTF-8 bytes, a file that looks
            like FASTA/FASTQ, or (``labelled``) a label with a single document.
    """
    check_corpus_files(paths)
    plain = table_format(paths[0]) is None
    if plain:
        names = file_classes(paths, labels, class_name)
    elif labels:
        raise InputError(
            "--labels names plain-text files' classes; a table's labels come from its "
            f"{columns.label!r} column (--label-column)"
        )
    counts: Counter[str] = Counter()
    first: dict[str, str] = {}
    for index, path in enumerate(map(Path, paths)):
        rows = _lines(path) if plain else _table_rows(path, columns, labelled)
        for row, text, label in rows:
            label = names[index] if plain else label
            record = SequenceRecord(f"{_name(path)}:{row}", text)
            counts[label] += 1
            first.setdefault(label, record.id)
            yield record, label
    if labelled:
        single = sorted(label for label, count in counts.items() if count == 1)
        if single:
            raise InputError(
                f"{first[single[0]]}: label {single[0]!r} has this one document; a class needs "
                "two or more (one to train on, one to test); add documents or drop the label"
            )


def _lines(path: Path) -> Iterator[tuple[int, str, str]]:
    """``(line number, document, "")`` of a plain-text file, one document per line."""
    with open_input(path, "plain-text file (one document per line)") as binary:
        _refuse_sequences(path, binary.peek(8192))  # type: ignore[attr-defined]
        text = io.TextIOWrapper(binary, encoding="utf-8", newline=None)
        blank = 0  # the last blank line not yet followed by a document
        for number, line in enumerate(text, start=1):
            document = line.strip()
            if not document:
                blank = blank or number
                continue
            if blank:
                raise InputError(
                    f"{path}: line {blank} is an empty document; a plain-text corpus holds one "
                    "document per line: remove the blank line"
                )
            yield number, " ".join(document.split()), ""


def refuse_sequences(path: Path) -> None:
    """Refuse a FASTA/FASTQ file (by name or by its first bytes) declared a text corpus."""
    check_corpus_files([path])
    if table_format(path) != "parquet":
        with open_input(path, "text corpus file") as binary:
            _refuse_sequences(path, binary.peek(8192))  # type: ignore[attr-defined]


def _refuse_sequences(path: Path, head: bytes) -> None:
    """A declared corpus that starts like FASTA (``>``) or FASTQ (``@id``, residues, ``+``)."""
    lines = head.lstrip().split(b"\n", 3)
    fastq = lines[0][:1] == b"@" and len(lines) > 2 and lines[2][:1] == b"+"
    if lines[0][:1] == b">" or fastq:
        kind = "FASTA" if lines[0][:1] == b">" else "FASTQ"
        raise InputError(
            f"{path}: starts like {kind}, but a text corpus is expected here (--alphabet text, "
            "--text-column, or a text tokeniser or model); drop the text flags to read it as "
            "sequences"
        )


def _table_rows(path: Path, columns: TextColumns, labelled: bool) -> Iterator[tuple[int, str, str]]:
    """``(row, text, label)`` of a table's rows, checked."""
    kind = table_format(path)
    wanted = [columns.text, *([columns.label] if labelled else [])]
    rows = _parquet(path, wanted) if kind == "parquet" else _text_table(path, kind, wanted)
    place = "line" if kind == "jsonl" else "row"
    for row, values in rows:
        text = _cell(path, place, row, columns.text, values[0], "--text-column")
        label = _cell(path, place, row, columns.label, values[1], None) if labelled else ""
        yield row, " ".join(text.split()), label


def _cell(path: Path, place: str, row: int, column: str, value: Any, flag: str | None) -> str:
    """A cell as text: labels may be integers (0/1 classes); documents must be strings."""
    where = f"{path}: {place} {row}, column {column!r}"
    if isinstance(value, int) and not isinstance(value, bool) and flag is None:
        value = str(value)
    if not isinstance(value, str):
        shown = "null" if value is None else repr(value)[:40]
        fix = f"point {flag} at the text column" if flag else "give labels as text or integers"
        raise InputError(f"{where}: holds {shown}, not text; {fix}")
    if not value.strip():
        what = "document" if flag else "label"
        raise InputError(f"{where}: the {what} is empty; fill it in or remove the row")
    return value.strip() if flag is None else value


def _text_table(path: Path, kind: str, wanted: list[str]) -> Iterator[tuple[int, list]]:
    """``(row, [values of wanted columns])`` of a CSV, TSV or JSON Lines table."""
    with open_input(path, f"{kind.upper()} table") as binary:
        _refuse_sequences(path, binary.peek(8192))  # type: ignore[attr-defined]
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="" if kind != "jsonl" else None)
        if kind == "jsonl":
            yield from _json_lines(path, text, wanted)
            return
        reader = csv.reader(text, delimiter="\t" if kind == "tsv" else ",")
        header = [cell.strip() for cell in next(reader, [])]
        where = [_column(path, header, name) for name in wanted]
        for row, cells in enumerate(reader, start=1):
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) < len(header):
                raise InputError(
                    f"{path}: row {row} has {len(cells)} cells but the header has "
                    f"{len(header)}; fill in the missing cells (quote text that holds the "
                    "delimiter)"
                )
            yield row, [cells[column] for column in where]


def _column(path: Path, header: list[str], name: str) -> int:
    if name not in header:
        raise InputError(
            f"{path}: has no column {name!r} (its columns: {', '.join(header) or 'none'}); "
            "name the text and label columns with --text-column and --label-column"
        )
    return header.index(name)


def _json_lines(
    path: Path, text: io.TextIOWrapper, wanted: list[str]
) -> Iterator[tuple[int, list]]:
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(
                f"{path}: line {number} is not JSON ({error.msg} at column {error.colno}); "
                "JSON Lines holds one JSON object per line"
            ) from error
        if not isinstance(value, dict):
            raise InputError(
                f"{path}: line {number} holds a JSON {type(value).__name__}, not an object; "
                'give one object per line, e.g. {"text": "...", "label": "..."}'
            )
        missing = [name for name in wanted if name not in value]
        if missing:
            _column(path, list(value), missing[0])
        yield number, [value[name] for name in wanted]


def _parquet(path: Path, wanted: list[str]) -> Iterator[tuple[int, list]]:
    """Rows of a Parquet table, read a batch at a time."""
    import pyarrow.parquet as pq

    with open_input(path, "Parquet table") as binary:
        try:
            table = pq.ParquetFile(binary)
        except Exception as error:  # pyarrow raises ArrowInvalid/OSError for a damaged file
            if isinstance(error, (KeyboardInterrupt, MemoryError)):
                raise
            reason = " ".join(str(error).split())[:160]
            raise InputError(
                f"{path}: not a readable Parquet table ({reason}); write it again"
            ) from error
        header = table.schema_arrow.names
        for name in wanted:
            _column(path, header, name)
        row = 0
        for batch in table.iter_batches(batch_size=PARQUET_BATCH, columns=wanted):
            for values in zip(*(batch.column(name).to_pylist() for name in wanted), strict=True):
                row += 1
                yield row, list(values)
