"""Integrated Gradients: shapes, completeness, the planted motif, reports, collapsed models."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genomeflow.cli import main
from genomeflow.config import InterpretConfig, TrainConfig
from genomeflow.interpret.attributions import Attributor
from genomeflow.interpret.stage import interpret_sequences
from genomeflow.models.loading import load_classifier
from genomeflow.train.train import train_model
from helpers import MOTIF, fasta_text, planted_records, write_text

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(planted, tmp_path_factory) -> str:
    output = tmp_path_factory.mktemp("interpret") / "model"
    settings = {"preset": "tiny", "epochs": 6, "learning_rate": 2e-3, "batch_size": 16}
    summary = train_model(TrainConfig(dataset=planted, output=str(output), patience=0, **settings))
    assert summary.metrics()["valid_f1_macro"] > 0.9
    return str(output)


def test_attributions_have_shapes_no_nan_and_are_complete(model):
    import torch

    classifier = load_classifier(model)
    records = planted_records(6, 60, 21, MOTIF)
    attributor = Attributor(classifier, steps=64, batch_size=4, internal_batch_size=64)
    items = attributor.attribute([r[0] for r in records], [r[1] for r in records])
    hf = classifier.tokenizer.hf
    for item in items:
        assert len(item.token_scores) == len(item.tokens) == 55  # 60 bp -> 55 six-mers
        assert item.residue_scores.shape == (60,)
        assert np.isfinite(item.token_scores).all() and np.isfinite(item.residue_scores).all()
        assert item.residue_scores.sum() == pytest.approx(item.token_scores.sum())
        # completeness: the scores add up to p(input) - p(baseline) of the target class
        ids = hf.backend_tokenizer.encode(classifier.tokenizer.words(item.sequence)).ids
        reference = [ids[0], *[hf.pad_token_id] * (len(ids) - 2), ids[-1]]
        with torch.inference_mode():
            logits = classifier.model(input_ids=torch.tensor([ids, reference])).logits
        p = torch.softmax(logits, dim=-1)[:, classifier.label_names.index(item.target)]
        assert item.token_scores.sum() == pytest.approx(float(p[0] - p[1]), abs=0.02)
        assert item.delta < 0.02


def test_planted_motif_tops_the_motif_table_and_reports_list_every_input(model, tmp_path):
    positives = write_text(tmp_path / "promoter.fa", fasta_text(planted_records(30, 60, 31, MOTIF)))
    negatives = write_text(
        tmp_path / "background.fa", fasta_text(planted_records(10, 60, 32, None))
    )
    output = tmp_path / "report"
    summary = interpret_sequences(
        InterpretConfig(
            model=model,
            output=str(output),
            inputs=[str(positives), str(negatives)],
            labels=["promoter", "background"],
            sequences=["ACGT" * 10 + MOTIF + "ACGT" * 5],
            target="promoter",
            steps=32,
        )
    )
    assert summary.sequences == 41 and summary.top_motifs["promoter"] == MOTIF
    table = pd.read_csv(output / "motifs_promoter.tsv", sep="\t")
    assert table.loc[0, "kmer"] == MOTIF and table.loc[0, "log2_enrichment"] > 1

    class Rows(HTMLParser):
        def __init__(self):
            super().__init__()
            self.links, self.open = [], []

        def handle_starttag(self, tag, attrs):
            if tag not in ("meta", "img", "br", "link", "input"):  # void: no end tag
                self.open.append(tag)
            if tag == "a":
                self.links.append(dict(attrs)["href"])

        def handle_endtag(self, tag):
            assert self.open and self.open.pop() == tag, f"</{tag}> closes nothing"

    parser = Rows()
    parser.feed((output / "index.html").read_text())
    parser.close()
    assert len(parser.links) == 41 and parser.open == []
    for link in parser.links:
        page = (output / link).read_text()
        assert "attributed to" in page and (output / link).with_suffix(".png").is_file()
    assert "seq1" in (output / "index.html").read_text()
    residues = pd.read_parquet(output / "residue_attributions.parquet")
    assert len(residues) == 41 * 60 - 60 + len("ACGT" * 15 + MOTIF)
    tokens = np.load(output / "token_attributions.npz")
    assert len(tokens["ids"]) == 41 and np.isfinite(tokens["scores_0"]).all()
    written = json.loads((output / "interpret.json").read_text())
    assert written["motif_k"] == 6 and written["sequences"] == 41
    assert set(written["seconds"]) == {"attribution", "motif_discovery", "reports"}


def test_pages_are_capped_and_shared_between_classes(model, tmp_path):
    """--pages 4: two pages per attributed class, whatever the file order; the index and the
    attribution files still hold all 12 sequences."""
    positives = write_text(tmp_path / "promoter.fa", fasta_text(planted_records(6, 60, 41, MOTIF)))
    negatives = write_text(tmp_path / "background.fa", fasta_text(planted_records(6, 60, 42, None)))
    output = tmp_path / "report"
    interpret_sequences(
        InterpretConfig(
            model=model,
            output=str(output),
            inputs=[str(positives), str(negatives)],
            steps=8,
            pages=4,
            motif_discovery=False,
        )
    )
    index = (output / "index.html").read_text()
    assert index.count('<a href="reports/') == 4 and "8 records without a link" in index
    assert len(list((output / "reports").glob("*.png"))) == 4
    targets = pd.read_parquet(output / "residue_attributions.parquet").groupby("id")["target"]
    assert targets.ngroups == 12
    paged_targets = [targets.first()[page.stem] for page in (output / "reports").glob("*.png")]
    assert sorted(paged_targets) == sorted(["background", "promoter"] * 2)


def test_a_collapsed_model_gives_zero_attributions_not_nan(model):
    import torch

    classifier = load_classifier(model)
    with torch.no_grad():  # the output no longer depends on the input
        for parameter in classifier.model.classifier.parameters():
            parameter.zero_()
    items = Attributor(classifier, steps=8).attribute(["a"], ["ACGTACGTTATAATACGTAC"])
    assert items[0].zero_norm and not np.any(items[0].token_scores)
    assert np.isfinite(items[0].normalised(items[0].token_scores)).all()


def test_long_sequences_are_attributed_over_windows(planted, tmp_path):
    summary = train_model(
        TrainConfig(
            dataset=planted, output=str(tmp_path / "m"), preset="tiny", epochs=1, max_length=24
        )
    )
    long = "ACGT" * 50 + MOTIF + "ACGT" * 50
    items = Attributor(load_classifier(summary.output), steps=8).attribute(["long"], [long])
    assert items[0].residue_scores.shape == (len(long),)
    assert np.isfinite(items[0].residue_scores).all()


def test_bad_requests_are_one_line_errors(model, planted, tmp_path, capsys):
    base = ["interpret", model, "-o", str(tmp_path / "r"), "--tracking-uri", "none"]
    assert main([*base, "--sequences", "ACGTACGTAC", "--target", "nope"]) == 2
    assert "not a class of the model" in capsys.readouterr().err
    assert main([*base]) == 2
    assert "--sequences" in capsys.readouterr().err
    assert not Path(tmp_path / "r").exists()


def test_tracked_interpret_stores_the_whole_report_in_mlflow(model, live, tmp_path):
    from mlflow import MlflowClient

    output = tmp_path / "report"
    args = [
        "interpret",
        model,
        "-o",
        str(output),
        "--sequences",
        "ACGT" * 8 + MOTIF,
        "--steps",
        "8",
    ]
    assert main([*args, "--experiment", "interpret-x"]) == 0
    client = MlflowClient(live["mlflow"]["uri"])
    experiment = client.get_experiment_by_name("interpret-x")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.metrics["sequences"] == 1
    top = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"index.html", "interpret.json", "reports"} <= top
    pages = {a.path for a in client.list_artifacts(run.info.run_id, "reports")}
    assert {"reports/seq1.html", "reports/seq1.png"} <= pages


def test_a_literal_sequence_outside_the_alphabet_is_a_one_line_error(model, tmp_path, capsys):
    args = ["interpret", model, "-o", str(tmp_path / "r"), "--sequences", "ACGTXACGT"]
    assert main([*args, "--tracking-uri", "none"]) == 2
    error = capsys.readouterr().err
    assert "sequence #1: 'X' at position 5 is not a valid dna character" in error
    assert not (tmp_path / "r").exists()
