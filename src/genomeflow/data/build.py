"""The ``dataset`` stage: labelled sequences + a tokeniser -> a train/valid/test DatasetDict.

The order of work is what keeps the splits clean: read and label source sequences -> assign
each source sequence (group) to a split -> chunk -> add reverse complements to the train split
only -> tokenise with explicit truncation -> save (Arrow via save_to_disk, Parquet per split,
manifest.json), published atomically.

It streams, so memory does not grow with the residues: a first pass keeps a few bytes per
source sequence (its label, a hash of its id), the split is assigned on those, and a second
pass reads the files again and writes the rows a batch at a time (:mod:`genomeflow.data.rows`).
What still grows with the input: a label table's id -> label map, the ids themselves when
duplicate ids are allowed, and the records when MMseqs2 clusters them (--group-by similarity).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from genomeflow import __version__
from genomeflow.config import DatasetConfig
from genomeflow.data.columns import blocks, scratch_array
from genomeflow.data.rows import RowWriter, Tally, length_summary
from genomeflow.data.sources import (
    CLUSTER_LOG,
    CLUSTERS,
    Grouping,
    Sources,
    group_records,
    grouping_method,
    labelled,
    read_sources,
)
from genomeflow.data.split import SPLITS, assign_groups
from genomeflow.errors import InputError
from genomeflow.io.files import file_digests
from genomeflow.io.sequences import SequenceFile, SequenceRecord, matching_alphabet
from genomeflow.sequence.alphabet import Alphabet
from genomeflow.sequence.chunking import chunk_sequence
from genomeflow.sequence.complement import reverse_complement
from genomeflow.storage import atomic_directory, check_writable, file_digest
from genomeflow.tokenise.tokenizer import GenomeTokenizer

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
TOKENISER_FOLDER = "tokeniser"  # a copy, so the dataset folder is self-contained
IMBALANCE_WARNING_RATIO = 5.0  # largest class / smallest class above which we warn
SHARE_TOLERANCE = 0.05  # split share of source sequences off --split by more: a warning
ROWS_FOLDER = ".rows"  # the Arrow streams of the second pass, inside the unpublished folder


@dataclass(frozen=True)
class DatasetSummary:
    """What :func:`build_dataset` wrote; ``rows`` is split -> label -> rows (augmentation in)."""

    output: str
    label_names: list[str]
    rows: dict[str, dict[str, int]]
    truncated: int
    grouping: dict[str, Any] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        rows = {f"rows_{split}": sum(counts.values()) for split, counts in self.rows.items()}
        clusters = {"clusters": self.grouping["clusters"]} if self.clustered else {}
        return rows | {"truncated_rows": self.truncated} | clusters

    @property
    def clustered(self) -> bool:
        """Whether the split grouped MMseqs2 clusters rather than record ids."""
        return self.grouping.get("method") == "similarity"


def _windows(config: DatasetConfig, record: SequenceRecord) -> list[tuple[str, str]]:
    """``(row id, residues)`` of a record: whole, or chunked as configured."""
    if not config.chunk_size:
        return [(record.id, record.sequence)]
    stride = config.chunk_size - config.chunk_overlap
    shortest = config.min_chunk_length or max(1, config.chunk_size // 2)
    chunks = chunk_sequence(record.id, record.sequence, config.chunk_size, stride, shortest)
    return [(chunk.id, chunk.sequence) for chunk in chunks]


def write_rows(
    config: DatasetConfig,
    alphabet: Alphabet,
    grouping: Grouping,
    splits: np.ndarray,
    writer: RowWriter,
    total: int,
) -> np.ndarray:
    """The second pass: read the records again, chunk them, augment the train split, write.

    Args:
        splits: the split (index into SPLITS) of each group.

    Returns:
        Per group, 1 when it gave any row (a record shorter than a chunk gives none), else 0.
    """
    augment = (
        alphabet.is_nucleic if config.reverse_complement is None else config.reverse_complement
    )
    split_of = memoryview(splits)  # indexed once per record: a memoryview's ints are fastest
    groups = grouping.index.tolist() if grouping.index is not None else None
    marks = scratch_array(writer.folder / "filled.u8", np.uint8, len(splits))
    filled = memoryview(marks)
    progress = tqdm(total=total, desc="writing rows", unit="seq", unit_scale=True, disable=None)
    with progress:
        for ordinal, (record, label) in enumerate(labelled(config)):
            group = ordinal if groups is None else groups[ordinal]
            split = SPLITS[split_of[group]]
            name = record.id if grouping.names is None else grouping.names[record.id]
            for row_id, residues in _windows(config, record):
                filled[group] = 1
                writer.add(split, row_id, name, residues, label, "+")
                if split == "train" and augment:
                    flipped = reverse_complement(residues, alphabet)
                    writer.add(split, f"{row_id}|rc", name, flipped, label, "-")
            progress.update()
    return marks


def build_dataset(config: DatasetConfig) -> DatasetSummary:
    """Build, save and describe the dataset; see the module docstring for the order of work."""
    import datasets

    datasets.disable_progress_bars()  # ours report in sequences; theirs add a bar per shard
    check_writable(config.output)
    tokenizer = GenomeTokenizer.load(config.tokeniser)
    if config.alphabet is None and tokenizer.known_alphabet is Alphabet.TEXT:
        config = dataclasses.replace(config, alphabet=Alphabet.TEXT)  # a text tokeniser's corpus
    alphabet = matching_alphabet(
        config.inputs[0],
        config.alphabet,
        # a foreign (Hugging Face) tokenizer whose vocabulary does not say: the input's
        tokenizer.known_alphabet or SequenceFile(config.inputs[0], config.alphabet).alphabet,
        f"the tokeniser {config.tokeniser}",
        config.reverse_complement,
    )
    tokenizer.metadata["alphabet"] = alphabet.value  # the dataset's copy records it
    with atomic_directory(config.output) as folder:
        scratch = folder / ROWS_FOLDER  # per-record arrays and row streams; removed when done
        scratch.mkdir()
        sources = read_sources(config, grouping_method(config, alphabet), scratch)
        grouping = group_records(config, sources, alphabet)
        splits = assign_groups(
            sources.labels, sources.label_names, config.split, config.seed, grouping.index, scratch
        )
        manifest = _write(config, folder, scratch, tokenizer, alphabet, sources, grouping, splits)
    counts = manifest["rows"]
    truncated = sum(manifest["truncated_rows"].values())
    return DatasetSummary(
        str(config.output), sources.label_names, counts, truncated, grouping.description
    )


def _write(
    config: DatasetConfig,
    folder: Path,
    scratch: Path,
    tokenizer: GenomeTokenizer,
    alphabet: Alphabet,
    sources: Sources,
    grouping: Grouping,
    splits: np.ndarray,
) -> dict[str, Any]:
    """The second pass and the saved dataset (Arrow, Parquet, tokeniser, manifest) in
    ``folder``; returns the manifest."""
    import datasets

    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "group": datasets.Value("string"),
            "sequence": datasets.Value("string"),
            "label": datasets.ClassLabel(names=sources.label_names),
            "strand": datasets.Value("string"),
            "input_ids": datasets.Sequence(datasets.Value("int32")),
            "attention_mask": datasets.Sequence(datasets.Value("int8")),
        }
    )
    writer = RowWriter(scratch, features, tokenizer, config.max_length, sources.label_names)
    with writer:
        filled = write_rows(config, alphabet, grouping, splits, writer, len(sources.labels))
    tallies = writer.tallies
    if tokenizer.foreign:
        _check_unknown(tallies["train"], config.tokeniser)
    record_splits = _record_splits(config, sources, grouping, splits, filled)
    # Memory-mapped: saving copies the streams shard by shard, never whole into memory.
    dataset = datasets.DatasetDict(
        {split: datasets.Dataset.from_file(str(writer.path(split))) for split in SPLITS}
    )
    dataset.save_to_disk(str(folder))
    (folder / "parquet").mkdir()
    for split in SPLITS:
        dataset[split].to_parquet(str(folder / "parquet" / f"{split}.parquet"))
    del dataset
    (folder / TOKENISER_FOLDER).mkdir()
    tokenizer.save(folder / TOKENISER_FOLDER)
    if grouping.description["method"] == "similarity":
        _write_clusters(folder, sources, grouping, record_splits)
    manifest = _manifest(config, tokenizer, alphabet, sources, grouping, tallies)
    shutil.rmtree(scratch)
    # Loaders check these, so a damaged split or tokeniser is named, not half-read.
    names = [f"parquet/{split}.parquet" for split in SPLITS]
    manifest["files"] = file_digests(folder, [*names, f"{TOKENISER_FOLDER}/tokenizer.json"])
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _manifest(
    config: DatasetConfig,
    tokenizer: GenomeTokenizer,
    alphabet: Alphabet,
    sources: Sources,
    grouping: Grouping,
    tallies: dict[str, Tally],
) -> dict[str, Any]:
    """The dataset's manifest.json, without its file digests; warns of imbalance, truncation."""
    counts = {split: dict(sorted(tallies[split].labels.items())) for split in SPLITS}
    truncated = {split: tallies[split].truncated for split in SPLITS}
    _warn_about(sources.counts(), sum(truncated.values()), config.max_length)
    return {
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
            "foreign": tokenizer.foreign,  # a Hugging Face tokenizer: raw sequences as they are
            "digest": _tokeniser_digest(Path(config.tokeniser)),
        },
        "alphabet": alphabet.value,
        "label_names": sources.label_names,
        "source_sequences": sources.counts(),
        "rows": counts,
        "truncated_rows": truncated,
        "residues_per_row": {s: length_summary(tallies[s].residues) for s in SPLITS},
        "tokens_per_row": {s: length_summary(tallies[s].tokens) for s in SPLITS},
        "grouping": grouping.description,
        "seed": config.seed,
    }


def _record_splits(
    config: DatasetConfig,
    sources: Sources,
    grouping: Grouping,
    splits: np.ndarray,
    filled: np.ndarray,
) -> np.ndarray | None:
    """The split of each source record of grouped inputs (-1: its group gave no rows; None for
    one record per group); adds the count of source sequences per split to the grouping, and
    warns when clusters were too coarse for --split."""
    if grouping.index is None:  # a group per record: counted a block at a time
        held = None
        per_split = np.zeros(len(SPLITS), np.int64)
        for part in blocks(splits.size):
            per_split += np.bincount(splits[part][filled[part] > 0], minlength=len(SPLITS))
    else:
        groups = grouping.index
        held = np.where(filled[groups] > 0, splits[groups], -1) if groups.size else groups
        per_split = np.bincount(held[held >= 0], minlength=len(SPLITS))
    grouping.description["source_sequences"] = dict(zip(SPLITS, per_split.tolist(), strict=True))
    shares = per_split / max(len(sources.labels), 1)
    if grouping.description["method"] == "similarity" and any(
        abs(share - asked) > SHARE_TOLERANCE
        for share, asked in zip(shares, config.split, strict=True)
    ):
        log.warning(
            "the clusters are too large for exact shares: the splits hold %s of the source "
            "sequences (asked %s)",
            "/".join(f"{share:.0%}" for share in shares),
            "/".join(f"{asked:.0%}" for asked in config.split),
        )
    return held


def _write_clusters(
    folder: Path, sources: Sources, grouping: Grouping, record_splits: np.ndarray
) -> None:
    """``clusters.tsv`` (id, cluster, label, split of each source record) and mmseqs' log."""
    names = grouping.names or {}
    lines = ["id\tcluster\tlabel\tsplit"]
    for (record, label), split in zip(sources.records or [], record_splits, strict=True):
        held = SPLITS[split] if split >= 0 else "-"
        lines.append(f"{record.id}\t{names[record.id]}\t{label}\t{held}")
    (folder / CLUSTERS).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / CLUSTER_LOG).write_text(grouping.log, encoding="utf-8")


UNKNOWN_WARNING, UNKNOWN_ERROR = 0.05, 0.5  # shares of unknown tokens from a foreign tokenizer


def _check_unknown(train: Tally, source: str) -> None:
    """Warn when a foreign tokenizer made many unknown tokens of the train rows; refuse when
    it made mostly unknown ones (it expects other text, e.g. space-separated k-mers).

    Raises:
        InputError: half the tokens or more are unknown.
    """
    share = train.unknown / max(train.known, 1)
    if share >= UNKNOWN_ERROR:
        raise InputError(
            f"{source}: {share:.0%} of the train split's tokens are unknown to this tokenizer; "
            "it expects other text than raw sequences (DNABERT-1 style tokenizers take "
            "space-separated k-mers): build a genomeflow tokeniser (`genomeflow tokenise`) or "
            "use a tokenizer that reads raw sequences"
        )
    if share >= UNKNOWN_WARNING:
        log.warning("%s: %.1f%% of the train split's tokens are unknown", source, 100 * share)


def _tokeniser_digest(folder: Path) -> str | None:
    """The digest of a tokeniser's tokenizer.json (a foreign one may have vocab.txt only)."""
    path = folder / "tokenizer.json"
    return file_digest(path) if path.is_file() else None


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
