"""Cut long sequences into (overlapping) windows that remember where they came from."""

from __future__ import annotations

from dataclasses import dataclass

from genomeflow.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Chunk:
    """One window of a source sequence.

    Attributes:
        id: ``<source id>:<start>-<end>``, 1-based inclusive (samtools region style).
        group: the source sequence id; splits keep every chunk of a group together.
        start: 0-based start in the source.
        end: 0-based exclusive end in the source.
        sequence: the residues ``source[start:end]``.
    """

    id: str
    group: str
    start: int
    end: int
    sequence: str


def chunk_spans(
    length: int, size: int, stride: int | None = None, min_length: int = 1
) -> list[tuple[int, int]]:
    """Return the ``(start, end)`` windows that cover a sequence of ``length`` residues.

    Windows of ``size`` start every ``stride`` residues (``stride < size`` overlaps them). The
    tail after the last full window becomes a shorter window if it has at least ``min_length``
    residues; otherwise the last window is moved back to end at the sequence end, so every
    residue is still covered. A sequence shorter than ``min_length`` gives no window.

    Raises:
        ConfigError: size, stride or min_length out of range.
    """
    stride = size if stride is None else stride
    if size < 1:
        raise ConfigError(f"chunk size must be at least 1, got {size}")
    if not 1 <= stride <= size:
        raise ConfigError(
            f"chunk stride must be between 1 and the chunk size {size}, got {stride} "
            "(a larger stride would skip residues)"
        )
    if not 1 <= min_length <= size:
        raise ConfigError(
            f"minimum chunk length must be between 1 and the chunk size {size}, got {min_length}"
        )
    if length < min_length:
        return []
    if length <= size:
        return [(0, length)]
    spans = [(start, start + size) for start in range(0, length - size + 1, stride)]
    tail_start = spans[-1][0] + stride
    if spans[-1][1] < length:
        if length - tail_start >= min_length:
            spans.append((tail_start, length))
        else:
            spans.append((length - size, length))
    return spans


def chunk_sequence(
    record_id: str,
    sequence: str,
    size: int,
    stride: int | None = None,
    min_length: int = 1,
) -> list[Chunk]:
    """Cut ``sequence`` into :class:`Chunk` windows as laid out by :func:`chunk_spans`."""
    return [
        Chunk(f"{record_id}:{start + 1}-{end}", record_id, start, end, sequence[start:end])
        for start, end in chunk_spans(len(sequence), size, stride, min_length)
    ]
