"""Per-record numbers of a dataset build (labels, id hashes, splits), kept in files of its
scratch folder and memory-mapped.

The dataset stage holds a few numbers per source sequence. In memory that is 8-40 bytes a
record, which grows a 10M-read build by hundreds of MiB; in a mapped file the pages belong to
the page cache, which the kernel writes back and drops under pressure, so the build's own
(anonymous) memory stays flat. Whole-array work on them is done a block at a time.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from pathlib import Path

import numpy as np

BLOCK = 1 << 20  # records per block of whole-array work: 1-8 MiB of temporaries


class Column:
    """Numbers appended one at a time into a file, then mapped (:meth:`mapped`); kept in memory
    when ``path`` is None (small inputs, tests)."""

    def __init__(self, path: Path | None, typecode: str) -> None:
        self.path, self.typecode = path, typecode
        self._pending = array(typecode)
        self._file = open(path, "wb") if path is not None else None  # noqa: SIM115 - mapped() closes
        self.size = 0

    def append(self, value: int) -> None:
        self._pending.append(value)
        if self._file is not None and len(self._pending) >= BLOCK:
            self._flush()

    def _flush(self) -> None:
        self._pending.tofile(self._file)
        self.size += len(self._pending)
        self._pending = array(self.typecode)

    def mapped(self) -> np.ndarray:
        """The numbers, as a writable array mapped from the file (or in memory)."""
        if self._file is None:
            return np.frombuffer(self._pending, dtype=self.typecode).copy()
        self._flush()
        self._file.close()
        return scratch_array(self.path, np.dtype(self.typecode), self.size, fresh=False)

    def discard(self) -> None:
        """Remove the file (its mapped arrays stay readable until dropped)."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def scratch_array(
    path: Path | None, dtype: np.dtype | type, size: int, fresh: bool = True
) -> np.ndarray:
    """A writable array of ``size`` numbers mapped from ``path`` (zeros when ``fresh``); an
    in-memory array when ``path`` is None (small inputs, tests). Plain ndarray views: indexing
    them one element at a time is as fast as an in-memory array."""
    if path is None:
        return np.zeros(size, dtype)
    if size == 0:  # a file of 0 bytes cannot be mapped
        return np.zeros(0, dtype)
    mode = "w+" if fresh else "r+"
    return np.memmap(path, dtype=dtype, mode=mode, shape=(size,)).view(np.ndarray)


def blocks(size: int) -> Iterator[slice]:
    """``slice`` objects covering ``range(size)`` a :data:`BLOCK` at a time."""
    for start in range(0, size, BLOCK):
        yield slice(start, min(start + BLOCK, size))


id_hash = hash  # 64 bits of a record id, for the repeat check (salted per process: fine here)


def has_repeats(hashes: np.ndarray) -> bool:
    """Whether two of ``hashes`` are equal; sorts them in place (in a mapped file, not a copy
    in memory) and compares neighbours a block at a time.

    Equal hashes without a repeated value are rare (64 bits); a caller that finds some reads
    its input again with an exact check, which names the repeat or finds none.
    """
    hashes.sort()
    return any(
        bool(np.any(hashes[part.start + 1 : part.stop + 1] == hashes[part]))
        for part in blocks(max(hashes.size - 1, 0))
    )


def count_values(values: np.ndarray, length: int) -> np.ndarray:
    """``np.bincount(values, minlength=length)``, a block at a time."""
    totals = np.zeros(length, np.int64)
    for part in blocks(values.size):
        totals += np.bincount(values[part], minlength=length)
    return totals
