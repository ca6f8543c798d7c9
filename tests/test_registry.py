"""The MLflow registry: pyfunc models, versions, the champion/challenger gate, models:/ URIs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from genomeflow.cli import main
from genomeflow.config import BaselineConfig, RegisterConfig
from genomeflow.errors import ConfigError, InputError
from genomeflow.models.candidates import score as score_on
from genomeflow.sequence.alphabet import Alphabet
from genomeflow.services.process import free_port
from genomeflow.stages.register import judge
from genomeflow.tracking.registry import parse_model_uri
from genomeflow.train.baseline import train_baseline
from helpers import MOTIF, fasta_text, planted_records, write_text

pytestmark = pytest.mark.slow

EXPERIMENT = "t-register"


@pytest.fixture(scope="module")
def models(planted, shuffled, tmp_path_factory) -> dict[str, str]:
    """A forest that learned the planted motif, and one trained on shuffled labels."""
    folder = tmp_path_factory.mktemp("models")
    trained = {}
    for name, dataset in (("good", planted), ("bad", shuffled)):
        config = BaselineConfig(
            dataset=dataset,
            output=str(folder / name),
            features="count",
            model="rf",
            params=["n_estimators=40"],
            folds=0,
            importance_top=5,
            permutation_repeats=1,
        )
        train_baseline(config)
        trained[name] = config.output
    return trained


def register(model: str, name: str, dataset: str, *extra: str) -> int:
    args = ["register", model, "-n", name, "--dataset", dataset, "--experiment", EXPERIMENT]
    return main([*args, *extra])


def new_sequences() -> tuple[list[str], list[str]]:
    """Unseen records: ten with the motif, ten without."""
    positives = [s for _, s in planted_records(10, 60, 21, MOTIF)]
    negatives = [s for _, s in planted_records(10, 60, 22, None)]
    return positives, negatives


@pytest.fixture
def champion(live, models, planted, capsys) -> str:
    """A fresh registered model whose version 1 (the good model) is the champion."""
    import mlflow

    mlflow.set_tracking_uri(live["mlflow"]["uri"])
    name = f"promoters-{uuid.uuid4().hex[:8]}"
    assert register(models["good"], name, planted) == 0
    capsys.readouterr()
    return name


@pytest.mark.integration
def test_a_first_model_becomes_champion_and_serves_as_pyfunc(
    live,
    models,
    planted,
    tmp_path,
    capsys,
):
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(live["mlflow"]["uri"])
    name = f"promoters-{uuid.uuid4().hex[:8]}"
    report = tmp_path / "gate.json"
    assert (
        register(models["good"], name, planted, "--metric", "eval/f1", "--report", str(report)) == 0
    )
    out = capsys.readouterr().out
    assert f"registered {name} version 1 (aliases: challenger, champion)" in out
    assert "gate: promoted: no champion yet" in out
    decision = json.loads(report.read_text())
    assert decision["promoted"] and decision["metric"] == "f1_macro"
    assert decision["champion_version"] is None and decision["challenger_score"] > 0.8

    client = MlflowClient(live["mlflow"]["uri"])
    assert client.get_registered_model(name).aliases == {"champion": "1", "challenger": "1"}
    tags = client.get_model_version(name, "1").tags
    assert tags["gate.decision"] == "promoted" and tags["gate.reason"] == "no champion yet"
    assert tags["data.gate_dataset_digest"].startswith("sha256:")
    assert tags["data.model_dataset_digest"] == tags["data.gate_dataset_digest"]
    assert json.loads(tags["genomeflow.config"])["model"] == "rf"
    assert json.loads(tags["genomeflow.label_names"]) == ["promoter", "background"]
    run = client.get_run(tags["genomeflow.register_run_id"])
    assert run.info.run_name == "register" and run.data.metrics["gate_promoted"] == 1
    check_lineage(client, client.get_model_version(name, "1"), run, planted)

    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    positives, negatives = new_sequences()
    table = loaded.predict(pd.DataFrame({"sequence": positives + negatives}))
    assert list(table.columns) == ["label", "probability", "p_promoter", "p_background"]
    assert np.allclose(table["p_promoter"] + table["p_background"], 1)
    assert (table["label"][:10] == "promoter").mean() >= 0.8
    assert (table["label"][10:] == "background").mean() >= 0.6
    lower = loaded.predict(pd.DataFrame({"sequence": [s.lower() for s in positives]}))
    assert np.allclose(lower["p_promoter"], table["p_promoter"][:10])  # case is the model's
    requirements = Path(
        mlflow.artifacts.download_artifacts(
            f"models:/{name}/1/requirements.txt", dst_path=str(tmp_path / "req")
        )
    ).read_text()
    assert "scikit-learn==" in requirements and "mlflow==" in requirements
    # What inference needs, not what training, pipelines or interpretation need.
    for absent in ("kfp", "optuna", "captum", "weightwatcher", "gensim", "torch", "xgboost"):
        assert f"\n{absent}" not in f"\n{requirements}", requirements


def check_lineage(client, version, run, dataset: str) -> None:
    """A registered version's lineage in MLflow's vocabulary: source and commit, the dataset's
    splits as inputs (context, digest), the logged model's scores on them, its description."""
    import subprocess

    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    assert run.data.tags["mlflow.source.name"] == "genomeflow register"
    assert run.data.tags["mlflow.source.git.commit"] == commit.stdout.strip()
    assert version.tags["mlflow.source.git.commit"] == commit.stdout.strip()
    manifest = json.loads((Path(dataset) / "manifest.json").read_text())
    logged = {
        next(t.value for t in item.tags if t.key == "mlflow.data.context"): item.dataset
        for item in run.inputs.dataset_inputs
    }
    assert set(logged) == {"train", "validation", "test"}
    for split, context in (("train", "train"), ("valid", "validation"), ("test", "test")):
        digest = manifest["files"][f"parquet/{split}.parquet"].removeprefix("sha256:")
        assert logged[context].digest == digest[:36]
        assert logged[context].name == f"{Path(dataset).name}/{split}"
        assert json.loads(logged[context].profile)["num_rows"] == sum(
            manifest["rows"][split].values()
        )
    # The version's source is the logged model (models:/<model id>).
    model = client.get_logged_model(version.model_id or version.source.removeprefix("models:/"))
    linked = {m.key: m for m in model.metrics}
    assert linked["test_f1_macro"].dataset_name == logged["test"].name
    assert linked["test_f1_macro"].value == run.data.metrics["test_f1_macro"]
    assert linked["valid_f1_macro"].dataset_digest == logged["validation"].digest
    assert not any(key.startswith(("gate", "registered")) for key in linked)  # bookkeeping
    assert version.tags["data.gate_dataset_digest"] in version.description
    assert f"register run {run.info.run_id}" in version.description


@pytest.mark.integration
def test_a_retried_registration_creates_no_second_version(
    live, models, planted, monkeypatch, capsys
):
    """A pipeline's register step retried (same KFP run): after a crash between registering
    and the gate's decision, and after a whole success, the one version is reused."""
    from mlflow import MlflowClient

    client = MlflowClient(live["mlflow"]["uri"])
    name = f"retried-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("KFP_RUN_ID", f"kfp-{uuid.uuid4().hex[:8]}")
    assert register(models["good"], name, planted) == 0
    first = capsys.readouterr().out
    assert f"registered {name} version 1 (aliases: challenger, champion)" in first
    client.delete_model_version_tag(name, "1", "gate.decision")  # the first attempt died here
    assert register(models["good"], name, planted) == 0
    assert f"registered {name} version 1 " in capsys.readouterr().out
    assert client.get_model_version(name, "1").tags["gate.decision"] == "promoted"
    assert register(models["good"], name, planted) == 0  # a retry after a whole success
    assert "gate: promoted: no champion yet" in capsys.readouterr().out
    assert [v.version for v in client.search_model_versions(f"name='{name}'")] == ["1"]
    version = client.get_model_version(name, "1")
    assert version.tags["kfp.run_id"] == os.environ["KFP_RUN_ID"]
    assert f"KFP run {os.environ['KFP_RUN_ID']}" in version.description
    # Another KFP run registering the same folder is another registration.
    monkeypatch.setenv("KFP_RUN_ID", f"kfp-{uuid.uuid4().hex[:8]}")
    assert register(models["good"], name, planted) == 0
    assert f"registered {name} version 2 (aliases: challenger)" in capsys.readouterr().out


@pytest.mark.integration
def test_a_create_request_sent_twice_leaves_one_version(live, models, planted, monkeypatch, capsys):
    """A create request whose answer was lost is sent again, and the server then holds two
    versions of one registration: register keeps the first and deletes the other."""
    import mlflow
    from mlflow import MlflowClient

    real = mlflow.register_model

    def sent_twice(*args, **kwargs):
        real(*args, **kwargs)  # created on the server; the answer never came back
        return real(*args, **kwargs)

    monkeypatch.setattr(mlflow, "register_model", sent_twice)
    name = f"resent-{uuid.uuid4().hex[:8]}"
    assert register(models["good"], name, planted) == 0
    assert f"registered {name} version 1 (aliases: challenger, champion)" in capsys.readouterr().out
    client = MlflowClient(live["mlflow"]["uri"])
    assert [v.version for v in client.search_model_versions(f"name='{name}'")] == ["1"]


@pytest.mark.integration
def test_a_worse_challenger_is_refused_and_the_champion_stays(
    live,
    models,
    planted,
    champion,
    tmp_path,
    capsys,
):
    from mlflow import MlflowClient

    report = tmp_path / "refused.json"
    assert register(models["bad"], champion, planted, "--report", str(report)) == 0
    out = capsys.readouterr().out
    assert f"registered {champion} version 2 (aliases: challenger)" in out
    assert "gate: refused: challenger f1_macro" in out and "does not beat champion" in out
    client = MlflowClient(live["mlflow"]["uri"])
    assert client.get_registered_model(champion).aliases == {"champion": "1", "challenger": "2"}
    tags = client.get_model_version(champion, "2").tags
    assert tags["gate.decision"] == "refused" and tags["gate.metric"] == "f1_macro"
    assert tags["gate.champion_version"] == "1"
    assert float(tags["gate.challenger"]) < float(tags["gate.champion"])
    # The shuffled-label model was trained on another dataset than the gate scored it on.
    assert tags["data.model_dataset_digest"] != tags["data.gate_dataset_digest"]
    decision = json.loads(report.read_text())
    assert not decision["promoted"] and decision["champion_version"] == 1
    # Re-registering the champion's own folder ties: a tie keeps the champion (gain > min_gain).
    assert register(models["good"], champion, planted) == 0
    assert "gate: refused" in capsys.readouterr().out
    assert client.get_registered_model(champion).aliases["champion"] == "1"


@pytest.mark.integration
def test_compare_skips_a_champion_of_other_classes(live, champion, models, caplog):
    from mlflow import MlflowClient

    from genomeflow.tracking.registry import comparable_champion

    assert comparable_champion(champion, models["bad"]) == f"models:/{champion}@champion"
    assert comparable_champion(f"none-{uuid.uuid4().hex[:8]}", models["bad"]) is None
    # The champion of another task (its classes as register recorded them)
    MlflowClient(live["mlflow"]["uri"]).set_model_version_tag(
        champion, "1", "genomeflow.label_names", json.dumps(["cds", "intron"])
    )
    assert comparable_champion(champion, models["bad"]) is None
    assert (
        f"not comparing with the champion of {champion} (version 1): its classes ['cds', "
        "'intron'] differ from the model's ['promoter', 'background']" in caplog.text
    )


@pytest.mark.integration
def test_predict_reads_registered_models(live, champion, tmp_path, capsys):
    positives, negatives = new_sequences()
    records = [(f"pos{i}", s) for i, s in enumerate(positives)]
    records += [(f"neg{i}", s) for i, s in enumerate(negatives)]
    fasta = write_text(tmp_path / "new.fa", fasta_text(records))
    out = tmp_path / "out.csv"
    assert main(["predict", f"models:/{champion}@champion", str(fasta), "-o", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == [
        "id",
        "file",
        "label",
        "probability",
        "p_promoter",
        "p_background",
    ]
    assert (table.loc[table["id"].str.startswith("pos"), "label"] == "promoter").mean() >= 0.8
    # A version number works too, and the download is reused.
    again = tmp_path / "again.csv"
    assert main(["predict", f"models:/{champion}/1", str(fasta), "-o", str(again)]) == 0
    assert pd.read_csv(again).equals(table)


@pytest.mark.integration
def test_bad_registry_inputs_are_one_line_errors(live, champion, models, planted, tmp_path, capsys):
    import mlflow

    fasta = write_text(tmp_path / "x.fa", fasta_text(planted_records(3, 60, 5, MOTIF)))
    out = str(tmp_path / "out.csv")
    cases = {
        f"models:/{champion}@nope": "has no alias 'nope' (its aliases: challenger, champion)",
        f"models:/{champion}/9": "has no version 9",
        "models:/no-such-model@champion": "no registered model named 'no-such-model'",
        f"models:/{champion}": "not a registered model URI",
    }
    for uri, message in cases.items():
        assert main(["predict", uri, str(fasta), "-o", out]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err

    loaded = mlflow.pyfunc.load_model(f"models:/{champion}@champion")
    with pytest.raises(InputError, match=r"sequence #2: 'X' at position 3 is not a valid dna"):
        loaded.predict(pd.DataFrame({"sequence": ["ACGTACGT", "ACXT"]}))

    # Tracking off: nothing to register into (the inputs themselves are good: they are checked
    # first).
    good = models["good"]
    code = main(["register", good, "-n", "x", "--dataset", planted, "--tracking-uri", "none"])
    assert code == 2
    assert "registering a model needs MLflow" in capsys.readouterr().err


@pytest.mark.integration
def test_a_name_registered_anew_is_not_served_from_an_old_download(live, champion, models, planted):
    """Version numbers restart when a model is deleted and registered again (or the tracking
    database is new): the download cache must not hand back the old version 1."""
    from mlflow import MlflowClient

    from genomeflow.tracking.registry import download_registered

    first = download_registered(f"models:/{champion}/1")
    MlflowClient(live["mlflow"]["uri"]).delete_registered_model(champion)
    assert register(models["bad"], champion, planted) == 0
    second = download_registered(f"models:/{champion}/1")
    assert second != first
    manifest = "baseline.json"
    assert (second / manifest).read_text() != (first / manifest).read_text()


@pytest.mark.integration
def test_the_registered_model_loads_without_genomeflow_installed(live, champion):
    import genomeflow

    source = str(Path(genomeflow.__file__).resolve().parents[1])  # the editable install's src/
    # Nor what its requirements leave out (a forest needs no torch): as if not installed.
    absent = ("torch", "gensim", "xgboost", "kfp", "optuna", "captum", "weightwatcher")
    script = "\n".join(
        [
            "import sys, importlib.machinery",
            f"sys.path = [p for p in sys.path if p != {source!r}]",
            "find = importlib.machinery.PathFinder.find_spec",
            "importlib.machinery.PathFinder.find_spec = staticmethod(lambda name, *rest: None"
            f" if name.split('.')[0] in {absent!r} else find(name, *rest))",
            "import mlflow, pandas as pd",
            f"model = mlflow.pyfunc.load_model('models:/{champion}@champion')",
            "print(model.predict(pd.DataFrame({'sequence': ['ACGTTATAATGC']}))['label'][0])",
            "import genomeflow",
            "print(genomeflow.__file__)",
            f"assert not any(m.split('.')[0] in {absent!r} for m in sys.modules)",
        ]
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": live["mlflow"]["uri"]}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    label, location = done.stdout.strip().splitlines()[-2:]
    assert label in ("promoter", "background")
    assert not location.startswith(source) and "/code/genomeflow/" in location  # code_paths


@pytest.mark.integration
def test_a_transformer_registers_and_serves_like_a_baseline(
    live,
    champion,
    planted,
    tmp_path,
    capsys,
):
    import mlflow
    from mlflow import MlflowClient

    from genomeflow.config import TrainConfig
    from genomeflow.train.train import train_model

    output = tmp_path / "transformer"
    settings = {"preset": "tiny", "epochs": 1, "batch_size": 16, "patience": 0}
    train_model(TrainConfig(dataset=planted, output=str(output), **settings))
    assert register(str(output), champion, planted, "--metric", "roc_auc") == 0
    assert f"registered {champion} version 2" in capsys.readouterr().out
    tags = MlflowClient(live["mlflow"]["uri"]).get_model_version(champion, "2").tags
    assert tags["genomeflow.model_kind"] == "transformer" and tags["gate.metric"] == "roc_auc"
    positives, _ = new_sequences()
    table = mlflow.pyfunc.load_model(f"models:/{champion}/2").predict(
        pd.DataFrame({"sequence": positives[:3]})
    )
    assert list(table.columns) == ["label", "probability", "p_promoter", "p_background"]
    assert np.allclose(table["p_promoter"] + table["p_background"], 1, atol=1e-5)


def test_register_settings_are_checked():
    with pytest.raises(ConfigError, match="use letters, digits"):
        RegisterConfig(models=["m"], name="my/model", dataset="d")
    with pytest.raises(ConfigError, match="unknown metric 'fscore'; use one of accuracy"):
        RegisterConfig(models=["m"], name="ok", dataset="d", metric="fscore")
    with pytest.raises(ConfigError, match="--min-gain"):
        RegisterConfig(models=["m"], name="ok", dataset="d", min_gain=-0.1)
    assert RegisterConfig(models=["m"], name="a.b-c_1", dataset="d", metric="eval/auc").metric == (
        "roc_auc"
    )
    assert parse_model_uri("models:/promoters@champion") == ("promoters", "champion", None)
    with pytest.raises(InputError, match="models:/NAME@ALIAS"):
        parse_model_uri("models:/a/b/c")


class Fixed:
    """A stand-in classifier with fixed probabilities of class 0."""

    def __init__(self, p0: list[float], labels=("promoter", "background")) -> None:
        self.label_names = list(labels)
        self.alphabet = Alphabet.DNA
        self.p0 = np.asarray(p0)

    def predict_proba(self, sequences):
        return np.column_stack([self.p0, 1 - self.p0])


def test_gate_rules():
    test = pd.DataFrame({"sequence": ["A", "C", "G", "T"], "label": [0, 0, 1, 1]})
    names = ["promoter", "background"]
    good, fair = Fixed([0.9, 0.8, 0.2, 0.1]), Fixed([0.6, 0.55, 0.45, 0.4])

    def gate(challenger, champion, metric="f1_macro", min_gain=0.0):
        challenger_score = score_on(challenger, test, names, metric)
        return judge(challenger_score, challenger, champion, test, metric, min_gain)

    assert gate(good, None) == (True, "no champion yet", None)
    # Equal f1 (both perfect): a tie keeps the champion.
    promoted, reason, champion = gate(good, fair)
    assert not promoted and "does not beat" in reason and champion == 1.0
    # log_loss is lower-is-better: the sharper model gains, the blunter one does not.
    assert gate(good, fair, "log_loss")[0] and not gate(fair, good, "log_loss")[0]
    assert not gate(good, fair, "log_loss", min_gain=10.0)[0]  # gain below min_gain
    promoted, reason, champion = gate(good, Fixed([0.5] * 4, labels=("a", "b")))
    assert not promoted and "differ from the challenger's" in reason and champion is None


SERVE_START_S = 120  # seconds `mlflow models serve` may take to answer (imports, model load)


def invoke(port: int, body: dict) -> tuple[int, dict]:
    """POST ``body`` to a scoring server's /invocations: (HTTP status, JSON answer)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.integration
def test_mlflow_models_serve_answers_invocations(live, champion, tmp_path):
    """`mlflow models serve` of the registered champion, as the README shows it: raw sequences
    in MLflow's standard input formats; a residue outside the alphabet is HTTP 400 with
    genomeflow's one line, no stack trace."""
    port = free_port()
    bin_folder = str(Path(sys.executable).parent)  # `mlflow models serve` runs `uvicorn` from PATH
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": live["mlflow"]["uri"],
        "PATH": os.pathsep.join([bin_folder, os.environ.get("PATH", "")]),
    }
    command = ["mlflow", "models", "serve", "-m", f"models:/{champion}@champion"]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
    server = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    positives, negatives = new_sequences()
    pair = [positives[0], negatives[0]]
    try:
        deadline = time.monotonic() + SERVE_START_S
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5):
                    break
            except OSError:
                assert server.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.5)
        bodies = {
            "dataframe_split": {"columns": ["sequence"], "data": [[s] for s in pair]},
            "dataframe_records": [{"sequence": s} for s in pair],
            "inputs": {"sequence": pair},
        }
        answers = {}
        for form, body in bodies.items():
            status, answer = invoke(port, {form: body})
            assert status == 200, (form, answer)
            answers[form] = answer["predictions"]
        rows = answers["dataframe_split"]
        assert len(rows) == 2 and set(rows[0]) == {
            "label",
            "probability",
            "p_promoter",
            "p_background",
        }
        assert rows[0]["label"] == "promoter"
        assert answers["dataframe_records"] == rows and answers["inputs"] == rows

        status, answer = invoke(port, {"dataframe_split": bodies["dataframe_split"] | {
            "data": [[positives[0]], ["ACGTZACGT"]]}})  # fmt: skip
        assert status == 400, answer
        assert answer["error_code"] == "INVALID_PARAMETER_VALUE"
        assert answer["message"].startswith("sequence #2: 'Z' at position 5 is not a valid dna")
        assert "\n" not in answer["message"] and "stack_trace" not in answer
        assert "Traceback" not in json.dumps(answer) and "site-packages" not in json.dumps(answer)
    finally:
        stop_group(server)
        log.close()


def stop_group(process: subprocess.Popen) -> None:
    """Stop a process started with start_new_session=True and the workers it started."""
    for sent, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sent)
        except ProcessLookupError:  # the whole group has exited already
            break
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_registrations_at_once_leave_the_best_as_champion(live, models, planted, tmp_path):
    """Three `genomeflow register` processes of one name, started at once: the gate takes them
    in version order, so the decisions and the champion are those of one after another."""
    from mlflow import MlflowClient

    weak = BaselineConfig(
        dataset=planted,
        output=str(tmp_path / "weak"),
        features="count",
        model="rf",
        params=["n_estimators=1", "max_depth=1"],
        folds=0,
        importance_top=5,
        permutation_repeats=1,
    )
    train_baseline(weak)
    name = f"race-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": live["mlflow"]["uri"]}
    command = [sys.executable, "-m", "genomeflow", "register"]
    options = ["-n", name, "--dataset", planted, "--metric", "roc_auc", "--experiment", EXPERIMENT]
    started = [
        subprocess.Popen(
            [*command, folder, *options],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for folder in (models["bad"], weak.output, models["good"])
    ]
    outputs = [process.communicate(timeout=600) for process in started]
    for process, (_, err) in zip(started, outputs, strict=True):
        assert process.returncode == 0, err
    assert sum("no champion yet" in out for out, _ in outputs) == 1, outputs

    client = MlflowClient(live["mlflow"]["uri"])
    versions = sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))
    assert len(versions) == 3
    scores = [float(v.tags["gate.challenger"]) for v in versions]
    assert len(set(scores)) == 3, scores  # three different models
    # One after another, in version order: promoted when strictly better than the champion.
    champion, best = None, None
    for version, score in zip(versions, scores, strict=True):
        promoted = best is None or score > best
        assert version.tags["gate.decision"] == ("promoted" if promoted else "refused")
        assert version.tags["gate.champion_version"] == (champion or "none")
        if promoted:
            champion, best = version.version, score
    aliases = client.get_registered_model(name).aliases
    assert best == max(scores) and aliases["champion"] == champion
    assert aliases["challenger"] == versions[-1].version


@pytest.mark.integration
def test_the_best_candidate_on_valid_is_the_challenger(live, models, planted, tmp_path, capsys):
    """Several models of one run: the best on VALID is registered, with the leaderboard on the
    run and in the version's description; an ensemble folder registers and serves as one model."""
    import mlflow
    from mlflow import MlflowClient

    from genomeflow.data import load_dataset
    from genomeflow.models.candidates import add_ensemble, rank
    from genomeflow.models.loading import load_classifier

    name, report = "t-candidates", tmp_path / "gate.json"
    argv = ["register", models["bad"], models["good"], "-n", name, "--dataset", planted]
    argv += ["--experiment", EXPERIMENT, "--ensemble-top", "0", "--report", str(report)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    decision = json.loads(report.read_text())
    assert decision["candidate"] == "count+rf#2"  # the good forest, listed second
    scores = dict(decision["candidates"])
    assert scores["count+rf#2"] > scores["count+rf"]
    client = MlflowClient(live["mlflow"]["uri"])
    version = client.get_model_version(name, "1")
    assert "| 1 | count+rf#2 |" in version.description and "Decision:" in version.description
    assert version.tags["gate.candidate"] == "count+rf#2"
    run = client.get_run(decision["run_id"])
    board = Path(client.download_artifacts(run.info.run_id, "leaderboard.md", str(tmp_path)))
    board = board.read_text()
    assert version.description.startswith("Registered by genomeflow ")
    assert version.description.endswith(board)  # the leaderboard under the provenance
    assert "challenger" in out

    # An ensemble is a model folder like any other: registered, served as one pyfunc.
    loaded = load_dataset(planted)
    valid = loaded.splits["valid"]
    entries = [(models[k], load_classifier(models[k])) for k in ("good", "bad")]
    board = rank(entries, valid, loaded.label_names, "f1_macro")
    ensemble = add_ensemble(board, 2, valid, loaded.label_names, "f1_macro", tmp_path)
    folder = next(c.folder for c in ensemble if c.name.startswith("ensemble("))
    assert main(["register", str(folder), "-n", "t-ensemble", "--dataset", planted,
                 "--experiment", EXPERIMENT]) == 0  # fmt: skip
    served = mlflow.pyfunc.load_model("models:/t-ensemble@champion")
    sequences = valid["sequence"].head(5).tolist()
    mean = np.mean([model.predict_proba(sequences) for _, model in entries], axis=0)
    frame = served.predict(pd.DataFrame({"sequence": sequences}))
    np.testing.assert_allclose(frame[["p_promoter", "p_background"]].to_numpy(), mean, rtol=1e-6)
