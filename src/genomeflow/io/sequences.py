"""Streaming, validated FASTA/FASTQ reading (plain or gzip): FASTA through Biopython, FASTQ
by a reader that counts lines, so an error names the line, the record and the fault.

Records are parsed one at a time, so memory stays flat whatever the file size; the only thing
that grows with the number of records is the set of ids kept to catch duplicates (about 100
bytes a record; ``allow_duplicate_ids=True`` turns it off).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from itertools import chain
from pathlib import Path
from typing import TextIO

from Bio.SeqIO.FastaIO import SimpleFastaParser

from genomeflow.errors import AlphabetError, ConfigError, InputError
from genomeflow.io.files import open_input
from genomeflow.io.records import SequenceRecord
from genomeflow.io.text import TextColumns, check_corpus_files, read_documents, refuse_sequences
from genomeflow.sequence.alphabet import Alphabet, describe_char, detect_alphabet

# Residues read from the start of a file to detect its alphabet when none is declared.
SNIFF_RESIDUES = 1_000_000


class SequenceFormat(str, Enum):
    FASTA = "fasta"
    FASTQ = "fastq"


@contextmanager
def open_sequence_text(path: Path) -> Iterator[tuple[TextIO, SequenceFormat | None]]:
    """Open a FASTA/FASTQ file (plain or gzip) as text with universal newlines (CRLF handled).

    Yields the text handle and the format read off the first non-blank character, or None
    when the file has only blank characters.
    """
    with open_input(path, "FASTA/FASTQ file") as binary:
        first = binary.peek(8192).lstrip()[:1]  # type: ignore[attr-defined]
        if first == b">":
            kind: SequenceFormat | None = SequenceFormat.FASTA
        elif first == b"@":
            kind = SequenceFormat.FASTQ
        elif not first:
            kind = None
        else:
            raise InputError(
                f"{path}: not FASTA or FASTQ: the first record must start with '>' or '@', "
                f"found {describe_char(first.decode('latin-1'))}; a text corpus is read with "
                "--alphabet text"
            )
        yield io.TextIOWrapper(binary, encoding="utf-8", newline=None), kind


class SequenceFile:
    """A FASTA or FASTQ file whose records are streamed and validated.

    Iterating yields :class:`SequenceRecord` objects and raises :class:`InputError` at the first
    problem: empty file, no records, a record without id or sequence, a character outside the
    alphabet (with record id, position and character), a duplicate id, corrupt gzip.

    Args:
        path: the file (plain or gzip; the format is read off its first character).
        alphabet: ``dna``, ``rna`` or ``protein``; None detects it from the first records.
        allow_duplicate_ids: accept records that repeat an id.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        alphabet: Alphabet | str | None = None,
        allow_duplicate_ids: bool = False,
    ) -> None:
        self.path = Path(path)
        self.declared = alphabet is not None
        self._alphabet = None if alphabet is None else Alphabet.parse(alphabet)
        self.allow_duplicate_ids = allow_duplicate_ids

    @property
    def alphabet(self) -> Alphabet:
        """The declared alphabet, or the one detected from the first records."""
        if self._alphabet is None:
            with open_sequence_text(self.path) as (text, kind):
                self._sniff(self._parsed(text, kind))
        assert self._alphabet is not None
        return self._alphabet

    def __iter__(self) -> Iterator[SequenceRecord]:
        return self.records({})

    def records(self, seen_ids: dict[str, Path]) -> Iterator[SequenceRecord]:
        """Validated records; ``seen_ids`` maps ids already read (from any file) to their file."""
        with open_sequence_text(self.path) as (text, kind):
            parsed = self._parsed(text, kind)
            if self._alphabet is None:
                parsed = chain(self._sniff(parsed), parsed)
            yield from self._validated(parsed, seen_ids)

    def _parsed(self, text: TextIO, kind: SequenceFormat | None) -> Iterator[tuple[str, ...]]:
        """``(title, sequence[, quality])`` tuples: FASTA as Biopython parses it, FASTQ by
        :meth:`_fastq`, which can say on which line a record goes wrong."""
        if kind is None:
            return
        if kind is SequenceFormat.FASTQ:
            yield from self._fastq(text)
            return
        count = 0
        try:
            for count, fields in enumerate(SimpleFastaParser(text), start=1):  # noqa: B007
                yield fields
        except UnicodeDecodeError:
            raise  # open_input names the file, line and byte
        except ValueError as error:
            raise InputError(
                f"{self.path}: malformed FASTA at record #{count + 1}: {error}"
            ) from error

    def _fastq(self, text: TextIO) -> Iterator[tuple[str, str, str]]:
        """``(title, sequence, quality)`` of each FASTQ record, read as Biopython's
        FastqGeneralIterator reads them (sequence and quality may wrap over lines; the ``+``
        line may repeat the title), with errors that name the line, the record and the fault.

        '@' is also a quality character, so a line starting with it ends the quality only when
        the quality is as long as the sequence, or, for a one-line sequence, after the first
        quality line (the usual four-line layout).
        """
        lines = iter(text)
        number, count = 0, 0
        line: str | None = None
        for line in lines:  # blank lines before the first record
            number += 1
            if line.strip():
                break
        else:
            return
        while line is not None:
            if line[:1] != "@":
                raise self._fastq_error(
                    number,
                    None,
                    count + 1,
                    f"expected a record header starting with '@', found {line.strip()[:30]!r}",
                    "each record is an @id line, the sequence, a '+' line and the quality",
                )
            count += 1
            title, header_line = line[1:].rstrip(), number
            sequence, sequence_lines = "", 0
            for line in lines:
                number += 1
                first = line[:1]
                if first == "+":
                    break
                if first == "@":  # never a residue: the next record came first
                    raise self._fastq_error(
                        header_line,
                        title,
                        count,
                        f"no '+' line after the sequence (line {number} starts the next record)",
                        "add the '+' line and the quality line, or remove the record",
                    )
                sequence += line.rstrip()
                sequence_lines += 1
            else:
                raise self._fastq_error(
                    header_line,
                    title,
                    count,
                    "no '+' line after the sequence (the file ends first)",
                    "add the '+' line and the quality line, or remove the record",
                )
            plus_line = number
            if len(line) > 2:  # more than '+' and a line end: the title repeated
                repeated = line[1:].rstrip()
                if repeated and repeated != title:
                    raise self._fastq_error(
                        plus_line,
                        title,
                        count,
                        f"the '+' line names {repeated!r}, not the header's {title!r}",
                        "leave the '+' line bare or repeat the header exactly",
                    )
            if " " in sequence or "\t" in sequence:
                raise self._fastq_error(
                    header_line + 1,
                    title,
                    count,
                    "the sequence holds whitespace",
                    "remove the spaces or tabs from the sequence",
                )
            length, one_line = len(sequence), sequence_lines <= 1
            quality, line = "", None
            for following in lines:
                number += 1
                if len(quality) >= length or (one_line and quality and following[:1] == "@"):
                    if following.strip():
                        line = following  # the next record's header
                        break
                    continue  # blank lines between records
                quality += following.rstrip()
            if len(quality) != length:
                raise self._fastq_error(
                    plus_line + 1,
                    title,
                    count,
                    f"the quality line has {len(quality)} characters but the sequence has {length}",
                    "give one quality character per residue",
                )
            yield title, sequence, quality

    def _fastq_error(
        self, line: int, title: str | None, count: int, problem: str, fix: str
    ) -> InputError:
        """The error of FASTQ record #``count`` (``title``: its header, None if it has none)."""
        record = _record(title, "").id if title is not None else None
        name = "" if record is None else f"record {record!r}, "
        return InputError(
            f"{self.path}: malformed FASTQ at line {line} ({name}#{count}): {problem}; {fix}"
        )

    def _sniff(self, parsed: Iterator[tuple[str, ...]]) -> list[tuple[str, ...]]:
        """Take records until SNIFF_RESIDUES and detect the alphabet from them."""
        sample, residues = [], 0
        for fields in parsed:
            sample.append(fields)
            residues += len(fields[1])
            if residues >= SNIFF_RESIDUES:
                break
        if not sample:
            raise InputError(f"{self.path}: no records found; is it a FASTA/FASTQ file?")
        if not any(fields[1] for fields in sample):
            raise self._empty(_record(*sample[0]), 1)
        try:
            self._alphabet = detect_alphabet(fields[1][:SNIFF_RESIDUES] for fields in sample)
        except AlphabetError as error:
            # Locate a character valid in no alphabet; report the rest as they are.
            for fields in sample:
                bad = Alphabet.PROTEIN.first_invalid(fields[1])
                if bad is not None:
                    raise self._invalid(_record(*fields), bad, Alphabet.PROTEIN) from error
            raise InputError(f"{self.path}: {error}") from error
        return sample

    def _empty(self, record: SequenceRecord, count: int) -> InputError:
        return InputError(
            f"{self.path}: record {record.id!r} (#{count}) has no sequence; "
            "remove it or add its residues"
        )

    def _invalid(self, record: SequenceRecord, position: int, alphabet: Alphabet) -> InputError:
        char = describe_char(record.sequence[position])
        if self.declared:
            hint = f"fix the record, or declare the right alphabet (not {alphabet.value})"
        elif alphabet is Alphabet.PROTEIN:
            hint = "it is valid in no alphabet (DNA, RNA, protein); fix the record"
        else:
            hint = (
                f"the alphabet was detected as {alphabet.value} from the first records; "
                "fix the record, or declare the alphabet (e.g. --alphabet protein)"
            )
        return InputError(
            f"{self.path}: record {record.id!r}: {char} at position {position + 1} "
            f"is not a valid {alphabet.value} character; {hint}"
        )

    def _validated(
        self, parsed: Iterable[tuple[str, ...]], seen_ids: dict[str, Path]
    ) -> Iterator[SequenceRecord]:
        """Build and check each record; one tight loop, as it runs once per record."""
        alphabet = self.alphabet
        first_invalid = alphabet.first_invalid
        check_ids = not self.allow_duplicate_ids
        count = 0
        for count, fields in enumerate(parsed, start=1):
            record = _record(*fields)
            if not record.id:
                raise InputError(
                    f"{self.path}: record #{count} has an empty header; give every record an id"
                )
            if not record.sequence:
                raise self._empty(record, count)
            bad = first_invalid(record.sequence)
            if bad is not None:
                raise self._invalid(record, bad, alphabet)
            if check_ids:
                if record.id in seen_ids:
                    earlier = seen_ids[record.id]
                    where = "an earlier record" if earlier == self.path else str(earlier)
                    raise InputError(
                        f"{self.path}: record #{count} repeats the id {record.id!r} of {where}; "
                        "make ids unique, or allow duplicates (--allow-duplicate-ids)"
                    )
                seen_ids[record.id] = self.path
            yield record
        if count == 0:
            raise InputError(f"{self.path}: no records found; is it a FASTA/FASTQ file?")


def _record(title: str, sequence: str, quality: str | None = None) -> SequenceRecord:
    words = title.split(None, 1)
    return SequenceRecord(
        words[0] if words else "", sequence, words[1] if len(words) > 1 else "", quality
    )


def read_sequence_files(
    paths: Sequence[str | os.PathLike[str]],
    alphabet: Alphabet | str | None = None,
    allow_duplicate_ids: bool = False,
    columns: TextColumns | None = None,
) -> Iterator[tuple[int, SequenceRecord]]:
    """Stream ``(file index, record)`` pairs, validated, from several FASTA/FASTQ files in order
    (or text corpus files, when ``alphabet`` is text: see :func:`read_sequences`).

    Ids must be unique across all the files unless ``allow_duplicate_ids`` is set, and all the
    files must hold one alphabet.
    """
    if alphabet is not None and Alphabet.parse(alphabet).is_text:
        check_corpus_files(paths)
        for index, path in enumerate(paths):
            for document, _ in read_documents([path], columns or TextColumns(), labelled=False):
                yield index, document
        return
    seen_ids: dict[str, Path] = {}
    first: SequenceFile | None = None
    for index, path in enumerate(paths):
        source = SequenceFile(path, alphabet, allow_duplicate_ids)
        if first is None:
            first = source
        elif source.alphabet is not first.alphabet:
            raise InputError(
                f"{source.path}: holds {source.alphabet.value} but {first.path} holds "
                f"{first.alphabet.value}; give files of one alphabet, or declare it"
            )
        for record in source.records(seen_ids):
            yield index, record


def read_sequences(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    alphabet: Alphabet | str | None = None,
    allow_duplicate_ids: bool = False,
    columns: TextColumns | None = None,
) -> Iterator[SequenceRecord]:
    """Stream validated records from one or more FASTA/FASTQ files (see read_sequence_files),
    or the documents of a text corpus when ``alphabet`` is text (``columns``: its table's)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for _, record in read_sequence_files(paths, alphabet, allow_duplicate_ids, columns):
        yield record


def write_fasta(records: Iterable[SequenceRecord], handle: TextIO, width: int = 0) -> int:
    """Write records as FASTA; ``width`` residues per line, 0 for one line per sequence.

    Returns:
        The number of records written.
    """
    count = 0
    for record in records:
        count += 1
        header = f"{record.id} {record.description}" if record.description else record.id
        sequence = record.sequence
        if width > 0:
            sequence = "\n".join(sequence[i : i + width] for i in range(0, len(sequence), width))
        handle.write(f">{header}\n{sequence}\n")
    return count


def matching_alphabet(
    path: str | os.PathLike[str],
    declared: Alphabet | None,
    expected: Alphabet,
    owner: str,
    reverse_complement: bool | None = False,
) -> Alphabet:
    """The alphabet of the sequences in ``path``, which must be ``expected``: the alphabet of
    ``owner`` (e.g. ``"the tokeniser tok/"``), which was built for it.

    Raises:
        InputError: the alphabets differ.
        ConfigError: reverse complements are asked of protein.
    """
    if declared is None and expected.is_text:
        declared = expected  # text is never detected: a text model's inputs are text
    alphabet = SequenceFile(path, declared).alphabet
    if alphabet.is_text:
        refuse_sequences(Path(path))
    if alphabet is not expected:
        raise InputError(
            f"{path}: holds {alphabet.value} but {owner} was built for {expected.value}; give "
            f"{expected.value} sequences, or build one on {alphabet.value} sequences"
        )
    if reverse_complement and not alphabet.is_nucleic:
        raise ConfigError(
            f"--reverse-complement applies to DNA/RNA only; the input is {alphabet.value}"
        )
    return alphabet
