"""Naming discovered motifs: TOMTOM (memelite) against JASPAR CORE or a user's motif file.

TOMTOM scores every alignment of a query matrix with a target (both strands, overhangs allowed)
and turns the best into a p-value against a null built from the target columns. The q-value of a
match is the Benjamini-Hochberg adjustment of that p-value over every motif of the database
compared with the same query (MEME's tomtom reports the same per-query q-values): among matches
with q < 0.05, about 5% are expected to be chance. A motif whose best q-value is 0.05 or more
matches nothing in the database, and the report says so.

memelite warns that with fewer than 25 targets the p-values depend strongly on which targets
there are (the null comes from their columns). A small user file (the two sigma-70 boxes) is
therefore compared together with JASPAR CORE as background: JASPAR's columns calibrate the null,
and only the user's motifs are reported and counted in the q-values.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from genomeflow.errors import InputError
from genomeflow.interpret.jaspar import check_selection, jaspar_core
from genomeflow.interpret.meme import Motif, read_motif_file

log = logging.getLogger(__name__)

Q_THRESHOLD = 0.05
MATCHES_KEPT = 3  # matches listed per motif (those under Q_THRESHOLD; the best one always)
# Fewer database motifs than this get JASPAR CORE as background (memelite warns below 25;
# MEME's tomtom below 50).
MIN_TARGETS = 50
NUCLEOTIDE_LETTERS = ("ACGT", "ACGU")


@dataclass(frozen=True)
class MotifDatabase:
    """What discovered motifs are named against.

    Attributes:
        source: how reports name it (``JASPAR2026 CORE, vertebrates`` or the file's path).
        motifs: the motifs matches are reported from.
        background: further targets that only calibrate TOMTOM's null (never reported).
    """

    source: str
    motifs: list[Motif]
    background: list[Motif]


@dataclass(frozen=True)
class Match:
    """One discovered motif against one database motif."""

    query: str
    target: Motif
    p_value: float
    q_value: float
    strand: str  # '-': the target's reverse complement aligns with the query
    offset: int  # TOMTOM's alignment offset of the target against the query
    overlap: int  # aligned positions


def check_database(path: str | None, release: str | None, taxon: str | None) -> None:
    """Fail before any model work on an unknown release/taxon or an unreadable motif file."""
    check_selection(release, taxon)
    if path:
        _user_motifs(path)


def _user_motifs(path: str) -> list[Motif]:
    motifs = read_motif_file(path)
    odd = [m.name for m in motifs if m.letters not in NUCLEOTIDE_LETTERS]
    if odd:
        raise InputError(
            f"{path}: motif {odd[0]!r} is not over the DNA/RNA letters ACGT (or ACGU); motifs "
            "are named against nucleotide matrices only"
        )
    return motifs


def load_database(path: str | None, release: str | None, taxon: str | None) -> MotifDatabase:
    """The user's file (with JASPAR CORE as background when small), or JASPAR CORE."""
    if not path:
        chosen = check_selection(release, taxon)
        source = f"{chosen} CORE" + (f", {taxon}" if taxon else "")
        return MotifDatabase(source, jaspar_core(chosen, taxon), [])
    motifs = _user_motifs(path)
    background = jaspar_core(release) if len(motifs) < MIN_TARGETS else []
    return MotifDatabase(str(path), motifs, background)


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values of one set of p-values (same order)."""
    count = len(p_values)
    order = np.argsort(p_values)
    ranked = p_values[order] * count / np.arange(1, count + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(count)
    out[order] = np.minimum(q, 1.0)
    return out


def name_motifs(queries: Sequence[Motif], database: MotifDatabase) -> dict[str, list[Match]]:
    """Per query (by name): its matches, best first: every one with q < 0.05, at most
    ``MATCHES_KEPT``, and always the best even when it does not pass."""
    if not queries:
        return {}
    from memelite import tomtom

    targets = [*database.motifs, *database.background]
    started = time.monotonic()
    log.info("TOMTOM: %d motif(s) against %d of %s", len(queries), len(targets), database.source)
    with warnings.catch_warnings():  # the small-target warning: handled by the background
        warnings.simplefilter("ignore", UserWarning)
        p, _, offsets, overlaps, strands = tomtom(
            [q.matrix.T for q in queries], [t.matrix.T for t in targets]
        )[:5]
    reported = len(database.motifs)
    named: dict[str, list[Match]] = {}
    for row, query in enumerate(queries):
        values = np.nan_to_num(p[row, :reported], nan=1.0)
        q = benjamini_hochberg(values)
        order = np.argsort(values, kind="stable")
        kept = [i for i in order[:MATCHES_KEPT] if q[i] < Q_THRESHOLD] or [order[0]]
        named[query.name] = [
            Match(
                query.name,
                database.motifs[i],
                float(values[i]),
                float(q[i]),
                "+-"[int(strands[row, i])],
                int(offsets[row, i]),
                int(overlaps[row, i]),
            )
            for i in kept
        ]
    log.info("TOMTOM: done in %.1f s", time.monotonic() - started)
    return named


def verdict(matches: Sequence[Match], source: str) -> str:
    """One plain sentence: the best match, or that nothing matches."""
    best = matches[0]
    if best.q_value < Q_THRESHOLD:
        return f"matches {best.target.label} (q = {best.q_value:.2g})"
    return (
        f"no match in {source} at q < {Q_THRESHOLD} (closest: {best.target.label}, "
        f"q = {best.q_value:.2g})"
    )
