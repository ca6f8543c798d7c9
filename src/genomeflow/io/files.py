"""Opening input files: clear errors for missing/empty files, gzip detected by magic bytes;
checks made before a stage starts work (readable inputs, a writable output folder, artifact
files that match the digests their manifest recorded)."""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterable, Iterator, Mapping
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
        where = undecodable_line(path)
        byte = error.object[error.start : error.start + 1]
        if where is None:  # not found again (the file changed): say what the decoder saw
            place = f"byte {byte!r} cannot be decoded as UTF-8"
        else:
            line, record, byte = where
            place = f"line {line}{record} holds the byte {byte!r}, which is not UTF-8 text"
        raise InputError(
            f"{path}: not a text {what}: {place}; remove or fix that byte (a damaged copy, or "
            "binary data pasted in; copy the file again from its source)"
        ) from error


def undecodable_line(path: Path) -> tuple[int, str, bytes] | None:
    """Where the first byte that is not UTF-8 lies: its line number, the record it belongs to
    (`` (record 'id')``, or ``''`` before any record) and the byte; None if every line decodes.

    Read again from the start, only after decoding failed, so reading valid files costs nothing.
    Records are FASTA ``>`` headers, or FASTQ ``@`` headers every fourth line.
    """
    with open(path, "rb") as raw:
        stream: BinaryIO = raw
        if raw.read(2) == GZIP_MAGIC:
            raw.seek(0)
            stream = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        else:
            raw.seek(0)
        record, fastq_start = "", None
        with stream:
            for number, line in enumerate(stream, start=1):
                if fastq_start is None and line.strip():
                    fastq_start = number if line.lstrip().startswith(b"@") else 0
                header = (
                    line.startswith(b">")
                    if not fastq_start
                    else (number - fastq_start) % 4 == 0 and line.startswith(b"@")
                )
                if header:
                    name = line[1:].split(None, 1)[0] if line[1:].split() else b""
                    record = f" (record {name.decode('utf-8', 'replace')!r})"
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as error:
                    return number, record, line[error.start : error.start + 1]
    return None


def check_readable(paths: Iterable[str | os.PathLike[str]], what: str) -> None:
    """Refuse, before any work, input files that are missing, folders, empty or unreadable.

    Raises:
        InputError: the first such file, named, with the fix.
    """
    for path in paths:
        with open_input(Path(path), what):
            pass


def file_digests(folder: Path, names: Iterable[str]) -> dict[str, str]:
    """``{name: sha256}`` of the files ``names`` (relative to ``folder``) that exist, for a
    manifest to record, so a loader can tell a damaged file from a whole one
    (:func:`check_digests`)."""
    from genomeflow.storage import file_digest

    return {name: file_digest(folder / name) for name in names if (folder / name).is_file()}


def check_digests(
    folder: Path, recorded: Mapping[str, str] | None, manifest: str, producer: str
) -> None:
    """Check the files of an artifact folder against the digests its manifest recorded.

    Args:
        folder: the artifact folder.
        recorded: relative file name -> ``sha256:...`` as :func:`file_digests` gave them; None
            (manifests of older versions) checks nothing.
        manifest: the manifest's file name, for messages.
        producer: the command that writes the folder (``genomeflow train``), for the fix.

    Raises:
        InputError: a file is missing or its bytes differ from the recorded digest.
    """
    from genomeflow.storage import file_digest

    for name, digest in (recorded or {}).items():
        path = folder / name
        if not path.is_file():
            raise InputError(
                f"{path}: missing; the folder is incomplete ({manifest} lists it); re-run "
                f"`{producer}`"
            )
        if file_digest(path) != digest:
            raise InputError(
                f"{path}: truncated or corrupt (its SHA-256 differs from the one {manifest} "
                f"recorded when it was written); re-run `{producer}`"
            )
