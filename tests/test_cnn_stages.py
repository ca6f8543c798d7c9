"""``--architecture cnn`` through every stage, by the real CLI on the planted-motif set (tiny
preset, one torch thread): train, predict with strand averaging, evaluate, interpret, compare,
crossval, sweep (local and a Katib compile), resume, --init-from, register/pyfunc."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from kubernetes.config import kube_config

from genomeflow.cli import main
from genomeflow.compare import layers as weights
from genomeflow.config import PretrainConfig, TrainConfig
from genomeflow.errors import ConfigError, InputError
from genomeflow.models import checkpoint as checkpoint_module
from genomeflow.models import cnn, residues
from genomeflow.models.classifier import TransformerClassifier
from genomeflow.models.loading import load_classifier
from genomeflow.models.transformer import DEFAULT_CONTEXT, attention_kernel, learning_rate
from genomeflow.sequence.complement import reverse_complement
from genomeflow.train import loop
from genomeflow.train.train import train_model
from helpers import MOTIF, fasta_text, make_dataset, planted_records, write_text

UNTRACKED = ["--tracking-uri", "none"]
TINY = ["--architecture", "cnn", "--preset", "tiny", "--batch-size", "16"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model(planted, tmp_path_factory) -> Path:
    """A tiny CNN trained by `genomeflow train` with the CNN's defaults (learning rate too)."""
    folder = tmp_path_factory.mktemp("cnn") / "model"
    flags = [*TINY, "--epochs", "8", "--patience", "0", *UNTRACKED]
    assert main(["train", planted, "-o", str(folder), *flags]) == 0
    return folder


def test_cnn_defaults_and_shared_constants():
    assert DEFAULT_CONTEXT["cnn"] == cnn.DEFAULT_CONTEXT
    assert learning_rate("cnn", None) == 3e-3 and learning_rate("bert", None) == 5e-4
    assert learning_rate("cnn", 1e-2) == 1e-2
    model_type = cnn.CnnConfig.model_type
    assert model_type == checkpoint_module.CNN_MODEL_TYPE == weights.CNN_MODEL_TYPE
    assert attention_kernel("cnn", "auto") is None  # transformers refuses sdpa for it
    with pytest.raises(ConfigError, match="no attention"):
        attention_kernel("cnn", "sdpa")
    config = TrainConfig(dataset="d", output="o", architecture="cnn")
    assert config.learning_rate is None and config.strand_average is None  # the dataset's
    with pytest.raises(ConfigError, match="positive"):
        TrainConfig(dataset="d", output="o", learning_rate=0.0)
    pretrain = PretrainConfig(inputs=["x.fa"], output="o")
    assert pretrain.learning_rate == 5e-4  # pretrain keeps a number: no cnn there
    with pytest.raises(ConfigError, match="architecture"):
        PretrainConfig.from_mapping({"inputs": ["x.fa"], "output": "o", "architecture": "cnn"})


@pytest.mark.slow
def test_cli_trains_a_cnn_that_finds_the_planted_motif(model):
    metrics = json.loads((model / "metrics.json").read_text())
    assert metrics["valid_accuracy"] >= 0.85 and metrics["test_roc_auc"] >= 0.9
    assert not (model / "tokeniser").exists()  # residues in: no tokeniser to keep
    manifest = json.loads((model / "transformer.json").read_text())
    assert manifest["kind"] == "transformer" and manifest["strand_average"] is True
    assert set(manifest["files"]) == {"model.safetensors", "config.json"}
    spec = manifest["model"]
    assert (spec["architecture"], spec["preset"], spec["alphabet"]) == ("cnn", "tiny", "dna")
    assert (spec["max_length"], spec["pad_id"], spec["cls_id"]) == (1024, 0, None)
    assert spec["vocab_size"] == len(residues.residue_vocabulary("dna"))
    assert manifest["config"]["learning_rate"] is None  # not given: the cnn's default used
    params = manifest["params"]
    assert (params["learning_rate"], params["max_length"], params["window_stride"]) == (
        0.003,
        1024,
        512,
    )
    assert json.loads((model / "config.json").read_text())["model_type"] == "genomeflow-cnn"


@pytest.mark.slow
def test_predict_averages_both_strands_of_raw_fasta(model, tmp_path):
    records = planted_records(5, 80, 41, MOTIF) + planted_records(5, 80, 42, None)
    flipped = [(f"{name}_rc", reverse_complement(s, "dna")) for name, s in records]
    fasta = write_text(tmp_path / "new.fa", fasta_text(records + flipped))
    table = tmp_path / "p.csv"
    assert main(["predict", str(model), str(fasta), "-o", str(table), *UNTRACKED]) == 0
    scored = pd.read_csv(table)
    forward, reverse = scored.iloc[:10], scored.iloc[10:]
    np.testing.assert_allclose(forward["p_promoter"], reverse["p_promoter"], atol=1e-6)
    assert list(forward["label"]) == list(reverse["label"])
    assert (forward["label"] == ["promoter"] * 5 + ["background"] * 5).mean() >= 0.8

    classifier = load_classifier(model)
    assert isinstance(classifier, TransformerClassifier) and classifier.tokenizer is None
    sequences = [s for _, s in records]
    averaged = classifier.predict_proba(sequences)
    classifier.strand_average = False  # one strand: the mean of both is what predict gave
    one = classifier.predict_proba(sequences)
    other = classifier.predict_proba([s for _, s in flipped])
    assert not np.allclose(one, other, atol=1e-4)
    np.testing.assert_allclose(averaged, (one + other) / 2, atol=1e-6)
    np.testing.assert_allclose(averaged[:, 0], forward["p_promoter"], atol=1e-6)

    older = tmp_path / "older"  # a folder from before strand averaging: one strand, as then
    shutil.copytree(model, older)
    manifest = json.loads((older / "transformer.json").read_text())
    del manifest["strand_average"]
    (older / "transformer.json").write_text(json.dumps(manifest))
    assert not TransformerClassifier(older).strand_average


@pytest.mark.slow
def test_a_dataset_without_reverse_complements_gives_a_one_strand_cnn(tmp_path):
    """Strand averaging follows the dataset: built with --no-reverse-complement (an oriented
    signal), the CNN scores the given strand only; --strand-average still turns it on."""
    dataset = make_dataset(
        tmp_path,
        planted_records(30, 40, 5, MOTIF),
        planted_records(30, 40, 6, None),
        reverse_complement=False,
    )
    settings = {"dataset": dataset, "architecture": "cnn", "preset": "tiny", "epochs": 1}
    for given, expected, bins in ((None, False, 4), (True, True, 0)):
        output = tmp_path / f"model_{given}"
        options = {"strand_average": given, "position_bins": bins}
        train_model(TrainConfig(output=str(output), **options, **settings))
        manifest = json.loads((output / "transformer.json").read_text())
        assert manifest["strand_average"] is expected
        # the aligned-input pooling is a hyperparameter, in the model's config for serving
        assert manifest["params"]["position_bins"] == manifest["model"]["position_bins"] == bins
        assert json.loads((output / "config.json").read_text())["position_bins"] == bins
        scores = load_classifier(output).predict_proba(["ACGTTATAATGC" * 3])
        assert scores.shape == (1, 2) and abs(float(scores.sum()) - 1) < 1e-5


@pytest.mark.slow
def test_evaluate_gives_the_models_own_test_numbers(model, planted, tmp_path):
    report = tmp_path / "evaluation"
    assert main(["evaluate", str(model), "--dataset", planted, "-o", str(report), *UNTRACKED]) == 0
    again = json.loads((report / "test_metrics.json").read_text())["metrics"]
    own = json.loads((model / "reports" / "test_metrics.json").read_text())["metrics"]
    assert again == pytest.approx(own, abs=1e-6)  # training's test scored both strands too


@pytest.mark.slow
def test_interpret_writes_residue_level_attributions(model, tmp_path):
    positives = write_text(tmp_path / "promoter.fa", fasta_text(planted_records(12, 60, 51, MOTIF)))
    output = tmp_path / "report"
    args = ["interpret", str(model), "-o", str(output), "--inputs", str(positives)]
    assert main([*args, "--target", "promoter", "--steps", "32", *UNTRACKED]) == 0
    tokens = np.load(output / "token_attributions.npz")
    sequence = planted_records(12, 60, 51, MOTIF)[0][1]
    assert list(tokens["tokens_0"]) == list(sequence)  # every token is one residue
    assert tokens["scores_0"].shape == (60,) and np.isfinite(tokens["scores_0"]).all()
    per_residue = pd.read_parquet(output / "residue_attributions.parquet")
    assert len(per_residue) == 12 * 60
    top = json.loads((output / "interpret.json").read_text())["top_motifs"]
    assert top["promoter"] == MOTIF

    from genomeflow.interpret.attributions import Attributor

    classifier = load_classifier(model)
    (item,) = Attributor(classifier, steps=64).attribute(["one"], [sequence], "promoter")
    assert len(item.tokens) == len(item.token_scores) == 60 and item.delta < 0.02
    np.testing.assert_allclose(item.residue_scores, item.token_scores)
    ids = torch.as_tensor(residues.encode_sequence(sequence, "dna")).long()
    rows = torch.stack([ids, torch.zeros_like(ids)])  # the zero one-hot baseline
    with torch.inference_mode():
        logits = classifier.model(input_ids=rows, attention_mask=torch.ones_like(rows)).logits
    p = torch.softmax(logits, dim=-1)[:, 0]
    assert item.token_scores.sum() == pytest.approx(float(p[0] - p[1]), abs=0.02)  # complete


@pytest.mark.slow
def test_compare_analyses_the_convolutions(model, tmp_path):
    output = tmp_path / "compare"
    assert main(["compare", str(model), "-o", str(output), *UNTRACKED]) == 0
    layers = pd.read_csv(output / "layers.tsv", sep="\t")
    convolutions = layers[layers["name"].str.endswith(".conv")]
    assert list(convolutions["name"]) == ["blocks.0.conv", "blocks.1.conv", "blocks.2.conv"]
    assert set(convolutions["shape"]) == {"64x64x9"} and (convolutions["M"] == 64).all()
    assert (convolutions["num_evals"] == 64 * 9).all()  # nine 64 x 64 kernel slices pooled
    assert "head.1" in set(layers["name"])
    assert layers["alpha"].notna().all()
    summary = pd.read_csv(output / "summary.tsv", sep="\t")
    assert summary.loc[0, "architecture"] == "cnn" and summary.loc[0, "skipped"] == 2
    assert "stem.conv" in (output / "report.md").read_text()  # 4 eigenvalues a slice: skipped


@pytest.mark.slow
def test_crossval_and_sweeps_run_the_cnn(planted, tmp_path, capsys, monkeypatch):
    short = [*TINY, "--epochs", "2", *UNTRACKED]
    folder = tmp_path / "cv"
    assert main(["crossval", planted, "-o", str(folder), "--folds", "2", *short]) == 0
    assert json.loads((folder / "metrics.json").read_text())["cv_accuracy_mean"] > 0.5
    params = json.loads((folder / "crossval.json").read_text())["params"]
    assert (params["architecture"], params["learning_rate"]) == ("cnn", 0.003)

    spec = write_text(
        tmp_path / "sweep.yaml",
        "method: grid\n"
        "metric: {name: eval/f1, goal: maximize}\n"
        "parameters:\n"
        "  dropout: {values: [0.0, 0.2]}\n",
    )
    swept = tmp_path / "sweep"
    assert main(["sweep", planted, "-o", str(swept), "--spec", str(spec), *short]) == 0
    trials = pd.read_csv(swept / "trials.csv")
    assert len(trials) == 2
    best = json.loads((swept / "best_params.json").read_text())
    assert best["params"]["dropout"] in (0.0, 0.2)

    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(tmp_path / "none"))
    capsys.readouterr()
    katib = ["--backend", "katib", "--dry-run", "--architecture", "cnn", "--preset", "tiny"]
    uris = ["s3://bucket/datasets/planted", "-o", "s3://bucket/sweeps/cnn"]
    assert main(["sweep", *uris, "--spec", str(spec), *katib, *UNTRACKED]) == 0
    experiment = yaml.safe_load(capsys.readouterr().out)
    template = experiment["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]
    command = template["spec"]["containers"][0]["command"]
    assert command[:3] == ["genomeflow", "train", "s3://bucket/datasets/planted"]
    assert "--architecture=cnn" in command and "--dropout=${trialParameters.dropout}" in command
    assert not any(flag.startswith("--learning-rate") for flag in command)  # the cnn's default


@pytest.mark.slow
def test_resume_continues_a_stopped_cnn_run(planted, tmp_path, monkeypatch):
    settings = {"architecture": "cnn", "preset": "tiny", "batch_size": 16, "epochs": 2}
    whole = train_model(TrainConfig(dataset=planted, output=str(tmp_path / "whole"), **settings))
    original = loop._checkpoint

    def stop_after_saving(*args):  # the first epoch's checkpoint is kept, then a "kill"
        original(*args)
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "_checkpoint", stop_after_saving)
    output, checkpoints = tmp_path / "resumed", tmp_path / "ckpt"
    config = TrainConfig(
        dataset=planted, output=str(output), checkpoints=str(checkpoints), **settings
    )
    with pytest.raises(KeyboardInterrupt):
        train_model(config)
    monkeypatch.setattr(loop, "_checkpoint", original)
    flags = [f"--{name.replace('_', '-')}={value}" for name, value in settings.items()]
    resume = ["--checkpoints", str(checkpoints), "--resume", *UNTRACKED]
    assert main(["train", planted, "-o", str(output), *flags, *resume]) == 0
    resumed = json.loads((output / "metrics.json").read_text())
    assert resumed == pytest.approx(whole.metrics(), abs=1e-6)
    assert not checkpoints.exists()


@pytest.mark.slow
def test_init_from_a_cnn_folder_and_clear_errors_otherwise(model, planted, tmp_path, capsys):
    tuned = cnn.fine_tunable_cnn(model, "dna", ["x", "y", "z"], 64, 0.0, seed=3)
    source = cnn.CnnForSequenceClassification.from_pretrained(model).state_dict()
    fresh = cnn.build_cnn("dna", "tiny", ["x", "y", "z"], 64, 0.0, seed=3).state_dict()
    for name, tensor in tuned.state_dict().items():  # convolutions kept, a seeded new head
        expected = fresh[name] if name.startswith("head.") else source[name]
        assert torch.equal(tensor, expected), name
    assert tuned.config.id2label == {0: "x", 1: "y", 2: "z"}

    output = tmp_path / "tuned"
    flags = ["--architecture", "cnn", "--init-from", str(model), "--epochs", "1", *UNTRACKED]
    assert main(["train", planted, "-o", str(output), *flags]) == 0
    manifest = json.loads((output / "transformer.json").read_text())
    assert manifest["model"]["checkpoint"] == str(model)
    assert (manifest["model"]["architecture"], manifest["model"]["preset"]) == ("cnn", "tiny")
    assert manifest["params"]["learning_rate"] == 0.003

    import transformers

    bert = tmp_path / "bert"  # a transformer checkpoint: config.json is what is read first
    transformers.BertConfig(
        num_hidden_layers=1, hidden_size=32, num_attention_heads=2
    ).save_pretrained(bert)
    protein = tmp_path / "protein"
    cnn.build_cnn("protein", "tiny", ["a", "b"], 64).save_pretrained(protein)
    capsys.readouterr()
    for checkpoint, message in ((bert, "a bert checkpoint, not a genomeflow cnn"),
                                (protein, "a CNN of protein sequences")):  # fmt: skip
        refused = tmp_path / f"refused-{checkpoint.name}"
        args = ["train", planted, "-o", str(refused), "--architecture", "cnn"]
        assert main([*args, "--init-from", str(checkpoint), *UNTRACKED]) == 2
        error = capsys.readouterr().err.strip()
        assert message in error and len(error.splitlines()) == 1, error
        assert not refused.exists()
    with pytest.raises(InputError, match="a CNN of protein sequences"):
        cnn.fine_tunable_cnn(protein, "dna", ["a", "b"])


@pytest.mark.slow
@pytest.mark.integration
def test_a_cnn_registers_and_serves_both_strands_alike(live, model, planted, capsys):
    import mlflow

    mlflow.set_tracking_uri(live["mlflow"]["uri"])
    name = f"cnn-{uuid.uuid4().hex[:8]}"
    args = ["register", str(model), "-n", name, "--dataset", planted, "--experiment", "t-cnn"]
    assert main(args) == 0
    assert f"registered {name} version 1" in capsys.readouterr().out
    served = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    sequences = [s for _, s in planted_records(3, 60, 61, MOTIF)]
    flipped = [reverse_complement(s, "dna") for s in sequences]
    table = served.predict(pd.DataFrame({"sequence": sequences + flipped}))
    assert list(table.columns) == ["label", "probability", "p_promoter", "p_background"]
    np.testing.assert_allclose(table["p_promoter"][:3], table["p_promoter"][3:], atol=1e-6)
