"""Training on many pods through Kubeflow's training operator: the PyTorchJob genomeflow
generates, read back through the training SDK's own models, and the submit/wait path.

The Kubernetes API here is a FAKE: an HTTP server on 127.0.0.1 answering the PyTorchJob
endpoints ``TrainingClient`` calls. Where a test lets it run pods, it plays the operator's
part on this machine: it starts each replica's container command as a local process with
the variables the operator gives a pod (``MASTER_ADDR``, ``PET_NNODES``, ``PET_NODE_RANK``,
``PET_NPROC_PER_NODE``...; see the training operator's ``pkg/controller.v1/pytorch/envvar.go``)
and reports the job's conditions from their exit codes. torchrun, DDP, the object store and
MLflow in those processes are real.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kubeflow.training import TrainingClient
from kubeflow.training.api_client import ApiClient
from kubeflow.training.utils.utils import FakeResponse
from kubernetes import client as k8s

from genomeflow.cli import build_parser
from genomeflow.cli.arguments import config_from_args
from genomeflow.cluster import ClusterSettings, GpuScheduling
from genomeflow.config import PretrainConfig, TrainConfig
from genomeflow.kube.pods import stage_command
from genomeflow.kube.pytorchjob import CONTAINER, job_name, pytorch_job
from genomeflow.kube.stage_job import run_stage_job
from genomeflow.kube.training_client import TrainingJobError, run_job
from genomeflow.services.process import free_port
from helpers import JsonAnswers

PATH = "/apis/kubeflow.org/v1/namespaces/{}/pytorchjobs"
CLUSTER = ClusterSettings(
    image="registry.example/genomeflow:1.0", image_pull_secrets=("registry-login",)
)


def _job(nodes: int = 3, cluster: ClusterSettings = CLUSTER, **changes: Any):
    config = TrainConfig(dataset="s3://data/ds", output="s3://data/model-job", **changes)
    return pytorch_job(
        job_name("train", config.output),
        stage_command("train", config),
        nodes,
        cluster,
        "promoters",
        kfp_run_id="run-42",
        namespace="team-a",
    )


def _serialised(job: Any) -> dict[str, Any]:
    return ApiClient().sanitize_for_serialization(job)


def test_the_job_is_the_training_sdks_model_field_by_field():
    data = _serialised(_job())
    api = ApiClient()
    loaded = api.deserialize(FakeResponse(data), "KubeflowOrgV1PyTorchJob")
    assert api.sanitize_for_serialization(loaded) == data  # no field the SDK lacks
    assert (data["apiVersion"], data["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    assert data["metadata"]["namespace"] == "team-a"
    assert data["metadata"]["name"].startswith("genomeflow-train-")
    assert len(data["metadata"]["name"]) + len("-worker-10") <= 63  # pod names stay valid


def test_the_job_carries_what_the_operator_and_the_gpu_steps_need():
    spec = _serialised(
        _job(nodes=3, cluster=dataclasses.replace(CLUSTER, gpu=GpuScheduling(count=4)))
    )["spec"]
    replicas = spec["pytorchReplicaSpecs"]
    assert {name: r["replicas"] for name, r in replicas.items()} == {"Master": 1, "Worker": 2}
    assert spec["nprocPerNode"] == "4"  # a string in the v1 API: "auto" is allowed too
    assert spec["runPolicy"] == {
        "backoffLimit": 0,
        "activeDeadlineSeconds": CLUSTER.gpu_timeout_s,
        "cleanPodPolicy": "Running",
    }
    for replica in replicas.values():
        assert replica["restartPolicy"] == "Never"
        pod = replica["template"]["spec"]
        (container,) = pod["containers"]
        assert container["name"] == CONTAINER == "pytorch"  # the operator's env goes there only
        assert container["image"] == CLUSTER.image
        assert container["command"][:5] == [
            "torchrun",
            "--no-python",
            "genomeflow",
            "train",
            "s3://data/ds",
        ]
        assert "--output=s3://data/model-job" in container["command"]
        assert not any(arg.startswith("--nproc") for arg in container["command"])
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "4"
        assert pod["nodeSelector"] == {CLUSTER.gpu.node_label: CLUSTER.gpu.node_value}
        assert pod["tolerations"] == [
            {"key": CLUSTER.gpu.taint_key, "operator": "Exists", "effect": "NoSchedule"}
        ]
        assert pod["imagePullSecrets"] == [{"name": "registry-login"}]
        env = {entry["name"]: entry for entry in container["env"]}
        assert env["KFP_RUN_ID"]["value"] == "run-42"
        assert env["GENOMEFLOW_EXPERIMENT"]["value"] == "promoters"
        for secret in CLUSTER.secrets:  # by reference, never by value
            for key in secret.keys:
                assert "value" not in env[key]
                assert env[key]["valueFrom"]["secretKeyRef"]["name"] == secret.name


def test_one_worker_is_not_a_job():
    from genomeflow.errors import ConfigError

    with pytest.raises(ConfigError, match="nodes=1"):
        _job(nodes=1)


@pytest.mark.parametrize(
    ("stage", "config"),
    [
        (
            "train",
            TrainConfig(
                dataset="s3://b/ds",
                output="s3://b/m",
                architecture="cnn",
                preset="tiny",
                learning_rate=0.00031,
                dropout=0.0,
                compile=False,
                init_from="s3://b/pretrained",
            ),
        ),
        (
            "pretrain",
            PretrainConfig(inputs=["s3://b/a.fa", "s3://b/b.fa"], output="s3://b/p", steps=20),
        ),
    ],
)
def test_the_pods_command_line_gives_back_the_config(stage, config):
    command = stage_command(stage, config)
    assert command[:2] == ["genomeflow", stage]
    args = build_parser().parse_args(command[1:])
    assert config_from_args(type(config), args) == config


# --- submit and wait, against a FAKE Kubernetes API ------------------------------------------


class FakeTrainingOperator:
    """The PyTorchJob endpoints on 127.0.0.1 (see the module docstring: this is a fake).

    ``state``: ``run`` starts the replicas as local processes and reports their outcome;
    ``succeeded``, ``failed`` and ``running`` report that condition without running anything.
    """

    def __init__(self, state: str = "run", create_status: int = 201, logs: Path | None = None):
        self.state, self.create_status, self.logs = state, create_status, logs
        self.jobs: dict[str, dict[str, Any]] = {}
        self.outcomes: dict[str, str] = {}
        self.requests: list[tuple[str, str]] = []
        fake = self

        class Handler(JsonAnswers):
            def do_POST(self) -> None:
                fake.requests.append(("POST", self.path))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                name = body["metadata"]["name"]
                if fake.create_status != 201 or name in fake.jobs:
                    code = 409 if name in fake.jobs else fake.create_status
                    self.answer(code, {"kind": "Status", "message": "refused"})
                    return
                fake.jobs[name] = body
                if fake.state == "run":
                    fake.outcomes[name] = "Running"
                    threading.Thread(target=fake.run_pods, args=(name,), daemon=True).start()
                self.answer(201, body)

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path))
                name = self.path.rstrip("/").rsplit("/", 1)[-1]
                if name not in fake.jobs:
                    self.answer(404, {"kind": "Status", "message": f"{name} not found"})
                    return
                self.answer(200, {**fake.jobs[name], "status": fake.status(name)})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def client(self) -> TrainingClient:
        configuration = k8s.Configuration()
        configuration.host = f"http://127.0.0.1:{self.server.server_address[1]}"
        return TrainingClient(client_configuration=configuration)

    def status(self, name: str) -> dict[str, Any]:
        outcome = self.outcomes.get(name) or self.state.capitalize()
        conditions = [{"type": "Created", "status": "True", "reason": "PyTorchJobCreated"}]
        if outcome in ("Running", "Succeeded", "Failed"):
            conditions.append({"type": "Running", "status": "True", "reason": "PyTorchJobRunning"})
        if outcome == "Succeeded":
            conditions.append(
                {"type": "Succeeded", "status": "True", "reason": "PyTorchJobSucceeded"}
            )
        if outcome == "Failed":
            conditions.append(
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "PyTorchJobFailed",
                    "message": f"PyTorchJob {name} is failed because 1 Master replica(s) failed.",
                }
            )
        return {"conditions": conditions}

    def run_pods(self, name: str) -> None:
        """What the operator and the kubelet do, on this machine: every replica's container
        command with the pod's variables (Secrets stand for themselves: this environment)."""
        spec = self.jobs[name]["spec"]
        replicas = [
            (kind, index)
            for kind in ("Master", "Worker")
            for index in range(spec["pytorchReplicaSpecs"].get(kind, {}).get("replicas", 0))
        ]
        nproc, port = int(spec["nprocPerNode"]), str(free_port())
        children = []
        for kind, index in replicas:
            (container,) = spec["pytorchReplicaSpecs"][kind]["template"]["spec"]["containers"]
            rank = index if kind == "Master" else index + 1
            env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
            for entry in container.get("env", []):
                if "value" in entry:
                    env[entry["name"]] = entry["value"]
            env |= {
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": port,
                "PET_MASTER_ADDR": "127.0.0.1",
                "PET_MASTER_PORT": port,
                "WORLD_SIZE": str(len(replicas) * nproc),
                "RANK": str(rank),
                "PET_NPROC_PER_NODE": str(nproc),
                "PET_NODE_RANK": str(rank),
                "PET_NNODES": str(len(replicas)),
                "PYTHONUNBUFFERED": "1",
            }
            log = open(self.logs / f"{name}-{kind.lower()}-{index}.log", "w")  # noqa: SIM115
            children.append(
                subprocess.Popen(
                    container["command"] + container.get("args", []),
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        codes = [child.wait() for child in children]
        self.outcomes[name] = "Succeeded" if not any(codes) else "Failed"


@pytest.fixture
def fake_operator(tmp_path) -> Iterator[FakeTrainingOperator]:
    fake = FakeTrainingOperator(logs=tmp_path)
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.mark.slow
@pytest.mark.integration
def test_a_train_step_with_two_nodes_trains_on_two_pods(live, planted, fake_operator, tmp_path):
    """The whole path: the job is created, its two "pods" run torchrun with the operator's
    variables, train one model with DDP over gloo from s3:// and write it to the object store
    (rank 0), and the step's output holds that model and its metrics."""
    import mlflow

    from genomeflow.storage import upload

    bucket = live["object_store"]["bucket"]
    upload(planted, f"s3://{bucket}/pytorchjob/ds")
    config = TrainConfig(
        dataset=f"s3://{bucket}/pytorchjob/ds",
        output=f"s3://{bucket}/pytorchjob/model-job",
        architecture="cnn",
        preset="tiny",
        epochs=2,
        patience=0,
        batch_size=16,
        seed=3,
    )
    cluster = dataclasses.replace(CLUSTER, gpu=GpuScheduling(count=1))
    metrics = run_stage_job(
        "train", config, tmp_path / "model", 2, "pytorchjob-test", cluster,
        fake_operator.client(), polling_interval=0.5,
    )  # fmt: skip
    logs = {p.name: p.read_text() for p in tmp_path.glob("*.log")}
    assert len(logs) == 2, logs
    assert metrics["epochs_run"] == 2 and 0 <= metrics["test_accuracy"] <= 1
    assert json.loads((tmp_path / "model" / "metrics.json").read_text()) == metrics
    assert (tmp_path / "model" / "model.safetensors").is_file()
    (posted,) = fake_operator.jobs.values()
    assert fake_operator.requests[0] == ("POST", PATH.format(posted["metadata"]["namespace"]))
    mlflow.set_tracking_uri(live["mlflow"]["uri"])
    runs = mlflow.search_runs(experiment_names=["pytorchjob-test"], output_format="list")
    assert [run.data.params["processes"] for run in runs] == ["2"]  # rank 0 alone recorded


def test_a_failed_job_is_one_line_naming_the_masters_log(fake_operator):
    fake_operator.state = "failed"
    with pytest.raises(TrainingJobError) as info:
        run_job(_job(), 5, fake_operator.client(), polling_interval=0.05)
    message = str(info.value)
    assert "\n" not in message
    assert "team-a/genomeflow-train-" in message and "(PyTorchJobFailed: PyTorchJob" in message
    assert (
        "kubectl logs -n team-a genomeflow-train-" in message and "-master-0 -c pytorch" in message
    )


def test_a_job_that_does_not_finish_in_time_is_named(fake_operator):
    fake_operator.state = "running"
    with pytest.raises(TrainingJobError, match=r"did not succeed within 0\.3 s; it keeps running"):
        run_job(_job(), 0.3, fake_operator.client(), polling_interval=0.05)


def test_a_retried_step_follows_its_own_job(fake_operator):
    fake_operator.state = "succeeded"
    job = _job()
    run_job(job, 5, fake_operator.client(), polling_interval=0.05)
    run_job(job, 5, fake_operator.client(), polling_interval=0.05)  # HTTP 409: the same job
    assert [method for method, _ in fake_operator.requests].count("POST") == 2
    assert len(fake_operator.jobs) == 1


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (403, "refused access (HTTP 403: refused); your account needs rights on pytorchjobs"),
        (404, "or the Kubeflow training operator itself (the pytorchjobs.kubeflow.org/v1"),
    ],
)
def test_a_refused_job_says_why(fake_operator, status, message):
    fake_operator.create_status = status
    with pytest.raises(TrainingJobError, match="could not create PyTorchJob team-a/") as info:
        run_job(_job(), 5, fake_operator.client(), polling_interval=0.05)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_pipelines_sweep_step_makes_its_katib_trials_pytorchjobs(tmp_path, monkeypatch):
    """The sweep step of the training pipeline passes its ``nodes`` to Katib: every trial is a
    PyTorchJob of that many pods (the Experiment as --dry-run compiles it; no cluster here)."""
    import genomeflow.components.runtime as runtime
    import genomeflow.storage as storage
    from genomeflow.config import SweepConfig
    from genomeflow.sweep.katib import katib_sweep

    steps = []
    monkeypatch.setattr(runtime, "run_step", lambda *step, **_: steps.append(step))
    monkeypatch.setattr(storage, "download", lambda *args, **kwargs: None)  # best_params.json
    artifact = lambda uri: type("Artifact", (), {"uri": uri, "path": str(tmp_path)})()  # noqa: E731
    spec = Path(__file__).resolve().parents[1] / "examples" / "sweeps" / "dna_promoter.yaml"
    dataset, result = artifact("s3://bucket/ds"), artifact("minio://bucket/sweep")
    runtime.run_sweep_step({"spec": str(spec)}, dataset, result, "katib", "gf", None, nodes=3)
    ((command, settings, *_),) = steps
    assert command == "sweep" and settings["nodes"] == 3 and settings["backend"] == "katib"
    config = SweepConfig.from_mapping({**settings, "dry_run": True})
    template = katib_sweep(config).experiment.spec.trial_template
    assert template.trial_spec.kind == "PyTorchJob"
    assert template.trial_spec.spec.pytorch_replica_specs["Worker"].replicas == 2
    assert template.primary_container_name == CONTAINER
