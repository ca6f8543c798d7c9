"""Motif discovery: TF-MoDISco (modisco-lite) over the residue attributions of one class.

TF-MoDISco cuts "seqlets" (short stretches whose attribution stands out from a null fitted to the
same tracks), clusters them by their attribution patterns, aligns each cluster (either strand)
and returns per cluster a position frequency matrix (PFM: the letters of the aligned seqlets)
and a contribution weight matrix (CWM: their mean attribution per position and letter).

Inputs: the one-hot sequences and, as the "hypothetical contributions", the one-hot times each
residue's attribution. Integrated Gradients here gives one score per residue (the letter that is
there), not what the other three letters would have scored, so the hypothetical tracks are the
projected ones: clustering compares the letters present, which is what a PFM is built from
anyway. Sequences of unequal length are padded with empty positions (no letter, zero score).

Protein sequences are not run: modisco-lite aligns seqlets on both DNA strands by reversing the
letter axis, which means nothing for 20 amino acids.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from genomeflow.interpret.attributions import SequenceAttribution
from genomeflow.interpret.meme import Motif

log = logging.getLogger(__name__)

# Seqlet core (residues) and flank each side. MoDISco's defaults (21 + 2 x 10) are cut for
# ChIP-seq peaks of 1 kb; promoters and test sequences are 60-200 bp, and the motifs named here
# (a -10 box, a 15 bp CTCF site) fit in 15.
WINDOW, FLANK = 15, 5
# Leiden runs per clustering (MoDISco's default 50): 10 gave the same motifs on the planted
# set in a third of the time on 2 cores.
LEIDEN_RUNS = 10
# Positions at the motif's ends are kept while their summed |CWM| reaches this share of the
# largest position's: the usual trim of MoDISco reports, so flanks of noise do not reach TOMTOM.
TRIM_SHARE = 0.3
SIGNS = {1: "positive", -1: "negative"}


@dataclass(frozen=True)
class Occurrence:
    """Where a motif's seqlet lies: sequence ``index`` in the attributed list, ``[start, end)``
    in 0-based residues of that sequence, on ``strand`` '+' or '-'."""

    index: int
    start: int
    end: int
    strand: str


@dataclass(frozen=True)
class DiscoveredMotif:
    """One TF-MoDISco pattern, trimmed.

    Attributes:
        motif: the PFM (name e.g. ``promoter_pos_1``, ``sites`` its seqlets).
        cwm: shape like ``motif.matrix``: mean attribution per position and letter.
        target: the class the attributions point to.
        sign: ``positive`` (towards the class) or ``negative`` (away from it).
        seqlets: seqlets in the cluster.
        contribution: the CWM's sum: the mean attribution a seqlet carries over the motif.
        occurrences: the seqlets' places in the attributed sequences.
    """

    motif: Motif
    cwm: np.ndarray
    target: str
    sign: str
    seqlets: int
    contribution: float
    occurrences: tuple[Occurrence, ...]


def one_hot(sequences: Sequence[str], letters: str) -> np.ndarray:
    """Shape (sequences, longest, letters), float32; other characters (N) and padding are 0."""
    table = np.full(256, len(letters), dtype=np.int64)
    for index, letter in enumerate(letters):
        table[ord(letter)] = table[ord(letter.lower())] = index
    longest = max(len(s) for s in sequences)
    codes = np.full((len(sequences), longest), len(letters), dtype=np.int64)
    for row, sequence in enumerate(sequences):
        codes[row, : len(sequence)] = table[np.frombuffer(sequence.encode("latin-1"), np.uint8)]
    return np.eye(len(letters) + 1, dtype=np.float32)[codes][..., : len(letters)]


def trim_span(cwm: np.ndarray, share: float = TRIM_SHARE) -> tuple[int, int]:
    """The positions ``[begin, end)`` from the first to the last whose summed |CWM| is at least
    ``share`` of the largest."""
    weight = np.abs(cwm).sum(axis=1)
    kept = np.flatnonzero(weight >= share * weight.max()) if weight.max() > 0 else []
    return (int(kept[0]), int(kept[-1]) + 1) if len(kept) else (0, len(weight))


def discover_motifs(
    items: Sequence[SequenceAttribution],
    target: str,
    letters: str,
    min_seqlets: int = 20,
    max_seqlets: int = 2000,
) -> list[DiscoveredMotif]:
    """TF-MoDISco patterns of ``items`` (all attributed towards ``target``), both signs.

    Args:
        letters: the one-hot columns (ACGT, ACGU).
        min_seqlets: the fewest seqlets of one sign to cluster at all, and the fewest in a
            cluster for it to become a motif.
        max_seqlets: the most seqlets of one sign clustered (time grows faster than linearly).
    """
    from modiscolite.tfmodisco import TFMoDISco

    sequences = [item.sequence for item in items]
    inputs = one_hot(sequences, letters)
    scores = np.zeros(inputs.shape[:2], dtype=np.float32)
    for row, item in enumerate(items):
        scores[row, : len(item.residue_scores)] = item.residue_scores
    started = time.monotonic()
    log.info("TF-MoDISco: %d %s sequences (up to %d bp)", len(items), target, inputs.shape[1])
    positive, negative = TFMoDISco(
        inputs,
        inputs * scores[..., None],
        sliding_window_size=WINDOW,
        flank_size=FLANK,
        min_metacluster_size=min_seqlets,
        max_seqlets_per_metacluster=max_seqlets,
        n_leiden_runs=LEIDEN_RUNS,
        trim_to_window_size=WINDOW + 2 * FLANK,
        initial_flank_to_add=FLANK,
        final_min_cluster_size=min_seqlets,
    )
    found = []
    for sign, patterns in ((1, positive), (-1, negative)):
        for number, pattern in enumerate(patterns or [], start=1):
            name = f"{target}_{SIGNS[sign][:3]}_{number}"
            found.append(_motif(pattern, name, target, sign, letters, sequences))
    log.info(
        "TF-MoDISco: %d motif(s) towards/away from %s in %.1f s",
        len(found),
        target,
        time.monotonic() - started,
    )
    return found


def _motif(
    pattern: object, name: str, target: str, sign: int, letters: str, sequences: Sequence[str]
) -> DiscoveredMotif:
    """A pattern's trimmed PFM and CWM and its seqlets' places, clipped to their sequences."""
    cwm_full = np.asarray(pattern.contrib_scores, dtype=np.float64)  # type: ignore[attr-defined]
    begin, end = trim_span(cwm_full)
    pfm = np.asarray(pattern.sequence, dtype=np.float64)[begin:end]  # type: ignore[attr-defined]
    pfm = pfm / np.maximum(pfm.sum(axis=1, keepdims=True), 1e-12)
    seqlets = list(pattern.seqlets)  # type: ignore[attr-defined]
    occurrences = []
    for seqlet in seqlets:
        if seqlet.is_revcomp:  # pattern position i is sequence position seqlet.end - 1 - i
            start, stop = seqlet.end - end, seqlet.end - begin
        else:
            start, stop = seqlet.start + begin, seqlet.start + end
        length = len(sequences[seqlet.example_idx])
        start, stop = max(0, start), min(length, stop)
        if stop > start:
            occurrences.append(
                Occurrence(int(seqlet.example_idx), start, stop, "-" if seqlet.is_revcomp else "+")
            )
    cwm = cwm_full[begin:end]
    return DiscoveredMotif(
        motif=Motif(name, pfm, letters, sites=len(seqlets)),
        cwm=cwm,
        target=target,
        sign=SIGNS[sign],
        seqlets=len(seqlets),
        contribution=float(cwm.sum()),
        occurrences=tuple(occurrences),
    )
