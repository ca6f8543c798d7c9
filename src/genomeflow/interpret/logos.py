"""Sequence logos (logomaker): a discovered motif beside its best database match.

Each motif gets one PNG of three logos: its contribution weight matrix (the attribution the model
gives each letter, in attribution units; letters below the line push away from the class), its
letter frequencies and its best match's, both as information content (bits: 2 is one certain
base). The match is drawn on the strand TOMTOM aligned it (reverse-complemented for '-').
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genomeflow.interpret.discovery import DiscoveredMotif
from genomeflow.interpret.naming import Match

COMPLEMENT_ORDER = [3, 2, 1, 0]  # ACGT -> TGCA: a reverse complement reverses the columns too


def information(matrix: np.ndarray) -> np.ndarray:
    """Frequencies as letter heights in bits: frequency x (log2(letters) - entropy)."""
    safe = np.clip(matrix, 1e-9, 1.0)
    entropy = -(safe * np.log2(safe)).sum(axis=1, keepdims=True)
    return matrix * (np.log2(matrix.shape[1]) - entropy)


def _logo(axes: object, values: np.ndarray, letters: str, title: str, ylabel: str) -> None:
    import logomaker
    import pandas as pd

    frame = pd.DataFrame(values, columns=list(letters))
    logomaker.Logo(frame, ax=axes, color_scheme="classic" if len(letters) == 4 else "chemistry")
    axes.set_title(title, fontsize=9)  # type: ignore[attr-defined]
    axes.set_ylabel(ylabel, fontsize=8)  # type: ignore[attr-defined]
    axes.axhline(0, color="#555555", linewidth=0.5)  # type: ignore[attr-defined]


def draw_motif(found: DiscoveredMotif, match: Match | None, path: Path) -> None:
    """Write ``path`` (PNG): CWM, PFM and (when given) the best match's logo, side by side."""
    import matplotlib

    matplotlib.use("Agg")  # logomaker imports pyplot: reports are files, never windows
    from matplotlib.figure import Figure

    motif = found.motif
    panels = 3 if match is not None else 2
    widths = [motif.width, motif.width] + ([match.target.width] if match is not None else [])
    figure = Figure(figsize=(min(18.0, 2.0 + 0.35 * sum(widths)), 2.4), layout="constrained")
    axes = figure.subplots(1, panels, gridspec_kw={"width_ratios": widths})
    _logo(axes[0], found.cwm, motif.letters, f"{motif.name}: contribution", "attribution")
    _logo(
        axes[1],
        information(motif.matrix),
        motif.letters,
        f"{motif.name}: {found.seqlets} seqlets",
        "bits",
    )
    if match is not None:
        matrix = match.target.matrix
        if match.strand == "-":
            matrix = matrix[::-1][:, COMPLEMENT_ORDER]
        _logo(
            axes[2],
            information(matrix),
            motif.letters,
            f"{match.target.label} ({match.strand}), q = {match.q_value:.2g}",
            "bits",
        )
    figure.savefig(path, dpi=100)
