"""Common test helpers: tiny hand-made sequence files and the E. coli promoter example data."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from genomeflow.config import ServicesConfig
from genomeflow.services import services_down, services_up
from genomeflow.services.process import free_port
from genomeflow.storage.home import pid_alive
from helpers import MOTIF, fasta_text, make_dataset, planted_records, write_text

REPO = Path(__file__).resolve().parents[1]
ECOLI = REPO / "examples" / "data" / "ecoli_promoters"  # the repository's copy (see its README)


@pytest.fixture(scope="module")
def class_files(tmp_path_factory) -> list[str]:
    """One planted-motif class file and one background class file (80 x 60 bp each)."""
    folder = tmp_path_factory.mktemp("classes")
    return [
        str(write_text(folder / "promoter.fa", fasta_text(planted_records(80, 60, 1, MOTIF)))),
        str(write_text(folder / "background.fa", fasta_text(planted_records(80, 60, 2, None)))),
    ]


@pytest.fixture
def tiny_fasta(tmp_path: Path) -> Path:
    """Forty 60-bp DNA records with a planted motif, CRLF line ends, gzip-compressed."""
    return write_text(
        tmp_path / "positive.fasta.gz", fasta_text(planted_records(40, 60, 1, MOTIF)), True, True
    )


@pytest.fixture(scope="session")
def ecoli() -> Path:
    """The E. coli promoter folder of the repository's examples (promoter and non-promoter)."""
    assert ECOLI.is_dir(), f"{ECOLI} is missing: it is part of the repository"
    return ECOLI


@pytest.fixture(autouse=True)
def isolated_services(tmp_path_factory, monkeypatch):
    """No test reads a developer's services or credentials: its own empty genomeflow home.

    Each test also runs in its own empty working folder: whatever falls back to the current
    folder (MLflow's default store ``sqlite:///mlflow.db`` with ``./mlruns``, a relative output,
    a child process) lands there, never in the checkout. Setting MLFLOW_TRACKING_URI instead
    would turn tracking on where tests expect none to be known. Tests name repository files
    through ``REPO``, never through the working folder.
    """
    monkeypatch.setenv("GENOMEFLOW_HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    for variable in (
        "MLFLOW_TRACKING_URI",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "MLFLOW_S3_ENDPOINT_URL",
    ):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture(scope="session")
def services(tmp_path_factory):
    """One object store and one MLflow server (S3 artifacts) for the whole session."""
    home = tmp_path_factory.mktemp("services")
    config = ServicesConfig(
        action="up",
        home=str(home),
        object_store=True,
        mlflow_port=free_port(),
        s3_port=free_port(),
        mon_port=free_port(),
        timeout=300.0,  # seconds per service: MLflow took over 120 s to start on 2 loaded cores
    )
    state = services_up(config)
    yield config, state
    assert services_down(config) == ["mlflow", "object store"]
    assert not any(map(pid_alive, [state["mlflow"]["pid"], *state["object_store"]["pids"]]))


@pytest.fixture
def live(services, monkeypatch):
    """Point genomeflow (tracking, storage) at the session services through their state file."""
    config, state = services
    monkeypatch.setenv("GENOMEFLOW_HOME", config.home)
    return state


# --- tiny labelled datasets, shared by the baseline, transformer and registry tests ---------


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> str:
    """120 sequences with TATAAT planted against 120 without: a signal a model must find."""
    folder = tmp_path_factory.mktemp("planted")
    return make_dataset(
        folder, planted_records(120, 60, 1, MOTIF), planted_records(120, 60, 2, None)
    )


@pytest.fixture(scope="module")
def shuffled(tmp_path_factory) -> str:
    """The same kind of records, with the labels dealt at random: nothing to learn."""
    folder = tmp_path_factory.mktemp("shuffled")
    records = planted_records(120, 60, 1, MOTIF) + planted_records(120, 60, 2, None)
    random.Random(7).shuffle(records)
    return make_dataset(folder, records[:120], records[120:])


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module's tiny models: on 2 shared cores, 2 threads ran a tiny CNN's
    steps up to ~10x slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
