"""Rows of the dataset stage, written as they come: tokenised a batch at a time, appended to one
Arrow stream file per split, and tallied for the manifest (label counts, lengths, truncation).

Memory holds one tokeniser batch and up to WRITE_BYTES of encoded rows per split, and a few
counters, whatever the number of rows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genomeflow.data.split import SPLITS
from genomeflow.tokenise.tokenizer import GenomeTokenizer

ENCODE_BATCH = 1024  # rows per tokeniser call
# Rows are gathered into Arrow record batches of about this many bytes before they are written:
# every batch of a stream costs the reader a few KiB of metadata per column, so 1,024-row
# batches made the memory of opening 10M reads' streams grow by ~100 MiB (measured).
WRITE_BYTES = 4 << 20
COLUMNS = ("id", "group", "sequence", "label", "strand")


@dataclass
class Tally:
    """What the manifest says of one split; lengths are kept as histograms (length -> rows)."""

    labels: Counter[str] = field(default_factory=Counter)
    truncated: int = 0
    residues: Counter[int] = field(default_factory=Counter)
    tokens: Counter[int] = field(default_factory=Counter)
    unknown: int = 0  # tokens a foreign tokenizer did not know (train split; specials left out)
    known: int = 0


class RowWriter:
    """Buffers rows per split and writes them, tokenised, to ``folder/<split>.arrow``.

    Use as a context manager; :meth:`add` a row, read :attr:`tallies` after the block.
    """

    def __init__(
        self,
        folder: Path,
        features: Any,
        tokenizer: GenomeTokenizer,
        max_length: int,
        label_names: list[str],
    ) -> None:
        self.folder, self.features, self.tokenizer = folder, features, tokenizer
        self.max_length = max_length
        self.label_names = label_names
        self.tallies = {split: Tally() for split in SPLITS}
        self._buffers: dict[str, dict[str, list]] = {s: _empty() for s in SPLITS}
        self._encoded: dict[str, list] = {s: [] for s in SPLITS}  # record batches not written
        self._writers: dict[str, Any] = {}
        # A foreign (Hugging Face) tokenizer may not know the residues: its unknown tokens are
        # counted on the train rows, so the stage can warn or refuse.
        self._unknown_id = tokenizer.hf.unk_token_id if tokenizer.foreign else None
        self._specials = set(tokenizer.hf.all_special_ids) - {self._unknown_id}

    def path(self, split: str) -> Path:
        return self.folder / f"{split}.arrow"

    def __enter__(self) -> RowWriter:
        import pyarrow as pa

        schema = self.features.arrow_schema
        for split in SPLITS:
            self._writers[split] = pa.ipc.new_stream(str(self.path(split)), schema)
        return self

    def add(self, split: str, row_id: str, group: str, sequence: str, label: str, strand: str):
        buffer = self._buffers[split]
        for name, value in zip(COLUMNS, (row_id, group, sequence, label, strand), strict=True):
            buffer[name].append(value)
        if len(buffer["id"]) >= ENCODE_BATCH:
            self._flush(split)

    def _flush(self, split: str) -> None:
        import pyarrow as pa

        columns = self._buffers[split]
        if not columns["id"]:
            return
        self._buffers[split] = _empty()
        encoded = self.tokenizer.encode(columns["sequence"], self.max_length)
        tally = self.tallies[split]
        tally.labels.update(columns["label"])
        tally.truncated += sum(encoded["truncated"])
        tally.residues.update(map(len, columns["sequence"]))
        tally.tokens.update(map(len, encoded["input_ids"]))
        if split == "train" and self._unknown_id is not None:
            for ids in encoded["input_ids"]:
                for token in ids:
                    if token not in self._specials:
                        tally.known += 1
                        tally.unknown += token == self._unknown_id
        code = {name: index for index, name in enumerate(self.label_names)}
        columns["label"] = [code[label] for label in columns["label"]]  # ClassLabel stores ints
        columns["input_ids"] = encoded["input_ids"]
        columns["attention_mask"] = encoded["attention_mask"]
        self._encoded[split].append(
            pa.RecordBatch.from_pydict(columns, schema=self.features.arrow_schema)
        )
        if sum(batch.nbytes for batch in self._encoded[split]) >= WRITE_BYTES:
            self._write(split)

    def _write(self, split: str) -> None:
        import pyarrow as pa

        if self._encoded[split]:
            self._writers[split].write_batch(pa.concat_batches(self._encoded[split]))
            self._encoded[split] = []

    def __exit__(self, kind, error, trace) -> None:
        try:
            if kind is None:
                for split in SPLITS:
                    self._flush(split)
                    self._write(split)
        finally:
            for writer in self._writers.values():
                writer.close()


def _empty() -> dict[str, list]:
    return {name: [] for name in COLUMNS}


def length_summary(lengths: Counter[int]) -> dict[str, float]:
    """min, median and max of a length histogram (the median as ``statistics.median`` gives it:
    the middle value, or the mean of the two middle values)."""
    count = sum(lengths.values())
    if not count:
        return {}
    ordered = sorted(lengths.items())

    def nth(position: int) -> int:
        seen = 0
        for length, rows in ordered:
            seen += rows
            if position < seen:
                return length
        raise AssertionError(position)

    middle = count // 2
    median = nth(middle) if count % 2 else (nth(middle - 1) + nth(middle)) / 2
    return {"min": ordered[0][0], "median": median, "max": ordered[-1][0]}
