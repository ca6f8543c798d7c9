"""``--architecture cnn`` on a text corpus: token windows of the dataset's tokeniser through a
learned embedding, trained, saved with its tokeniser, reloaded, scoring raw text; fine-tuned,
cross-validated and swept like a transformer; refused where the inputs cannot fit."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from genomeflow.cli import main
from genomeflow.config import TrainConfig
from genomeflow.errors import ConfigError, InputError
from genomeflow.models import cnn, residues
from genomeflow.models.classifier import TransformerClassifier
from genomeflow.models.loading import load_classifier
from genomeflow.models.windows import encode_windows
from genomeflow.tokenise.tokenizer import GenomeTokenizer
from genomeflow.train.train import prepare
from helpers import write_text

UNTRACKED = ["--tracking-uri", "none"]
TINY = ["--architecture", "cnn", "--preset", "tiny", "--batch-size", "16"]
# Two topics with their own words over shared filler: a task a bag of tokens separates.
TOPICS = {
    "sport": ["ball", "goal", "team", "match", "score", "player", "coach", "league"],
    "kitchen": ["bread", "cheese", "soup", "salad", "oven", "recipe", "spice", "butter"],
}
FILLER = ["the", "a", "very", "today", "with", "and", "was", "then", "of", "in"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def documents(topic: str, count: int, seed: int) -> list[str]:
    """``count`` sentences of 8-15 words, about a third of them the topic's own."""
    rng = random.Random(seed)
    words = TOPICS[topic]
    return [
        " ".join(rng.choice(words if rng.random() < 0.35 else FILLER) for _ in range(length))
        for length in (rng.randint(8, 15) for _ in range(count))
    ]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A text dataset of 50 documents a topic, with its own unigram tokeniser."""
    folder = tmp_path_factory.mktemp("text")
    rows = [(text, topic) for i, topic in enumerate(TOPICS) for text in documents(topic, 50, i)]
    table = folder / "corpus.csv"
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(table, index=False)
    tokeniser = ["tokenise", str(table), "--text-column", "text", "-o", str(folder / "tok")]
    assert main([*tokeniser, "--vocab-size", "200", *UNTRACKED]) == 0
    dataset = ["dataset", str(table), "-t", str(folder / "tok"), "-o", str(folder / "ds")]
    assert main([*dataset, "--text-column", "text", *UNTRACKED]) == 0
    return folder / "ds"


@pytest.fixture(scope="module")
def model(corpus, tmp_path_factory) -> Path:
    """A tiny text CNN trained by `genomeflow train`, pooling 2 stretches apart as well."""
    folder = tmp_path_factory.mktemp("text_cnn") / "model"
    flags = [*TINY, "--epochs", "6", "--patience", "0", "--position-bins", "2", *UNTRACKED]
    assert main(["train", str(corpus), "-o", str(folder), *flags]) == 0
    return folder


@pytest.mark.slow
def test_a_text_cnn_learns_the_topics_and_keeps_its_tokeniser(model, corpus):
    metrics = json.loads((model / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.9 and metrics["valid_accuracy"] >= 0.9  # chance: 0.5
    tokenizer = GenomeTokenizer.load(model / "tokeniser")
    assert tokenizer.vocabulary() == GenomeTokenizer.load(corpus / "tokeniser").vocabulary()
    manifest = json.loads((model / "transformer.json").read_text())
    spec = manifest["model"]
    assert (spec["architecture"], spec["alphabet"], spec["position_bins"]) == ("cnn", "text", 2)
    assert (spec["pad_id"], spec["cls_id"], spec["sep_id"]) == (
        tokenizer.hf.pad_token_id,
        tokenizer.cls_id,
        tokenizer.sep_id,
    )
    assert manifest["strand_average"] is False  # text has no other strand
    assert manifest["window_stride"] == (1024 - 2) // 2  # token windows, CLS/SEP framed
    assert any(name.startswith("tokeniser/") for name in manifest["files"])
    config = json.loads((model / "config.json").read_text())
    assert (config["vocab_size"], config["pad_token_id"]) == (tokenizer.vocab_size, 1)


def test_the_folder_scores_raw_text_through_the_classifier(model):
    classifier = load_classifier(model)
    assert isinstance(classifier, TransformerClassifier) and classifier.tokenizer is not None
    texts = documents("sport", 10, 101) + documents("kitchen", 10, 102)
    windows = classifier.windows(texts)
    expected = encode_windows(classifier.tokenizer, texts, 1024, 0)
    pairs = zip(windows.input_ids, expected.input_ids, strict=True)
    assert all(np.array_equal(ours, theirs) for ours, theirs in pairs)
    probabilities = classifier.predict_proba(texts)
    assert probabilities.shape == (20, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    labels = [classifier.label_names[i] for i in probabilities.argmax(axis=1)]
    assert np.mean(np.array(labels) == ["sport"] * 10 + ["kitchen"] * 10) >= 0.9


def test_a_documents_logits_do_not_depend_on_its_batchs_padding(model):
    classifier = load_classifier(model)
    short, long = classifier.windows(["ball goal team", "bread " * 30]).input_ids
    pad = classifier.model.config.pad_token_id
    padded = torch.full((2, len(long)), pad, dtype=torch.long)
    padded[0, : len(short)], padded[1] = torch.as_tensor(short), torch.as_tensor(long)
    with torch.inference_mode():
        together = classifier.model(input_ids=padded).logits  # mask: ids != the tokeniser's pad
        alone = classifier.model(input_ids=torch.as_tensor(short)[None].long()).logits
    torch.testing.assert_close(together[0], alone[0], atol=1e-5, rtol=1e-4)


@pytest.mark.slow
def test_fine_tuning_crossval_and_sweep_take_the_token_path(model, corpus, tmp_path):
    short = [*TINY, "--epochs", "1", *UNTRACKED]
    tuned = tmp_path / "tuned"
    assert main(["train", str(corpus), "-o", str(tuned), "--init-from", str(model), *short]) == 0
    assert (tuned / "tokeniser").is_dir()
    assert json.loads((tuned / "transformer.json").read_text())["model"]["checkpoint"]

    folds = tmp_path / "cv"
    assert main(["crossval", str(corpus), "-o", str(folds), "--folds", "2", *short]) == 0
    assert json.loads((folds / "metrics.json").read_text())["cv_accuracy_mean"] > 0.5

    spec = write_text(
        tmp_path / "sweep.yaml",
        "method: grid\nmetric: {name: eval/f1, goal: maximize}\n"
        "parameters:\n  dropout: {values: [0.0, 0.2]}\n",
    )
    swept = tmp_path / "sweep"
    assert main(["sweep", str(corpus), "-o", str(swept), "--spec", str(spec), *short]) == 0
    assert len(pd.read_csv(swept / "trials.csv")) == 2


def test_what_cannot_fit_is_refused_in_one_line(corpus, tmp_path):
    dna = tmp_path / "dna_cnn"
    cnn.build_cnn("dna", "tiny", ["a", "b"]).save_pretrained(dna)
    with pytest.raises(InputError, match="a CNN of dna sequences, the dataset holds text") as info:
        prepare(TrainConfig(dataset=str(corpus), output="o", init_from=str(dna)))
    assert "\n" not in str(info.value)

    text = tmp_path / "text_cnn"
    cnn.build_cnn("text", "tiny", ["a", "b"], vocab_size=50, pad_id=1).save_pretrained(text)
    with pytest.raises(InputError, match=r"50 tokens .* the dataset's tokeniser has 60"):
        cnn.fine_tunable_cnn(text, "text", ["a", "b"], vocab_size=60, pad_id=1)
    with pytest.raises(ConfigError, match="tokeniser's vocab_size"):
        cnn.build_cnn("text", "tiny", ["a", "b"])


def test_residue_cnns_keep_their_fixed_vocabulary():
    """Token settings reach every cnn; DNA/RNA/protein configs keep the residue ones."""
    for alphabet in ("dna", "protein"):
        model = cnn.build_cnn(alphabet, "tiny", ["a", "b"], vocab_size=999, pad_id=5)
        assert model.config.vocab_size == len(residues.residue_vocabulary(alphabet))
        assert model.config.pad_token_id == residues.PAD_ID
    assert residues.reads_residues("cnn", "protein") and not residues.reads_residues("cnn", "text")
    assert not residues.reads_residues("distilbert", "dna")
