"""A real S3 server on loopback: a one-monitor, one-OSD (memstore) Ceph cluster with radosgw.

Ceph RADOS Gateway checks SigV4 signatures, users and keys, multipart uploads and pagination as
production S3 does (MinIO, SeaweedFS and Garage had no package in the registries of the
development machines, probed 2026-11-23, while Debian's radosgw did). The OSD keeps objects in
memory (memstore), so the store is empty after each start: it is for tests and for trying
genomeflow without a cluster, not for keeping data.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from genomeflow.errors import ServiceError
from genomeflow.services.process import http_ok, require_free_port, spawn, stop, wait_until

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


def _conf(folder: Path, fsid: str, mon_port: int, s3_port: int) -> str:
    # auth none inside the cluster (one machine, loopback only); S3 clients still sign with keys.
    return f"""[global]
fsid = {fsid}
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


def _run(argv: list[str], folder: Path) -> str:
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
        step = " ".join(a for a in argv[:4] if not a.startswith("/"))
        raise ServiceError(f"object store: `{step}` failed (exit {done.returncode}); see {log}")
    return done.stdout


def _create_cluster(folder: Path, mon_port: int, s3_port: int) -> list[str]:
    """Write ceph.conf, the monitor map and keyring, and the monitor's store; ``-c conf`` args."""
    shutil.rmtree(folder, ignore_errors=True)  # memstore: nothing of an earlier run survives
    for part in ("run", "log", "mon", "osd/ceph-0", "rgw"):
        (folder / part).mkdir(parents=True)
    fsid = str(uuid.uuid4())
    conf = folder / "ceph.conf"
    conf.write_text(_conf(folder, fsid, mon_port, s3_port), encoding="utf-8")
    monmap, keyring = str(folder / "monmap"), str(folder / "keyring")
    mon_address = f"[v2:127.0.0.1:{mon_port}]"
    _run(["monmaptool", "--create", "--addv", "a", mon_address, "--fsid", fsid, monmap], folder)
    _run(["ceph-authtool", "--create-keyring", keyring, "--gen-key", "-n", "mon.",
          "--cap", "mon", "allow *"], folder)  # fmt: skip
    _run(["ceph-mon", "-c", str(conf), "--mkfs", "-i", "a", "--monmap", monmap], folder)
    return ["-c", str(conf)]


def _add_osd(c: list[str], folder: Path) -> str:
    """Register and format the memstore OSD and place it in the CRUSH map; returns its id."""
    osd = _run(["ceph", *c, "osd", "create"], folder).strip()
    _run(["ceph-osd", *c, "-i", osd, "--mkfs"], folder)
    _run(["ceph", *c, "osd", "crush", "add-bucket", "localhost", "host"], folder)
    _run(["ceph", *c, "osd", "crush", "move", "localhost", "root=default"], folder)
    _run(["ceph", *c, "osd", "crush", "add", f"osd.{osd}", "1.0", "host=localhost"], folder)
    return osd


def start_object_store(
    folder: Path, s3_port: int, mon_port: int, bucket: str, timeout_s: float
) -> ObjectStore:
    """Create a fresh cluster in ``folder`` and start monitor, OSD and gateway; make the bucket.

    Raises:
        ServiceError: a port is taken, a tool is missing, a step fails, or the gateway does not
            answer in time; whatever was started is stopped again.
    """
    import boto3

    require_free_port(s3_port, "--s3-port", "object store")
    require_free_port(mon_port, "--mon-port", "object store")
    began = time.monotonic()
    c = _create_cluster(folder, mon_port, s3_port)
    log = folder / "log" / "daemons.log"
    pids = [spawn(["ceph-mon", *c, "-i", "a", "-f"], log)]
    try:
        monitor_up = partial(_quiet, ["ceph", *c, "-s", "--connect-timeout", "2"])
        wait_until(monitor_up, "ceph-mon", log, timeout_s, pids)
        osd = _add_osd(c, folder)
        pids.append(spawn(["ceph-osd", *c, "-i", osd, "-f"], log))
        pids.append(spawn(["radosgw", *c, "-n", GATEWAY, "-f"], log))
        endpoint = f"http://127.0.0.1:{s3_port}"
        wait_until(partial(http_ok, endpoint), "radosgw", log, timeout_s, pids)
        access_key, secret_key = secrets.token_hex(10).upper(), secrets.token_urlsafe(30)
        _run(["radosgw-admin", *c, "user", "create", f"--uid={USER}", f"--display-name={USER}",
              f"--access-key={access_key}", f"--secret-key={secret_key}"], folder)  # fmt: skip
        keys = {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key}
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys)
        client.create_bucket(Bucket=bucket)  # the first request creates the pools: 2-3 s
    except BaseException:
        stop(pids)  # leave nothing half-started behind
        raise
    seconds = round(time.monotonic() - began, 1)
    return ObjectStore(endpoint, access_key, secret_key, bucket, pids, str(folder), seconds)


def _quiet(argv: list[str]) -> bool:
    return subprocess.run(argv, capture_output=True, timeout=10, check=False).returncode == 0
