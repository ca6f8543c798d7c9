"""The training and batch-scoring pipelines with every step inside the project's CPU image:
kfp's DockerRunner against podman's Docker-compatible socket, as the image's non-root user, on
the loopback MLflow server and S3 store.

`make test-containers` builds the image, starts podman's service and runs this file with
GENOMEFLOW_CONTAINER_TESTS=1, GENOMEFLOW_TEST_IMAGE and DOCKER_HOST; plain `make test` skips it.
Under that variable a missing socket or image fails the test rather than skipping it.

DockerRunner removes each container as it exits, and when a container is gone before its logs
are read it reports SUCCESS "with no outputs", even for a failed step. The runner's container
call is wrapped here so that every step's real exit status and user are known and checked.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
import yaml

from genomeflow.config import PipelineConfig
from genomeflow.pipelines import run
from genomeflow.services import s3_environment
from helpers import MOTIF
from test_pipelines import tiny_training, uploaded

ENABLED = os.environ.get("GENOMEFLOW_CONTAINER_TESTS") == "1"
# both pipelines, 17 containers: ~15 min on 2 shared cores (each step starts a Python with torch)
TEST_TIMEOUT_S = 2400
pytestmark = [
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.timeout(TEST_TIMEOUT_S),
    pytest.mark.skipif(
        not ENABLED, reason="needs podman and the image: run `make test-containers`"
    ),
]
IMAGE_USER = "1000:1000"  # USER of docker/Dockerfile*'s runtime stage
STEP_TIMEOUT_S = 900  # one step's container, the slowest (crossval, 2 folds) takes ~2 min
TINY_TRAINING = tiny_training("container-test")  # as tests/test_pipelines.py runs it
STAGES = {"tokenise", "dataset", "pretrain", "baseline", "sweep", "train", "evaluate",
          "crossval", "interpret", "compare", "register"}  # fmt: skip


@pytest.fixture(scope="module")
def image() -> str:
    """The CPU image `make test-containers` built, found through podman's socket."""
    import docker

    name = os.environ.get("GENOMEFLOW_TEST_IMAGE", "")
    host = os.environ.get("DOCKER_HOST", "")
    if not (name and host):
        pytest.fail("set GENOMEFLOW_TEST_IMAGE and DOCKER_HOST (make test-containers does)")
    client = docker.from_env(timeout=60)  # seconds per API call
    try:
        client.ping()
        client.images.get(name)
    except docker.errors.DockerException as error:
        pytest.fail(f"{name} through {host}: {error}")
    finally:
        client.close()
    return name


@pytest.fixture
def containers(monkeypatch) -> list[dict]:
    """Every step's container as DockerRunner starts it, but kept until its exit status and user
    are read; the list holds one record per step."""
    import docker
    from kfp.local import docker_task_handler

    seen: list[dict] = []

    def run_docker_container(client, image, command, volumes, **run_args) -> int:
        container = client.containers.run(
            image=image, command=command, volumes=volumes, detach=True, **run_args
        )
        try:
            for line in container.logs(stream=True, follow=True):
                print(line.decode(), end="")
            status = container.wait(timeout=STEP_TIMEOUT_S)["StatusCode"]
            container.reload()
            user = container.attrs["Config"]["User"]
            seen.append({"image": image, "user": user, "status": status})
            return status
        finally:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)

    monkeypatch.setattr(docker_task_handler, "run_docker_container", run_docker_container)
    return seen


def run_in_containers(config: PipelineConfig, root: Path, environment: dict[str, str]) -> str:
    """Run ``config``'s pipeline with every step in ``config.image``; returns the KFP run id."""
    from kfp import local

    pipeline = run.pipeline_function(config, retries=False)
    values = run.arguments(config, pipeline)
    run_id = f"local-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    root.mkdir(parents=True)
    root.chmod(0o777)  # the steps write their artifacts here as the image's user
    runner = local.DockerRunner(
        network_mode="host", environment={**environment, "KFP_RUN_ID": run_id}
    )
    local.init(runner=runner, pipeline_root=str(root))
    pipeline(**values)
    return run_id


def test_pipelines_run_every_step_in_the_project_image(
    image, containers, live, class_files, tmp_path
):
    import boto3
    import mlflow

    from genomeflow.storage import s3

    bucket = live["object_store"]["bucket"]
    inputs = uploaded(class_files, f"s3://{bucket}/container-test")
    environment = {
        **s3_environment(live["object_store"]),
        "MLFLOW_TRACKING_URI": live["mlflow"]["uri"],
    }
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({**TINY_TRAINING, "unlabelled": inputs[:1]}))
    config = PipelineConfig(
        action="run", local=True, pretrain=True, image=image, inputs=inputs,
        params_file=str(params),
    )  # fmt: skip
    run_id = run_in_containers(config, tmp_path / "root", environment)
    assert len(containers) >= len(STAGES) + 2  # + the parent run's opening and closing steps
    assert {(c["image"], c["user"], c["status"]) for c in containers} == {(image, IMAGE_USER, 0)}
    written = [p for p in (tmp_path / "root").rglob("*") if p.is_file()]
    assert written and {p.stat().st_uid for p in written} == {int(IMAGE_USER.split(":")[0])}

    client = mlflow.MlflowClient(live["mlflow"]["uri"])
    experiment = client.get_experiment_by_name("container-test")
    (parent,) = client.search_runs(
        [experiment.experiment_id], f"tags.`kfp.run_id` = '{run_id}' and "
        "tags.`genomeflow.pipeline` = 'genomeflow-train'",
    )  # fmt: skip
    assert parent.info.status == "FINISHED"
    children = client.search_runs(
        [experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    # run names say what ran (`train cnn-tiny`); the stage tag keeps the bare stage name
    assert {r.data.tags["genomeflow.stage"] for r in children} >= STAGES
    assert {r.info.status for r in children} == {"FINISHED"}
    board = client.download_artifacts(parent.info.run_id, "leaderboard.md", str(tmp_path))
    board = Path(board).read_text()
    assert "tfidf+logreg" in board and "cnn-tiny" in board and "distilbert-tiny" in board
    store = boto3.client("s3", **s3.settings())
    train = next(r for r in children if r.data.tags["genomeflow.stage"] == "train")
    prefix = f"mlflow/{experiment.experiment_id}/{train.info.run_id}/artifacts/"
    keys = [item["Key"] for item in store.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    assert any(key.endswith("learning_curve.png") for key in keys)

    mlflow.set_tracking_uri(live["mlflow"]["uri"])
    champion = mlflow.pyfunc.load_model("models:/container-test@champion")
    frame = pd.DataFrame({"sequence": ["ACGT" * 10 + MOTIF + "ACGT" * 5, "ACGT" * 16]})
    predicted = champion.predict(frame)
    assert set(predicted["label"]) <= {"background", "promoter"} and len(predicted) == 2

    # the batch-scoring pipeline scores the same S3 inputs with the champion, in the image too
    containers.clear()
    scoring = PipelineConfig(
        action="run", local=True, pipeline="predict", image=image, inputs=inputs,
        param=["model=models:/container-test@champion", "experiment=container-test"],
    )  # fmt: skip
    run_in_containers(scoring, tmp_path / "scoring", environment)
    assert [(c["image"], c["status"]) for c in containers] == [(image, 0)] * 3
    (table,) = (tmp_path / "scoring").glob("genomeflow-predict-*/predict/predictions")
    scores = pd.read_parquet(table)
    assert len(scores) == 160 and {"p_promoter", "p_background"} <= set(scores.columns)
