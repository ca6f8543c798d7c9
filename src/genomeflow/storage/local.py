"""Where artifacts are written: atomic publication of local files and folders, digests.

An output is written under a temporary name beside its destination and renamed only when
complete, so a crash or a bad record never leaves a half-written file that looks whole.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from genomeflow.errors import InputError


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` if the block succeeds.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    if target.is_dir():
        raise InputError(f"{target}: is a directory; give a file name for the output")
    if not target.parent.is_dir():
        raise InputError(f"{target.parent}: output folder does not exist; create it first")
    temporary = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


@contextmanager
def open_text_output(path: str | os.PathLike[str]) -> Iterator[TextIO]:
    """Open a text output atomically; gzip-compressed when the name ends in ``.gz``.

    Gzip output carries no time stamp or file name, so equal content gives equal bytes.
    """
    with atomic_output(path) as temporary, open(temporary, "wb") as raw:
        if str(path).endswith(".gz"):
            with (
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed,
                io.TextIOWrapper(packed, encoding="utf-8", newline="\n") as text,
            ):
                yield text
        else:
            with io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as text:
                yield text


@contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; it replaces ``path`` if the block succeeds.

    An existing ``path`` is moved aside first and removed only once the new folder is in place.
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise InputError(f"{target}: exists and is not a folder; give a folder name for the output")
    if not target.parent.is_dir():
        raise InputError(f"{target.parent}: output folder does not exist; create it first")
    temporary = target.with_name(f".{target.name}.partial-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    try:
        yield temporary
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        if target.exists():
            os.replace(target, old)
        os.replace(temporary, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, as ``sha256:<hex>``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def write_json(path: str | os.PathLike[str], payload: Any) -> None:
    """Write a JSON document atomically."""
    with open_text_output(path) as handle:
        json.dump(payload, handle, indent=2)
        handle.write("\n")


def read_manifest(folder: str | os.PathLike[str], name: str, kind: str, remedy: str) -> Any:
    """The JSON manifest ``name`` of an artifact folder.

    Args:
        folder: the artifact folder.
        name: the manifest's file name (``manifest.json``, ``baseline.json``...).
        kind: what the folder should be, for messages ("genomeflow dataset").
        remedy: how to make one, for messages ("build one with `genomeflow dataset ...`").

    Raises:
        InputError: the folder or its manifest is missing, or the manifest is not JSON.
    """
    path = Path(folder) / name
    if not path.is_file():
        raise InputError(f"{folder}: not a {kind} (no {name}); {remedy}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON ({error}); {remedy}") from error
