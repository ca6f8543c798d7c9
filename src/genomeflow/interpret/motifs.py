"""K-mer summary: which k-mers carry a class's attribution, and are they enriched over controls?

A quick table beside the TF-MoDISco motifs (genomeflow.interpret.discovery). Every k-mer
occurrence in the attributed sequences scores the sum of its residues' attributions. Per k-mer:
occurrences, the sequences it occurs in, mean and total attribution, and the log2 enrichment of
its frequency in the sequences over k-let-shuffled controls of the same sequences
(genomeflow.sequence.controls; the shuffles keep (k-1)-mer composition, so enrichment measures
order, not composition).

Ranking. A mean over 3 occurrences is mostly noise, yet it topped the table (the demo's AAAAAA,
3 occurrences). So a k-mer must occur in at least ``min_support`` sequences to be listed, and the
table is ranked by a shrunken mean: total attribution / (occurrences + SHRINK_OCCURRENCES), the
mean pulled towards 0 ("no effect") as if SHRINK_OCCURRENCES occurrences of zero attribution
were added. A k-mer seen far more often than that keeps about its mean; a rare one ranks by its
total attribution mass instead. One number, no distributional assumption (a confidence bound of
the mean needs a spread, which 3-5 near-identical occurrences underestimate).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genomeflow.interpret.attributions import SequenceAttribution
from genomeflow.sequence.controls import kmer_shuffle

# Pseudo-occurrences of zero attribution in the shrunken mean: a k-mer needs several times this
# many occurrences before its ranking score approaches its mean.
SHRINK_OCCURRENCES = 20


def kmer_counts(sequences: Sequence[str], k: int) -> tuple[dict[str, int], int]:
    """Occurrences of every k-mer (upper case) and the number of k-mer positions."""
    counts: dict[str, int] = defaultdict(int)
    positions = 0
    for sequence in sequences:
        text = sequence.upper()
        for start in range(len(text) - k + 1):
            counts[text[start : start + k]] += 1
        positions += max(0, len(text) - k + 1)
    return counts, positions


def motif_table(
    items: Sequence[SequenceAttribution],
    k: int = 6,
    top: int = 20,
    min_support: int = 5,
    shuffle_k: int = 2,
    seed: int = 42,
) -> Any:
    """The ``top`` k-mers by shrunken mean attribution among those in at least ``min_support``
    sequences, with enrichment.

    Returns:
        DataFrame: kmer, occurrences, sequences, shrunken_mean, mean_attribution,
        total_attribution, control_occurrences, log2_enrichment (pseudo-count 1 on both sides).
    """
    import pandas as pd

    scores: dict[str, list[float]] = defaultdict(list)
    support: dict[str, set[int]] = defaultdict(set)
    for index, item in enumerate(items):
        text = item.sequence.upper()
        window = np.convolve(item.residue_scores, np.ones(k), mode="valid")  # sum over k
        for start, value in enumerate(window):
            kmer = text[start : start + k]
            scores[kmer].append(float(value))
            support[kmer].add(index)
    controls = [kmer_shuffle(item.sequence, shuffle_k, seed + i) for i, item in enumerate(items)]
    counts, positions = kmer_counts([item.sequence for item in items], k)
    control_counts, control_positions = kmer_counts(controls, k)
    rows = [
        {
            "kmer": kmer,
            "occurrences": len(values),
            "sequences": len(support[kmer]),
            "shrunken_mean": float(np.sum(values)) / (len(values) + SHRINK_OCCURRENCES),
            "mean_attribution": float(np.mean(values)),
            "total_attribution": float(np.sum(values)),
            "control_occurrences": control_counts.get(kmer, 0),
            "log2_enrichment": float(
                np.log2(
                    ((counts[kmer] + 1) / max(positions, 1))
                    / ((control_counts.get(kmer, 0) + 1) / max(control_positions, 1))
                )
            ),
        }
        for kmer, values in scores.items()
        if len(support[kmer]) >= min_support
    ]
    columns = [
        "kmer",
        "occurrences",
        "sequences",
        "shrunken_mean",
        "mean_attribution",
        "total_attribution",
        "control_occurrences",
        "log2_enrichment",
    ]
    table = pd.DataFrame(rows, columns=columns)
    table = table.sort_values(["shrunken_mean", "kmer"], ascending=[False, True])
    return table.head(top).reset_index(drop=True)


def plot_motifs(table: Any, path: Path, title: str) -> None:
    """Horizontal bars of the shrunken mean attribution per k-mer, annotated with the number of
    occurrences and log2 enrichment."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 0.3 * len(table) + 1.5), layout="constrained")
    axes = figure.subplots()
    order = table.iloc[::-1]
    axes.barh(order["kmer"], order["shrunken_mean"], color="#008c3c")
    for y, (value, count, enrichment) in enumerate(
        zip(order["shrunken_mean"], order["occurrences"], order["log2_enrichment"], strict=True)
    ):
        axes.text(value, y, f"  n={count}, log2 enr. {enrichment:+.2f}", va="center", fontsize=7)
    axes.set_yticks(range(len(order)))
    axes.set_yticklabels(order["kmer"], family="monospace")
    axes.set(
        xlabel=f"shrunken mean attribution (total / (occurrences + {SHRINK_OCCURRENCES}))",
        title=title,
    )
    figure.savefig(path, dpi=120)
