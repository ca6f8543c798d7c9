"""Where artifacts live: local paths and ``s3://`` URIs behind one interface.

Local outputs are written under a temporary name and renamed when complete; S3 outputs are
uploaded under a temporary prefix and copied into place when complete. Stages work on local
files: :func:`local_copy` fetches an ``s3://`` input, :func:`publish` uploads an output.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from genomeflow.storage import s3
from genomeflow.storage.guard import (
    OUTPUT_MARKER,
    OutputError,
    check_outputs,
    output_stage,
    record_files,
)
from genomeflow.storage.local import (
    atomic_directory,
    atomic_output,
    check_writable,
    file_digest,
    open_text_output,
    read_manifest,
    write_json,
)

__all__ = [
    "OUTPUT_MARKER",
    "OutputError",
    "atomic_directory",
    "atomic_output",
    "check_outputs",
    "check_writable",
    "download",
    "exists",
    "file_digest",
    "is_remote",
    "list_files",
    "local_copy",
    "open_text_output",
    "output_stage",
    "publish",
    "read_bytes",
    "read_manifest",
    "record_files",
    "upload",
    "write_bytes",
    "write_json",
]

Location = str | os.PathLike[str]
TRANSFER_THREADS = 8  # concurrent object transfers of a folder (boto3 clients are thread-safe)


def is_remote(location: Location) -> bool:
    """Whether ``location`` is an ``s3://`` URI (else a local path)."""
    return str(location).startswith("s3://")


def exists(location: Location) -> bool:
    """Whether a file, folder, object or prefix exists."""
    if not is_remote(location):
        return Path(location).exists()
    return bool(list_files(location, limit=1)) or _object_exists(str(location))


def _object_exists(uri: str) -> bool:
    from botocore.exceptions import ClientError

    bucket, key = s3.split_uri(uri)
    if not key:
        return False
    try:
        s3.client().head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        with s3.errors(uri):
            raise
    return True


def read_bytes(location: Location) -> bytes:
    if not is_remote(location):
        return Path(location).read_bytes()
    bucket, key = s3.split_uri(str(location))
    with s3.errors(str(location)):
        return s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()


def write_bytes(location: Location, data: bytes) -> None:
    """Write a whole file or object (a single S3 PUT is atomic)."""
    if not is_remote(location):
        with atomic_output(location) as temporary:
            temporary.write_bytes(data)
        return
    bucket, key = s3.split_uri(str(location))
    with s3.errors(str(location)):
        s3.client().put_object(Bucket=bucket, Key=key, Body=data, Metadata=_metadata())


def list_files(location: Location, limit: int | None = None) -> list[str]:
    """Files under a folder or objects under a prefix (as paths or URIs), sorted."""
    if not is_remote(location):
        root = Path(location)
        return (
            sorted(str(p) for p in root.rglob("*") if p.is_file())[:limit] if root.is_dir() else []
        )
    bucket, key = s3.split_uri(str(location))
    prefix = key.rstrip("/") + "/" if key else ""
    found: list[str] = []
    with s3.errors(str(location)):
        for page in (
            s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        ):
            found += [f"s3://{bucket}/{item['Key']}" for item in page.get("Contents", [])]
            if limit is not None and len(found) >= limit:
                break
    return sorted(found)[:limit]


def upload(source: Location, uri: str) -> None:
    """Upload a local file or folder to ``uri``; a folder is published atomically.

    A folder goes to ``<uri>.partial-<id>/`` first, is then copied under ``<uri>/`` (objects
    left from an older version are removed) and the partial prefix deleted, so a failed upload
    never leaves a half folder at ``uri``.
    """
    source = Path(source)
    bucket, key = s3.split_uri(uri)
    client, config = s3.client(), s3.transfer_config()
    with s3.errors(uri):
        if source.is_file():
            extra = {"Metadata": _metadata()}
            client.upload_file(str(source), bucket, key, ExtraArgs=extra, Config=config)
            return
        files = sorted(p for p in source.rglob("*") if p.is_file())
        relative = [path.relative_to(source).as_posix() for path in files]
        final = key.rstrip("/")
        staging = f"{final}.partial-{uuid.uuid4().hex}"
        try:
            _parallel(
                lambda i: client.upload_file(
                    str(files[i]), bucket, f"{staging}/{relative[i]}", Config=config
                ),
                len(files),
            )
            _parallel(
                lambda i: client.copy(
                    {"Bucket": bucket, "Key": f"{staging}/{relative[i]}"},
                    bucket,
                    f"{final}/{relative[i]}",
                    Config=config,
                ),
                len(files),
            )
            wanted = {f"{final}/{name}" for name in relative}
            existing = [s3.split_uri(u)[1] for u in list_files(f"s3://{bucket}/{final}")]
            _delete(bucket, [k for k in existing if k not in wanted])
        finally:
            _delete(bucket, [s3.split_uri(u)[1] for u in list_files(f"s3://{bucket}/{staging}")])


def _metadata() -> dict[str, str]:
    """The user metadata of an object genomeflow writes: it may replace it on --overwrite."""
    from genomeflow import __version__
    from genomeflow.storage.guard import S3_METADATA_KEY

    return {S3_METADATA_KEY: __version__}


def _parallel(task: Callable[[int], object], count: int) -> None:
    """Run ``task(0..count-1)`` on a few threads: per-object latency, not bandwidth, dominates
    folders of small files. The first failure is raised."""
    with ThreadPoolExecutor(max_workers=TRANSFER_THREADS) as pool:
        list(pool.map(task, range(count)))  # consuming the results re-raises a failure


def _delete(bucket: str, keys: list[str]) -> None:
    client = s3.client()
    for start in range(0, len(keys), 1000):  # DeleteObjects takes 1000 keys at most
        batch = [{"Key": k} for k in keys[start : start + 1000]]
        client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


def download(uri: str, target: Location) -> Path:
    """Download an object to the file ``target``, or a prefix into the folder ``target``."""
    target = Path(target)
    bucket, key = s3.split_uri(uri)
    client, config = s3.client(), s3.transfer_config()
    files = list_files(uri)
    with s3.errors(uri):
        if not files:
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, key, str(target), Config=config)
            return target
        prefix = key.rstrip("/") + "/"
        keys = [s3.split_uri(file_uri)[1] for file_uri in files]
        paths = [target / k[len(prefix) :] for k in keys]
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
        _parallel(
            lambda i: client.download_file(bucket, keys[i], str(paths[i]), Config=config), len(keys)
        )
    return target


@contextmanager
def local_copy(location: Location) -> Iterator[Path]:
    """A local path for an input: the path itself, or a temporary download of an s3:// URI."""
    if not is_remote(location):
        yield Path(location)
        return
    with tempfile.TemporaryDirectory(prefix="genomeflow-in-") as folder:
        name = s3.split_uri(str(location))[1].rstrip("/").rsplit("/", 1)[-1] or "input"
        yield download(str(location), Path(folder) / name)


@contextmanager
def publish(location: Location) -> Iterator[Path]:
    """A local path to write an output to; an s3:// output is uploaded when the block succeeds."""
    if not is_remote(location):
        yield Path(location)
        return
    folder = tempfile.mkdtemp(prefix="genomeflow-out-")
    try:
        name = s3.split_uri(str(location))[1].rstrip("/").rsplit("/", 1)[-1] or "output"
        path = Path(folder) / name
        yield path
        if path.exists():
            upload(path, str(location))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
