"""Network faults end as one clear line, never a hang; stdout carries only a command's result.

A local listener that accepts connections and never answers stands in for a silent S3 endpoint
and a silent MLflow server; the commands run with their network limits lowered through the
environment (the variables README's "Network limits" names), so each fails in seconds.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from genomeflow.cli import main
from genomeflow.errors import ConfigError, TrackingError
from genomeflow.storage import s3
from genomeflow.tracking import runs
from helpers import fasta_text, planted_records, write_text

SILENT_LIFETIME_S = 300  # the listener closes itself by then, whatever the test does
FAST_S3 = {
    "GENOMEFLOW_S3_CONNECT_TIMEOUT": "2",
    "GENOMEFLOW_S3_READ_TIMEOUT": "2",
    "GENOMEFLOW_S3_MAX_ATTEMPTS": "2",
}
FAST_MLFLOW = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "2",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",  # one retry: urllib3 would log a "Retrying" line
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
}
COMMAND_TIMEOUT_S = 120  # a hang guard, not a timing assertion


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte; closes everything on
    :meth:`close` or after ``lifetime`` seconds."""

    def __init__(self, lifetime: float = SILENT_LIFETIME_S) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._deadline = time.monotonic() + lifetime
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            while not self._stop.is_set() and time.monotonic() < self._deadline:
                try:
                    connection, _ = self.listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    break
                self._held.append(connection)  # held open, never read, never answered
                self.accepted += 1
        finally:
            for connection in self._held:
                connection.close()
            self.listener.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()


def genomeflow_command() -> list[str]:
    """The installed ``genomeflow`` script beside this Python, else ``python -m genomeflow``."""
    script = Path(sys.executable).parent / "genomeflow"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "genomeflow"]


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*genomeflow_command(), *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def assert_one_line_error(done: subprocess.CompletedProcess, *wanted: str) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "Retrying" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("genomeflow: error: "), lines[0]
    for text in wanted:
        assert text in lines[0], lines[0]
    assert done.stdout == ""
    return lines[0]


# --- a silent S3 endpoint -----------------------------------------------------------------------


@pytest.mark.timeout(COMMAND_TIMEOUT_S + 30)
def test_a_silent_s3_endpoint_is_one_line_naming_it(silent, tmp_path):
    env = {
        "AWS_ENDPOINT_URL_S3": silent.url,
        "AWS_ACCESS_KEY_ID": "fake-key",
        "AWS_SECRET_ACCESS_KEY": "fake-secret",
        **FAST_S3,
    }
    done = run_cli(["validate", "s3://bucket/reads.fa", "--tracking-uri", "none"], env, tmp_path)
    line = assert_one_line_error(done, "s3://bucket/reads.fa", silent.url, "did not answer")
    assert "GENOMEFLOW_S3_READ_TIMEOUT" in line and "2 attempts" in line
    assert silent.accepted >= 2  # it did retry, within the limits it was given


def test_s3_limits_come_from_the_environment(monkeypatch):
    for variable in ("GENOMEFLOW_S3_CONNECT_TIMEOUT", "GENOMEFLOW_S3_READ_TIMEOUT"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("GENOMEFLOW_S3_MAX_ATTEMPTS", "7")
    assert s3.limits() == {"connect_timeout": 5.0, "read_timeout": 8.0, "max_attempts": 7}
    monkeypatch.setenv("GENOMEFLOW_S3_READ_TIMEOUT", "120")
    assert s3.limits()["read_timeout"] == 120.0
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    config = s3.client().meta.config
    assert (config.connect_timeout, config.read_timeout) == (5.0, 120.0)
    assert config.retries["total_max_attempts"] == 7
    for bad in ("soon", "0", "-1"):
        monkeypatch.setenv("GENOMEFLOW_S3_READ_TIMEOUT", bad)
        with pytest.raises(ConfigError, match=r"GENOMEFLOW_S3_READ_TIMEOUT=.*positive number"):
            s3.limits()


# --- a silent MLflow server ---------------------------------------------------------------------


@pytest.mark.timeout(2 * COMMAND_TIMEOUT_S + 30)
def test_a_silent_mlflow_server_is_one_line_naming_it(silent, tmp_path):
    fasta = write_text(tmp_path / "reads.fa", fasta_text(planted_records(3, 40, 1, None)))
    env = {"MLFLOW_TRACKING_URI": silent.url, **FAST_MLFLOW}
    # A stage opens its run first: the tracking server.
    done = run_cli(["validate", str(fasta)], env, tmp_path)
    line = assert_one_line_error(done, f"MLflow at {silent.url}", "no answer within 2 s")
    assert "could not open the run 'validate'" in line and "2 attempts" in line
    assert "MLFLOW_HTTP_REQUEST_TIMEOUT" in line and len(line) < 400
    # models:/ URIs go to the registry (tracking itself off).
    args = ["predict", "models:/promoters@champion", str(fasta), "-o", str(tmp_path / "p.csv")]
    done = run_cli([*args, "--tracking-uri", "none"], env, tmp_path)
    assert_one_line_error(done, f"MLflow at {silent.url}", "models:/promoters@champion")


@pytest.mark.timeout(COMMAND_TIMEOUT_S)
def test_queries_of_a_silent_server_fail_within_the_limits(silent, monkeypatch):
    from genomeflow.tracking.query import experiment_runs
    from genomeflow.tracking.registry import champion_uri

    for variable, value in FAST_MLFLOW.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", silent.url)
    with pytest.raises(TrackingError, match=f"MLflow at {silent.url} could not read the exp"):
        experiment_runs("anything")
    with pytest.raises(TrackingError, match="could not look up the registered model 'm': no ans"):
        champion_uri("m")


def test_mlflow_limits_default_but_the_users_win(monkeypatch):
    for variable in runs.RETRY_DEFAULTS:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "300")  # a slow network, the user's choice
    runs.apply_mlflow_settings()
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "300"
    assert (
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]
        == runs.RETRY_DEFAULTS["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]
    )
    assert os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] == "true"
    # The worst case of the defaults: every attempt times out, with urllib3's backoff between.
    timeout = float(runs.RETRY_DEFAULTS["MLFLOW_HTTP_REQUEST_TIMEOUT"])
    retries = int(runs.RETRY_DEFAULTS["MLFLOW_HTTP_REQUEST_MAX_RETRIES"])
    backoff = float(runs.RETRY_DEFAULTS["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"])
    sleeps = sum(backoff * 2 ** (n - 1) for n in range(2, retries + 1))  # the first is immediate
    assert (retries + 1) * timeout + sleeps <= 30


def test_an_unreachable_server_is_named_as_such(monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    tracker = runs.Tracker(f"http://127.0.0.1:{port}", "nowhere")
    expected = "could not open the run 'x': cannot connect"
    with pytest.raises(TrackingError, match=expected), tracker.run("x"):
        pass


# --- stdout carries only the result ------------------------------------------------------------

DNA_SPEC = REPO / "examples" / "sweeps" / "dna_promoter.yaml"


@pytest.mark.integration
def test_katib_dry_run_prints_only_the_experiment_and_tracks_nothing(live, capsys):
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    experiment = f"dry-{uuid.uuid4().hex[:8]}"
    args = ["sweep", "s3://b/datasets/promoters", "-o", "s3://b/sweep", "--spec", str(DNA_SPEC)]
    args += ["--backend", "katib", "--dry-run", "--namespace", "kubeflow"]
    args += ["--experiment", experiment]
    assert main(args) == 0
    out = capsys.readouterr().out
    documents = list(yaml.safe_load_all(out))
    assert len(documents) == 1 and documents[0]["kind"] == "Experiment", out
    client = MlflowClient(live["mlflow"]["uri"])
    found = client.get_experiment_by_name(experiment)
    assert found is None or not client.search_runs(
        [found.experiment_id], run_view_type=ViewType.ALL
    )


@pytest.mark.integration
def test_run_links_go_to_stderr_not_stdout(live, tmp_path):
    fasta = write_text(tmp_path / "reads.fa", fasta_text(planted_records(3, 40, 1, None)))
    experiment = f"links-{uuid.uuid4().hex[:8]}"
    done = run_cli(["validate", str(fasta), "--experiment", experiment], {}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "View run" not in done.stdout and "View experiment" not in done.stdout
    assert done.stdout.splitlines()[0].split()[:2] == ["file", "alphabet"]  # the table alone
    assert f"View run validate at: {live['mlflow']['uri']}/#/experiments/" in done.stderr
