"""Grouped, stratified, seeded train/valid/test assignment of source sequences.

The unit of splitting is the group (the source sequence): its chunks and reverse complements
follow it into one split, so nothing of a sequence leaks between splits (the reference toolkit
split after augmentation and leaked reverse complements). Each class is shuffled and divided
on its own, so every split keeps the class proportions.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

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


def assign_splits(
    groups: Sequence[tuple[str, str]], proportions: Sequence[float], seed: int
) -> dict[str, str]:
    """Assign every group to a split, stratified by label.

    Args:
        groups: ``(group id, label)`` pairs, one per source sequence, in input order.
        proportions: train, valid and test shares (positive, summing to 1; DatasetConfig checks).
        seed: the shuffle seed; the same seed and groups give the same assignment.

    Returns:
        Group id -> split name.

    Raises:
        InputError: a split would be empty or hold a single class.
    """
    by_label: dict[str, list[str]] = defaultdict(list)
    for group, label in groups:
        by_label[label].append(group)
    if len(by_label) < 2:
        found = ", ".join(sorted(by_label)) or "none"
        raise InputError(
            f"a classifier needs at least two classes, found {len(by_label)} ({found}); give one "
            "FASTA file per class or a label table with several labels"
        )
    assignment: dict[str, str] = {}
    classes_in: dict[str, set[str]] = defaultdict(set)
    for label in sorted(by_label):
        members = by_label[label]
        random.Random(f"{seed}:{label}").shuffle(members)
        start = 0
        for split, count in zip(SPLITS, split_counts(len(members), proportions), strict=True):
            for group in members[start : start + count]:
                assignment[group] = split
            if count:
                classes_in[split].add(label)
            start += count
    for split in SPLITS:
        held = classes_in[split]
        if len(held) < 2:
            smallest = min(by_label, key=lambda label: len(by_label[label]))
            raise InputError(
                f"the {split} split would hold {len(held)} class(es) "
                f"({', '.join(sorted(held)) or 'none'}): class {smallest!r} has only "
                f"{len(by_label[smallest])} sequences; add sequences or change --split"
            )
    return assignment


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
