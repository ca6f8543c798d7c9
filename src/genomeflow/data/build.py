"""The ``dataset`` stage: labelled sequences + a tokeniser -> a train/valid/test DatasetDict.

The order of work is what keeps the splits clean: read and label source sequences -> assign
each source sequence (group) to a split -> chunk -> add reverse complements to the train split
only -> tokenise with explicit truncation -> save (Arrow via save_to_disk, Parquet per split,
manifest.json), published atomically.
"""

from __future__ import annotations

import json
import logging
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from genomeflow import __version__
from genomeflow.config import DatasetConfig
from genomeflow.data.split import SPLITS, assign_splits
from genomeflow.io.labels import label_from_path, labelled_records
from genomeflow.io.sequences import SequenceRecord, matching_alphabet
from genomeflow.sequence.alphabet import Alphabet
from genomeflow.sequence.chunking import chunk_sequence
from genomeflow.sequence.complement import reverse_complement
from genomeflow.storage import atomic_directory, file_digest
from genomeflow.tokenise.tokenizer import GenomeTokenizer

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
TOKENISER_FOLDER = "tokeniser"  # a copy, so the dataset folder is self-contained
IMBALANCE_WARNING_RATIO = 5.0  # largest class / smallest class above which we warn
ENCODE_BATCH = 1024  # sequences per tokeniser call


@dataclass(frozen=True)
class DatasetSummary:
    """What :func:`build_dataset` wrote; ``rows`` is split -> label -> rows (augmentation in)."""

    output: str
    label_names: list[str]
    rows: dict[str, dict[str, int]]
    truncated: int


def _windows(config: DatasetConfig, record: SequenceRecord) -> list[tuple[str, str]]:
    """``(row id, residues)`` of a record: whole, or chunked as configured."""
    if not config.chunk_size:
        return [(record.id, record.sequence)]
    stride = config.chunk_size - config.chunk_overlap
    shortest = config.min_chunk_length or max(1, config.chunk_size // 2)
    chunks = chunk_sequence(record.id, record.sequence, config.chunk_size, stride, shortest)
    return [(chunk.id, chunk.sequence) for chunk in chunks]


def split_rows(
    config: DatasetConfig, records: list[tuple[SequenceRecord, str]], alphabet: Alphabet
) -> dict[str, list[dict[str, str]]]:
    """Assign source sequences to splits, then chunk and augment (train only)."""
    assignment = assign_splits([(r.id, label) for r, label in records], config.split, config.seed)
    augment = (
        alphabet.is_nucleic if config.reverse_complement is None else config.reverse_complement
    )
    rows: dict[str, list[dict[str, str]]] = {split: [] for split in SPLITS}
    for record, label in records:
        split = assignment[record.id]
        for row_id, residues in _windows(config, record):
            row = {"id": row_id, "group": record.id, "sequence": residues, "label": label}
            rows[split].append({**row, "strand": "+"})
            if split == "train" and augment:
                flipped = reverse_complement(residues, alphabet)
                rows[split].append(
                    {**row, "id": f"{row_id}|rc", "sequence": flipped, "strand": "-"}
                )
    return rows


def _tokenised(
    rows: list[dict[str, str]], tokenizer: GenomeTokenizer, max_length: int, split: str
) -> tuple[dict[str, list], int]:
    """Columns of one split with input_ids and attention_mask; returns them and rows truncated."""
    columns: dict[str, list] = {
        name: [row[name] for row in rows] for name in ("id", "group", "sequence", "label", "strand")
    }
    columns["input_ids"], columns["attention_mask"] = [], []
    truncated = 0
    with tqdm(total=len(rows), desc=f"tokenising {split}", unit="seq", disable=None) as progress:
        for start in range(0, len(rows), ENCODE_BATCH):
            batch = tokenizer.encode(columns["sequence"][start : start + ENCODE_BATCH], max_length)
            columns["input_ids"] += batch["input_ids"]
            columns["attention_mask"] += batch["attention_mask"]
            truncated += sum(batch["truncated"])
            progress.update(len(batch["input_ids"]))
    return columns, truncated


def _length_summary(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def build_dataset(config: DatasetConfig) -> DatasetSummary:
    """Build, save and describe the dataset; see the module docstring for the order of work."""
    import datasets

    datasets.disable_progress_bars()  # ours report in sequences; theirs add a bar per shard
    tokenizer = GenomeTokenizer.load(config.tokeniser)
    alphabet = matching_alphabet(
        config.inputs[0],
        config.alphabet,
        tokenizer.alphabet,
        f"the tokeniser {config.tokeniser}",
        config.reverse_complement,
    )
    records = list(
        labelled_records(
            config.inputs,
            config.label_table,
            config.labels,
            config.alphabet,
            config.allow_duplicate_ids,
        )
    )
    if config.label_table is None:
        label_names = list(config.labels or [label_from_path(p) for p in config.inputs])
    else:
        label_names = sorted({label for _, label in records})
    rows = split_rows(config, records, alphabet)
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "group": datasets.Value("string"),
            "sequence": datasets.Value("string"),
            "label": datasets.ClassLabel(names=label_names),
            "strand": datasets.Value("string"),
            "input_ids": datasets.Sequence(datasets.Value("int32")),
            "attention_mask": datasets.Sequence(datasets.Value("int8")),
        }
    )
    splits, truncated = {}, {}
    for split in SPLITS:
        columns, truncated[split] = _tokenised(rows[split], tokenizer, config.max_length, split)
        splits[split] = datasets.Dataset.from_dict(columns, features=features)
    dataset = datasets.DatasetDict(splits)

    counts = {
        split: dict(sorted(Counter(row["label"] for row in rows[split]).items()))
        for split in SPLITS
    }
    sources = dict(sorted(Counter(label for _, label in records).items()))
    _warn_about(sources, sum(truncated.values()), config.max_length)
    manifest = {
        "stage": "dataset",
        "genomeflow_version": __version__,
        "config": config.to_dict(),
        "inputs": [
            {"path": str(path), "digest": file_digest(path)}
            for path in [*config.inputs, *([config.label_table] if config.label_table else [])]
        ],
        "tokeniser": {
            "path": str(config.tokeniser),
            "copy": TOKENISER_FOLDER,
            "method": tokenizer.method,
            "digest": file_digest(Path(config.tokeniser) / "tokenizer.json"),
        },
        "alphabet": alphabet.value,
        "label_names": label_names,
        "source_sequences": sources,
        "rows": counts,
        "truncated_rows": truncated,
        "residues_per_row": {
            split: _length_summary([len(row["sequence"]) for row in rows[split]])
            for split in SPLITS
        },
        "tokens_per_row": {
            split: _length_summary([len(ids) for ids in splits[split]["input_ids"]])
            for split in SPLITS
        },
        "seed": config.seed,
    }
    with atomic_directory(config.output) as folder:
        dataset.save_to_disk(str(folder))
        (folder / TOKENISER_FOLDER).mkdir()
        tokenizer.save(folder / TOKENISER_FOLDER)
        (folder / "parquet").mkdir()
        for split in SPLITS:
            dataset[split].to_parquet(str(folder / "parquet" / f"{split}.parquet"))
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return DatasetSummary(str(config.output), label_names, counts, sum(truncated.values()))


def _warn_about(sources: dict[str, int], truncated: int, max_length: int) -> None:
    """Log what the user should know before training on this dataset."""
    if max(sources.values()) > IMBALANCE_WARNING_RATIO * min(sources.values()):
        log.warning(
            "classes are strongly imbalanced (%s); prefer balanced metrics and class weights",
            ", ".join(f"{label}: {n}" for label, n in sources.items()),
        )
    if truncated:
        log.warning(
            "%d rows were longer than --max-length %d tokens and were truncated; chunk the "
            "sequences (--chunk-size) or raise --max-length",
            truncated,
            max_length,
        )
