"""``genomeflow interpret`` on a text model: documents of a text corpus in, pages of coloured
words and per-class word tables out; no motif work; one-line errors for sequence inputs."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genomeflow.cli import main
from genomeflow.config import DatasetConfig, InterpretConfig, TokeniseConfig, TrainConfig
from genomeflow.data import build_dataset
from genomeflow.errors import InputError
from genomeflow.interpret.attributions import Attributor
from genomeflow.interpret.stage import interpret_sequences
from genomeflow.interpret.words import document_words, word_spans
from genomeflow.models.loading import load_classifier
from genomeflow.tokenise import train_tokeniser
from genomeflow.train.train import train_model
from helpers import MOTIF, fasta_text, planted_records, write_text

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

UNTRACKED = ["--tracking-uri", "none"]
# Two topics with their own words over shared filler: a task a tiny model learns in a few epochs.
TOPICS = {
    "sport": ["ball", "goal", "team", "match", "score", "player", "coach", "league", "stadium"],
    "kitchen": ["bread", "cheese", "soup", "salad", "oven", "recipe", "spice", "butter", "garlic"],
}
FILLER = ["the", "a", "very", "today", "with", "and", "was", "then", "of", "in"]


def documents(topic: str, count: int, seed: int) -> list[str]:
    """``count`` sentences of 8-15 words, about a third of them the topic's own, capitalised and
    ending in a full stop (so words and punctuation marks must be told apart)."""
    rng = random.Random(seed)
    words = TOPICS[topic]
    texts = []
    for _ in range(count):
        chosen = [rng.choice(words if rng.random() < 0.35 else FILLER) for _ in range(12)]
        texts.append(" ".join(chosen).capitalize() + ".")
    return texts


def table(path: Path, seed: int, count: int) -> Path:
    rows = [(text, t) for i, t in enumerate(TOPICS) for text in documents(t, count, seed + i)]
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A folder with a training table, its unigram tokeniser and dataset, and unseen documents:
    a table (explain.csv) and one plain file per topic (sport.txt, kitchen.txt)."""
    folder = tmp_path_factory.mktemp("text_interpret")
    train = table(folder / "corpus.csv", 0, 60)
    table(folder / "explain.csv", 10, 30)
    for i, topic in enumerate(TOPICS):
        write_text(folder / f"{topic}.txt", "\n".join(documents(topic, 4, 20 + i)) + "\n")
    tokeniser = folder / "tok"
    train_tokeniser(
        TokeniseConfig(
            inputs=[str(train)], output=str(tokeniser), text_column="text", vocab_size=200
        )
    )
    build_dataset(
        DatasetConfig(
            inputs=[str(train)],
            tokeniser=str(tokeniser),
            output=str(folder / "ds"),
            text_column="text",
        )
    )
    return folder


@pytest.fixture(scope="module")
def model(corpus) -> str:
    output = corpus / "model"
    settings = {"preset": "tiny", "epochs": 6, "learning_rate": 2e-3, "batch_size": 16}
    config = TrainConfig(dataset=str(corpus / "ds"), output=str(output), patience=0, **settings)
    summary = train_model(config)
    assert summary.metrics()["valid_accuracy"] >= 0.9  # chance: 0.5
    return str(output)


def test_words_keep_the_text_and_the_attribution_total(model):
    text = "The  “Ball”, e.g. GOAL-team!"
    assert [text[s:e] for s, e in word_spans(text)] == [
        "The", "“", "Ball", "”", ",", "e", ".", "g", ".", "GOAL", "-", "team", "!",
    ]  # fmt: skip
    (item,) = Attributor(load_classifier(model), steps=16).attribute(["d"], [text])
    words = document_words(item)
    assert [w.text for w in words] == [text[s:e] for s, e in word_spans(text)]
    assert sum(w.score for w in words) == pytest.approx(float(item.token_scores.sum()))
    assert sum(len(w.tokens) for w in words) == len(item.tokens)  # every token in one word
    assert "".join(words[0].tokens).replace("▁", "") == "the"  # the tokeniser lower-cases


def test_a_table_gives_word_pages_word_tables_and_no_motif_work(model, corpus, tmp_path):
    output = tmp_path / "report"
    config = InterpretConfig(
        model=model,
        output=str(output),
        inputs=[str(corpus / "explain.csv")],
        steps=16,
        motif_database=str(tmp_path / "missing.meme"),  # a text model skips it, with a note
    )
    summary = interpret_sequences(config)
    assert summary.sequences == 60 and summary.motifs == 0
    record = json.loads((output / "interpret.json").read_text())
    assert record["sequences"] == 60 and record["motifs"] == {} and record["motif_k"] is None
    assert any("not to text" in note for note in record["motif_notes"])
    assert any("ignored" in note for note in record["motif_notes"])
    assert set(record["top_motifs"]) == set(TOPICS) == set(record["top_words"])
    for topic, words in record["top_words"].items():
        assert record["top_motifs"][topic] == words[0] in TOPICS[topic]
        tsv = pd.read_csv(output / f"words_{topic}.tsv", sep="\t")
        # a model that learned the task ranks its topic's words first, the filler after
        assert set(words[:3]) <= set(TOPICS[topic]), (topic, words)
        own = tsv["word"].isin(TOPICS[topic])
        assert own.sum() >= 5 and tsv["word"][~own].isin(FILLER).all()
        assert tsv["mean_attribution"][own].mean() > 2 * tsv["mean_attribution"][~own].mean()
        assert list(tsv["word"]) == words and (tsv["documents"] >= 5).all()
        assert tsv["mean_attribution"].is_monotonic_decreasing
        assert (output / f"words_{topic}.png").stat().st_size > 1000
    summary_page = (output / "summary.html").read_text()
    assert "Word summary" in summary_page and "not to text" in summary_page
    assert "<img" in summary_page  # the bar plots, embedded

    index = (output / "index.html").read_text()
    assert "60 documents" in index
    assert "<td>sport</td>" in index and "<td>kitchen</td>" in index  # the label column
    first = pd.read_csv(corpus / "explain.csv")["text"][0]
    page = (output / "reports" / "explain.csv_1.html").read_text()
    for word in first.rstrip(".").split():
        assert f">{word}</span>" in page  # each word of the text, as written, one span
    assert "<img" not in page  # no residue track for text
    scores = pd.read_parquet(output / "word_attributions.parquet")
    mine = scores[scores["id"] == "explain.csv:1"]
    assert list(mine["word"]) == [*first.rstrip(".").split(), "."]
    assert np.isfinite(scores["score"]).all()
    assert not (output / "residue_attributions.parquet").exists()


def test_plain_files_and_literal_documents_through_the_cli(model, corpus, tmp_path, capsys):
    output = tmp_path / "plain"
    inputs = [str(corpus / "sport.txt"), str(corpus / "kitchen.txt")]
    args = ["interpret", model, "-o", str(output), "--inputs", *inputs, "--steps", "8"]
    assert main([*args, "--sequences", "Ball goal team, today!", *UNTRACKED]) == 0
    assert "attributed 9 documents" in capsys.readouterr().out
    index = (output / "index.html").read_text()
    assert "sport.txt:1" in index and "kitchen.txt:4" in index and "seq1" in index
    assert "<td>sport</td><td>sport</td>" in index  # the file's class, then the prediction
    page = (output / "reports" / "seq1.html").read_text()
    assert ">Ball</span>" in page and ">today</span>" in page and ">!</span>" in page


def test_sequence_files_and_text_models_do_not_mix(model, planted, tmp_path, capsys):
    fasta = write_text(tmp_path / "reads.fa", fasta_text(planted_records(3, 60, 5, MOTIF)))
    base = ["interpret", model, "-o", str(tmp_path / "r"), *UNTRACKED]
    assert main([*base, "--inputs", str(fasta)]) == 2
    error = capsys.readouterr().err
    assert "reads.fa: a FASTA/FASTQ file, but the model" in error and "reads text" in error
    assert len(error.strip().splitlines()) == 1
    with pytest.raises(InputError, match="FASTA/FASTQ file, but the model"):
        interpret_sequences(InterpretConfig(model=model, output="r", inputs=[str(fasta)]))
    corpus = table(tmp_path / "docs.csv", 3, 3)
    assert main([*base, "--inputs", str(corpus), "--labels", "sport"]) == 2
    assert "--labels" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()

    dna = tmp_path / "dna"
    settings = {"preset": "tiny", "epochs": 1, "batch_size": 16}
    train_model(TrainConfig(dataset=planted, output=str(dna), patience=0, **settings))
    base = ["interpret", str(dna), "-o", str(tmp_path / "r"), *UNTRACKED]
    assert main([*base, "--inputs", str(corpus)]) == 2
    assert "docs.csv: not FASTA or FASTQ" in capsys.readouterr().err
    for flag in (["--text-column", "text"], ["--alphabet", "text"]):
        assert main([*base, "--inputs", str(corpus), *flag]) == 2
        assert "reads dna sequences, not text" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
