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
