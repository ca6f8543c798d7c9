"""Human-language text corpora: the reader (tables and plain files), word tokenisers, and the
dataset -> baseline -> predict path and token QC on text (real commands, tiny corpora)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genomeflow.cli import main
from genomeflow.errors import ConfigError, InputError
from genomeflow.io.text import TextColumns, class_name, read_documents
from helpers import fasta_text, planted_records, text_documents, write_text, write_text_corpus


def run(*argv: str) -> int:
    return main([*argv, "--tracking-uri", "none"])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    return write_text_corpus(tmp_path_factory.mktemp("corpus"))


def test_one_corpus_reads_alike_from_every_table_format_and_from_plain_files(corpus, tmp_path):
    import pandas as pd

    frame = pd.read_csv(corpus["table"])
    frame.to_csv(tmp_path / "docs.tsv", sep="\t", index=False)
    frame.to_json(tmp_path / "docs.jsonl", orient="records", lines=True)
    frame.to_parquet(tmp_path / "docs.parquet")
    expected = sorted(zip(frame["text"], frame["label"], strict=True))
    for name in ("docs.tsv", "docs.jsonl", "docs.parquet"):
        read = list(read_documents([tmp_path / name]))
        assert sorted((record.sequence, label) for record, label in read) == expected, name
        assert read[0][0].id == f"{name}:1"
    plain = list(read_documents([corpus["pets"], corpus["markets"]]))
    assert sorted((record.sequence, label) for record, label in plain) == expected
    assert plain[0][0].id == "pets.txt:1" and plain[-1][0].id == "markets.txt:40"
    assert class_name("data/Sport.TXT.gz") == "Sport"


def test_documents_are_one_line_each_and_labels_may_be_integers(tmp_path):
    path = write_text(tmp_path / "t.jsonl", '{"text": "a\\tb  c", "label": 0}\n\n' * 2)
    documents = list(read_documents([path]))
    assert [(record.sequence, label) for record, label in documents] == [("a b c", "0")] * 2
    assert [record.id for record, _ in documents] == ["t.jsonl:1", "t.jsonl:3"]


BAD_CORPORA = {
    # name: (file name, content, columns, message fragment)
    "missing column": ("t.csv", "body,label\nx,a\n", TextColumns(), "no column 'text'"),
    "empty document": ("t.csv", "text,label\nhello,a\n   ,a\n", TextColumns(), "row 2"),
    "empty label": ("t.csv", "text,label\nhello,\n", TextColumns(), "the label is empty"),
    "one document": ("t.csv", "text,label\nx,a\ny,a\nz,b\n", TextColumns(), "label 'b'"),
    "short row": ("t.csv", "text,label\nhello\n", TextColumns(), "row 1 has 1 cells"),
    "bad json": ("t.jsonl", '{"text": "x", "label": "a"}\n{"text": \n', TextColumns(), "line 2"),
    "json list": ("t.jsonl", '["x", "a"]\n', TextColumns(), "not an object"),
    "number as text": ("t.jsonl", '{"text": 3.5, "label": "a"}\n', TextColumns(), "3.5"),
    "null as text": ("t.jsonl", '{"text": null, "label": "a"}\n', TextColumns(), "null"),
    "other column": ("t.csv", "doc,cls\nx,a\n", TextColumns("doc", "class"), "no column 'class'"),
    "blank line": ("a.txt", "one\n\ntwo\n", TextColumns(), "line 2 is an empty document"),
    "fasta content": ("a.txt", ">r1\nACGT\n", TextColumns(), "starts like FASTA"),
    "fastq content": ("a.txt", "@r1\nACGT\n+\nIIII\n", TextColumns(), "starts like FASTQ"),
    "fasta name": ("a.fasta", "some words\n", TextColumns(), "named as FASTA/FASTQ"),
    "not utf-8": ("a.txt", b"caf\xe9 au lait\nok\n", TextColumns(), "line 1 holds the byte"),
}


@pytest.mark.parametrize("case", sorted(BAD_CORPORA))
def test_a_bad_corpus_is_named_in_one_line(case, tmp_path):
    name, content, columns, fragment = BAD_CORPORA[case]
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    # A plain file is one class: a second one makes a corpus of two.
    other = [write_text(tmp_path / "b.txt", "x\ny\n")] if path.suffix == ".txt" else []
    with pytest.raises(InputError) as caught:
        list(read_documents([path, *other], columns))
    message = str(caught.value)
    assert fragment in message and "\n" not in message, message


def test_tables_and_plain_files_do_not_mix_and_names_must_differ(corpus, tmp_path):
    with pytest.raises(InputError, match="mix tables and plain-text files"):
        list(read_documents([corpus["table"], corpus["pets"]]))
    other = tmp_path / "pets.txt"
    other.write_text("a b\nc d\n")
    with pytest.raises(InputError, match="has the name of"):
        list(read_documents([corpus["pets"], other]))
    with pytest.raises(InputError, match="--labels names plain-text files"):
        list(read_documents([corpus["table"]], labels=["x"]))


def test_text_settings_resolve_together():
    from genomeflow.config import DatasetConfig, TokeniseConfig
    from genomeflow.sequence.alphabet import Alphabet

    config = TokeniseConfig(inputs=["t.csv"], output="tok", text_column="body")
    assert config.alphabet is Alphabet.TEXT and config.case == "lower"
    assert TokeniseConfig(inputs=["a"], output="o", alphabet="text", case="keep").case == "keep"
    dataset = DatasetConfig(inputs=["t.csv"], tokeniser="tok", output="ds", alphabet="text")
    assert (dataset.text_column, dataset.label_column) == ("text", "label")
    refused = {
        "cuts residues": dict(method="kmer", alphabet="text"),
        "applies to text": dict(case="lower", alphabet="dna"),
        "drop one of them": dict(text_column="t", alphabet="dna"),
    }
    for fragment, settings in refused.items():
        with pytest.raises(ConfigError, match=fragment):
            TokeniseConfig(inputs=["a"], output="o", **settings)
    with pytest.raises(ConfigError, match="label-column"):
        DatasetConfig(inputs=["a"], tokeniser="t", output="o", alphabet="text", label_table="l")


@pytest.mark.parametrize("method", ["unigram", "bpe"])
def test_a_word_tokeniser_loads_with_auto_tokenizer_and_keeps_words_apart(corpus, tmp_path, method):
    from transformers import AutoTokenizer

    out = tmp_path / "tok"
    code = run("tokenise", str(corpus["table"]), "--text-column", "text", "-o", str(out),
               "--method", method, "--vocab-size", "120")  # fmt: skip
    assert code == 0
    metadata = json.loads((out / "genomeflow.json").read_text())
    assert metadata["alphabet"] == "text" and metadata["parameters"]["case"] == "lower"
    hf = AutoTokenizer.from_pretrained(str(out))
    tokens = hf.tokenize("The KITTEN purred, really!")
    # Lower-cased (NFKC first: the full-width letters read as plain ones), punctuation apart,
    # and no piece spans two words: every piece after a word-start mark begins a new word.
    assert tokens == hf.tokenize("the ｋｉｔｔｅｎ purred, really!")
    assert "," in tokens and "!" in tokens
    words = "".join(tokens).split("\u2581")[1:]
    assert words == ["the", "kitten", "purred,", "really!"]
    assert hf.decode(hf("the cat.")["input_ids"], skip_special_tokens=True) == "the cat."


def test_text_runs_through_dataset_baseline_and_predict(corpus, tmp_path, capsys):
    w = tmp_path
    assert run("tokenise", str(corpus["table"]), "--alphabet", "text", "-o", f"{w}/tok",
               "--vocab-size", "150") == 0  # fmt: skip
    # A text tokeniser makes its dataset's inputs text: no flag needed.
    assert run("dataset", str(corpus["table"]), "-t", f"{w}/tok", "-o", f"{w}/ds") == 0
    manifest = json.loads((w / "ds" / "manifest.json").read_text())
    assert manifest["alphabet"] == "text" and manifest["label_names"] == ["markets", "pets"]
    assert sum(manifest["rows"]["train"].values()) == 64  # 80% of 80: no reverse complements
    # Plain files, one per class, give the same classes.
    assert run("dataset", str(corpus["pets"]), str(corpus["markets"]), "-t", f"{w}/tok",
               "-o", f"{w}/ds2") == 0  # fmt: skip
    assert json.loads((w / "ds2" / "manifest.json").read_text())["label_names"] == [
        "pets",
        "markets",
    ]
    assert run("baseline", f"{w}/ds", "-o", f"{w}/model", "--features", "tfidf",
               "--model", "logreg", "--folds", "2") == 0  # fmt: skip
    metrics = json.loads((w / "model" / "baseline.json").read_text())["metrics"]
    assert metrics["cv_accuracy_mean"] >= 0.8, metrics
    new = write_text(w / "new.txt", "\n".join(text_documents("pets", 10, 99)) + "\n")
    capsys.readouterr()
    assert run("predict", f"{w}/model", str(new), "-o", f"{w}/p.csv") == 0
    import pandas as pd

    predictions = pd.read_csv(w / "p.csv")
    assert predictions["id"].tolist()[:2] == ["new.txt:1", "new.txt:2"]
    assert (predictions["label"] == "pets").mean() >= 0.8
    # One-hot features and FASTA inputs are refused with one line each.
    assert run("baseline", f"{w}/ds", "-o", f"{w}/m2", "--features", "onehot") == 2
    fasta = write_text(w / "x.fa", fasta_text(planted_records(3, 30, 1, None)))
    assert run("predict", f"{w}/model", str(fasta), "-o", f"{w}/p2.csv") == 2
    err = capsys.readouterr().err
    assert "a text dataset takes count, tfidf or word2vec" in err
    assert "named as FASTA/FASTQ" in err
    assert not (w / "m2").exists() and not (w / "p2.csv").exists()


def test_token_qc_puts_a_text_vocabulary_beside_a_dna_one(corpus, tmp_path):
    w = tmp_path
    assert run("tokenise", str(corpus["table"]), "--alphabet", "text", "-o", f"{w}/text",
               "--vocab-size", "150") == 0  # fmt: skip
    dna = write_text(w / "d.fa", fasta_text(planted_records(40, 80, 3, None)))
    assert run("tokenise", str(dna), "-o", f"{w}/dna", "--vocab-size", "60") == 0
    assert run("tokens", "inspect", f"{w}/text", "-o", f"{w}/insp",
               "--fasta", str(corpus["table"])) == 0  # fmt: skip
    inspection = json.loads((w / "insp" / "inspection.json").read_text())
    assert inspection["alphabet"] == "text"
    # Every character is in a known token, word-start marks not counted as characters.
    assert inspection["coverage"]["residue_coverage"] == pytest.approx(1.0)
    assert "0" not in inspection["length_counts"] or inspection["length_counts"]["0"] == 1
    assert run("tokens", "compare", f"{w}/text", f"{w}/dna", "-o", f"{w}/cmp") == 0
    comparison = json.loads((w / "cmp" / "comparison.json").read_text())
    assert comparison and (w / "cmp" / "scores.png").is_file()


def test_predict_and_interpret_read_new_tables_by_the_training_columns(corpus, tmp_path):
    import pandas as pd

    w = tmp_path
    frame = pd.read_csv(corpus["table"]).rename(columns={"text": "body", "label": "topic"})
    frame.to_csv(w / "docs.csv", index=False)
    assert run("tokenise", f"{w}/docs.csv", "--text-column", "body", "-o", f"{w}/tok",
               "--vocab-size", "150") == 0  # fmt: skip
    assert run("dataset", f"{w}/docs.csv", "--text-column", "body", "--label-column", "topic",
               "-t", f"{w}/tok", "-o", f"{w}/ds") == 0  # fmt: skip
    assert run("baseline", f"{w}/ds", "-o", f"{w}/model", "--features", "count",
               "--model", "logreg", "--folds", "0") == 0  # fmt: skip
    recorded = json.loads((w / "model" / "baseline.json").read_text())["dataset"]
    assert recorded["text_columns"] == {"text": "body", "label": "topic"}
    # New documents in a table of the same layout: no column flags needed.
    frame.head(6).to_csv(w / "new.csv", index=False)
    assert run("predict", f"{w}/model", f"{w}/new.csv", "-o", f"{w}/p.csv") == 0
    assert len(pd.read_csv(w / "p.csv")) == 6
    assert run("train", f"{w}/ds", "-o", f"{w}/tmodel", "--preset", "tiny", "--epochs", "1") == 0
    assert run("interpret", f"{w}/tmodel", "--inputs", f"{w}/new.csv", "-o", f"{w}/ig",
               "--steps", "4", "--no-motif-discovery") == 0  # fmt: skip
    explained = json.loads((w / "ig" / "interpret.json").read_text())
    assert explained["sequences"] == 6
