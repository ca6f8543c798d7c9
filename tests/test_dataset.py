import json

import datasets
import pyarrow.parquet as pq
import pytest

from genomeflow.cli import main
from genomeflow.config import DatasetConfig, TokeniseConfig
from genomeflow.data import assign_splits, build_dataset
from genomeflow.data.split import SPLITS, split_counts
from genomeflow.errors import ConfigError, InputError
from genomeflow.tokenise import train_tokeniser
from helpers import MOTIF, fasta_text, planted_records, write_text


@pytest.fixture
def classes(tmp_path):
    positive = write_text(tmp_path / "positive.fa", fasta_text(planted_records(40, 120, 1, MOTIF)))
    negative = write_text(
        tmp_path / "negative.fa.gz", fasta_text(planted_records(40, 120, 2, None)), gz=True
    )
    return [str(positive), str(negative)]


@pytest.fixture
def tokeniser(tmp_path, classes):
    folder = tmp_path / "tok"
    train_tokeniser(
        TokeniseConfig(inputs=classes, output=str(folder), method="kmer", k=3, stride=3)
    )
    return str(folder)


def build(classes, tokeniser, output, **settings):
    build_dataset(
        DatasetConfig(inputs=classes, tokeniser=tokeniser, output=str(output), **settings)
    )
    return datasets.load_from_disk(str(output))


def groups_by_split(dataset):
    return {split: set(dataset[split]["group"]) for split in dataset}


def test_splits_are_grouped_stratified_and_augment_train_only(tmp_path, classes, tokeniser):
    dataset = build(classes, tokeniser, tmp_path / "ds", chunk_size=50, chunk_overlap=10)
    groups = groups_by_split(dataset)
    assert groups["train"].isdisjoint(groups["valid"]) and groups["train"].isdisjoint(
        groups["test"]
    )
    assert groups["valid"].isdisjoint(groups["test"])
    assert [len(groups[s]) for s in ("train", "valid", "test")] == [64, 8, 8]
    for split in ("valid", "test"):
        assert set(dataset[split]["strand"]) == {"+"}
        labels = dataset[split]["label"]
        assert labels.count(0) == labels.count(1)
    train = dataset["train"]
    assert train["strand"].count("-") == train["strand"].count("+")
    assert dataset["train"].features["label"].names == ["positive", "negative"]
    row = train[0]
    assert row["input_ids"][0] == 0 and row["input_ids"][-1] == 2
    assert len(row["input_ids"]) == len(row["attention_mask"])
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert manifest["source_sequences"] == {"negative": 40, "positive": 40}
    assert manifest["rows"]["valid"] == {"negative": 12, "positive": 12}  # 4 sources x 3 chunks
    table = pq.read_table(tmp_path / "ds" / "parquet" / "test.parquet")
    assert table.num_rows == len(dataset["test"])


def test_same_seed_same_splits_other_seed_other_splits(tmp_path, classes, tokeniser):
    first = groups_by_split(build(classes, tokeniser, tmp_path / "a"))
    again = groups_by_split(build(classes, tokeniser, tmp_path / "b"))
    other = groups_by_split(build(classes, tokeniser, tmp_path / "c", seed=9))
    assert first == again
    assert first != other


def test_truncation_is_explicit_and_counted(tmp_path, classes, tokeniser):
    build(classes, tokeniser, tmp_path / "t", max_length=10)
    manifest = json.loads((tmp_path / "t" / "manifest.json").read_text())
    assert sum(manifest["truncated_rows"].values()) == 80 + 64  # every row, RC rows included
    assert manifest["tokens_per_row"]["test"]["max"] == 10


def test_label_table_input(tmp_path, classes, tokeniser):
    table = tmp_path / "labels.tsv"
    rows = [f"pos{i}\tyes" if i % 2 else f"pos{i}\tno" for i in range(40)]
    rows += [f"neg{i}\tno" for i in range(40)]
    table.write_text("id\tlabel\n" + "\n".join(rows) + "\n")
    dataset = build(classes, tokeniser, tmp_path / "d", label_table=str(table))
    assert dataset["train"].features["label"].names == ["no", "yes"]


def test_split_counts_keep_the_total():
    assert split_counts(10, [0.8, 0.1, 0.1]) == [8, 1, 1]
    assert sum(split_counts(3382, [0.8, 0.1, 0.1])) == 3382
    assert assign_splits(
        [("a", "x")] * 0 + [(f"g{i}", "xy"[i % 2]) for i in range(20)], [0.8, 0.1, 0.1], 1
    )


def test_bad_inputs(tmp_path, classes, tokeniser, capsys):
    with pytest.raises(InputError, match="no such tokeniser folder"):
        build(classes, str(tmp_path / "nope"), tmp_path / "x")
    protein = write_text(tmp_path / "p.fa", ">p1\nMKTAYIAKQRQ\n>p2\nMKLLVEE\n")
    other = write_text(tmp_path / "q.fa", ">q1\nMKTAYIAKQRQ\n>q2\nMKLLVEE\n")
    with pytest.raises(InputError, match=r"holds protein but the tokeniser .* was built for dna"):
        build([str(protein), str(other)], tokeniser, tmp_path / "x")
    with pytest.raises(InputError, match="at least two classes, found 1"):
        build(classes[:1], tokeniser, tmp_path / "x")
    few = write_text(tmp_path / "few.fa", ">f1\nACGTACGTAC\n>f2\nACGTTTGTAC\n")
    with pytest.raises(InputError, match="split would hold 1 class"):
        build([classes[0], str(few)], tokeniser, tmp_path / "x")
    with pytest.raises(ConfigError, match="must sum to 1"):
        DatasetConfig(inputs=classes, tokeniser=tokeniser, output="x", split=[0.5, 0.2, 0.2])
    code = main(["dataset", *classes, "-t", str(tmp_path / "nope"), "-o", str(tmp_path / "x")])
    assert code == 2 and "no such tokeniser folder" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_three_protein_classes_get_no_reverse_complement(tmp_path):
    import random

    rng = random.Random(0)
    amino = "ACDEFGHIKLMNPQRSTVWY"
    files = []
    for name in ("kinase", "protease", "transporter"):
        records = [(f"{name}{i}", "".join(rng.choices(amino, k=50))) for i in range(20)]
        files.append(str(write_text(tmp_path / f"{name}.faa", fasta_text(records))))
    folder = tmp_path / "tok"
    train_tokeniser(TokeniseConfig(inputs=files, output=str(folder), method="char"))
    dataset = build(files, str(folder), tmp_path / "ds")
    assert dataset["train"].features["label"].names == ["kinase", "protease", "transporter"]
    assert set(dataset["train"]["strand"]) == {"+"}
    assert sorted(set(dataset["test"]["label"])) == [0, 1, 2]
    with pytest.raises(ConfigError, match="DNA/RNA only"):
        build(files, str(folder), tmp_path / "x", reverse_complement=True)


def test_rows_are_written_a_batch_at_a_time_whatever_the_batch(
    tmp_path, classes, tokeniser, monkeypatch
):
    """The stage streams: rows are tokenised in batches of ENCODE_BATCH per split and written
    in Arrow batches of about WRITE_BYTES, the per-record labels, hashes and splits are worked
    on a BLOCK at a time in mapped files, and the dataset, its Parquet files and its manifest
    depend on none of these sizes."""
    import genomeflow.data.columns as columns
    import genomeflow.data.rows as rows

    settings = {"chunk_size": 50, "chunk_overlap": 10}
    whole = build(classes, tokeniser, tmp_path / "whole", **settings)
    batches = []
    monkeypatch.setattr(rows, "ENCODE_BATCH", 7)
    monkeypatch.setattr(columns, "BLOCK", 5)  # every record array spans several blocks
    monkeypatch.setattr(rows, "WRITE_BYTES", 2000)
    original = rows.RowWriter._flush
    monkeypatch.setattr(
        rows.RowWriter, "_flush", lambda self, split: batches.append(split) or original(self, split)
    )
    gathered = []  # tokeniser batches per Arrow batch written
    write = rows.RowWriter._write
    monkeypatch.setattr(
        rows.RowWriter,
        "_write",
        lambda self, split: gathered.append(len(self._encoded[split])) or write(self, split),
    )
    small = build(classes, tokeniser, tmp_path / "small", **settings)
    assert batches.count("train") >= len(whole["train"]) // 7  # many batches, not one
    assert max(gathered) > 1  # an Arrow batch gathers several tokeniser batches...
    assert sum(1 for n in gathered if n) > len(SPLITS)  # ...and a split is written in several
    for split in whole:
        assert small[split].data.table.equals(whole[split].data.table)
        parquet = [
            pq.read_table(tmp_path / f / "parquet" / f"{split}.parquet") for f in ("whole", "small")
        ]
        assert parquet[0].equals(parquet[1])
    manifests = [
        json.loads((tmp_path / f / "manifest.json").read_text()) for f in ("whole", "small")
    ]
    for manifest in manifests:
        manifest.pop("config")  # names the output folder
    assert manifests[0] == manifests[1]  # file digests included: the same Parquet bytes
    assert not any(p.name == ".rows" for p in (tmp_path / "small").iterdir())  # scratch removed


def test_a_repeated_id_is_named_and_equal_hashes_alone_are_no_repeat(
    tmp_path, classes, tokeniser, capsys, monkeypatch
):
    """The first pass keeps a hash per id; equal hashes send it to the exact check, which names
    a real repeat (the reader's own message) and lets distinct ids through."""
    import genomeflow.data.columns as columns

    copy = write_text(tmp_path / "copy.fa", fasta_text([("neg7", "ACGT" * 30)]))
    output = tmp_path / "ds"
    argv = ["dataset", *classes, str(copy), "-t", tokeniser, "-o", str(output)]
    assert main([*argv, "--tracking-uri", "none"]) == 2
    error = capsys.readouterr().err
    assert f"{copy}: record #1 repeats the id 'neg7' of {classes[1]}" in error
    assert not output.exists()
    monkeypatch.setattr(columns, "id_hash", lambda record_id: 0)  # every hash collides
    assert len(build(classes, tokeniser, output)["train"]) > 0
