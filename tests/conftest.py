"""Shared test helpers: tiny hand-made sequence files and the shared E. coli data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import MOTIF, fasta_text, planted_records, write_text

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENOMEFLOW_SHARED", REPO.parent / "shared"))
ECOLI = SHARED / "data" / "ecoli_promoters"


@pytest.fixture
def tiny_fasta(tmp_path: Path) -> Path:
    """Forty 60-bp DNA records with a planted motif, CRLF line ends, gzip-compressed."""
    return write_text(
        tmp_path / "positive.fasta.gz", fasta_text(planted_records(40, 60, 1, MOTIF)), True, True
    )


@pytest.fixture(scope="session")
def ecoli() -> Path:
    """The shared E. coli promoter folder (CI has ../shared beside the checkout)."""
    assert ECOLI.is_dir(), f"{ECOLI} is missing: set GENOMEFLOW_SHARED to the shared folder"
    return ECOLI


@pytest.fixture(autouse=True)
def isolated_services(tmp_path_factory, monkeypatch):
    """No test reads a developer's services or credentials: its own empty genomeflow home."""
    monkeypatch.setenv("GENOMEFLOW_HOME", str(tmp_path_factory.mktemp("home")))
    for variable in (
        "MLFLOW_TRACKING_URI",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "MLFLOW_S3_ENDPOINT_URL",
    ):
        monkeypatch.delenv(variable, raising=False)
