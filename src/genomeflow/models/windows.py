"""Sequences as token windows: sequences longer than the model's context become overlapping
windows (each with CLS/SEP) that remember their sequence; window probabilities are aggregated
back into one prediction per sequence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from genomeflow.sequence.chunking import chunk_spans
from genomeflow.tokenise.tokenizer import GenomeTokenizer

ENCODE_BATCH = 4096  # sequences per call of the (multi-threaded) Rust tokenizer


@dataclass(frozen=True)
class Windows:
    """Token windows of a list of sequences.

    Attributes:
        input_ids: one int32 id array per window, CLS first and SEP last.
        owner: shape (windows,), the index of the sequence each window came from.
        sequences: how many sequences were encoded.
    """

    input_ids: list[np.ndarray]
    owner: np.ndarray
    sequences: int

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter(map(len, self.input_ids), dtype=np.int64, count=len(self.input_ids))

    def window_labels(self, labels: np.ndarray) -> np.ndarray:
        """Per-window labels from per-sequence ``labels``."""
        return np.asarray(labels)[self.owner]


def default_stride(max_length: int, stride: int) -> int:
    """Tokens between window starts: ``stride``, or half a window's content when 0."""
    content = max_length - 2
    return min(stride, content) if stride else max(1, content // 2)


def window_spans(tokens: int, max_length: int, stride: int) -> list[tuple[int, int]]:
    """``(start, end)`` token ranges of a sequence's windows (without CLS/SEP): full windows,
    the last one ending at the last token; one (short) window when the sequence fits."""
    content = max_length - 2
    step = default_stride(max_length, stride)
    return chunk_spans(tokens, content, step, min_length=content) or [(0, tokens)]


def encode_windows(
    tokenizer: GenomeTokenizer, sequences: Sequence[str], max_length: int, stride: int
) -> Windows:
    """Tokenise ``sequences`` and cut each into windows of at most ``max_length`` tokens.

    Args:
        tokenizer: the model's tokeniser (its CLS/SEP ids frame every window).
        sequences: raw sequences.
        max_length: tokens per window, CLS and SEP included.
        stride: tokens between the starts of consecutive windows of one sequence
            (see :func:`default_stride`).
    """
    cls_id, sep_id = tokenizer.cls_id, tokenizer.sep_id
    backend = tokenizer.hf.backend_tokenizer
    windows: list[np.ndarray] = []
    owner: list[int] = []
    for start in range(0, len(sequences), ENCODE_BATCH):
        words = [tokenizer.words(s) for s in sequences[start : start + ENCODE_BATCH]]
        for offset, encoding in enumerate(backend.encode_batch(words, add_special_tokens=False)):
            ids = np.asarray(encoding.ids, dtype=np.int32)  # 4 bytes a token, not a Python int's 28
            for begin, end in window_spans(len(ids), max_length, stride):
                windows.append(
                    np.concatenate(([cls_id], ids[begin:end], [sep_id])).astype(np.int32)
                )
                owner.append(start + offset)
    return Windows(windows, np.asarray(owner, dtype=np.int64), len(sequences))


def aggregate(probabilities: np.ndarray, windows: Windows, how: str = "mean") -> np.ndarray:
    """One probability row per sequence from per-window rows.

    Args:
        probabilities: shape (windows, classes).
        windows: the windows they were computed on.
        how: ``mean`` of the window rows, or ``max``: each class's largest window
            probability, renormalised to sum to 1 (a motif seen in any window counts).

    Returns:
        Shape (sequences, classes).
    """
    rows = np.zeros((windows.sequences, probabilities.shape[1]), dtype=np.float64)
    if how == "max":
        np.maximum.at(rows, windows.owner, probabilities)
        return rows / rows.sum(axis=1, keepdims=True)
    np.add.at(rows, windows.owner, probabilities)
    counts = np.bincount(windows.owner, minlength=windows.sequences)[:, None]
    return rows / counts
