"""Summaries of sequence files, computed while they are validated."""

from __future__ import annotations

import os
from array import array
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from genomeflow.io.sequences import SequenceFile
from genomeflow.sequence.alphabet import Alphabet


@dataclass(frozen=True)
class FileSummary:
    """Counts and length statistics of one valid sequence file."""

    path: str
    alphabet: str
    records: int
    residues: int
    min_length: int
    median_length: float
    max_length: int
    n50: int  # the length L such that records of length >= L hold half the residues
    gc_percent: float | None  # G+C over A+C+G+T/U (ambiguity codes left out); None for protein
    ambiguous_percent: float  # residues outside the canonical alphabet (N, IUPAC codes, X...)
    lowercase_percent: float  # soft-masked residues

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def summarise_file(
    path: str | os.PathLike[str],
    alphabet: Alphabet | str | None = None,
    allow_duplicate_ids: bool = False,
    seen_ids: dict[str, Path] | None = None,
) -> FileSummary:
    """Validate every record of a FASTA/FASTQ file and summarise it (streaming).

    Memory grows by 8 bytes a record (the lengths, for the median and N50).

    Args:
        seen_ids: ids read from earlier files (id -> file), shared across calls so that an id
            repeated in another file is refused too; the file's ids are added to it.
    """
    source = SequenceFile(path, alphabet, allow_duplicate_ids)
    lengths = array("q")
    canonical = gc = lower = 0
    # str.count runs in C, so a pass per letter beats one Python-level pass over the residues.
    canonical_letters = source.alphabet.canonical
    soft_letters = [c for c in source.alphabet.letters.lower() if c.isalpha()]
    for record in source.records({} if seen_ids is None else seen_ids):
        sequence = record.sequence
        lengths.append(len(sequence))
        if not sequence.isupper():
            lower += sum(sequence.count(c) for c in soft_letters)
            sequence = sequence.upper()
        canonical += sum(sequence.count(c) for c in canonical_letters)
        gc += sequence.count("G") + sequence.count("C")
    sizes = np.sort(np.frombuffer(lengths, dtype=np.int64))[::-1]
    residues = int(sizes.sum())
    n50 = int(sizes[np.searchsorted(np.cumsum(sizes), residues / 2)])
    nucleic = source.alphabet.is_nucleic
    return FileSummary(
        path=str(source.path),
        alphabet=source.alphabet.value,
        records=len(sizes),
        residues=residues,
        min_length=int(sizes[-1]),
        median_length=float(np.median(sizes)),
        max_length=int(sizes[0]),
        n50=n50,
        gc_percent=round(100 * gc / max(canonical, 1), 2) if nucleic else None,
        ambiguous_percent=round(100 * (residues - canonical) / residues, 3),
        lowercase_percent=round(100 * lower / residues, 3),
    )
