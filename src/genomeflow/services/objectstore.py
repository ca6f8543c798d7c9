"""A real S3 server on loopback: a one-monitor, one-OSD (memstore) Ceph cluster with radosgw.

Ceph RADOS Gateway checks SigV4 signatures, users and keys, multipart uploads and pagination as
production S3 does (MinIO cannot be installed here; see ../shared/notes/services.md). The OSD
keeps objects in memory (memstore), so the store is empty after each start: it is for tests and
for trying genomeflow without a cluster, not for keeping data.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genomeflow.errors import ServiceError
from genomeflow.services.process import http_ok, spawn, wait_until

USER = "genomeflow"
GATEWAY = "client.rgw.genomeflow"  # the radosgw instance name


@dataclass(frozen=True)
class ObjectStore:
    """A running object store: where it answers, its keys and its processes."""

    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    pids: list[int]
    folder: str
    seconds_to_start: float

    def as_state(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _conf(folder: Path, mon_port: int, s3_port: int) -> str:
    # auth none inside the cluster (one machine, loopback only); S3 clients still sign with keys.
    return f"""[global]
fsid = {uuid.uuid4()}
mon_host = v2:127.0.0.1:{mon_port}
ms_bind_msgr1 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
osd_crush_chooseleaf_type = 0
osd_objectstore = memstore
mon_data_avail_warn = 1
run_dir = {folder}/run
log_file = {folder}/log/$name.log
admin_socket = {folder}/run/$name.asok
mon_data = {folder}/mon/$cluster-$id
osd_data = {folder}/osd/$cluster-$id
keyring = {folder}/keyring

[{GATEWAY}]
rgw_frontends = beast endpoint=127.0.0.1:{s3_port}
# without this radosgw loops on "get_initial_auth_request returned -13"
ms_mon_client_mode = crc secure
rgw_data = {folder}/rgw
"""


def _run(argv: list[str], folder: Path, what: str) -> str:
    """Run a ceph tool to completion; its output, or a ServiceError naming the log."""
    log = folder / "log" / "setup.log"
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError as error:
        raise ServiceError(
            f"{argv[0]}: not installed; run `make setup` (Debian packages ceph-mon ceph-osd "
            "radosgw)"
        ) from error
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"$ {' '.join(argv)}\n{done.stdout}{done.stderr}\n")
    if done.returncode:
        raise ServiceError(f"object store: {what} failed (exit {done.returncode}); see {log}")
    return done.stdout


def start_object_store(
    folder: Path, s3_port: int, mon_port: int, bucket: str, timeout_s: float
) -> ObjectStore:
    """Create a fresh cluster in ``folder`` and start monitor, OSD and gateway; make the bucket.

    Raises:
        ServiceError: a tool is missing, a step fails, or the gateway does not answer in time.
    """
    import boto3

    began = time.monotonic()
    shutil.rmtree(folder, ignore_errors=True)  # memstore: nothing of an earlier run survives
    for part in ("run", "log", "mon", "osd/ceph-0", "rgw"):
        (folder / part).mkdir(parents=True)
    conf = folder / "ceph.conf"
    conf.write_text(_conf(folder, mon_port, s3_port), encoding="utf-8")
    fsid = conf.read_text().split("fsid = ", 1)[1].split("\n", 1)[0]
    c = ["-c", str(conf)]
    _run(
        [
            "monmaptool",
            "--create",
            "--addv",
            "a",
            f"[v2:127.0.0.1:{mon_port}]",
            "--fsid",
            fsid,
            str(folder / "monmap"),
        ],
        folder,
        "monitor map",
    )
    _run(
        [
            "ceph-authtool",
            "--create-keyring",
            str(folder / "keyring"),
            "--gen-key",
            "-n",
            "mon.",
            "--cap",
            "mon",
            "allow *",
        ],
        folder,
        "keyring",
    )
    _run(
        ["ceph-mon", *c, "--mkfs", "-i", "a", "--monmap", str(folder / "monmap")],
        folder,
        "monitor mkfs",
    )
    log = folder / "log" / "daemons.log"
    pids = [spawn(["ceph-mon", *c, "-i", "a", "-f"], log)]
    wait_until(
        lambda: _quiet(["ceph", *c, "-s", "--connect-timeout", "2"]),
        "ceph-mon",
        log,
        timeout_s,
        pids,
    )
    osd = _run(["ceph", *c, "osd", "create"], folder, "OSD id").strip()
    _run(["ceph-osd", *c, "-i", osd, "--mkfs"], folder, "OSD mkfs")
    for step in (
        ["osd", "crush", "add-bucket", "localhost", "host"],
        ["osd", "crush", "move", "localhost", "root=default"],
        ["osd", "crush", "add", f"osd.{osd}", "1.0", "host=localhost"],
    ):
        _run(["ceph", *c, *step], folder, "CRUSH map")
    pids.append(spawn(["ceph-osd", *c, "-i", osd, "-f"], log))
    pids.append(spawn(["radosgw", *c, "-n", GATEWAY, "-f"], log))
    endpoint = f"http://127.0.0.1:{s3_port}"
    wait_until(lambda: http_ok(endpoint), "radosgw", log, timeout_s, pids)
    access_key, secret_key = secrets.token_hex(10).upper(), secrets.token_urlsafe(30)
    _run(
        [
            "radosgw-admin",
            *c,
            "user",
            "create",
            f"--uid={USER}",
            f"--display-name={USER}",
            f"--access-key={access_key}",
            f"--secret-key={secret_key}",
        ],
        folder,
        "S3 user",
    )
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=bucket)  # the first request creates the pools: 2-3 s
    seconds = round(time.monotonic() - began, 1)
    return ObjectStore(endpoint, access_key, secret_key, bucket, pids, str(folder), seconds)


def _quiet(argv: list[str]) -> bool:
    return subprocess.run(argv, capture_output=True, timeout=10, check=False).returncode == 0
