"""Transformer classifiers (tiny preset, CPU): learning, windows, resume, CV, sweep, params."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genomeflow.cli import main
from genomeflow.config import CrossvalConfig, SweepConfig, TrainConfig
from genomeflow.data import load_dataset
from genomeflow.errors import ConfigError, InputError
from genomeflow.models.batching import Collator, inference_batches, training_batches
from genomeflow.models.loading import load_classifier
from genomeflow.models.transformer import ModelSpec, build_model, context_length, hf_config
from genomeflow.models.windows import Windows, aggregate, encode_windows
from genomeflow.train.crossval import crossval_model
from genomeflow.train.sweep import sweep_model
from genomeflow.train.train import train_model
from helpers import MOTIF, fasta_text, planted_records, write_text

pytestmark = pytest.mark.slow

# Tiny, fast and able to find a planted 6-mer in a few epochs on 2 CPU cores.
FAST = {"preset": "tiny", "epochs": 6, "learning_rate": 2e-3, "batch_size": 16, "patience": 0}
KATIB_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ [\w-]+=[-+]?\d*\.?\d+(e[-+]?\d+)?$")


@pytest.fixture(scope="module")
def trained(planted, tmp_path_factory):
    """One tiny model on the planted set, shared by the read-only tests."""
    output = tmp_path_factory.mktemp("trained") / "model"
    return train_model(TrainConfig(dataset=planted, output=str(output), **FAST))


def test_planted_motif_is_learned_and_shuffled_labels_are_not(trained, shuffled, tmp_path):
    learned = trained.metrics()
    assert learned["valid_f1_macro"] > 0.9 and learned["test_roc_auc"] > 0.9
    chance = train_model(TrainConfig(dataset=shuffled, output=str(tmp_path / "s"), **FAST))
    assert chance.metrics()["test_roc_auc"] < 0.75
    assert learned["test_roc_auc"] - chance.metrics()["test_roc_auc"] > 0.25


def test_model_folder_is_complete_and_predicts_as_evaluated(trained, planted):
    folder = Path(trained.output)
    for name in ("model.safetensors", "config.json", "metrics.json", "transformer.json"):
        assert (folder / name).is_file(), name
    assert (folder / "tokeniser" / "tokenizer.json").is_file()
    for name in ("epochs.tsv", "learning_curve.png", "valid_metrics.json", "test_roc.png"):
        assert (folder / "reports" / name).is_file(), name
    manifest = json.loads((folder / "transformer.json").read_text())
    assert manifest["label_names"] == ["promoter", "background"]
    assert manifest["params"]["max_length"] == 512 and manifest["model"]["preset"] == "tiny"
    history = pd.read_csv(folder / "reports" / "epochs.tsv", sep="\t")
    assert list(history["epoch"]) == list(range(1, 7))
    best = history.loc[history["valid_f1_macro"].idxmax()]
    assert trained.metrics()["valid_f1_macro"] == pytest.approx(best["valid_f1_macro"], abs=1e-6)

    classifier = load_classifier(folder)
    test = load_dataset(planted).splits["test"]
    probabilities = classifier.predict_proba(test["sequence"].tolist())
    assert probabilities.shape == (len(test), 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-6)
    accuracy = float((probabilities.argmax(axis=1) == test["label"].to_numpy()).mean())
    assert accuracy == pytest.approx(trained.metrics()["test_accuracy"])


def test_predict_reads_every_record_before_it_loads_the_model(trained, tmp_path, capsys):
    """A bad record deep in the input is the error, before any model work: here the model's
    weights are damaged too, and the record is what predict reports."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(trained.output, model)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    records = [*planted_records(30, 60, 3, MOTIF), ("late", "ACGT" * 5 + "Z" + "ACGT" * 5)]
    fasta = write_text(tmp_path / "new.fa", fasta_text(records))
    out = tmp_path / "out.csv"
    assert main(["predict", str(model), str(fasta), "-o", str(out), "--tracking-uri", "none"]) == 2
    err = capsys.readouterr().err
    assert "late" in err and "'Z'" in err and "safetensors" not in err, err
    assert err.count("\n") == 1 and not out.exists()


def test_cli_train_prints_katib_lines_and_predict_scores_fasta(planted, tmp_path, capsys):
    model = tmp_path / "model"
    flags = ["--preset", "tiny", "--epochs", "2", "--tracking-uri", "none"]
    assert main(["train", planted, "-o", str(model), *flags]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line[:2] == "20"]
    assert lines and all(KATIB_LINE.match(line) for line in lines), lines[:3]
    names = {line.split(" ", 1)[1].split("=")[0] for line in lines}
    assert {"epoch", "eval_f1", "eval_loss", "eval_accuracy", "eval_roc_auc"} <= names
    fasta = write_text(tmp_path / "new.fa", fasta_text(planted_records(5, 300, 9, MOTIF)))
    table = tmp_path / "p.parquet"
    assert (
        main(
            [
                "predict",
                str(model),
                str(fasta),
                "-o",
                str(table),
                "--tracking-uri",
                "none",
                "--reverse-complement",
            ]
        )
        == 0
    )
    scored = pd.read_parquet(table)
    assert list(scored.columns) == [
        "id",
        "file",
        "label",
        "probability",
        "p_promoter",
        "p_background",
    ]
    assert len(scored) == 5


@pytest.mark.parametrize("architecture", ["distilbert", "bert", "longformer", "modernbert"])
def test_every_architecture_trains_on_windows_shorter_than_the_sequences(
    architecture, planted, tmp_path
):
    # 60 bp -> 55 six-mers; 24-token windows force 3+ windows per sequence.
    summary = train_model(
        TrainConfig(
            dataset=planted,
            output=str(tmp_path / "m"),
            architecture=architecture,
            max_length=24,
            **{**FAST, "epochs": 1},
        )
    )
    assert summary.params["max_length"] == 24 and summary.params["window_stride"] == 11
    assert 0 <= summary.metrics()["test_accuracy"] <= 1
    classifier = load_classifier(summary.output)
    assert classifier.predict_proba(["ACGT" * 200]).shape == (1, 2)  # 800 bp: many windows


def test_long_architectures_take_4096_tokens():
    for architecture in ("longformer", "modernbert"):
        assert context_length(architecture, 0) >= 4096
    spec = ModelSpec("longformer", "tiny", 16, ("a", "b"), 4096, 0.0, 1, 0, 2)
    assert hf_config(spec).max_position_embeddings >= 4096 + 2
    model = build_model(spec)
    import torch

    ids = torch.randint(5, 16, (1, 4096))
    ids[0, 0], ids[0, -1] = 0, 2
    from genomeflow.models.transformer import model_inputs

    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    with torch.inference_mode():
        assert model(**model_inputs(model, batch)).logits.shape == (1, 2)
    with pytest.raises(ConfigError, match="windowed attention"):
        build_model(spec, attention="sdpa")


def test_windows_cover_every_token_and_aggregate_per_sequence(trained):
    tokenizer = load_classifier(trained.output).tokenizer
    sequences = ["ACGTACGTAC" * 3, "ACGTAC"]  # 25 and 1 six-mers
    windows = encode_windows(tokenizer, sequences, max_length=8, stride=3)
    cls_id, sep_id = tokenizer.hf.cls_token_id, tokenizer.hf.sep_token_id
    assert all(w[0] == cls_id and w[-1] == sep_id and len(w) <= 8 for w in windows.input_ids)
    assert list(windows.owner).count(1) == 1 and list(windows.owner).count(0) == 8
    full = tokenizer.hf.backend_tokenizer.encode(
        tokenizer.words(sequences[0]), add_special_tokens=False
    ).ids
    covered = {tuple(w[1:-1]) for w in windows.input_ids[:8]}
    assert tuple(full[-6:]) in covered and tuple(full[:6]) in covered

    rows = Windows([[0], [0], [0]], np.array([0, 0, 1]), 2)
    probabilities = np.array([[0.9, 0.1], [0.3, 0.7], [0.2, 0.8]])
    np.testing.assert_allclose(aggregate(probabilities, rows, "mean"), [[0.6, 0.4], [0.2, 0.8]])
    np.testing.assert_allclose(
        aggregate(probabilities, rows, "max"), [[0.9 / 1.6, 0.7 / 1.6], [0.2, 0.8]]
    )


def test_batches_are_seeded_complete_and_bucketed():
    lengths = np.random.default_rng(0).integers(10, 500, size=1000)
    first = training_batches(lengths, 32, seed=1, epoch=1)
    assert [b.tolist() for b in first] == [b.tolist() for b in training_batches(lengths, 32, 1, 1)]
    assert sorted(np.concatenate(first).tolist()) == list(range(1000))
    assert [b.tolist() for b in first] != [b.tolist() for b in training_batches(lengths, 32, 1, 2)]

    def padded(batches) -> int:
        return sum(len(b) * lengths[b].max() for b in batches)

    assert padded(first) < 0.7 * padded(training_batches(lengths, 32, 1, 1, bucket=False))
    collate = Collator(pad_id=1, max_length=16)
    batch = collate([([0, 5, 2], 1), ([0, 5, 6, 7, 2], 0)])
    assert batch["input_ids"].shape == (2, 8)  # padded to the longest, rounded up to 8
    assert batch["attention_mask"].sum().item() == 8 and batch["labels"].tolist() == [1, 0]
    assert Collator(1, 16, fixed=True)([([0, 2], 0)])["input_ids"].shape == (1, 16)


def test_scoring_batches_fill_a_token_budget():
    """Short windows share a forward pass by the many, long ones by the few; a window longer
    than the budget goes alone; every window is scored once."""
    lengths = np.array([5, 100, 3, 100, 50, 900])
    batches = [b.tolist() for b in inference_batches(lengths, 10, max_tokens=200)]
    assert batches == [[2, 0, 4], [1, 3], [5]]  # 3 x 50, 2 x 100, 1 x 900 tokens
    assert inference_batches(lengths, 2, max_tokens=200)[0].tolist() == [2, 0]
    assert [len(b) for b in inference_batches(lengths, 4)] == [4, 2]  # no budget: by count
    many = np.random.default_rng(0).integers(1, 600, size=5000)
    scored = inference_batches(many, 1024, max_tokens=4096)
    assert sorted(np.concatenate(scored).tolist()) == list(range(5000))
    assert all(len(b) == 1 or len(b) * many[b].max() <= 4096 for b in scored)


def _checkpoint_epochs(folder: Path) -> int:
    state = folder / "last" / "trainer.json"
    try:
        return len(json.loads(state.read_text())["history"])
    except (OSError, ValueError):
        return 0


def test_resume_after_a_killed_run_reaches_the_same_metrics(planted, tmp_path):
    settings = {**FAST, "epochs": 4}
    whole = train_model(TrainConfig(dataset=planted, output=str(tmp_path / "whole"), **settings))

    output, checkpoints = tmp_path / "resumed", tmp_path / "ckpt"
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in settings.items()]
    command = [
        sys.executable,
        "-m",
        "genomeflow",
        "train",
        planted,
        "-o",
        str(output),
        "--checkpoints",
        str(checkpoints),
        "--tracking-uri",
        "none",
        *flags,
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while _checkpoint_epochs(checkpoints) < 2 and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint within 240 s"
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not output.exists() and 2 <= _checkpoint_epochs(checkpoints) < 4

    config = TrainConfig(
        dataset=planted, output=str(output), checkpoints=str(checkpoints), **settings
    )
    with pytest.raises(InputError, match="--resume"):
        train_model(config)
    resumed = train_model(TrainConfig(**{**config.to_dict(), "resume": True}))
    assert resumed.metrics() == pytest.approx(whole.metrics(), abs=1e-6)
    assert not checkpoints.exists()  # removed once the model folder is written


def test_resume_refuses_checkpoints_of_other_settings(planted, tmp_path, monkeypatch):
    from genomeflow.train import loop

    original = loop._checkpoint

    def stop_after_saving(*args):  # the first epoch's checkpoint is kept, then a "kill"
        original(*args)
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "_checkpoint", stop_after_saving)
    checkpoints = tmp_path / "ckpt"
    config = TrainConfig(
        dataset=planted,
        output=str(tmp_path / "m"),
        checkpoints=str(checkpoints),
        **{**FAST, "epochs": 2},
    )
    with pytest.raises(KeyboardInterrupt):
        train_model(config)
    monkeypatch.setattr(loop, "_checkpoint", original)
    other = TrainConfig(**{**config.to_dict(), "learning_rate": 1e-4, "resume": True})
    with pytest.raises(InputError, match="other settings"):
        train_model(other)
    assert not (tmp_path / "m").exists()


def test_crossval_folds_never_share_a_group(planted, tmp_path):
    summary = crossval_model(
        CrossvalConfig(
            dataset=planted, output=str(tmp_path / "cv"), folds=3, **{**FAST, "epochs": 2}
        )
    )
    assert len(summary.folds) == 3
    assert {"cv_f1_macro_mean", "cv_f1_macro_sd", "cv_roc_auc_mean"} <= set(summary.metrics())
    reports = tmp_path / "cv" / "reports"
    assignments = pd.read_csv(reports / "cv_assignments.tsv", sep="\t")
    assert set(assignments["fold"]) == {1, 2, 3}
    assert (assignments.groupby("group")["fold"].nunique() == 1).all()
    assert len(pd.read_csv(reports / "cv_folds.tsv", sep="\t")) == 3
    assert (reports / "cv.png").is_file()
    dataset = load_dataset(planted)
    assert set(assignments["id"]) == set(dataset.splits["train"]["id"]) | set(
        dataset.splits["valid"]["id"]
    )


def test_sweep_prunes_on_valid_and_train_reuses_its_best_params(planted, tmp_path, caplog):
    spec = write_text(
        tmp_path / "sweep.yaml",
        "method: random\n"
        "metric: {name: eval/f1, goal: maximize}\n"
        "parameters:\n"
        "  learning_rate: {distribution: log_uniform_values, min: 0.001, max: 0.004}\n"
        "  batch_size: {values: [16, 32]}\n"
        "  momentum: {values: [0.8, 0.9]}\n"
        "early_terminate: {type: hyperband, s: 1, eta: 2, max_iter: 3}\n",
    )
    summary = sweep_model(
        SweepConfig(
            dataset=planted,
            output=str(tmp_path / "sweep"),
            spec=str(spec),
            trials=4,
            **{**FAST, "epochs": 3},
        )
    )
    assert "momentum ignored" in caplog.text
    assert summary.trials == 4 and summary.completed >= 1
    assert set(summary.best_params) == {"learning_rate", "batch_size"}
    best = tmp_path / "sweep" / "best_params.json"
    assert (tmp_path / "sweep" / "trials.csv").is_file()
    model = train_model(
        TrainConfig(
            dataset=planted,
            output=str(tmp_path / "m"),
            params_file=str(best),
            **{**FAST, "epochs": 1},
        )
    )
    assert model.params["learning_rate"] == pytest.approx(summary.best_params["learning_rate"])
    assert model.params["batch_size"] == summary.best_params["batch_size"]


def test_tracked_train_logs_epochs_and_params_from_run_reuse_them(planted, live, tmp_path):
    from mlflow import MlflowClient

    first = tmp_path / "first"
    args = ["--preset", "tiny", "--epochs", "2", "--learning-rate", "0.0015", "--dropout", "0.2"]
    assert main(["train", planted, "-o", str(first), *args]) == 0
    client = MlflowClient(live["mlflow"]["uri"])
    run_id = json.loads((first / "transformer.json").read_text())["run_id"]
    history = client.get_metric_history(run_id, "epoch/valid_f1_macro")
    assert [m.step for m in history] == [1, 2]
    assert client.get_run(run_id).data.metrics["test_f1_macro"] >= 0

    second = tmp_path / "second"
    assert (
        main(
            [
                "train",
                planted,
                "-o",
                str(second),
                "--params-from-run",
                run_id,
                "--params",
                "epochs=1",
            ]
        )
        == 0
    )
    params = json.loads((second / "transformer.json").read_text())["params"]
    assert params["learning_rate"] == 0.0015 and params["dropout"] == 0.2
    assert params["preset"] == "tiny" and params["epochs"] == 1
    # the second run's own flags were defaults (--learning-rate not given); MLflow records
    # what it trained with, once
    second_id = json.loads((second / "transformer.json").read_text())["run_id"]
    recorded = client.get_run(second_id).data.params
    assert recorded["learning_rate"] == "0.0015" and recorded["epochs"] == "1"
    assert not any(name.startswith("used.") for name in recorded)
    third = tmp_path / "third"
    assert main(["train", planted, "-o", str(third), "--params-from-run", second_id]) == 0
    params = json.loads((third / "transformer.json").read_text())["params"]
    assert (params["learning_rate"], params["epochs"], params["preset"]) == (0.0015, 1, "tiny")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--params", "momentum_x=3"], "not transformer hyperparameter"),
        (["--params", "dropout=1.5"], "--dropout must be in"),
        (["--max-length", "4"], "--max-length must be"),
        (["--metric", "bogus"], "unknown metric"),
        (["--architecture", "longformer", "--attention", "sdpa"], "windowed attention"),
    ],
)
def test_bad_settings_are_one_line_errors(planted, tmp_path, capsys, flags, message):
    code = main(["train", planted, "-o", str(tmp_path / "m"), "--tracking-uri", "none", *flags])
    error = capsys.readouterr().err.strip()
    assert code == 2 and message in error and "\n" not in error
    assert not (tmp_path / "m").exists()


def test_missing_dataset_is_a_clear_error(tmp_path, capsys):
    assert (
        main(["train", str(tmp_path / "nope"), "-o", str(tmp_path / "m"), "--tracking-uri", "none"])
        == 2
    )
    assert "genomeflow dataset" in capsys.readouterr().err


def test_three_classes_of_protein_are_learned_from_3mer_tokens(tmp_path):
    from genomeflow.config import DatasetConfig, TokeniseConfig
    from genomeflow.data import build_dataset
    from genomeflow.tokenise import train_tokeniser

    rng = np.random.default_rng(3)
    residues = list("ACDEFGHIKLMNPQRSTVWY")
    files = []
    for name, motif in (("kinase", "HRDLKPEN"), ("zinc", "CPECGKSF"), ("other", "")):
        records = []
        for i in range(60):
            chain = list(rng.choice(residues, size=50))
            at = int(rng.integers(0, 50 - len(motif) + 1))
            chain[at : at + len(motif)] = motif
            records.append((f"{name}{i}", "".join(chain)))
        files.append(str(write_text(tmp_path / f"{name}.fa", fasta_text(records))))
    train_tokeniser(TokeniseConfig(inputs=files, output=str(tmp_path / "tok"), method="kmer", k=3))
    build_dataset(
        DatasetConfig(
            inputs=files,
            tokeniser=str(tmp_path / "tok"),
            output=str(tmp_path / "ds"),
            split=[0.6, 0.2, 0.2],
        )
    )
    summary = train_model(
        TrainConfig(
            dataset=str(tmp_path / "ds"),
            output=str(tmp_path / "m"),
            **{**FAST, "epochs": 8, "learning_rate": 3e-3},
        )
    )
    metrics = summary.metrics()
    assert summary.valid.label_names == ["kinase", "zinc", "other"]
    assert metrics["test_f1_macro"] > 0.8 and metrics["test_roc_auc"] > 0.9
    probabilities = load_classifier(summary.output).predict_proba(["HRDLKPEN" + "A" * 40])
    assert probabilities.shape == (1, 3) and probabilities.argmax() == 0
