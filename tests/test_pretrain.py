"""Masked-LM pretraining and fine-tuning from checkpoints (tiny models, CPU): the loss falls,
the folder loads with transformers, resume, seeded masking, dataset input (train split only),
--init-from a pretrain output and a foreign BERT checkpoint, vocabulary and remote-code errors."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from genomeflow.cli import main
from genomeflow.config import PretrainConfig, TokeniseConfig, TrainConfig
from genomeflow.models.transformer import build_model
from genomeflow.tokenise import train_tokeniser
from genomeflow.tokenise.tokenizer import GenomeTokenizer
from genomeflow.tracking.lineage import stage_datasets
from genomeflow.train.mlm import WindowStream, mask_tokens
from genomeflow.train.pretrain import pretrain_model
from genomeflow.train.train import prepare
from helpers import MOTIF, fasta_text, planted_records, write_text

pytestmark = pytest.mark.slow

UNTRACKED = ["--tracking-uri", "none"]
QUICK = {"preset": "tiny", "max_length": 32, "batch_size": 16, "warmup_ratio": 0.0}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, str]:
    """200 random 80-bp records, half with TATAAT planted, and a one-token-per-base tokeniser."""
    folder = tmp_path_factory.mktemp("corpus")
    records = planted_records(100, 80, 11, MOTIF) + planted_records(100, 80, 12, None)
    fasta = write_text(folder / "corpus.fa", fasta_text(records))
    tokeniser = folder / "char"
    train_tokeniser(TokeniseConfig(inputs=[str(fasta)], output=str(tokeniser), method="char"))
    return {"fasta": str(fasta), "tokeniser": str(tokeniser), "folder": str(folder)}


@pytest.fixture(scope="module")
def foreign(tmp_path_factory) -> str:
    """A 'downloaded' BERT masked LM with its own WordPiece tokenizer (bases, ##bases)."""
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    folder = tmp_path_factory.mktemp("foreign") / "bert"
    folder.mkdir()
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"ACGTN", *(f"##{b}" for b in "ACGTN")]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    tokenizer = BertTokenizerFast(vocab=str(folder / "vocab.txt"), do_lower_case=False)
    assert tokenizer.tokenize("ACGT") == ["A", "##C", "##G", "##T"]
    config = BertConfig(
        vocab_size=len(words), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )  # fmt: skip
    torch.manual_seed(0)
    BertForMaskedLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_pretraining_lowers_the_loss_and_the_folder_loads_with_transformers(corpus, tmp_path):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    output = tmp_path / "pretrained"
    summary = pretrain_model(
        PretrainConfig(
            inputs=[corpus["fasta"]], tokeniser=corpus["tokeniser"], output=str(output),
            steps=40, learning_rate=5e-3, log_every=10, **QUICK,
        )
    )  # fmt: skip
    losses = [record["loss"] for record in summary.history]
    assert [record["step"] for record in summary.history] == [10, 20, 30, 40]
    assert losses[-1] < losses[0] - 0.3, losses  # from near-uniform towards base frequencies
    assert summary.final["perplexity"] == pytest.approx(np.exp(losses[-1]))

    model = AutoModelForMaskedLM.from_pretrained(output)
    tokenizer = AutoTokenizer.from_pretrained(output)
    ids = tokenizer("ACGTN")["input_ids"]
    assert len(ids) == 7 and ids[0] == tokenizer.cls_token_id and tokenizer.unk_token_id not in ids
    assert model.config.vocab_size == len(tokenizer)
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids])).logits
    assert logits.shape == (1, 7, len(tokenizer))

    manifest = json.loads((output / "pretrain.json").read_text())
    assert manifest["stage"] == "pretrain" and manifest["steps"] == 40
    assert manifest["corpus"]["records"] == 200 and manifest["corpus"]["residues"] == 16_000
    assert manifest["metrics"]["loss"] == pytest.approx(losses[-1])
    assert (output / "reports" / "steps.tsv").is_file()
    assert GenomeTokenizer.load(output).method == "char"  # still genomeflow's own tokeniser


def test_resume_continues_at_the_checkpoint_and_refuses_other_settings(corpus, tmp_path, capsys):
    output, checkpoints = tmp_path / "pre", tmp_path / "state"
    flags = [corpus["fasta"], "-t", corpus["tokeniser"], "-o", str(output), "--preset", "tiny",
             "--max-length", "32", "--batch-size", "16", "--log-every", "5",
             "--checkpoints", str(checkpoints), *UNTRACKED]  # fmt: skip
    assert main(["pretrain", *flags, "--steps", "10"]) == 0
    assert (checkpoints / "last").is_dir()  # kept, so the run can be extended
    capsys.readouterr()
    assert main(["pretrain", *flags, "--steps", "20", "--overwrite"]) == 2  # no --resume
    assert "--resume" in capsys.readouterr().err
    other = ["--learning-rate", "1e-3", "--resume", "--overwrite"]
    assert main(["pretrain", *flags, "--steps", "20", *other]) == 2
    assert "other settings" in capsys.readouterr().err

    assert main(["pretrain", *flags, "--steps", "20", "--resume", "--overwrite"]) == 0
    assert "resumed at step 10" in capsys.readouterr().out
    manifest = json.loads((output / "pretrain.json").read_text())
    assert manifest["resumed_from_step"] == 10 and manifest["steps"] == 20
    steps = pd.read_csv(output / "reports" / "steps.tsv", sep="\t")["step"].tolist()
    assert steps == [5, 10, 15, 20]  # the first run's records continued, not restarted


class Stop(Exception):
    """Stands for a killed run."""


def test_a_stopped_run_resumes_to_the_uninterrupted_result(corpus, tmp_path, monkeypatch):
    from genomeflow.train import mlm

    settings = {"inputs": [corpus["fasta"]], "tokeniser": corpus["tokeniser"], "steps": 12,
                "checkpoint_every": 6, "log_every": 3, **QUICK}  # fmt: skip
    whole = pretrain_model(PretrainConfig(output=str(tmp_path / "whole"), **settings))
    step, calls = mlm.masked_step, []

    def stopping(*args, **kwargs):
        if len(calls) == 8:  # two steps after the checkpoint of step 6
            raise Stop
        calls.append(1)
        return step(*args, **kwargs)

    monkeypatch.setattr(mlm, "masked_step", stopping)
    with pytest.raises(Stop):
        pretrain_model(PretrainConfig(output=str(tmp_path / "cut"), **settings))
    monkeypatch.setattr(mlm, "masked_step", step)
    resumed = pretrain_model(PretrainConfig(output=str(tmp_path / "cut"), resume=True, **settings))
    assert resumed.resumed_from == 6
    assert resumed.history == whole.history  # same batches, masks and dropout
    weights = [(tmp_path / name / "model.safetensors").read_bytes() for name in ("whole", "cut")]
    assert weights[0] == weights[1]


def test_the_same_seed_masks_the_same_positions_and_the_stream_resumes_in_order(corpus):
    from transformers import DataCollatorForLanguageModeling

    tokenizer = GenomeTokenizer.load(corpus["tokeniser"])
    special = torch.tensor(sorted(set(tokenizer.hf.all_special_ids)))
    masker = DataCollatorForLanguageModeling(tokenizer.hf, mlm_probability=0.15)
    ids = torch.tensor(tokenizer.encode(["ACGT" * 60] * 32)["input_ids"])
    first, labels = mask_tokens(masker, ids, special, seed=7, step=3)
    again, labels_again = mask_tokens(masker, ids, special, seed=7, step=3)
    assert torch.equal(first, again) and torch.equal(labels, labels_again)
    assert not torch.equal(labels, mask_tokens(masker, ids, special, seed=7, step=4)[1])
    assert not torch.equal(labels, mask_tokens(masker, ids, special, seed=8, step=3)[1])
    masked = labels != -100
    assert 0.12 < masked.float().mean() < 0.18
    assert not masked[:, 0].any() and not masked[:, -1].any()  # CLS and SEP never masked
    assert torch.equal(labels[masked], ids[masked])

    def stream(epoch: int, skip: int = 0) -> list[bytes]:
        records = [s for _, s in planted_records(60, 100, 5, None)]
        windows = WindowStream(lambda: iter(records), tokenizer, 32, buffer=25, seed=1)
        windows.epoch, windows.skip = epoch, skip
        return [ids.tobytes() for ids, _ in windows]

    whole = stream(0)
    assert len(whole) == 60 * 4 and whole == stream(0)  # 100 bp: 4 windows of 30 bases
    assert stream(0, skip=37) == whole[37:] and stream(1) != whole
    assert sorted(stream(1)) == sorted(whole)


def test_a_dataset_folder_pretrains_on_its_train_split_only(planted, tmp_path):
    output = tmp_path / "pre"
    summary = pretrain_model(PretrainConfig(inputs=[planted], output=str(output), steps=2, **QUICK))
    train = pd.read_parquet(Path(planted) / "parquet" / "train.parquet")
    assert summary.corpus["records"] == len(train)
    assert summary.corpus["residues"] == train["sequence"].str.len().sum()
    manifest = json.loads((output / "pretrain.json").read_text())
    assert [Path(i["path"]).name for i in manifest["corpus"]["inputs"]] == ["train.parquet"]
    assert manifest["tokeniser"]["method"] == "kmer"  # the dataset's own tokeniser
    # MLflow lineage: the folder's train split is the run's one dataset input
    config = PretrainConfig(inputs=[planted], output=str(output))
    [(dataset, context)] = stage_datasets(config, config)
    digest = json.loads((Path(planted) / "manifest.json").read_text())["files"]
    assert (dataset.name, context) == (f"{Path(planted).name}/train", "train")
    assert dataset.digest == digest["parquet/train.parquet"].removeprefix("sha256:")[:36]


def test_fine_tuning_starts_from_the_pretrained_encoder(planted, tmp_path, capsys):
    from transformers import AutoModelForMaskedLM

    pretrained = tmp_path / "pre"
    pretrain_model(PretrainConfig(inputs=[planted], output=str(pretrained), steps=3, **QUICK))
    config = TrainConfig(
        dataset=planted, output=str(tmp_path / "m"), init_from=str(pretrained),
        preset="small", seed=3,
    )  # fmt: skip
    prepared = prepare(config)
    assert (prepared.spec.architecture, prepared.spec.preset) == ("distilbert", "tiny")
    assert prepared.spec.max_length == 32  # the checkpoint's context
    classifier = build_model(prepared.spec, seed=3)
    encoder = AutoModelForMaskedLM.from_pretrained(pretrained).distilbert.state_dict()
    for name, weight in classifier.distilbert.state_dict().items():
        assert torch.equal(weight, encoder[name]), name
    scratch = build_model(dataclasses.replace(prepared.spec, checkpoint=None))
    embeddings = "embeddings.word_embeddings.weight"
    assert not torch.equal(scratch.distilbert.state_dict()[embeddings], encoder[embeddings])

    model = tmp_path / "model"
    flags = ["--init-from", str(pretrained), "--epochs", "1", "--batch-size", "16", *UNTRACKED]
    assert main(["train", planted, "-o", str(model), *flags]) == 0
    assert "distilbert-tiny written to" in capsys.readouterr().out
    manifest = json.loads((model / "transformer.json").read_text())
    assert manifest["model"]["checkpoint"] == str(pretrained)
    assert manifest["config"]["init_from"] == str(pretrained)


def test_a_foreign_bert_checkpoint_works_end_to_end(foreign, tmp_path, capsys):
    positives = write_text(tmp_path / "promoter.fa", fasta_text(planted_records(40, 60, 1, MOTIF)))
    negatives = write_text(tmp_path / "background.fa", fasta_text(planted_records(40, 60, 2, None)))
    dataset, model, table = tmp_path / "ds", tmp_path / "model", tmp_path / "p.csv"
    files = [str(positives), str(negatives)]
    assert main(["dataset", *files, "-t", foreign, "-o", str(dataset), *UNTRACKED]) == 0
    recorded = json.loads((dataset / "manifest.json").read_text())["tokeniser"]
    assert recorded["foreign"] is True and recorded["method"] == "foreign"
    train = pd.read_parquet(dataset / "parquet" / "train.parquet")
    assert len(train["input_ids"].iloc[0]) == 62  # [CLS], one token per base, [SEP]
    flags = ["--init-from", foreign, "--epochs", "1", "--batch-size", "16", *UNTRACKED]
    assert main(["train", str(dataset), "-o", str(model), *flags]) == 0
    assert "bert-2x32 written to" in capsys.readouterr().out
    assert main(["predict", str(model), str(positives), "-o", str(table), *UNTRACKED]) == 0
    assert len(pd.read_csv(table)) == 40


def test_checkpoint_errors_are_one_line_with_the_fix(foreign, planted, tmp_path, capsys):
    model = str(tmp_path / "model")
    assert main(["train", planted, "-o", model, "--init-from", foreign, *UNTRACKED]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "vocabulary" in error and f"-t {foreign}" in error

    remote = tmp_path / "remote"
    remote.mkdir()
    for path in Path(foreign).iterdir():
        (remote / path.name).write_bytes(path.read_bytes())
    config = json.loads((remote / "config.json").read_text())
    config["auto_map"] = {"AutoModelForMaskedLM": "bert_layers.BertForMaskedLM"}
    (remote / "config.json").write_text(json.dumps(config))
    assert main(["train", planted, "-o", model, "--init-from", str(remote), *UNTRACKED]) == 2
    assert "--trust-remote-code" in capsys.readouterr().err

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"ACGT"]  # no ##pieces: all unknown
    wordy = tmp_path / "wordy"
    wordy.mkdir()
    (wordy / "vocab.txt").write_text("\n".join(words) + "\n")
    from transformers import BertTokenizerFast

    BertTokenizerFast(vocab=str(wordy / "vocab.txt"), do_lower_case=False).save_pretrained(wordy)
    fasta = write_text(tmp_path / "a.fa", fasta_text(planted_records(20, 60, 1, MOTIF)))
    fasta2 = write_text(tmp_path / "b.fa", fasta_text(planted_records(20, 60, 2, None)))
    out = str(tmp_path / "ds")
    assert main(["dataset", str(fasta), str(fasta2), "-t", str(wordy), "-o", out, *UNTRACKED]) == 2
    assert "unknown to this tokenizer" in capsys.readouterr().err


def test_init_from_a_runs_uri_fetches_the_pretrain_run_artifact(planted, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MLflow's sqlite store keeps artifacts under ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    output = tmp_path / "pre"
    flags = ["--preset", "tiny", "--max-length", "32", "--steps", "2", "--tracking-uri", uri]
    assert main(["pretrain", planted, "-o", str(output), *flags]) == 0
    run_id = json.loads((output / "pretrain.json").read_text())["run_id"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    location = f"runs:/{run_id}/pretrained"
    config = TrainConfig(dataset=planted, output=str(tmp_path / "m"), init_from=location)
    folder = Path(prepare(config).spec.checkpoint)
    assert folder.is_relative_to(Path(os.environ["GENOMEFLOW_HOME"]))  # downloaded once, cached
    assert (folder / "model.safetensors").read_bytes() == (
        output / "model.safetensors"
    ).read_bytes()


def test_the_kfp_component_pretrains(corpus, tmp_path):
    from kfp.dsl import Artifact, Metrics, Model

    from genomeflow.components.pretrain import pretrain

    model = Model(name="model", uri=str(tmp_path / "model"))
    metrics = Metrics(name="metrics", uri=str(tmp_path / "metrics"))
    pretrain.python_func(
        inputs=[corpus["fasta"]], tokeniser=Artifact(name="tok", uri=corpus["tokeniser"]),
        model=model, metrics=metrics, steps=2, settings={"max_length": 32, "batch_size": 8},
    )  # fmt: skip
    assert (Path(model.path) / "pretrain.json").is_file()
    assert metrics.metadata["steps"] == 2 and "perplexity" in metrics.metadata
