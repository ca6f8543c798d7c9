"""Grouped, stratified, seeded train/valid/test assignment of source sequences.

The unit of splitting is the group (the source sequence): its chunks and reverse complements
follow it into one split, so nothing of a sequence leaks between splits (the reference toolkit
split after augmentation and leaked reverse complements). Each class is shuffled and divided
on its own, so every split keeps the class proportions.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter, defaultdict
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


def stratification_labels(groups: Sequence[tuple[str, str]]) -> tuple[dict[str, str], int]:
    """The label each group is stratified by, and how many groups hold several labels.

    A group of several sequences (a cluster of similar sequences) may mix labels; it goes
    where its majority label's groups go. Ties go to the class with fewer sequences overall
    (the one a split is likelier to lack), then to the label name.

    Args:
        groups: ``(group id, label)`` pairs, one per source sequence.

    Returns:
        Group id -> label, in order of first appearance, and the number of mixed groups.
    """
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    for group, label in groups:
        votes[group][label] += 1
    totals = Counter(label for _, label in groups)
    chosen = {
        group: min(counts, key=lambda label: (-counts[label], totals[label], label))
        for group, counts in votes.items()
    }
    return chosen, sum(len(counts) > 1 for counts in votes.values())


def assign_splits(
    groups: Sequence[tuple[str, str]], proportions: Sequence[float], seed: int
) -> dict[str, str]:
    """Assign every group to a split, stratified by label.

    Each class's groups are shuffled and laid end to end, each as long as its number of
    sequences; a group goes to the split its middle falls in, so the splits hold about
    ``proportions`` of the sequences. With one sequence per group this is an exact division.

    Args:
        groups: ``(group id, label)`` pairs, one per source sequence, in input order. A group
            id repeats when several sequences form one group (a cluster of similar
            sequences): it is assigned whole, under its majority label
            (:func:`stratification_labels`).
        proportions: train, valid and test shares (positive, summing to 1; DatasetConfig checks).
        seed: the shuffle seed; the same seed and groups give the same assignment.

    Returns:
        Group id -> split name.

    Raises:
        InputError: a split would be empty or hold a single class.
    """
    sources = Counter(label for _, label in groups)
    if len(sources) < 2:
        found = ", ".join(sorted(sources)) or "none"
        raise InputError(
            f"a classifier needs at least two classes, found {len(sources)} ({found}); give one "
            "FASTA file per class or a label table with several labels"
        )
    sizes = Counter(group for group, _ in groups)
    stratum, _ = stratification_labels(groups)
    by_label: dict[str, list[str]] = defaultdict(list)
    for group, label in stratum.items():
        by_label[label].append(group)
    assignment: dict[str, str] = {}
    for label in sorted(by_label):
        members = by_label[label]
        random.Random(f"{seed}:{label}").shuffle(members)
        counts = split_counts(sum(sizes[group] for group in members), proportions)
        ends = list(itertools.accumulate(counts))
        position = 0
        for group in members:
            middle = position + sizes[group] / 2
            index = next((i for i, end in enumerate(ends) if middle < end), len(SPLITS) - 1)
            assignment[group] = SPLITS[index]
            position += sizes[group]
    classes_in: dict[str, set[str]] = defaultdict(set)
    for group, label in groups:
        classes_in[assignment[group]].add(label)
    for split in SPLITS:
        held = classes_in[split]
        if len(held) < 2:
            smallest = min(sources, key=lambda label: (sources[label], label))
            clustered = len(sizes) < len(groups)
            units = len(by_label.get(smallest, []))
            raise InputError(
                f"the {split} split would hold {len(held)} class(es) "
                f"({', '.join(sorted(held)) or 'none'}): class {smallest!r} has only "
                f"{sources[smallest]} sequences"
                + (f" in {units} groups of similar sequences" if clustered else "")
                + "; add sequences or change --split"
                + (" (or lower the grouping: --group-by, --min-identity)" if clustered else "")
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
