"""S3 (any S3 API: MinIO, Ceph radosgw, AWS) through boto3, with clear errors.

The endpoint and credentials come from the environment (``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL`` or ``MLFLOW_S3_ENDPOINT_URL``; ``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``, or any other boto3 credential source), else from the object store
that ``genomeflow services up --object-store`` recorded. Never from code or YAML.

Transient failures (5xx, throttling, dropped connections) are retried by botocore's
``standard`` mode with exponential backoff and jitter; large files go up and down in 8 MiB
multipart chunks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from genomeflow.errors import StorageError

MULTIPART_BYTES = 8 * 2**20  # multipart threshold and part size
MAX_ATTEMPTS = 5  # per request, first try included
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
        from genomeflow.services.state import read_state

        store = read_state().get("object_store")
        if store:
            arguments = {
                "endpoint_url": store["endpoint"],
                "aws_access_key_id": store["access_key"],
                "aws_secret_access_key": store["secret_key"],
            }
    arguments.setdefault("region_name", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    return arguments


@lru_cache(maxsize=8)
def _client(frozen: tuple[tuple[str, Any], ...]) -> Any:
    import boto3
    from botocore.config import Config

    retries = Config(retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"})
    return boto3.client("s3", config=retries, **dict(frozen))


def client() -> Any:
    """A cached boto3 S3 client for the current settings."""
    return _client(tuple(sorted(settings().items())))


def transfer_config() -> Any:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=MULTIPART_BYTES, multipart_chunksize=MULTIPART_BYTES)


@contextmanager
def errors(uri: str) -> Iterator[None]:
    """Turn boto3/botocore failures into one StorageError that says what to fix."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
    )

    endpoint = settings().get("endpoint_url") or "AWS S3"
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
    except EndpointConnectionError as error:
        raise StorageError(
            f"{uri}: cannot reach the S3 endpoint {endpoint} after {MAX_ATTEMPTS} attempts; "
            "check AWS_ENDPOINT_URL_S3 and that the server runs"
        ) from error
    except BotoCoreError as error:
        raise StorageError(f"{uri}: S3 request to {endpoint} failed: {error}") from error
