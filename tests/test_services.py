"""Integration: the real local services (Ceph radosgw S3 store, MLflow server) on loopback."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import boto3
import mlflow
import pytest

from genomeflow import storage
from genomeflow.cli import main
from genomeflow.config import ServicesConfig
from genomeflow.errors import ServiceError, StorageError, TrackingError
from genomeflow.services import services_down, services_status, services_up
from genomeflow.services.process import free_port
from genomeflow.storage.home import pid_alive, read_state
from genomeflow.tracking import Tracker
from genomeflow.tracking.lineage import file_dataset
from genomeflow.tracking.runs import Run
from helpers import MOTIF, fasta_text, planted_records, write_text

pytestmark = pytest.mark.integration


def s3_client(state):
    store = state["object_store"]
    return boto3.client(
        "s3",
        endpoint_url=store["endpoint"],
        aws_access_key_id=store["access_key"],
        aws_secret_access_key=store["secret_key"],
        region_name="us-east-1",
    )


def test_up_twice_reuses_and_status_reports(services):
    config, state = services
    again = services_up(config)
    assert again["mlflow"]["pid"] == state["mlflow"]["pid"]
    assert again["object_store"]["pids"] == state["object_store"]["pids"]
    status = services_status(config)
    assert status["mlflow"].startswith("running at http://127.0.0.1:")
    assert "bucket genomeflow" in status["object store"]
    assert os.stat(os.path.join(config.home, "services.json")).st_mode & 0o077 == 0


def test_a_stage_run_records_params_metrics_inputs_artifacts(live, tmp_path):
    corpus = write_text(tmp_path / "corpus.fa", fasta_text(planted_records(30, 60, 1, MOTIF)))
    tracker = Tracker(live["mlflow"]["uri"], "test-stage")
    with tracker.run("pipeline") as parent:
        assert (
            main(
                [
                    "tokenise",
                    str(corpus),
                    "-o",
                    str(tmp_path / "tok"),
                    "--method",
                    "kmer",
                    "-k",
                    "3",
                    "--experiment",
                    "test-stage",
                ]
            )
            == 0
        )
    mlflow.set_tracking_uri(live["mlflow"]["uri"])
    runs = mlflow.search_runs(experiment_names=["test-stage"], output_format="list")
    stage = next(r for r in runs if r.info.run_name == "tokenise")
    assert stage.data.tags["mlflow.parentRunId"] == parent.run_id
    assert stage.data.params["method"] == "kmer" and stage.data.params["k"] == "3"
    assert stage.data.metrics["vocab_size"] == 5 + 4**3
    assert stage.data.tags["genomeflow.stage"] == "tokenise"
    assert stage.info.status == "FINISHED"
    (dataset_input,) = stage.inputs.dataset_inputs
    assert dataset_input.dataset.name == "corpus.fa"
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(stage.info.run_id)}
    assert {"genomeflow.json", "tokenizer.json"} <= artifacts
    # The server stores artifacts in the S3 bucket.
    # (Other tests of the session store more than one 1000-key listing page: read them all.)
    pages = s3_client(live).get_paginator("list_objects_v2").paginate(Bucket="genomeflow")
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    assert any(k.endswith(f"{stage.info.run_id}/artifacts/genomeflow.json") for k in keys)
    fetched = mlflow.artifacts.download_artifacts(
        run_id=stage.info.run_id, artifact_path="genomeflow.json", dst_path=str(tmp_path / "back")
    )
    assert Path(fetched).read_text() == (tmp_path / "tok" / "genomeflow.json").read_text()


def test_a_failed_stage_run_is_marked_failed(live, tmp_path):
    assert (
        main(
            [
                "tokenise",
                str(tmp_path / "missing.fa"),
                "-o",
                str(tmp_path / "t"),
                "--experiment",
                "test-failed",
            ]
        )
        == 2
    )
    mlflow.set_tracking_uri(live["mlflow"]["uri"])
    (run,) = mlflow.search_runs(experiment_names=["test-failed"], output_format="list")
    assert run.info.status == "FAILED"


def test_runs_logging_one_new_dataset_at_once_all_record_it(live, tmp_path):
    """A pipeline's parallel steps (its two baselines) log the same new dataset at the same
    moment: the store looks it up, then inserts it, so one of them breaks the unique key; that
    run tries again and links the row the other inserted. (Without the retry, these 10 rounds
    of 8 runs failed in each of 3 tries here; 3 rounds passed in 2 of 3.)"""
    uri = live["mlflow"]["uri"]
    client = mlflow.MlflowClient(uri)
    experiment = client.create_experiment("test-dataset-race")
    for round_ in range(10):
        records = planted_records(5, 30, round_, MOTIF)
        sequences = write_text(tmp_path / f"shared{round_}.fa", fasta_text(records))
        dataset = file_dataset(sequences, str(sequences))
        runs = [client.create_run(experiment).info.run_id for _ in range(8)]
        start, failures = threading.Barrier(len(runs)), []

        def log(run_id: str, dataset=dataset, start=start, failures=failures) -> None:
            start.wait()  # every run asks at once, before any has inserted the dataset
            try:
                Run(uri, run_id).log_datasets([(dataset, "train")])
            except TrackingError as error:
                failures.append(error)

        threads = [threading.Thread(target=log, args=(run_id,)) for run_id in runs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not failures, failures
        for run_id in runs:
            (logged,) = client.get_run(run_id).inputs.dataset_inputs
            assert (logged.dataset.name, logged.dataset.digest) == (sequences.name, dataset.digest)


def test_stages_read_and_write_s3(live, tmp_path):
    positive = write_text(tmp_path / "pos.fa", fasta_text(planted_records(30, 60, 1, MOTIF)))
    negative = write_text(tmp_path / "neg.fa", fasta_text(planted_records(30, 60, 2, None)))
    storage.upload(positive, "s3://genomeflow/in/pos.fa")
    storage.upload(negative, "s3://genomeflow/in/neg.fa")
    inputs = ["s3://genomeflow/in/pos.fa", "s3://genomeflow/in/neg.fa"]
    assert (
        main(
            [
                "tokenise",
                *inputs,
                "-o",
                "s3://genomeflow/out/tok",
                "--method",
                "char",
                "--tracking-uri",
                "none",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "dataset",
                *inputs,
                "-t",
                "s3://genomeflow/out/tok",
                "-o",
                "s3://genomeflow/out/ds",
                "--tracking-uri",
                "none",
            ]
        )
        == 0
    )
    files = storage.list_files("s3://genomeflow/out/ds")
    assert "s3://genomeflow/out/ds/manifest.json" in files
    assert "s3://genomeflow/out/ds/parquet/train.parquet" in files
    assert not any(".partial-" in f for f in storage.list_files("s3://genomeflow/out"))


def test_a_folder_round_trips_with_multipart(live, tmp_path):
    source = tmp_path / "folder"
    (source / "nested").mkdir(parents=True)
    big = os.urandom(20 * 2**20)  # 20 MiB: three 8 MiB parts
    (source / "nested" / "big.bin").write_bytes(big)
    (source / "small.txt").write_text("small")
    storage.upload(source, "s3://genomeflow/roundtrip")
    head = s3_client(live).head_object(Bucket="genomeflow", Key="roundtrip/nested/big.bin")
    assert head["ETag"].strip('"').endswith("-3")  # a multipart upload's ETag counts its parts
    back = storage.download("s3://genomeflow/roundtrip", tmp_path / "back")
    assert (back / "nested" / "big.bin").read_bytes() == big
    assert (back / "small.txt").read_text() == "small"
    (source / "small.txt").unlink()
    storage.upload(source, "s3://genomeflow/roundtrip")  # a new version replaces the old one
    assert storage.list_files("s3://genomeflow/roundtrip") == [
        "s3://genomeflow/roundtrip/nested/big.bin"
    ]


def test_wrong_credentials_and_missing_things_are_clear(live, monkeypatch):
    with pytest.raises(StorageError, match="bucket does not exist"):
        storage.read_bytes("s3://no-such-bucket/x")
    assert not storage.exists("s3://genomeflow/no/such/key")
    store = live["object_store"]
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", store["endpoint"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", store["access_key"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(StorageError, match=r"rejected the credentials .*AWS_SECRET_ACCESS_KEY"):
        storage.list_files("s3://genomeflow/")


def test_an_unreachable_server_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    tracker = Tracker(f"http://127.0.0.1:{free_port()}", "nowhere")
    expected = r"could not open the run 'tokenise'.*services up"
    with pytest.raises(TrackingError, match=expected), tracker.run("tokenise"):
        pass


def test_without_tracking_nothing_is_recorded():
    with Tracker(None).run("tokenise", {"a": 1}) as run:
        run.log_metrics({"x": 1.0})
        assert not run.active


def test_down_stops_only_what_it_started(tmp_path):
    config = ServicesConfig(action="up", home=str(tmp_path), mlflow_port=free_port())
    state = services_up(config)
    pid = state["mlflow"]["pid"]
    assert pid_alive(pid)
    assert services_down(config) == ["mlflow"]
    assert not pid_alive(pid)
    assert read_state(tmp_path) == {}
    assert services_status(config)["mlflow"] == "not running"
    assert services_down(config) == []


def test_a_taken_port_is_named(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = ServicesConfig(action="up", home=str(tmp_path), mlflow_port=port)
        with pytest.raises(ServiceError, match=f"port {port} .* already in use.*--mlflow-port"):
            services_up(config)
        store = ServicesConfig(
            action="up", home=str(tmp_path), object_store=True, mon_port=port, s3_port=free_port()
        )
        with pytest.raises(ServiceError, match=f"port {port} .*--mon-port"):
            services_up(store)
    assert read_state(tmp_path).get("object_store") is None


def test_a_fresh_object_store_sets_the_stale_tracking_database_aside(tmp_path):
    """The store keeps its data in memory: after `down` and `up` its artifacts are gone, so the
    database whose runs and model versions pointed at them is kept under another name (not
    deleted), and MLflow starts a new one instead of serving versions with no files."""
    import sqlite3

    from mlflow import MlflowClient

    ports = {"mlflow_port": free_port(), "s3_port": free_port(), "mon_port": free_port()}
    config = ServicesConfig(action="up", home=str(tmp_path), object_store=True, **ports)
    try:
        first = services_up(config)
        MlflowClient(first["mlflow"]["uri"]).create_experiment("before-the-restart")
        services_down(config)
        again = services_up(config)
        (kept,) = tmp_path.glob("mlflow-before-*.db")
        assert (
            MlflowClient(again["mlflow"]["uri"]).get_experiment_by_name("before-the-restart")
            is None
        )
        with sqlite3.connect(kept) as database:
            names = [row[0] for row in database.execute("SELECT name FROM experiments")]
        assert "before-the-restart" in names
        services_up(config)  # the store still runs: nothing more is set aside
        assert len(list(tmp_path.glob("mlflow-before-*.db"))) == 1
    finally:
        services_down(config)
