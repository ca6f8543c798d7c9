"""Motif summary: which k-mers carry a class's attribution, and are they enriched over controls?

Every k-mer occurrence in the attributed sequences scores the sum of its residues' attributions.
Per k-mer: occurrences, mean and total attribution, and the log2 enrichment of its frequency in
the sequences over k-let-shuffled controls of the same sequences (genomeflow.sequence.controls;
the shuffles keep (k-1)-mer composition, so enrichment measures order, not composition).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genomeflow.interpret.attributions import SequenceAttribution
from genomeflow.sequence.controls import kmer_shuffle


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
    min_occurrences: int = 3,
    shuffle_k: int = 2,
    seed: int = 42,
) -> Any:
    """The ``top`` k-mers by mean attribution (at least ``min_occurrences``), with enrichment.

    Returns:
        DataFrame: kmer, occurrences, mean_attribution, total_attribution,
        control_occurrences, log2_enrichment (pseudo-count 1 on both sides).
    """
    import pandas as pd

    scores: dict[str, list[float]] = defaultdict(list)
    for item in items:
        text = item.sequence.upper()
        window = np.convolve(item.residue_scores, np.ones(k), mode="valid")  # sum over k
        for start, value in enumerate(window):
            scores[text[start : start + k]].append(float(value))
    controls = [kmer_shuffle(item.sequence, shuffle_k, seed + i) for i, item in enumerate(items)]
    counts, positions = kmer_counts([item.sequence for item in items], k)
    control_counts, control_positions = kmer_counts(controls, k)
    rows = [
        {
            "kmer": kmer,
            "occurrences": len(values),
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
        if len(values) >= min_occurrences
    ]
    columns = [
        "kmer",
        "occurrences",
        "mean_attribution",
        "total_attribution",
        "control_occurrences",
        "log2_enrichment",
    ]
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values("mean_attribution", ascending=False).head(top).reset_index(drop=True)


def plot_motifs(table: Any, path: Path, title: str) -> None:
    """Horizontal bars of mean attribution per k-mer, annotated with log2 enrichment."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 0.3 * len(table) + 1.5), layout="constrained")
    axes = figure.subplots()
    order = table.iloc[::-1]
    axes.barh(order["kmer"], order["mean_attribution"], color="#008c3c")
    for y, (value, enrichment) in enumerate(
        zip(order["mean_attribution"], order["log2_enrichment"], strict=True)
    ):
        axes.text(value, y, f"  log2 enr. {enrichment:+.2f}", va="center", fontsize=7)
    axes.set_yticks(range(len(order)))
    axes.set_yticklabels(order["kmer"], family="monospace")
    axes.set(xlabel="mean attribution of an occurrence", title=title)
    figure.savefig(path, dpi=120)
