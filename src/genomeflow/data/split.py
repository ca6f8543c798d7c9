"""Grouped, stratified, seeded train/valid/test assignment of source sequences.

The unit of splitting is the group (the source sequence): its chunks and reverse complements
follow it into one split, so nothing of a sequence leaks between splits (the reference toolkit
split after augmentation and leaked reverse complements). Each class is shuffled and divided
on its own, so every split keeps the class proportions.
"""

from __future__ import annotations

import random
from array import array
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genomeflow.data.columns import blocks, count_values, scratch_array
from genomeflow.errors import InputError

SPLITS = ("train", "valid", "test")


def split_counts(total: int, proportions: Sequence[float]) -> list[int]:
    """Divide ``total`` items by ``proportions`` (largest remainder, ties to earlier splits)."""
    exact = [total * p for p in proportions]
    counts = [int(x) for x in exact]
    order = sorted(range(len(exact)), key=lambda i: (counts[i] - exact[i], i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def group_strata(
    labels: np.ndarray, label_names: Sequence[str], groups: np.ndarray | None = None
) -> tuple[np.ndarray, int]:
    """The label each group is stratified by, and how many groups hold several labels.

    A group of several sequences (a cluster of similar sequences) may mix labels; it goes
    where its majority label's groups go. Ties go to the class with fewer sequences overall
    (the one a split is likelier to lack), then to the label name.

    Args:
        labels: the label (index into ``label_names``) of each source sequence, in input order.
        label_names: the class names, which break the last ties.
        groups: the group index of each source sequence, groups numbered 0, 1, ... by first
            appearance; None when every sequence is a group of its own.

    Returns:
        The label index of each group, and the number of groups of mixed labels.
    """
    if groups is None:
        return labels, 0
    classes = len(label_names)
    totals = np.bincount(labels, minlength=classes)
    rank = np.argsort(np.argsort(np.asarray(label_names, dtype=object)))  # name order
    pairs, votes = np.unique(groups.astype(np.int64) * classes + labels, return_counts=True)
    group, label = pairs // classes, pairs % classes
    # Per group: most votes, then the rarer class overall, then the first name.
    order = np.lexsort((rank[label], totals[label], -votes, group))
    first = np.ones(order.size, dtype=bool)
    first[1:] = group[order][1:] != group[order][:-1]
    strata = np.empty(int(group.max()) + 1 if group.size else 0, dtype=np.int64)
    strata[group[order][first]] = label[order][first]
    return strata, int(np.count_nonzero(np.bincount(group) > 1))  # a pair per (group, label)


def assign_groups(
    labels: np.ndarray,
    label_names: Sequence[str],
    proportions: Sequence[float],
    seed: int,
    groups: np.ndarray | None = None,
    scratch: Path | None = None,
) -> np.ndarray:
    """Assign every group to a split, stratified by label.

    Each class's groups are shuffled and laid end to end, each as long as its number of
    sequences; a group goes to the split its middle falls in, so the splits hold about
    ``proportions`` of the sequences. With one sequence per group this is an exact division.
    No ids are held: this is what lets the dataset stage stream.

    Args:
        labels: the label (index into ``label_names``) of each source sequence, in input order.
        label_names: the class names; each class's shuffle is seeded by ``seed`` and its name.
        proportions: train, valid and test shares (positive, summing to 1; DatasetConfig checks).
        seed: the shuffle seed; the same seed and groups give the same assignment.
        groups: the group index of each source sequence (numbered by first appearance); a group
            goes to one split whole, under its majority label (:func:`group_strata`). None:
            every sequence is its own group.
        scratch: a folder for the per-sequence arrays when every sequence is its own group
            (genomeflow.data.columns: mapped files, not memory); None keeps them in memory.

    Returns:
        The split (index into :data:`SPLITS`) of each group, as int8.

    Raises:
        InputError: a split would be empty or hold a single class.
    """
    counts = count_values(labels, len(label_names)).tolist()
    sources = {name: n for name, n in zip(label_names, counts, strict=True) if n}
    if len(sources) < 2:
        found = ", ".join(sorted(sources)) or "none"
        raise InputError(
            f"a classifier needs at least two classes, found {len(sources)} ({found}); give "
            "one FASTA file per class or a label table with several labels"
        )
    if groups is None:
        assignment = _assign_sequences(labels, label_names, proportions, seed, counts, scratch)
        held, units = assignment, counts
    else:
        labels = np.asarray(labels, dtype=np.int64)  # grouped inputs hold their ids anyway
        strata, _ = group_strata(labels, label_names, groups)
        assignment = _assign_grouped(strata, label_names, proportions, seed, np.bincount(groups))
        held, units = assignment[groups], np.bincount(strata, minlength=len(label_names)).tolist()
    seen = np.zeros(len(SPLITS) * len(label_names), np.int64)
    for part in blocks(labels.size):
        pairs = held[part].astype(np.int64) * len(label_names) + labels[part]
        seen += np.bincount(pairs, minlength=seen.size)
    for index, split in enumerate(SPLITS):
        classes = np.flatnonzero(seen.reshape(len(SPLITS), -1)[index])
        if classes.size < 2:
            names = ", ".join(sorted(label_names[c] for c in classes)) or "none"
            smallest = min(sources, key=lambda name: (sources[name], name))
            clustered = groups is not None and int(groups.max()) + 1 < labels.size
            raise InputError(
                f"the {split} split would hold {classes.size} class(es) ({names}): class "
                f"{smallest!r} has only {sources[smallest]} sequences"
                + (
                    f" in {units[label_names.index(smallest)]} groups of similar sequences"
                    if clustered
                    else ""
                )
                + "; add sequences or change --split"
                + (" (or lower the grouping: --group-by, --min-identity)" if clustered else "")
            )
    return assignment


def _assign_sequences(
    labels: np.ndarray,
    label_names: Sequence[str],
    proportions: Sequence[float],
    seed: int,
    counts: list[int],
    scratch: Path | None,
) -> np.ndarray:
    """:func:`assign_groups` of one sequence per group: each class's shuffled sequence numbers
    divided by :func:`split_counts`, a block at a time."""
    place = (lambda name: scratch / name) if scratch is not None else (lambda name: None)
    assignment = scratch_array(place("splits.i8"), np.int8, labels.size)
    for name in sorted(label_names):
        code = label_names.index(name)
        members = scratch_array(place(f"members_{code}.i64"), np.int64, counts[code])
        filled = 0
        for part in blocks(labels.size):
            found = np.flatnonzero(labels[part] == code) + part.start
            members[filled : filled + found.size] = found
            filled += found.size
        # random.shuffle's permutation depends on the length only: shuffling sequence numbers
        # moves them exactly as shuffling the ids would.
        random.Random(f"{seed}:{name}").shuffle(members)
        start = 0
        for split, count in enumerate(split_counts(counts[code], proportions)):
            for part in blocks(count):
                assignment[members[start + part.start : start + part.stop]] = split
            start += count
        del members
        if scratch is not None:
            place(f"members_{code}.i64").unlink(missing_ok=True)
    return assignment


def _assign_grouped(
    strata: np.ndarray,
    label_names: Sequence[str],
    proportions: Sequence[float],
    seed: int,
    sizes: np.ndarray,
) -> np.ndarray:
    """:func:`assign_groups` of groups of ``sizes`` sequences: a group goes to the split its
    middle falls in."""
    assignment = np.empty(strata.size, dtype=np.int8)
    for name in sorted(label_names):
        members = array("q", np.flatnonzero(strata == label_names.index(name)).tobytes())
        random.Random(f"{seed}:{name}").shuffle(members)
        order = np.frombuffer(members, dtype=np.int64)
        ends = np.cumsum(split_counts(int(sizes[order].sum()), proportions))
        middles = np.cumsum(sizes[order]) - sizes[order] / 2
        assignment[order] = np.minimum(np.searchsorted(ends, middles, "right"), len(SPLITS) - 1)
    return assignment


def _coded(groups: Sequence[tuple[str, str]]) -> tuple[np.ndarray, list[str], np.ndarray, list]:
    """``(group id, label)`` pairs as label codes, names, group indices and group ids."""
    label_names = sorted({label for _, label in groups})
    label_code = {name: code for code, name in enumerate(label_names)}
    group_index: dict[str, int] = {}
    for group, _ in groups:
        group_index.setdefault(group, len(group_index))
    labels = np.fromiter((label_code[label] for _, label in groups), np.int64, len(groups))
    indices = np.fromiter((group_index[group] for group, _ in groups), np.int64, len(groups))
    return labels, label_names, indices, list(group_index)


def stratification_labels(groups: Sequence[tuple[str, str]]) -> tuple[dict[str, str], int]:
    """:func:`group_strata` of ``(group id, label)`` pairs: group id -> label, mixed groups."""
    labels, label_names, indices, ids = _coded(groups)
    strata, mixed = group_strata(labels, label_names, indices)
    return {group: label_names[code] for group, code in zip(ids, strata, strict=True)}, mixed


def assign_splits(
    groups: Sequence[tuple[str, str]], proportions: Sequence[float], seed: int
) -> dict[str, str]:
    """:func:`assign_groups` of ``(group id, label)`` pairs, one per source sequence (a group
    id repeats for a group of several): group id -> split name."""
    labels, label_names, indices, ids = _coded(groups)
    splits = assign_groups(labels, label_names, proportions, seed, indices)
    return {group: SPLITS[split] for group, split in zip(ids, splits, strict=True)}


def grouped_folds(
    labels: Sequence[int], groups: Sequence[str], folds: int, seed: int
) -> list[tuple[list[int], list[int]]]:
    """Stratified, grouped k-fold: ``(train rows, held-out rows)`` index lists per fold.

    All rows of a group (chunks, reverse complements) fall in one fold, so a held-out fold
    never shares a source sequence with its training rows.

    Raises:
        InputError: fewer groups of some class than folds.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    first_label: dict[str, int] = {}
    for group, label in zip(groups, labels, strict=True):
        first_label.setdefault(group, label)
    per_class: dict[int, int] = defaultdict(int)
    for label in first_label.values():
        per_class[label] += 1
    rarest = min(per_class, key=per_class.__getitem__)
    if per_class[rarest] < folds:
        raise InputError(
            f"class #{rarest} has {per_class[rarest]} source sequences, fewer than the {folds} "
            "cross-validation folds; lower --folds or add sequences"
        )
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    rows = [0] * len(labels)  # features are not needed to assign folds
    return [
        (train.tolist(), held_out.tolist())
        for train, held_out in splitter.split(rows, list(labels), list(groups))
    ]
