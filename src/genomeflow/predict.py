"""The ``predict`` stage: a saved classifier scores new FASTA/FASTQ sequences in batches."""

from __future__ import annotations

import dataclasses
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from genomeflow.config import PredictConfig
from genomeflow.data import columns
from genomeflow.data.columns import Column, has_repeats
from genomeflow.io.files import check_readable
from genomeflow.io.sequences import read_sequence_files
from genomeflow.io.text import TextColumns
from genomeflow.models.checkpoint import quiet_transformers
from genomeflow.models.loading import (
    check_sequence_inputs,
    load_classifier,
    model_manifest,
    trained_columns,
)
from genomeflow.sequence.complement import reverse_complement
from genomeflow.storage import atomic_output, check_writable
from genomeflow.tracking.registry import resolve_model


@dataclass(frozen=True)
class PredictSummary:
    """What :func:`predict_files` wrote: rows per predicted label."""

    output: str
    rows: int
    per_label: dict[str, int]

    def metrics(self) -> dict[str, float]:
        return {"rows": self.rows}


def _records(config: PredictConfig, check_ids: bool = False):
    """``(file index, record)`` of every input record in order, checked as they are read; ids
    are checked for repeats only when asked (:func:`_count` checks them in 8 bytes each)."""
    allow = config.allow_duplicate_ids or not check_ids
    text = TextColumns(config.text_column or "text")
    return read_sequence_files(config.inputs, config.alphabet, allow, text)


def _count(config: PredictConfig) -> int:
    """The first pass: every record read and checked, and counted (the bar's total).

    Repeated ids are found from a 64-bit hash of each id in a mapped scratch file, so memory
    does not grow with the input (a set of the ids held ~100 bytes a record); equal hashes send
    the files through the reader's exact check, which names the repeat.
    """
    if config.allow_duplicate_ids:
        return sum(1 for _ in _records(config))
    with tempfile.TemporaryDirectory(prefix="genomeflow-predict-") as scratch:
        hashes = Column(Path(scratch) / "id_hashes.i64", "q")
        for _, record in _records(config):
            hashes.append(columns.id_hash(record.id))
        if has_repeats(hashes.mapped()):
            for _ in _records(config, check_ids=True):
                pass
        return hashes.size


def _batches(config: PredictConfig, size: int):
    """``(file, ids, sequences)`` batches of the inputs in order."""
    batch: list[tuple[int, str, str]] = []
    for index, record in _records(config):
        batch.append((index, record.id, record.sequence))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def predict_files(config: PredictConfig) -> PredictSummary:
    """Score every record of the inputs; write id, file, label, probability and p_<class>.

    Rows are written batch by batch as they are scored (memory holds one batch, whatever the
    input's size); the table appears under its name only when every row is written.
    """
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
    if alphabet.is_text and config.alphabet is None:  # a text model reads its inputs as text,
        # from the column of its training table unless one is named
        column = config.text_column or trained_columns(folder, manifest).text
        config = dataclasses.replace(config, alphabet=alphabet, text_column=column)
    # Every record read and checked once before the model loads: a bad record further down
    # is reported before any model work, and the bar below gets its total and ETA.
    total = _count(config)
    with quiet_transformers():  # its "Loading weights" bar is not predict's progress
        classifier = load_classifier(folder)
    names = classifier.label_names
    counts: Counter[str] = Counter()
    with (
        _table_writer(Path(config.output)) as write,
        tqdm(desc="predicting", unit="seq", total=total, disable=None) as progress,
    ):
        for batch in _batches(config, config.batch_size):
            sequences = [sequence for _, _, sequence in batch]
            probabilities = classifier.predict_proba(sequences)
            if config.reverse_complement:
                flipped = [reverse_complement(s, alphabet) for s in sequences]
                probabilities = (probabilities + classifier.predict_proba(flipped)) / 2
            frame = _frame(batch, probabilities, names, config.inputs)
            write(frame)
            counts.update(frame["label"])
            progress.update(len(batch))
        if not counts:  # no records: the table still has its header (and Parquet schema)
            write(_frame([], np.zeros((0, len(names))), names, config.inputs))
    per_label = {name: counts.get(name, 0) for name in names}
    return PredictSummary(str(config.output), sum(counts.values()), per_label)


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


@contextmanager
def _table_writer(path: Path) -> Iterator[Callable[[Any], None]]:
    """A function that appends a frame of rows to ``path``: CSV, TSV or Parquet by the file's
    extension (Parquet: one row group per frame), written to a temporary file beside it and
    moved onto ``path`` when the block ends without error."""
    suffix = path.suffix.lower()
    with atomic_output(path) as temporary:
        if suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            writers: list[Any] = []  # opened on the first frame, which gives the schema

            def write(frame: Any) -> None:
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if not writers:
                    writers.append(pq.ParquetWriter(temporary, table.schema))
                writers[0].write_table(table.cast(writers[0].schema))

            try:
                yield write
            finally:
                for writer in writers:
                    writer.close()
        else:
            with open(temporary, "w", encoding="utf-8", newline="") as handle:
                separator = "\t" if suffix == ".tsv" else ","

                def write(frame: Any) -> None:
                    frame.to_csv(handle, sep=separator, index=False, header=handle.tell() == 0)

                yield write
