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

TF-MoDISco runs in a fresh Python process (``python -m genomeflow.interpret.discovery FOLDER``,
arrays passed through files in a temporary folder): modisco-lite compiles its numba kernels into
numba's on-disk cache only from a process with no other threads (it forks compilers), and this
one has torch's and logging's. There, a run loads the cached kernels (about 20 s saved a run on
2 cores) and no process holding torch is forked. A plain subprocess rather than multiprocessing's
spawn: spawn re-runs the caller's main script, which a user's script without a
``__main__`` guard does not survive.

Protein sequences are not run: modisco-lite aligns seqlets on both DNA strands by reversing the
letter axis, which means nothing for 20 amino acids.
"""

from __future__ import annotations

import json
import logging
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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
    sequences = [item.sequence for item in items]
    inputs = one_hot(sequences, letters)
    scores = np.zeros(inputs.shape[:2], dtype=np.float32)
    for row, item in enumerate(items):
        scores[row, : len(item.residue_scores)] = item.residue_scores
    started = time.monotonic()
    log.info("TF-MoDISco: %d %s sequences (up to %d bp)", len(items), target, inputs.shape[1])
    settings = {
        "sliding_window_size": WINDOW,
        "flank_size": FLANK,
        "min_metacluster_size": min_seqlets,
        "max_seqlets_per_metacluster": max_seqlets,
        "n_leiden_runs": LEIDEN_RUNS,
        "trim_to_window_size": WINDOW + 2 * FLANK,
        "initial_flank_to_add": FLANK,
        "final_min_cluster_size": min_seqlets,
    }
    patterns = _in_child(inputs, inputs * scores[..., None], settings)
    found = []
    numbers = {1: 0, -1: 0}
    for pattern in patterns:
        numbers[pattern.sign] += 1
        name = f"{target}_{SIGNS[pattern.sign][:3]}_{numbers[pattern.sign]}"
        found.append(_motif(pattern, name, target, letters, sequences))
    log.info(
        "TF-MoDISco: %d motif(s) towards/away from %s in %.1f s",
        len(found),
        target,
        time.monotonic() - started,
    )
    return found


@dataclass(frozen=True)
class Pattern:
    """A TF-MoDISco pattern as plain data (what crosses back from the spawned process)."""

    sign: int  # 1: positive metacluster, -1: negative
    pfm: np.ndarray  # (width, letters)
    cwm: np.ndarray  # (width, letters)
    seqlets: tuple[tuple[int, int, int, bool], ...]  # (example, start, end, reverse strand)


def run_modisco(
    inputs: np.ndarray, hypothetical: np.ndarray, settings: dict[str, int]
) -> list[Pattern]:
    """TFMoDISco's positive then negative patterns (run in the spawned process)."""
    from modiscolite.tfmodisco import TFMoDISco

    positive, negative = TFMoDISco(inputs, hypothetical, **settings)
    return [
        Pattern(
            sign,
            np.asarray(pattern.sequence, dtype=np.float64),
            np.asarray(pattern.contrib_scores, dtype=np.float64),
            tuple(
                (int(s.example_idx), int(s.start), int(s.end), bool(s.is_revcomp))
                for s in pattern.seqlets
            ),
        )
        for sign, patterns in ((1, positive), (-1, negative))
        for pattern in patterns or []
    ]


def _in_child(
    inputs: np.ndarray, hypothetical: np.ndarray, settings: dict[str, int]
) -> list[Pattern]:
    """:func:`run_modisco` in a new Python process (see the module's notes)."""
    with tempfile.TemporaryDirectory(prefix="genomeflow-modisco-") as name:
        folder = Path(name)
        np.savez(folder / "inputs.npz", inputs=inputs, hypothetical=hypothetical)
        (folder / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
        command = [sys.executable, "-m", "genomeflow.interpret.discovery", name]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:  # a bug or a crash of the tool: keep its own words
            raise RuntimeError(f"TF-MoDISco failed (exit {done.returncode}):\n{done.stderr}")
        with (folder / "patterns.pkl").open("rb") as stream:
            return pickle.load(stream)  # written by the child below, from this module's Pattern


def _child(name: str) -> None:
    """The child's side of :func:`_in_child`: read the folder's inputs, write its patterns."""
    folder = Path(name)
    arrays = np.load(folder / "inputs.npz")
    settings = json.loads((folder / "settings.json").read_text(encoding="utf-8"))
    patterns = run_modisco(arrays["inputs"], arrays["hypothetical"], settings)
    with (folder / "patterns.pkl").open("wb") as stream:
        pickle.dump(patterns, stream)


def _motif(
    pattern: Pattern, name: str, target: str, letters: str, sequences: Sequence[str]
) -> DiscoveredMotif:
    """A pattern's trimmed PFM and CWM and its seqlets' places, clipped to their sequences."""
    begin, end = trim_span(pattern.cwm)
    pfm = pattern.pfm[begin:end]
    pfm = pfm / np.maximum(pfm.sum(axis=1, keepdims=True), 1e-12)
    occurrences = []
    for example, first, last, reverse in pattern.seqlets:
        if reverse:  # pattern position i is sequence position last - 1 - i
            start, stop = last - end, last - begin
        else:
            start, stop = first + begin, first + end
        start, stop = max(0, start), min(len(sequences[example]), stop)
        if stop > start:
            occurrences.append(Occurrence(example, start, stop, "-" if reverse else "+"))
    cwm = pattern.cwm[begin:end]
    seqlets = len(pattern.seqlets)
    return DiscoveredMotif(
        motif=Motif(name, pfm, letters, sites=seqlets),
        cwm=cwm,
        target=target,
        sign=SIGNS[pattern.sign],
        seqlets=seqlets,
        contribution=float(cwm.sum()),
        occurrences=tuple(occurrences),
    )


if __name__ == "__main__":  # the child process of _in_child
    # Through the package's own module, so the pickled patterns are
    # genomeflow.interpret.discovery.Pattern, not __main__.Pattern.
    from genomeflow.interpret import discovery

    discovery._child(sys.argv[1])
