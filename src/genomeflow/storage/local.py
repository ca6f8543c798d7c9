"""Where artifacts are written: atomic publication of local files and folders, digests.

An output is written under a temporary name beside its destination and renamed only when
complete, so a crash or a bad record never leaves a half-written file that looks whole.
"""

from __future__ import annotations

import contextvars
import gzip
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from genomeflow.errors import InputError

OUTPUT_MARKER = ".genomeflow-output.json"  # in every folder genomeflow publishes
_stage: contextvars.ContextVar[str | None] = contextvars.ContextVar("output_stage", default=None)


def _temporary(target: Path, kind: str) -> Path:
    """This process's temporary sibling of ``target`` (``.NAME.partial-PID``/``.NAME.old-PID``).

    Siblings left by writers that were killed (``kill -9``, a lost node) are removed first: their
    process no longer runs, so nothing else can be writing them, and they never count as output.
    """
    for stale in target.parent.glob(f".{glob_escape(target.name)}.*-*"):
        kind_of, _, pid = stale.name.rpartition("-")
        if kind_of.endswith((".partial", ".old")) and pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink(missing_ok=True)
    return target.with_name(f".{target.name}.{kind}-{os.getpid()}")


def glob_escape(name: str) -> str:
    """``name`` with glob's special characters taken literally."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


# --- the folder marker: what lets a later --overwrite replace a folder genomeflow wrote ---


@contextmanager
def output_stage(name: str) -> Iterator[None]:
    """Name the stage whose outputs are written inside the block (recorded in the markers)."""
    token = _stage.set(name)
    try:
        yield
    finally:
        _stage.reset(token)


def marker_bytes(stage: str | None = None) -> bytes:
    """The marker's content: which stage and genomeflow version wrote the folder, and when."""
    from genomeflow import __version__

    payload = {
        "stage": stage or _stage.get(),
        "genomeflow_version": __version__,
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return (json.dumps(payload, indent=2) + "\n").encode("utf-8")


def write_marker(folder: str | os.PathLike[str], stage: str | None = None) -> Path:
    """Mark ``folder`` as a genomeflow output (one that ``--overwrite`` may replace)."""
    path = Path(folder) / OUTPUT_MARKER
    path.write_bytes(marker_bytes(stage))
    return path


# --- atomic publication ---


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
    temporary = _temporary(target, "partial")
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

    The published folder carries genomeflow's output marker (:data:`OUTPUT_MARKER`), which
    is what lets a later ``--overwrite`` replace it. An existing ``path`` is moved aside first
    and removed only once the new folder is in place; callers check beforehand that it may be
    replaced (``check_outputs``).
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise InputError(f"{target}: exists and is not a folder; give a folder name for the output")
    if not target.parent.is_dir():
        raise InputError(f"{target.parent}: output folder does not exist; create it first")
    temporary = _temporary(target, "partial")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    try:
        yield temporary
        write_marker(temporary)
        old = _temporary(target, "old")
        if target.exists():
            os.replace(target, old)
        os.replace(temporary, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def check_writable(output: str | os.PathLike[str]) -> None:
    """Refuse, before any work, an output whose folder cannot be written to.

    The folder must exist and take a new file: a probe file is made beside the output and
    removed at once (permission bits do not say enough: root writes anywhere, /proc nowhere).

    Raises:
        InputError: the folder is missing, is a file, or refuses new files.
    """
    target = Path(output)
    folder = target.parent
    if folder.is_file():
        raise InputError(
            f"{target}: cannot be written: {folder} is a file, not a folder; choose an output "
            "in a folder"
        )
    if not folder.is_dir():
        raise InputError(f"{folder}: output folder does not exist; create it first")
    try:
        handle, probe = tempfile.mkstemp(prefix=f".{target.name}.probe-", dir=folder)
    except OSError as error:
        raise InputError(
            f"{target}: cannot write into {folder} ({error.strerror or error}); choose a folder "
            "you can write to"
        ) from error
    os.close(handle)
    os.unlink(probe)


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
