"""Opening input files: clear errors for missing/empty files, gzip detected by magic bytes."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from genomeflow.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"


@contextmanager
def open_input(path: Path, what: str) -> Iterator[BinaryIO]:
    """Open ``path`` for reading as a peekable binary stream, decompressing gzip.

    Args:
        path: the file.
        what: what the file should be, for messages (e.g. "FASTA/FASTQ file").

    Raises:
        InputError: missing, a directory, empty, unreadable, or corrupt gzip.
    """
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path to the {what}")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give a {what}")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty; give a {what} with content")
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the `with` below, outside this try
    except OSError as error:
        reason = error.strerror
        raise InputError(f"{path}: cannot open ({reason}); check its permissions") from error
    with raw, decoding_errors(path, what):
        if raw.peek(2)[:2] == GZIP_MAGIC:
            with gzip.GzipFile(fileobj=raw, mode="rb") as unpacked:
                yield unpacked  # type: ignore[misc]
        else:
            yield raw


@contextmanager
def decoding_errors(path: Path, what: str) -> Iterator[None]:
    """Turn decompression and text-decoding failures into one clear InputError."""
    try:
        yield
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise InputError(
            f"{path}: gzip data is truncated or corrupt ({error}); check it with "
            "`gzip -t` and copy or download the file again"
        ) from error
    except UnicodeDecodeError as error:
        raise InputError(
            f"{path}: not a text {what} (byte {error.object[error.start : error.start + 1]!r} "
            "cannot be decoded as UTF-8); give a plain or gzip-compressed text file"
        ) from error
