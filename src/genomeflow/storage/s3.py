"""S3 (any S3 API: MinIO, Ceph radosgw, AWS) through boto3, with clear errors.

The endpoint and credentials come from the environment (``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL`` or ``MLFLOW_S3_ENDPOINT_URL``; ``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``, or any other boto3 credential source), else from the object store
that ``genomeflow services up --object-store`` recorded. Never from code or YAML.

Every request has a deadline: a connection must open within ``GENOMEFLOW_S3_CONNECT_TIMEOUT``
seconds (5) and the server must answer within ``GENOMEFLOW_S3_READ_TIMEOUT`` seconds of
silence (8); transient failures (5xx, throttling, dropped connections, timeouts) are retried by
botocore's ``standard`` mode with exponential backoff and jitter, ``GENOMEFLOW_S3_MAX_ATTEMPTS``
attempts in all (3). An endpoint that accepts connections and never answers therefore fails in
about 25 s, as one StorageError naming it. Large files go up and down in 8 MiB multipart
chunks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from genomeflow.errors import ConfigError, StorageError
from genomeflow.storage.home import read_state

MULTIPART_BYTES = 8 * 2**20  # multipart threshold and part size
# Network limits: environment variable -> default. A slow network raises them.
LIMIT_VARIABLES = {
    "connect_timeout": ("GENOMEFLOW_S3_CONNECT_TIMEOUT", 5.0),  # seconds to open a connection
    "read_timeout": ("GENOMEFLOW_S3_READ_TIMEOUT", 8.0),  # seconds of silence from the server
    "max_attempts": ("GENOMEFLOW_S3_MAX_ATTEMPTS", 3),  # per request, first try included
}
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL")
CREDENTIAL_ERRORS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "Forbidden",
    "403",
}


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b")``."""
    if not uri.startswith("s3://"):
        raise StorageError(f"{uri}: not an s3:// URI")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise StorageError(f"{uri}: names no bucket; write s3://BUCKET/path")
    return bucket, key


def settings() -> dict[str, Any]:
    """boto3 client arguments: endpoint and keys from the environment, else the local services."""
    endpoint = next((os.environ[v] for v in ENDPOINT_VARIABLES if os.environ.get(v)), None)
    arguments: dict[str, Any] = {"endpoint_url": endpoint}
    if endpoint is None and not os.environ.get("AWS_ACCESS_KEY_ID"):
        store = read_state().get("object_store")
        if store:
            arguments = {
                "endpoint_url": store["endpoint"],
                "aws_access_key_id": store["access_key"],
                "aws_secret_access_key": store["secret_key"],
            }
    arguments.setdefault("region_name", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    return arguments


def limits() -> dict[str, float | int]:
    """``connect_timeout``, ``read_timeout`` (seconds) and ``max_attempts`` of every request.

    From ``GENOMEFLOW_S3_CONNECT_TIMEOUT``, ``GENOMEFLOW_S3_READ_TIMEOUT`` and
    ``GENOMEFLOW_S3_MAX_ATTEMPTS``, else the defaults of :data:`LIMIT_VARIABLES`.

    Raises:
        ConfigError: a variable that is not a positive number (attempts: a whole number).
    """
    found: dict[str, float | int] = {}
    for name, (variable, default) in LIMIT_VARIABLES.items():
        text = os.environ.get(variable, "").strip()
        if not text:
            found[name] = default
            continue
        kind = int if isinstance(default, int) else float
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not value > 0:
            what = "whole number of attempts" if kind is int else "number of seconds"
            raise ConfigError(f"{variable}={text!r}: give a positive {what} (default {default:g})")
        found[name] = value
    return found


@lru_cache(maxsize=8)
def _client(frozen: tuple[tuple[str, Any], ...], limit: tuple[float, float, int]) -> Any:
    import logging

    import boto3
    from botocore.config import Config

    # "Found credentials in environment variables." on every command is noise to a user.
    logging.getLogger("botocore.credentials").setLevel(logging.WARNING)
    connect_timeout, read_timeout, max_attempts = limit
    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": max_attempts, "mode": "standard"},
    )
    return boto3.client("s3", config=config, **dict(frozen))


def client() -> Any:
    """A cached boto3 S3 client for the current settings and network limits."""
    limit = limits()
    return _client(
        tuple(sorted(settings().items())),
        (limit["connect_timeout"], limit["read_timeout"], int(limit["max_attempts"])),
    )


def transfer_config() -> Any:
    """Multipart sizes; a broken download stream is retried as often as a request."""
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=MULTIPART_BYTES,
        multipart_chunksize=MULTIPART_BYTES,
        num_download_attempts=int(limits()["max_attempts"]),
    )


@contextmanager
def errors(uri: str) -> Iterator[None]:
    """Turn boto3/botocore failures into one StorageError that says what to fix."""
    from boto3.exceptions import RetriesExceededError, S3UploadFailedError
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    endpoint = settings().get("endpoint_url") or "AWS S3"
    limit = limits()
    attempts = f"{limit['max_attempts']} attempt{'s' if limit['max_attempts'] != 1 else ''}"
    check = "check AWS_ENDPOINT_URL_S3 and that the server runs and is reachable"
    try:
        yield
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in CREDENTIAL_ERRORS:
            raise StorageError(
                f"{uri}: {endpoint} rejected the credentials ({code}); check "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ) from error
        if code == "NoSuchBucket":
            raise StorageError(
                f"{uri}: bucket does not exist at {endpoint}; create it first"
            ) from error
        if code in ("NoSuchKey", "404"):
            raise StorageError(f"{uri}: no such object at {endpoint}; check the path") from error
        raise StorageError(f"{uri}: S3 request to {endpoint} failed ({code}: {error})") from error
    except NoCredentialsError as error:
        raise StorageError(
            f"{uri}: no S3 credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and "
            "AWS_ENDPOINT_URL_S3 for MinIO/Ceph), or run `genomeflow services up --object-store`"
        ) from error
    except ReadTimeoutError as error:
        raise StorageError(
            f"{uri}: the S3 endpoint {endpoint} did not answer within {limit['read_timeout']:g} s "
            f"({attempts}); {check}, or raise GENOMEFLOW_S3_READ_TIMEOUT on a slow network"
        ) from error
    except ConnectTimeoutError as error:
        raise StorageError(
            f"{uri}: no connection to the S3 endpoint {endpoint} within "
            f"{limit['connect_timeout']:g} s ({attempts}); {check}, or raise "
            "GENOMEFLOW_S3_CONNECT_TIMEOUT on a slow network"
        ) from error
    except (EndpointConnectionError, ConnectionClosedError) as error:
        raise StorageError(
            f"{uri}: cannot reach the S3 endpoint {endpoint} ({attempts}); {check}"
        ) from error
    except RetriesExceededError as error:  # a download whose stream kept breaking
        raise StorageError(
            f"{uri}: downloading from the S3 endpoint {endpoint} failed ({attempts}: "
            f"{error.last_exception}); {check}, or raise GENOMEFLOW_S3_READ_TIMEOUT on a slow "
            "network"
        ) from error
    except S3UploadFailedError as error:  # boto3's wrapper of an upload's ClientError
        raise StorageError(f"{uri}: S3 upload to {endpoint} failed: {error}") from error
    except BotoCoreError as error:
        raise StorageError(f"{uri}: S3 request to {endpoint} failed: {error}") from error
