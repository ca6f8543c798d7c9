"""Outputs never clobber what the user owns.

Before a stage does any work, :func:`check_outputs` looks at where it will write:

* an output that is, holds or lies inside one of the stage's inputs is always refused, and so
  is the current folder (or a folder holding it);
* an output that already exists is refused unless ``overwrite`` is given;
* even with ``overwrite`` only an earlier genomeflow output is replaced: a folder (or
  ``s3://`` prefix) holding :data:`OUTPUT_MARKER`, a local file whose bytes match what
  genomeflow recorded writing it (:func:`record_files`, a ledger in the genomeflow home), or an
  ``s3://`` object uploaded with the :data:`S3_METADATA_KEY` metadata.

Paths are compared resolved (symlinks followed, ``./x`` equal to ``x``), ``s3://`` URIs as
normalised prefixes. The checks work on plain path/URI lists, so they know nothing of configs.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from genomeflow.errors import GenomeflowError
from genomeflow.storage.home import genomeflow_home
from genomeflow.storage.local import (
    OUTPUT_MARKER,
    atomic_output,
    check_writable,
    file_digest,
    output_stage,
    write_marker,
)

__all__ = ["OUTPUT_MARKER", "OutputError", "check_outputs", "output_stage", "write_marker"]

log = logging.getLogger(__name__)

LEDGER_FILE = "outputs.json"  # in the genomeflow home: resolved file path -> sha256 digest
S3_METADATA_KEY = "genomeflow"  # user metadata of the objects genomeflow uploads: its version
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:/")  # models:/, runs:/, s3://, http://...
FIX = "pass --overwrite to replace an earlier genomeflow output, or choose another -o"


class OutputError(GenomeflowError):
    """An output would replace or overlap something genomeflow must not touch."""


# --- the checks -------------------------------------------------------------------------------


def check_outputs(
    inputs: Iterable[str | os.PathLike[str]],
    outputs: Iterable[str | os.PathLike[str]],
    overwrite: bool = False,
    exists_check: bool = True,
) -> None:
    """Refuse outputs that would clobber an input, the current folder or a user's file.

    Args:
        inputs: the stage's input paths and ``s3://`` URIs (other names such as
            ``models:/NAME@alias`` are ignored).
        outputs: where the stage writes.
        overwrite: an existing output that genomeflow wrote earlier may be replaced.
        exists_check: False skips the existence rules (a run that writes nothing, such as a
            dry run); the overlap rules always hold.

    Raises:
        OutputError: the first output refused, with the path and the fix.
    """
    sources = [str(source) for source in inputs if _is_path(str(source))]
    targets = [str(target) for target in outputs]
    for target in targets:
        _check_overlap(target, sources)
    if exists_check:
        for target in targets:
            _check_existing(target, overwrite)
            if not target.startswith("s3://") and Path(target).parent.is_dir():
                check_writable(target)  # before any work, for every stage (a missing folder
                # is the stage's to create or refuse)


def _is_path(location: str) -> bool:
    """A local path or an s3:// URI, not another scheme's name (``models:/``, ``runs:/``)."""
    return bool(location) and (location.startswith("s3://") or not SCHEME.match(location))


def _check_overlap(target: str, sources: Sequence[str]) -> None:
    if target.startswith("s3://"):
        out = _normalised_uri(target)
        for source in sources:
            if not source.startswith("s3://"):
                continue
            into = _normalised_uri(source)
            _refuse_overlap(target, source, out == into, _under(out, into), _under(into, out))
        return
    out = _resolved(target)
    here = Path.cwd().resolve()
    if here == out or here.is_relative_to(out):
        raise OutputError(
            f"{target}: is the current folder{'' if here == out else ' or holds it'}, where your "
            "own files are; genomeflow never writes its output over it: give a new folder name "
            "with -o"
        )
    for source in sources:
        if source.startswith("s3://"):
            continue
        into = _resolved(source)
        _refuse_overlap(
            target, source, out == into, out.is_relative_to(into), into.is_relative_to(out)
        )


def _refuse_overlap(target: str, source: str, same: bool, inside: bool, holds: bool) -> None:
    if same:
        how = "is the stage's input"
    elif inside:
        how = "lies inside the stage's input"
    elif holds:
        how = "holds the stage's input"
    else:
        return
    raise OutputError(
        f"{target}: the output {how} {source}; genomeflow never writes over its inputs, even "
        "with --overwrite: choose an -o outside the inputs"
    )


def _resolved(location: str) -> Path:
    return Path(location).expanduser().resolve()


def _normalised_uri(uri: str) -> str:
    bucket, _, key = uri[len("s3://") :].partition("/")
    parts = [part for part in key.split("/") if part not in ("", ".")]
    return "/".join([bucket, *parts])


def _under(inner: str, outer: str) -> bool:
    return inner.startswith(outer + "/")


def _check_existing(target: str, overwrite: bool) -> None:
    if target.startswith("s3://"):
        _check_existing_remote(target, overwrite)
        return
    path = Path(target)
    if not os.path.lexists(path):
        return
    if not overwrite:
        raise OutputError(f"{target}: already exists and genomeflow does not replace it; {FIX}")
    if path.is_symlink():  # replacing it would drop the user's link, not an output
        raise OutputError(
            f"{target}: is a symbolic link, not an output genomeflow wrote, so --overwrite does "
            "not replace it; choose another -o"
        )
    if path.is_dir():  # an empty folder has nothing to lose
        if not (path / OUTPUT_MARKER).is_file() and any(path.iterdir()):
            raise OutputError(
                f"{target}: is not an earlier genomeflow output (it has no {OUTPUT_MARKER}), so "
                "--overwrite does not replace it; choose another -o"
            )
    elif not (path.is_file() and written_by_genomeflow(path)):
        raise OutputError(
            f"{target}: is not a file genomeflow wrote (or it changed since), so --overwrite "
            "does not replace it; choose another -o"
        )


def _check_existing_remote(target: str, overwrite: bool) -> None:
    from genomeflow.storage import list_files, s3

    bucket, key = s3.split_uri(target)
    metadata = _object_metadata(target) if key.strip("/") else None
    held = [] if metadata is not None else list_files(target, limit=1)
    if metadata is None and not held:
        return
    if not overwrite:
        raise OutputError(f"{target}: already exists and genomeflow does not replace it; {FIX}")
    if metadata is not None:
        if S3_METADATA_KEY not in metadata:
            raise OutputError(
                f"{target}: is not an object genomeflow uploaded (no '{S3_METADATA_KEY}' "
                "metadata), so --overwrite does not replace it; choose another -o"
            )
        return
    prefix = key.strip("/")
    marker = f"s3://{bucket}/{prefix + '/' if prefix else ''}{OUTPUT_MARKER}"
    if _object_metadata(marker) is None:
        raise OutputError(
            f"{target}: is not an earlier genomeflow output (it has no {OUTPUT_MARKER}), so "
            "--overwrite does not replace it; choose another -o"
        )


def _object_metadata(uri: str) -> dict[str, str] | None:
    """The user metadata of the object ``uri``; None when there is no such object."""
    from botocore.exceptions import ClientError

    from genomeflow.storage import s3

    bucket, key = s3.split_uri(uri)
    with s3.errors(uri):
        try:
            head = s3.client().head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
    return dict(head.get("Metadata") or {})


# --- the ledger of files genomeflow wrote -----------------------------------------------------


def _ledger() -> Path:
    return genomeflow_home() / LEDGER_FILE


@contextmanager
def _locked_ledger() -> Iterator[dict[str, Any]]:
    """The ledger, read and rewritten under an exclusive lock (stages may run side by side)."""
    import fcntl

    path = _ledger()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f"{LEDGER_FILE}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entries = _read_ledger(path)
        yield entries
        with atomic_output(path) as temporary:
            temporary.write_text(json.dumps(entries, indent=1, sort_keys=True) + "\n")


def _read_ledger(path: Path) -> dict[str, Any]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def record_files(paths: Iterable[str | os.PathLike[str]]) -> None:
    """Record the local files genomeflow just wrote (resolved path -> digest), so that a later
    ``--overwrite`` may replace them while they are unchanged. Folders and ``s3://`` URIs are
    skipped (they carry their own marks); entries of files that are gone are dropped. A ledger
    that cannot be written (a read-only home) only costs that later ``--overwrite``."""
    files = [
        _resolved(str(path))
        for path in paths
        if not str(path).startswith("s3://") and Path(path).is_file()
    ]
    if not files:
        return
    try:
        with _locked_ledger() as entries:
            for stale in [name for name in entries if not os.path.lexists(name)]:
                del entries[stale]
            for path in files:
                entries[str(path)] = file_digest(path)
    except OSError as error:
        log.warning("could not record the outputs written in %s: %s", _ledger(), error)


def written_by_genomeflow(path: str | os.PathLike[str]) -> bool:
    """Whether the file ``path`` is one genomeflow wrote and nobody changed since."""
    resolved = _resolved(str(path))
    recorded = _read_ledger(_ledger()).get(str(resolved))
    return recorded is not None and resolved.is_file() and recorded == file_digest(resolved)
