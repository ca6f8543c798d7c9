"""The ``validate`` stage: check FASTA/FASTQ files and summarise them, one row per file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genomeflow.config import ValidateConfig
from genomeflow.io.summary import FileSummary, summarise_file
from genomeflow.storage import check_writable, write_json


@dataclass(frozen=True)
class ValidateSummary:
    """Every file's summary, and the JSON file written (None when not asked for)."""

    files: list[FileSummary]
    json: str | None

    def metrics(self) -> dict[str, float]:
        return {
            "records": sum(x.records for x in self.files),
            "residues": sum(x.residues for x in self.files),
        }


def validate_files(config: ValidateConfig) -> ValidateSummary:
    """Read every file (format, alphabet, ids); an id repeated in another file is refused too."""
    if config.json:
        check_writable(config.json)  # before every file is read, not after
    seen_ids: dict[str, Any] = {}  # shared across files
    summaries = [
        summarise_file(path, config.alphabet, config.allow_duplicate_ids, seen_ids)
        for path in config.inputs
    ]
    if config.json:
        write_json(config.json, [s.to_dict() for s in summaries])
    return ValidateSummary(summaries, config.json)
