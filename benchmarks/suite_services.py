"""Local services: start times, and S3 storage throughput against a local disk copy.

``SUITE_SERVICES`` is shaped like the entries of suites.SUITES. The services start in a
temporary home on free ports (the object store is Ceph radosgw with a memstore OSD, so objects
live in RAM); the baseline of every transfer is copying the same files on the local disk, the
limit on this machine.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from genomeflow import storage
from genomeflow.config import ServicesConfig
from genomeflow.services import services_down, services_up
from genomeflow.services.process import free_port
from suite_tokenise import Row, Timer

MIB = 2**20
BIG_FILE_MIB = 64
SMALL_FILES = 256  # of 64 KiB each: 16 MiB


def _row(measure: str, data: str, seconds: float, mib: float | None) -> Row:
    rate = "-" if mib is None else round(mib / seconds, 1)
    return {"measure": measure, "data": data, "seconds": round(seconds, 2), "MiB/s": rate}


def measure_services(work: Path, timer: Timer) -> list[Row]:
    home = Path(tempfile.mkdtemp(prefix="services-", dir=work))
    config = ServicesConfig(
        action="up",
        home=str(home),
        object_store=True,
        mlflow_port=free_port(),
        s3_port=free_port(),
        mon_port=free_port(),
    )
    began = time.monotonic()
    state = services_up(config)
    rows = [
        _row(
            "start: object store (Ceph mon + OSD + radosgw, user, bucket)",
            "-",
            state["object_store"]["seconds_to_start"],
            None,
        ),
        _row(
            "start: MLflow server (new SQLite database, 1 worker)",
            "-",
            state["mlflow"]["seconds_to_start"],
            None,
        ),
        _row("start: both, `services up` end to end", "-", time.monotonic() - began, None),
    ]
    began = time.monotonic()
    services_up(config)
    rows.append(_row("`services up` again (reuse)", "-", time.monotonic() - began, None))
    previous = os.environ.get("GENOMEFLOW_HOME")
    os.environ["GENOMEFLOW_HOME"] = str(home)  # storage finds the store through its state file
    try:
        rows += _transfers(work, timer)
    finally:
        if previous is None:
            os.environ.pop("GENOMEFLOW_HOME")
        else:
            os.environ["GENOMEFLOW_HOME"] = previous
        services_down(config)
        shutil.rmtree(home, ignore_errors=True)
    return rows


def _transfers(work: Path, timer: Timer) -> list[Row]:
    data = work / "transfer"
    big = data / "big" / "big.bin"
    small = data / "small"
    if not big.exists():
        big.parent.mkdir(parents=True)
        big.write_bytes(os.urandom(BIG_FILE_MIB * MIB))
        small.mkdir()
        for i in range(SMALL_FILES):
            (small / f"part-{i:04d}.bin").write_bytes(os.urandom(64 * 1024))
    rows = []
    copy, back = work / "transfer_copy", work / "transfer_back"
    for label, source, mib in (
        (f"1 file of {BIG_FILE_MIB} MiB", big.parent, float(BIG_FILE_MIB)),
        (f"{SMALL_FILES} files of 64 KiB", small, SMALL_FILES * 64 / 1024),
    ):
        disk = timer(lambda s=source: (shutil.rmtree(copy, True), shutil.copytree(s, copy)), 3)
        rows.append(_row("local disk copy (baseline)", label, disk, mib))
        uri = f"s3://genomeflow/bench/{source.name}"
        up = timer(lambda s=source, u=uri: storage.upload(s, u), 3)
        rows.append(_row("upload (atomic: staging prefix + server-side copy)", label, up, mib))
        down = timer(lambda u=uri: (shutil.rmtree(back, True), storage.download(u, back)), 3)
        rows.append(_row("download", label, down, mib))
        shutil.rmtree(copy, True)
        shutil.rmtree(back, True)
    return rows


SUITE_SERVICES = (
    "Local services: start times and S3 storage throughput",
    "Start times are one cold start each. Transfers are best of 3 through genomeflow.storage "
    "against the local Ceph radosgw (memstore: objects in RAM; 8 MiB multipart); the baseline "
    "is shutil.copytree of the same files on the local disk (page cache warm).",
    measure_services,
)
