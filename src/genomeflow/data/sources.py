"""The dataset stage's first pass: what it keeps of the source sequences (a label and an id
hash each, not the residues) and how it groups them for the split (record ids, or MMseqs2
clusters of similar sequences)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from genomeflow.config import DatasetConfig
from genomeflow.data import columns
from genomeflow.data.columns import Column, blocks, count_values, has_repeats
from genomeflow.data.similarity import cluster_records, default_identity
from genomeflow.data.split import group_strata
from genomeflow.errors import ConfigError, InputError
from genomeflow.io.labels import label_from_path, labelled_records
from genomeflow.io.sequences import SequenceRecord
from genomeflow.io.text import TextColumns, class_name, table_format
from genomeflow.sequence.alphabet import Alphabet

log = logging.getLogger(__name__)

CLUSTERS = "clusters.tsv"  # --group-by similarity: id, cluster, label, split of each record
CLUSTER_LOG = "mmseqs.log"  # --group-by similarity: MMseqs2's own output


@dataclass
class Sources:
    """What the first pass keeps of the source sequences, in input order.

    Attributes:
        label_names: the class names (file order, or sorted labels of a label table).
        labels: the label (index into ``label_names``) of each source sequence (uint16, mapped
            from the scratch folder when one is given).
        ids: the record ids, kept only when a group can hold several sequences (duplicate ids
            allowed, or --group-by similarity).
        records: the records with their labels, kept only for MMseqs2 clustering.
    """

    label_names: list[str]
    labels: np.ndarray
    ids: list[str] | None = None
    records: list[tuple[SequenceRecord, str]] | None = None

    def counts(self) -> dict[str, int]:
        """Source sequences per label, by label name."""
        totals = count_values(self.labels, len(self.label_names))
        return dict(sorted(zip(self.label_names, totals.tolist(), strict=True)))


@dataclass(frozen=True)
class Grouping:
    """How source records are grouped for the split.

    Attributes:
        names: record id -> group id (its cluster's first record id); None: a record's group
            is its own id.
        index: the group number of each source sequence (numbered by first appearance); None:
            every sequence is a group of its own.
        description: the manifest's ``grouping`` entry.
        log: MMseqs2's output, for --group-by similarity.
    """

    names: dict[str, str] | None
    index: np.ndarray | None
    description: dict[str, Any]
    log: str = ""


def grouping_method(config: DatasetConfig, alphabet: Alphabet) -> str:
    """``id`` or ``similarity``: ``auto`` clusters protein and groups DNA/RNA by record id."""
    if config.group_by != "auto":
        return config.group_by
    return "similarity" if alphabet is Alphabet.PROTEIN else "id"


def labelled(config: DatasetConfig, check_ids: bool = False):
    """The labelled records, streamed; ids are checked for repeats only when asked (the first
    pass checks them in a few bytes each, :func:`_check_unique_ids`)."""
    allow = config.allow_duplicate_ids or not check_ids
    columns = TextColumns(config.text_column or "text", config.label_column or "label")
    return labelled_records(
        config.inputs, config.label_table, config.labels, config.alphabet, allow, columns
    )


def read_sources(config: DatasetConfig, method: str, scratch: Path | None = None) -> Sources:
    """The first pass: label (and, where groups need them, id) of every source sequence.

    The labels and id hashes go to files in ``scratch`` (genomeflow.data.columns): a few bytes
    a record on disk, not in memory. None keeps them in memory (small inputs, tests).
    """
    codes: dict[str, int] = {}
    place = (lambda name: scratch / name) if scratch is not None else (lambda name: None)
    labels = Column(place("labels.u16"), "H")
    hashes = Column(place("id_hashes.i64"), "q")
    keep_ids = method == "similarity" or config.allow_duplicate_ids
    ids: list[str] | None = [] if keep_ids else None
    records: list[tuple[SequenceRecord, str]] | None = [] if method == "similarity" else None
    stream = tqdm(labelled(config), desc="reading", unit="seq", unit_scale=True, disable=None)
    for record, label in stream:
        code = codes.setdefault(label, len(codes))
        if code > MAX_LABELS:
            raise InputError(
                f"{record.id}: label {label!r} is the {code + 1}th; a dataset holds at most "
                f"{MAX_LABELS + 1} labels; check the label table's label column"
            )
        labels.append(code)
        hashes.append(columns.id_hash(record.id))
        if ids is not None:
            ids.append(record.id)
        if records is not None:
            records.append((record, label))
    if not config.allow_duplicate_ids:
        _check_unique_ids(config, hashes.mapped())
    hashes.discard()
    if config.alphabet is Alphabet.TEXT and table_format(config.inputs[0]) is not None:
        label_names = sorted(codes)  # a table's labels, as a label table's
    elif config.label_table is None:
        name = class_name if config.alphabet is Alphabet.TEXT else label_from_path
        label_names = list(config.labels or [name(p) for p in config.inputs])
    else:
        label_names = sorted(codes)
    coded = labels.mapped()
    recode = np.array([label_names.index(name) for name in codes] or [0], dtype=np.uint16)
    for part in blocks(coded.size):  # codes in first-seen order -> label_names order
        coded[part] = recode[coded[part]]
    return Sources(label_names, coded, ids, records)


MAX_LABELS = 2**16 - 1  # label codes are uint16


def _check_unique_ids(config: DatasetConfig, hashes: np.ndarray) -> None:
    """Raise the reader's own error for a repeated id, from the id hashes: when two are equal,
    the files are read again with the exact check, which names the record and the file (or
    finds no repeat at all)."""
    if has_repeats(hashes):
        for _ in labelled(config, check_ids=True):
            pass


def group_records(config: DatasetConfig, sources: Sources, alphabet: Alphabet) -> Grouping:
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
        index = _numbered(sources.ids) if sources.ids is not None else None
        return Grouping(None, index, {"method": "id", "requested": config.group_by})
    identity = default_identity(alphabet) if config.min_identity is None else config.min_identity
    reason = (
        "--group-by similarity"
        if config.group_by == "similarity"
        else f"grouping {alphabet.value} by similarity (the default, --group-by auto)"
    )
    records = [record for record, _ in sources.records or []]
    clustering = cluster_records(records, alphabet, identity, config.coverage, reason=reason)
    names = clustering.clusters
    index = _numbered(names[record.id] for record in records)
    _, mixed = group_strata(sources.labels, sources.label_names, index)
    sizes = Counter(names.values())
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
    return Grouping(names, index, description, clustering.log)


def _numbered(names) -> np.ndarray:
    """Group numbers of a stream of group names, numbered by first appearance."""
    number: dict[str, int] = {}
    return np.fromiter((number.setdefault(name, len(number)) for name in names), np.int64)
