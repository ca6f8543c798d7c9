"""The record every reader yields: a FASTA/FASTQ record, or a document of a text corpus."""

from __future__ import annotations

from typing import NamedTuple


class SequenceRecord(NamedTuple):
    """One record: ``id`` is the first word of the header, ``description`` the rest (a text
    document: ``id`` is ``<file name>:<row>``, ``sequence`` the document).

    A named tuple rather than a dataclass: records are made by the million, and a tuple is the
    cheapest immutable object to build.
    """

    id: str
    sequence: str
    description: str = ""
    quality: str | None = None
