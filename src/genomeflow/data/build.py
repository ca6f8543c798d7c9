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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from genomeflow import __version__
from genomeflow.config import DatasetConfig
from genomeflow.data.similarity import cluster_records, default_identity
from genomeflow.data.split import SPLITS, assign_splits, stratification_labels
from genomeflow.errors import ConfigError, InputError
from genomeflow.io.files import file_digests
from genomeflow.io.labels import label_from_path, labelled_records
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
ENCODE_BATCH = 1024  # sequences per tokeniser call
CLUSTERS = "clusters.tsv"  # --group-by similarity: id, cluster, label, split of each record
CLUSTER_LOG = "mmseqs.log"  # --group-by similarity: MMseqs2's own output
SHARE_TOLERANCE = 0.05  # split share of source sequences off --split by more: a warning


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


@dataclass(frozen=True)
class Grouping:
    """How source records are grouped for the split.

    Attributes:
        groups: record id -> group id (the record id itself, or its cluster's first record id).
        description: the manifest's ``grouping`` entry.
        log: MMseqs2's output, for --group-by similarity.
    """

    groups: dict[str, str]
    description: dict[str, Any]
    log: str = ""


def grouping_method(config: DatasetConfig, alphabet: Alphabet) -> str:
    """``id`` or ``similarity``: ``auto`` clusters protein and groups DNA/RNA by record id."""
    if config.group_by != "auto":
        return config.group_by
    return "similarity" if alphabet is Alphabet.PROTEIN else "id"


def group_records(
    config: DatasetConfig, records: list[tuple[SequenceRecord, str]], alphabet: Alphabet
) -> Grouping:
    """Group the source records as ``--group-by`` says (clustering them with MMseqs2 for
    ``similarity``).

    Raises:
        ConfigError: --min-identity with records grouped by id.
        ClusteringError: MMseqs2 is missing, failed or ran past its deadline.
    """
    method = grouping_method(config, alphabet)
    if method == "id":
        if config.min_identity is not None:
            raise ConfigError(
                f"--min-identity applies to --group-by similarity, but {alphabet.value} records "
                f"are grouped by {'id' if config.group_by == 'id' else 'id by default'}; pass "
                "--group-by similarity"
            )
        groups = {record.id: record.id for record, _ in records}
        return Grouping(groups, {"method": "id", "requested": config.group_by})
    identity = default_identity(alphabet) if config.min_identity is None else config.min_identity
    reason = (
        "--group-by similarity"
        if config.group_by == "similarity"
        else f"grouping {alphabet.value} by similarity (the default, --group-by auto)"
    )
    clustering = cluster_records(
        [record for record, _ in records], alphabet, identity, config.coverage, reason=reason
    )
    groups = clustering.clusters
    _, mixed = stratification_labels([(groups[record.id], label) for record, label in records])
    sizes = Counter(groups.values())
    log.info("MMseqs2 clustered %d records in %.1f s", len(records), clustering.seconds)
    if mixed:
        log.warning(
            "%d of %d clusters hold records of several labels; each goes to one split whole, "
            "stratified by its majority label",
            mixed,
            clustering.count,
        )
    description = {
        "method": "similarity",
        "requested": config.group_by,
        "tool": clustering.tool,
        "min_identity": identity,
        "coverage": config.coverage,
        "coverage_of": "both sequences (mmseqs --cov-mode 0)",
        "clusters": clustering.count,
        "singleton_clusters": sum(size == 1 for size in sizes.values()),
        "largest_cluster": max(sizes.values(), default=0),
        "mixed_label_clusters": mixed,
        "stratified_by": "each cluster's majority label",
        "file": CLUSTERS,
        "log": CLUSTER_LOG,
    }
    return Grouping(groups, description, clustering.log)


def _windows(config: DatasetConfig, record: SequenceRecord) -> list[tuple[str, str]]:
    """``(row id, residues)`` of a record: whole, or chunked as configured."""
    if not config.chunk_size:
        return [(record.id, record.sequence)]
    stride = config.chunk_size - config.chunk_overlap
    shortest = config.min_chunk_length or max(1, config.chunk_size // 2)
    chunks = chunk_sequence(record.id, record.sequence, config.chunk_size, stride, shortest)
    return [(chunk.id, chunk.sequence) for chunk in chunks]


def split_rows(
    config: DatasetConfig,
    records: list[tuple[SequenceRecord, str]],
    alphabet: Alphabet,
    groups: Mapping[str, str] | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Assign source sequences to splits, then chunk and augment (train only).

    ``groups`` maps record id -> group id (the ``group`` column); a group goes to one split
    whole. Without it each record is its own group.
    """
    group_of = groups.__getitem__ if groups is not None else str
    assignment = assign_splits(
        [(group_of(r.id), label) for r, label in records], config.split, config.seed
    )
    augment = (
        alphabet.is_nucleic if config.reverse_complement is None else config.reverse_complement
    )
    rows: dict[str, list[dict[str, str]]] = {split: [] for split in SPLITS}
    for record, label in records:
        group = group_of(record.id)
        split = assignment[group]
        for row_id, residues in _windows(config, record):
            row = {"id": row_id, "group": group, "sequence": residues, "label": label}
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
    check_writable(config.output)
    tokenizer = GenomeTokenizer.load(config.tokeniser)
    alphabet = matching_alphabet(
        config.inputs[0],
        config.alphabet,
        # a foreign (Hugging Face) tokenizer whose vocabulary does not say: the input's
        tokenizer.known_alphabet or SequenceFile(config.inputs[0], config.alphabet).alphabet,
        f"the tokeniser {config.tokeniser}",
        config.reverse_complement,
    )
    tokenizer.metadata["alphabet"] = alphabet.value  # the dataset's copy records it
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
    grouping = group_records(config, records, alphabet)
    rows = split_rows(config, records, alphabet, grouping.groups)
    record_splits = _record_splits(config, records, grouping, rows)
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
    if tokenizer.foreign:
        _check_unknown(tokenizer, splits["train"]["input_ids"], config.tokeniser)

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
            "foreign": tokenizer.foreign,  # a Hugging Face tokenizer: raw sequences as they are
            "digest": _tokeniser_digest(Path(config.tokeniser)),
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
        "grouping": grouping.description,
        "seed": config.seed,
    }
    with atomic_directory(config.output) as folder:
        dataset.save_to_disk(str(folder))
        (folder / TOKENISER_FOLDER).mkdir()
        tokenizer.save(folder / TOKENISER_FOLDER)
        if grouping.description["method"] == "similarity":
            _write_clusters(folder, records, grouping, record_splits)
        (folder / "parquet").mkdir()
        for split in SPLITS:
            dataset[split].to_parquet(str(folder / "parquet" / f"{split}.parquet"))
        # Loaders check these, so a damaged split or tokeniser is named, not half-read.
        names = [f"parquet/{split}.parquet" for split in SPLITS]
        manifest["files"] = file_digests(folder, [*names, f"{TOKENISER_FOLDER}/tokenizer.json"])
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return DatasetSummary(
        str(config.output), label_names, counts, sum(truncated.values()), grouping.description
    )


def _record_splits(
    config: DatasetConfig,
    records: list[tuple[SequenceRecord, str]],
    grouping: Grouping,
    rows: dict[str, list[dict[str, str]]],
) -> list[str]:
    """The split of each source record ('-': no rows); adds the count of source sequences per
    split to the grouping, and warns when clusters were too coarse to meet --split."""
    split_of = {row["group"]: split for split in SPLITS for row in rows[split]}
    splits = [split_of.get(grouping.groups[record.id], "-") for record, _ in records]
    held = Counter(splits)
    grouping.description["source_sequences"] = {split: held[split] for split in SPLITS}
    shares = [held[split] / max(len(records), 1) for split in SPLITS]
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
    return splits


def _write_clusters(
    folder: Path,
    records: list[tuple[SequenceRecord, str]],
    grouping: Grouping,
    record_splits: list[str],
) -> None:
    """``clusters.tsv`` (id, cluster, label, split of each source record) and mmseqs' log."""
    lines = ["id\tcluster\tlabel\tsplit"]
    for (record, label), split in zip(records, record_splits, strict=True):
        lines.append(f"{record.id}\t{grouping.groups[record.id]}\t{label}\t{split}")
    (folder / CLUSTERS).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / CLUSTER_LOG).write_text(grouping.log, encoding="utf-8")


UNKNOWN_WARNING, UNKNOWN_ERROR = 0.05, 0.5  # shares of unknown tokens from a foreign tokenizer


def _check_unknown(tokenizer: GenomeTokenizer, rows: list[list[int]], source: str) -> None:
    """Warn when a foreign tokenizer makes many unknown tokens of the train rows; refuse when
    it makes mostly unknown ones (it expects other text, e.g. space-separated k-mers).

    Raises:
        InputError: half the tokens or more are unknown.
    """
    unknown = tokenizer.hf.unk_token_id
    specials = set(tokenizer.hf.all_special_ids) - {unknown}
    tokens = [token for row in rows for token in row if token not in specials]
    share = sum(token == unknown for token in tokens) / max(len(tokens), 1)
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
