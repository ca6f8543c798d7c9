"""Kubeflow components and pipelines: each component's function on tiny data, the compiled YAML
(GPU scheduling, secrets, images, caching), and the whole training pipeline on the KFP local
runner against the real MLflow server and S3 store on loopback."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest
import yaml
from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Markdown, Metrics, Model

from genomeflow import cli
from genomeflow.cluster import (
    CLUSTER_ENV,
    PROJECT_IMAGE,
    SECRETS,
    VERSION_IMAGE,
    ClusterSettings,
)
from genomeflow.components.baseline import baseline
from genomeflow.components.compare import compare
from genomeflow.components.crossval import crossval
from genomeflow.components.dataset import dataset
from genomeflow.components.evaluate import evaluate
from genomeflow.components.interpret import interpret
from genomeflow.components.predict import predict
from genomeflow.components.runtime import object_store_uri
from genomeflow.components.sweep import sweep
from genomeflow.components.synthetic import synthetic
from genomeflow.components.tokenise import tokenise
from genomeflow.components.train import train
from genomeflow.pipelines.training import DEFAULT_SWEEP
from helpers import MOTIF, artifact, write_text_corpus

REPO = Path(__file__).resolve().parents[1]
# train-2 is the CNN (a second train task); sweep trials are Katib's GPU pods (test_katib)
GPU_STEPS = {"train", "train-2", "crossval", "interpret"}
CACHED_STEPS = {"tokenise", "dataset"}
LAUNCHES_PODS = {"sweep", "train", "train-2", "pretrain"}  # Katib trials; PyTorchJobs (nodes>1)
TINY = {"preset": "tiny", "epochs": 1}
QUICK_SWEEP = {**DEFAULT_SWEEP, "early_terminate": None}
QUICK_SWEEP.pop("early_terminate")


def uploaded(paths, prefix: str) -> list[str]:
    """Copy ``paths`` under the ``prefix`` URI (the steps read their inputs from the object
    store); their URIs."""
    from genomeflow.storage import upload

    uris = [f"{prefix}/{Path(path).name}" for path in paths]
    for path, uri in zip(paths, uris, strict=True):
        upload(path, uri)
    return uris


def tiny_training(name: str) -> dict:
    """The training pipeline's parameters on tiny data (its pretraining shape takes
    ``unlabelled`` besides), under experiment and model ``name``."""
    return {
        "experiment": name,
        "model_name": name,
        "tokeniser_method": "kmer",
        "baselines": [{"features": "tfidf", "classifier": "logreg"}],
        "sweep_spec": QUICK_SWEEP,
        "sweep_trials": 1,
        "preset": "tiny",
        "epochs": 2,
        "cnn_preset": "tiny",
        "cnn_epochs": 2,
        "folds": 2,
        "interpret_limit": 8,
        "pretrain_steps": 3,
    }


# --- each component's Python function on tiny data (untracked: no MLflow configured) --------


def test_data_components_as_python_functions(class_files, tmp_path):
    tokens, metrics = artifact(Artifact, tmp_path, "tok"), artifact(Metrics, tmp_path, "m1")
    tokenise.python_func(
        inputs=class_files, tokeniser=tokens, metrics=metrics, method="kmer",
        settings={"k": 4}, experiment="x",
    )  # fmt: skip
    assert (Path(tokens.path) / "tokenizer.json").is_file()
    assert metrics.metadata["vocab_size"] == 4**4 + 5  # 4-mers and the special tokens

    split, metrics = artifact(Dataset, tmp_path, "ds"), artifact(Metrics, tmp_path, "m2")
    dataset.python_func(
        inputs=class_files, tokeniser=tokens, dataset=split, metrics=metrics, seed=3
    )
    assert metrics.metadata["rows_train"] > metrics.metadata["rows_test"] > 0
    assert pd.read_parquet(Path(split.path) / "parquet" / "test.parquet").shape[0] > 0

    controls, metrics = artifact(Dataset, tmp_path, "ctl"), artifact(Metrics, tmp_path, "m3")
    synthetic.python_func(inputs=class_files[:1], controls=controls, metrics=metrics, k=2)
    assert metrics.metadata["controls"] == 80


def test_model_components_as_python_functions(planted, class_files, tmp_path):
    made = {}
    for name, kind in [
        ("model", Model), ("metrics", Metrics), ("classification", ClassificationMetrics),
    ]:  # fmt: skip
        made[name] = artifact(kind, tmp_path, f"baseline_{name}")
    ds = Dataset(uri=planted)
    baseline.python_func(dataset=ds, features="tfidf", classifier="logreg", **made)
    assert made["metrics"].metadata["test_accuracy"] > 0.9  # the planted motif
    confusion = made["classification"].metadata["confusionMatrix"]
    assert [c["displayName"] for c in confusion["annotationSpecs"]] == ["promoter", "background"]
    assert sum(map(sum, (row["row"] for row in confusion["rows"]))) == 48  # the test split
    roc = made["classification"].metadata["confidenceMetrics"]
    assert roc[0]["falsePositiveRate"] == 0.0 and roc[-1]["recall"] == 1.0

    tuned = artifact(Artifact, tmp_path, "sweep")
    sweep.python_func(
        dataset=ds, result=tuned, metrics=artifact(Metrics, tmp_path, "sm"),
        spec=QUICK_SWEEP, trials=2, **TINY,
    )  # fmt: skip
    assert json.loads((Path(tuned.path) / "best_params.json").read_text())["params"]

    model, train_metrics = artifact(Model, tmp_path, "model"), artifact(Metrics, tmp_path, "tm")
    train.python_func(dataset=ds, sweep=tuned, model=model, metrics=train_metrics, **TINY)
    assert {"valid_f1_macro", "test_f1_macro"} <= set(train_metrics.metadata)

    report, scored = artifact(HTML, tmp_path, "eval.html"), artifact(Metrics, tmp_path, "em")
    evaluate.python_func(
        model=model, dataset=ds, evaluation=artifact(Artifact, tmp_path, "ev"), report=report,
        metrics=scored, classification=artifact(ClassificationMetrics, tmp_path, "ec"),
    )  # fmt: skip
    # evaluate re-scores the test split: the same numbers train recorded
    assert scored.metadata["test_f1_macro"] == pytest.approx(
        train_metrics.metadata["test_f1_macro"], abs=1e-9
    )
    assert '<img src="data:image/png;base64,' in Path(report.path).read_text()

    folds = artifact(Metrics, tmp_path, "cvm")
    crossval.python_func(
        dataset=ds, sweep=tuned, result=artifact(Artifact, tmp_path, "cv"), metrics=folds,
        folds=2, **TINY,
    )  # fmt: skip
    assert "cv_f1_macro_mean" in folds.metadata

    page = artifact(HTML, tmp_path, "interpret.html")
    interpret.python_func(
        model=model, inputs=class_files[:1], attributions=artifact(Artifact, tmp_path, "ig"),
        report=page, metrics=artifact(Metrics, tmp_path, "im"), limit=12, steps=8,
    )  # fmt: skip
    assert "top k-mer towards" in Path(page.path).read_text()

    notes = artifact(Markdown, tmp_path, "compare.md")
    compare.python_func(
        model=model, result=artifact(Artifact, tmp_path, "cmp"), report=notes,
        metrics=artifact(Metrics, tmp_path, "cm"),
    )  # fmt: skip
    assert "alpha" in Path(notes.path).read_text()

    table = artifact(Dataset, tmp_path, "predictions")
    predict.python_func(
        model=model.path, inputs=class_files[1:], predictions=table,
        metrics=artifact(Metrics, tmp_path, "pm"),
    )  # fmt: skip
    assert len(pd.read_parquet(table.path)) == 80


# --- the compiled YAML ----------------------------------------------------------------------


def load_compiled(text: str) -> dict:
    """KFP writes the pipeline spec, then the platform (Kubernetes) spec as a second document."""
    spec: dict = {}
    for document in yaml.safe_load_all(text):
        spec |= document
    return spec


def compiled(tmp_path: Path, *flags: str) -> dict:
    path = tmp_path / "pipeline.yaml"
    assert cli.main(["pipeline", "compile", "-o", str(path), *flags]) == 0
    return load_compiled(path.read_text())


def executors(spec: dict) -> dict[str, dict]:
    """Step name -> its container (``exec-train`` -> ``train``)."""
    found = spec["deploymentSpec"]["executors"].items()
    return {name.removeprefix("exec-"): body["container"] for name, body in found}


def kubernetes(spec: dict) -> dict[str, dict]:
    found = spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"].items()
    return {name.removeprefix("exec-"): body for name, body in found}


def test_compiled_pipeline_runs_gpu_steps_on_gpu_nodes(tmp_path):
    spec = compiled(tmp_path)
    containers, platform = executors(spec), kubernetes(spec)
    assert set(containers) > GPU_STEPS
    for step, container in containers.items():
        accelerator = container.get("resources", {}).get("accelerator")
        selector = platform[step].get("nodeSelector", {}).get("labels")
        tolerations = platform[step].get("tolerations")
        if step in GPU_STEPS:
            assert accelerator["resourceType"] == accelerator["type"] == "nvidia.com/gpu"
            assert accelerator["resourceCount"] == accelerator["count"] == "1"
            assert selector == {"nvidia.com/gpu.present": "true"}
            assert tolerations == [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ]
        else:
            assert accelerator is None and selector is None and tolerations is None, step
        resources = container["resources"]
        assert resources["cpuRequest"] > 0 and resources["memoryRequest"] > 0, step


def test_compile_flags_choose_gpu_pool_image_timeout_and_pull_secrets(tmp_path):
    spec = compiled(
        tmp_path, "--gpu-node-label", "pool", "--gpu-node-value", "h100", "--gpus", "2",
        "--gpu-taint", "dedicated", "--image", "registry.example/genomeflow:test",
        "--gpu-timeout", "3600", "--image-pull-secrets", "regcred", "mirror",
    )  # fmt: skip
    platform, containers = kubernetes(spec), executors(spec)
    assert platform["train"]["nodeSelector"]["labels"] == {"pool": "h100"}
    assert platform["train"]["tolerations"][0]["key"] == "dedicated"
    assert containers["train"]["resources"]["accelerator"]["resourceCount"] == "2"
    assert {c["image"] for c in containers.values()} == {"registry.example/genomeflow:test"}
    for step in containers:
        pulled = [entry["secretName"] for entry in platform[step]["imagePullSecret"]]
        assert pulled == ["regcred", "mirror"], step
        deadline = platform[step].get("activeDeadlineSeconds")
        assert deadline == ("3600" if step in GPU_STEPS else None), step


def test_the_sweep_step_hands_its_trials_the_compiled_image_gpu_pool_and_secrets(
    tmp_path, monkeypatch
):
    spec = compiled(
        tmp_path, "--image", "registry.example/genomeflow:test", "--gpu-node-label", "pool",
        "--gpu-node-value", "h100", "--image-pull-secrets", "regcred",
    )  # fmt: skip
    [entry] = executors(spec)["sweep"]["env"]
    monkeypatch.setenv(entry["name"], entry["value"])  # what the sweep step's pod sees
    settings = ClusterSettings.from_env()
    assert settings.image == "registry.example/genomeflow:test"
    assert (settings.gpu.node_label, settings.gpu.node_value) == ("pool", "h100")
    assert settings.image_pull_secrets == ("regcred",) and settings.secrets == SECRETS
    assert settings == dataclasses.replace(
        ClusterSettings(),
        image=settings.image,
        gpu=settings.gpu,
        image_pull_secrets=settings.image_pull_secrets,
    )  # every other setting survives the trip unchanged


def test_gpu_steps_time_out_after_a_day_and_the_platform_spec_is_kfps_own(tmp_path):
    from google.protobuf import json_format
    from kfp.kubernetes import kubernetes_executor_config_pb2
    from kfp.pipeline_spec import pipeline_spec_pb2

    path = tmp_path / "pipeline.yaml"
    assert cli.main(["pipeline", "compile", "-o", str(path)]) == 0
    pipeline, platform_spec = yaml.safe_load_all(path.read_text())
    # strict parsing: every field is one of KFP's protobuf messages (unknown names raise)
    json_format.ParseDict(pipeline, pipeline_spec_pb2.PipelineSpec())
    json_format.ParseDict(platform_spec, pipeline_spec_pb2.PlatformSpec())
    for step, body in kubernetes(load_compiled(path.read_text())).items():
        config = json_format.ParseDict(
            body, kubernetes_executor_config_pb2.KubernetesExecutorConfig()
        )
        expected = ClusterSettings().gpu_timeout_s if step in GPU_STEPS else 0
        assert config.active_deadline_seconds == expected == (24 * 3600 if expected else 0), step
        assert not config.image_pull_secret, step  # none unless the compile asks


def test_pretrain_shape_starts_sweep_train_and_crossval_from_the_pretrained_weights(tmp_path):
    plain = compiled(tmp_path / "plain")
    assert "pretrain" not in executors(plain)
    assert not {"unlabelled", "pretrain_steps"} & set(
        plain["root"]["inputDefinitions"]["parameters"]
    )
    spec = compiled(tmp_path / "pretrain", "--pretrain")
    assert {"unlabelled", "pretrain_steps"} <= set(spec["root"]["inputDefinitions"]["parameters"])
    assert executors(spec)["pretrain"]["resources"]["accelerator"]["resourceCount"] == "1"
    tasks = next(
        body["dag"]["tasks"]
        for body in spec["components"].values()
        if "pretrain" in body.get("dag", {}).get("tasks", {})
    )  # the tasks inside the MLflow parent run's exit-handler group
    for name in ("sweep", "train", "crossval"):
        source = tasks[name]["inputs"]["artifacts"]["init_from"]["taskOutputArtifact"]
        assert source == {"outputArtifactKey": "model", "producerTask": "pretrain"}, name
    assert "init_from" not in tasks["train-2"]["inputs"]["artifacts"]  # the CNN starts fresh


@pytest.mark.parametrize("shape", [[], ["--pretrain"]])
def test_every_pipeline_parameter_reaches_its_tasks_in_both_shapes(tmp_path, shape):
    """KFP passes the pipeline's values by position: a parameter after one the plain shape
    drops would silently keep its default (``nodes`` did)."""
    spec = compiled(tmp_path / "p", *shape)
    tasks = next(
        body["dag"]["tasks"]
        for body in spec["components"].values()
        if "train" in body.get("dag", {}).get("tasks", {})
    )
    steps = ["sweep", "train", "train-2", *(["pretrain"] if shape else [])]
    for step in steps:
        given = tasks[step]["inputs"]["parameters"]["nodes"]
        assert given == {"componentInputParameter": "pipelinechannel--nodes"}, step
    assert tasks["train"]["inputs"]["parameters"]["preset"] == {
        "componentInputParameter": "pipelinechannel--preset"
    }


def test_compiled_pipeline_references_secrets_and_never_inlines_them(tmp_path, monkeypatch):
    planted_secret = "s3cr3t-value-that-must-not-leak"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", planted_secret)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", planted_secret)
    path = tmp_path / "p.yaml"
    assert cli.main(["pipeline", "compile", "-o", str(path)]) == 0
    text = path.read_text()
    assert planted_secret not in text
    spec = load_compiled(text)
    for step, container in executors(spec).items():
        assert container["image"] == PROJECT_IMAGE, step  # the project image everywhere
        env = {entry["name"]: entry["value"] for entry in container.get("env", [])}
        # by value only the settings the sweep hands its Katib trials and train/pretrain their
        # PyTorchJob (Secret names, no values)
        assert set(env) == ({CLUSTER_ENV} if step in LAUNCHES_PODS else set()), step
        platform = kubernetes(spec)[step]
        referenced = {
            (entry["secretName"], pair["envVar"])
            for entry in platform["secretAsEnv"]
            for pair in entry["keyToEnv"]
        }
        wanted = {(s.name, key) for s in SECRETS for key in (*s.keys, *s.optional_keys)}
        assert referenced == wanted, step
        assert platform["fieldPathAsEnv"] == [
            {"name": "KFP_RUN_ID", "fieldPath": "metadata.labels['pipeline/runid']"}
        ]


def test_compiled_pipeline_caches_data_steps_only_and_retries_network_steps(tmp_path):
    spec = compiled(tmp_path)
    tasks = {}
    for component in spec["components"].values():  # the exit handler's inner DAG
        tasks |= component.get("dag", {}).get("tasks", {})
    tasks |= spec["root"]["dag"]["tasks"]
    for name, task in tasks.items():
        step = name.removeprefix("for-loop-2-")  # baseline sits inside the ParallelFor
        if step not in executors(spec):
            continue
        cached = task.get("cachingOptions", {}).get("enableCache", False)
        assert cached == (step in CACHED_STEPS), step
        retried = "retryPolicy" in task
        assert retried == (step not in {"sweep", "train", "train-2", "crossval"}), step


def test_every_pipeline_parameter_is_typed_with_a_default(tmp_path):
    for pipeline in ("training", "predict"):
        spec = compiled(tmp_path / pipeline, "--pipeline", pipeline)  # outputs are never replaced
        parameters = spec["root"]["inputDefinitions"]["parameters"]
        assert parameters, pipeline
        for name, parameter in parameters.items():
            assert parameter["parameterType"] in {
                "STRING", "NUMBER_INTEGER", "NUMBER_DOUBLE", "LIST", "STRUCT", "BOOLEAN",
            }, name  # fmt: skip
            assert "defaultValue" in parameter, name


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["pipeline", "run"], "needs --local"),
        (["pipeline", "run", "--local"], "give the training pipeline its sequences: --inputs"),
        (
            ["pipeline", "run", "--local", "--inputs", "a.fa", "--param", "nonsense=1"],
            "has no parameter 'nonsense'",
        ),
        (["pipeline", "run", "--local", "--param", "preset"], "is not name=value"),
        (["pipeline", "submit"], "--host URL"),
        (["pipeline", "compile", "--pipeline", "predict", "--pretrain"], "--pretrain applies"),
        (
            ["pipeline", "run", "--local", "--inputs", "a.fa", "--param", "unlabelled=[u.fa]"],
            "has no parameter 'unlabelled'",
        ),
        (
            ["pipeline", "run", "--local", "--inputs", "a.fa", "--param", "sweep_spec={method: x}"],
            "choose random, grid or bayes",
        ),
    ],
)
def test_pipeline_command_errors_are_one_line(argv, message, capsys):
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


# --- the whole training pipeline on the KFP local runner -----------------------------------


@pytest.mark.slow
@pytest.mark.integration
def test_training_pipeline_on_local_runner_registers_a_champion(live, class_files, tmp_path):
    import boto3
    import mlflow

    from genomeflow.storage import s3

    bucket = live["object_store"]["bucket"]
    inputs = uploaded(class_files, f"s3://{bucket}/pipeline-test")
    # the pretraining shape: the unlabelled file's labels are not read
    params = {**tiny_training("pipeline-test"), "unlabelled": inputs[:1]}
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    done = subprocess.run(
        [sys.executable, "-m", "genomeflow", "pipeline", "run", "--local", "--pretrain", "-o",
         str(tmp_path / "root"), "--params-file", str(params_file), "--inputs", *inputs],
        capture_output=True, text=True, env=os.environ.copy(), timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    summary = done.stdout[done.stdout.index("stage ") :]
    for stage in ("tokenise", "dataset", "baseline tfidf+logreg", "sweep", "train", "register"):
        assert stage in summary
    assert "MLflow UI: http://127.0.0.1:" in summary
    assert "registered model: pipeline-test version 1, f1_macro " in summary
    assert (
        "(no champion before): gate promoted (no champion yet); serve "
        "models:/pipeline-test@champion"
    ) in summary

    client = mlflow.MlflowClient(live["mlflow"]["uri"])
    experiment = client.get_experiment_by_name("pipeline-test")
    parent = client.search_runs(
        [experiment.experiment_id], "tags.`genomeflow.pipeline` = 'genomeflow-train'"
    )[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["kfp.run_id"].startswith("local-")
    # register chose among every candidate of the run, and the parent run shows the board
    board = Path(client.download_artifacts(parent.info.run_id, "leaderboard.md", str(tmp_path)))
    board = board.read_text()
    assert "tfidf+logreg" in board and "cnn-tiny" in board and "distilbert-tiny" in board
    children = client.search_runs(
        [experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    stages = {run.data.tags["genomeflow.stage"]: run for run in children}
    assert set(stages) >= {"tokenise", "dataset", "pretrain", "baseline", "sweep", "train",
                           "evaluate", "crossval", "interpret", "compare", "register"}  # fmt: skip
    names = {run.info.run_name for run in children}
    assert "baseline tfidf+logreg" in names and "train distilbert-tiny" in names
    for stage, run in stages.items():  # the command that ran, not KFP's launcher
        assert run.data.tags["mlflow.source.name"] == f"genomeflow {stage}"
    # the parent run rolls up the challenger's scores and the gate's decision
    assert "test_f1_macro" in parent.data.metrics and "gate_promoted" in parent.data.metrics
    assert parent.data.tags["gate.decision"] in ("promoted", "refused")
    # the sweep, the transformer and crossval started from the pretrain step's weights
    tuned = ("sweep", "train", "crossval")
    started = [r for r in children if r.data.tags["genomeflow.stage"] in tuned]
    from_pretrain = [r for r in started if "/pretrain/model" in r.data.params.get("init_from", "")]
    assert {r.data.tags["genomeflow.stage"] for r in from_pretrain} == set(tuned)
    store = boto3.client("s3", **s3.settings())
    for run in children:
        assert run.data.tags["kfp.run_id"] == parent.data.tags["kfp.run_id"]
        # the server keeps MLflow's artifacts in S3
        if run.data.tags["genomeflow.stage"] == "train":
            prefix = f"mlflow/{experiment.experiment_id}/{run.info.run_id}/artifacts/"
            keys = store.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
            assert any(item["Key"].endswith("learning_curve.png") for item in keys)

    mlflow.set_tracking_uri(live["mlflow"]["uri"])
    champion = mlflow.pyfunc.load_model("models:/pipeline-test@champion")
    frame = pd.DataFrame({"sequence": ["ACGT" * 10 + MOTIF + "ACGT" * 5, "ACGT" * 16]})
    predicted = champion.predict(frame)
    assert set(predicted["label"]) <= {"background", "promoter"} and len(predicted) == 2

    # the batch-scoring pipeline scores the same S3 inputs with the champion
    done = subprocess.run(
        [sys.executable, "-m", "genomeflow", "pipeline", "run", "--local", "--pipeline",
         "predict", "-o", str(tmp_path / "scoring"), "--inputs", *inputs, "--param",
         "model=models:/pipeline-test@champion", "experiment=pipeline-test"],
        capture_output=True, text=True, env=os.environ.copy(), timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    (table,) = (tmp_path / "scoring").glob("genomeflow-predict-*/predict/predictions")
    scores = pd.read_parquet(table)
    assert len(scores) == 160 and {"p_promoter", "p_background"} <= set(scores.columns)
    assert "predict" in done.stdout and "FINISHED" in done.stdout


@pytest.mark.slow
@pytest.mark.integration
def test_a_text_corpus_runs_the_training_pipeline_on_the_local_runner(live, tmp_path):
    """Issue 20's end to end: a CSV of documents (text and label columns) in S3 through every
    step (a word tokeniser, the dataset, baselines, sweep, transformer, CNN over token
    embeddings, crossval, interpret on words, compare) to a registered model that scores raw
    text."""
    import mlflow

    corpus = write_text_corpus(tmp_path, count=30)
    bucket = live["object_store"]["bucket"]
    inputs = uploaded([corpus["table"]], f"s3://{bucket}/text-test")
    params = {
        **tiny_training("text-test"),
        "tokeniser_method": "unigram",
        "vocab_size": 100,
        "tokeniser_settings": {"alphabet": "text"},
    }
    params.pop("pretrain_steps")  # the plain shape
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    done = subprocess.run(
        [sys.executable, "-m", "genomeflow", "pipeline", "run", "--local", "-o",
         str(tmp_path / "root"), "--params-file", str(params_file), "--inputs", *inputs],
        capture_output=True, text=True, env=os.environ.copy(), timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    summary = done.stdout[done.stdout.index("stage ") :]
    for stage in ("baseline tfidf+logreg", "train cnn-tiny", "interpret", "crossval"):
        assert stage in summary
    assert "registered model: text-test version 1" in summary

    mlflow.set_tracking_uri(live["mlflow"]["uri"])
    champion = mlflow.pyfunc.load_model("models:/text-test@champion")
    frame = pd.DataFrame({"sequence": ["The kitten purred on the collar.", "Stocks and bonds!"]})
    predicted = champion.predict(frame)
    assert set(predicted["label"]) <= {"pets", "markets"} and len(predicted) == 2


# --- submit: argument handling and the requests, against a faked KFP API (no cluster here) ---


class FakeKfpApi(BaseHTTPRequestHandler):
    """Answers the few KFP v2beta1 endpoints `kfp.Client` calls, and records every request."""

    requests: ClassVar[list[tuple[str, str, bytes]]] = []
    final_state = "SUCCEEDED"
    REPLIES: ClassVar[dict[str, dict]] = {
        "/apis/v2beta1/experiments": {"experiment_id": "e1", "display_name": "genomeflow"},
        "/apis/v2beta1/runs": {"run_id": "r1", "display_name": "run"},
        "/apis/v2beta1/pipelines/upload_version": {
            "pipeline_version_id": "v1",
            "pipeline_id": "p1",
        },
        "/apis/v2beta1/pipelines/upload": {"pipeline_id": "p1"},
    }

    def _reply(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.requests.append(("GET", self.path, b""))
        run = self.path.startswith("/apis/v2beta1/runs/")
        self._reply({"run_id": "r1", "state": self.final_state} if run else {})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.requests.append(("POST", self.path, body))
        self._reply(self.REPLIES.get(self.path.split("?")[0], {}))

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def fake_kfp_api():
    FakeKfpApi.requests = []
    FakeKfpApi.final_state = "SUCCEEDED"
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeKfpApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_submit_uploads_a_version_and_runs_it_against_faked_kfp_api(fake_kfp_api, tmp_path):
    argv = ["pipeline", "submit", "--host", fake_kfp_api, "-o", str(tmp_path / "p.yaml"),
            "--inputs", "s3://data/a.fa", "s3://data/b.fa", "--param", "preset=tiny",
            "--version", "0123abc", "--wait"]  # fmt: skip
    assert cli.main(argv) == 0
    posted = {path.split("?")[0]: (path, body) for verb, path, body in FakeKfpApi.requests}
    assert b"# Name: genomeflow-train" in posted["/apis/v2beta1/pipelines/upload"][1]
    assert "name=0123abc" in posted["/apis/v2beta1/pipelines/upload_version"][0]
    run = json.loads(posted["/apis/v2beta1/runs"][1])
    assert run["pipeline_version_reference"] == {"pipeline_id": "p1", "pipeline_version_id": "v1"}
    assert run["runtime_config"]["parameters"] == {
        "preset": "tiny",
        "inputs": ["s3://data/a.fa", "s3://data/b.fa"],
    }
    assert ("GET", "/apis/v2beta1/runs/r1", b"") in FakeKfpApi.requests  # --wait polled it


def test_submit_reports_a_failed_run_against_faked_kfp_api(fake_kfp_api, tmp_path, capsys):
    FakeKfpApi.final_state = "FAILED"
    argv = ["pipeline", "submit", "--host", fake_kfp_api, "-o", str(tmp_path / "p.yaml"),
            "--pipeline", "predict", "--inputs", "s3://data/new.fa", "--wait"]  # fmt: skip
    assert cli.main(argv) == 2
    assert "run r1 ended FAILED" in capsys.readouterr().err
    run = json.loads(
        next(b for verb, path, b in FakeKfpApi.requests if path == "/apis/v2beta1/runs")
    )
    assert "genomeflow-predict" in json.dumps(run["pipeline_spec"])  # the package, sent inline


def test_katib_sweeps_read_kfp_minio_artifacts_as_s3():
    assert object_store_uri("minio://mlpipeline/v2/a/b") == "s3://mlpipeline/v2/a/b"
    assert object_store_uri("s3://bucket/a") == "s3://bucket/a"
    with pytest.raises(ValueError, match="use an S3 pipeline root"):
        object_store_uri("gs://bucket/a")


# --- the parameter files and CI workflows that drive the pipelines -------------------------


@pytest.mark.parametrize("name", ["demo.yaml", "retrain.yaml"])
def test_example_parameter_files_name_real_pipeline_parameters(name):
    from genomeflow.config import PipelineConfig
    from genomeflow.pipelines import run

    path = str(REPO / "examples/pipeline" / name)
    config = PipelineConfig(action="compile", params_file=path, inputs=["a.fa", "b.fa"])
    assert run.arguments(config, run.pipeline_function(config))  # unknown names raise


def test_the_demo_motif_file_reaches_interpret_as_an_absolute_checked_path(tmp_path, monkeypatch):
    from genomeflow.config import PipelineConfig
    from genomeflow.errors import InputError
    from genomeflow.pipelines import run

    monkeypatch.chdir(REPO)  # where `make demo` runs: relative paths are the repository's
    path = str(REPO / "examples/pipeline/demo.yaml")
    config = PipelineConfig(action="compile", params_file=path, inputs=["a.fa", "b.fa"])
    given = run.arguments(config, run.pipeline_function(config))
    motifs = Path(given["motif_database"])
    assert motifs.is_absolute() and motifs.is_file() and motifs.name == "ecoli_sigma70.meme"
    with pytest.raises(InputError, match=r"none\.meme"):
        run.check_inputs({"inputs": [str(motifs)], "motif_database": str(tmp_path / "none.meme")})


def test_workflows_call_the_pipeline_command_with_flags_it_has():
    from dataclasses import fields

    from genomeflow.config import PipelineConfig

    flags = {"--" + item.name.replace("_", "-") for item in fields(PipelineConfig)} | {"-o"}
    ci = yaml.safe_load((REPO / ".github/workflows/ci.yml").read_text())
    retrain = yaml.safe_load((REPO / ".github/workflows/retrain.yml").read_text())
    assert "make test" in json.dumps(ci)
    triggers = retrain[True]  # YAML 1.1 reads the key `on` as True
    assert {"schedule", "workflow_dispatch", "push"} <= set(triggers)
    assert triggers["push"]["paths"] == ["examples/pipeline/retrain.yaml"]
    commands = [step.get("run", "") for step in retrain["jobs"]["retrain"]["steps"]]
    submit = next(command for command in commands if "pipeline submit" in command)
    compile_ = next(command for command in commands if "pipeline compile" in command)
    for command in (submit, compile_):
        used = {word for word in command.split() if word.startswith("--")}
        assert used <= flags, used - flags
    assert "--wait" in submit and "--version" in submit and "GITHUB_SHA" in submit


@pytest.mark.parametrize(
    ("pipeline", "flags"),
    [
        ("train", ["--pipeline", "training"]),
        ("train-pretrained", ["--pipeline", "training", "--pretrain"]),
        ("predict", ["--pipeline", "predict"]),
    ],
)
def test_docs_examples_are_a_fresh_compile(pipeline, flags, tmp_path):
    path = tmp_path / "fresh.yaml"  # with the image `make compile` names
    assert cli.main(["pipeline", "compile", *flags, "--image", VERSION_IMAGE, "-o", str(path)]) == 0
    stored = REPO / "docs/examples/pipelines" / f"genomeflow-{pipeline}.yaml"
    # compared as documents: KFP's header comment prints mappings in no fixed order
    fresh = list(yaml.safe_load_all(path.read_text()))
    assert list(yaml.safe_load_all(stored.read_text())) == fresh, f"regenerate {stored}"


@pytest.mark.integration
def test_sweep_component_runs_katib_in_a_cluster_against_faked_kubernetes_api(
    live, planted, tmp_path, monkeypatch
):
    """In a pod (KUBERNETES_SERVICE_HOST set) the sweep step compiles the spec to a Katib
    Experiment over the dataset artifact in the object store (KFP's minio:// URI read as s3://),
    creates it through a faked Kubernetes API, waits, and leaves the best params in its output."""
    from types import SimpleNamespace

    from genomeflow.storage import read_bytes, upload
    from test_katib import FakeKubernetes

    fake = FakeKubernetes()
    fake.thread.start()
    try:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": fake.host}}],
                    "users": [{"name": "fake", "user": {}}],
                    "contexts": [
                        {
                            "name": "fake",
                            "context": {"cluster": "fake", "user": "fake", "namespace": "team-a"},
                        }
                    ],
                    "current-context": "fake",
                }
            )
        )
        from kubernetes.config import kube_config

        # read at import from $KUBECONFIG: point the loader itself at the fake's kubeconfig
        monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
        bucket = live["object_store"]["bucket"]
        upload(planted, f"s3://{bucket}/katib-step/dataset")
        dataset_artifact = SimpleNamespace(uri=f"minio://{bucket}/katib-step/dataset", path="-")
        result = SimpleNamespace(
            uri=f"minio://{bucket}/katib-step/sweep", path=str(tmp_path / "result")
        )
        metrics = Metrics(uri=str(tmp_path / "metrics"))
        sweep.python_func(
            dataset=dataset_artifact, result=result, metrics=metrics, spec=DEFAULT_SWEEP,
            trials=6, settings={"timeout": 2},
        )  # fmt: skip
    finally:
        fake.server.shutdown()
        fake.server.server_close()
    experiment = next(iter(fake.experiments.values()))
    assert fake.requests[0] == ("POST", f"{FakeKubernetes.PREFIX}team-a/experiments")
    command = json.dumps(experiment["spec"]["trialTemplate"])
    assert f"s3://{bucket}/katib-step/dataset" in command  # trials read the artifact from S3
    assert f"s3://{bucket}/katib-step/sweep-trials/" in command
    best = json.loads((Path(result.path) / "best_params.json").read_text())
    assert best["params"]["learning_rate"] == 0.00031  # the faked best trial's
    stored = read_bytes(f"s3://{bucket}/katib-step/sweep-trials/best_params.json")
    assert json.loads(stored) == best
    assert metrics.metadata["sweep_best_value"] == 0.8312


def test_a_local_label_table_reaches_the_pipeline_as_an_absolute_path(tmp_path, monkeypatch):
    from genomeflow.config import PipelineConfig
    from genomeflow.pipelines import run

    monkeypatch.chdir(tmp_path)  # local tasks run in other folders: a relative path would break
    config = PipelineConfig(action="compile", inputs=["a.fa"], param=["label_table=labels.tsv"])
    given = run.arguments(config, run.pipeline_function(config))
    assert given["label_table"] == str(tmp_path / "labels.tsv")
