"""Integration: the E. coli promoter example files (CRLF line ends, gzip) end to end."""

import hashlib
from collections import Counter

import pytest

from genomeflow.cli import main
from genomeflow.io import SequenceFile, labelled_records
from genomeflow.io.summary import summarise_file
from genomeflow.sequence.alphabet import Alphabet

pytestmark = pytest.mark.integration


def test_both_files_read_as_3382_records_of_81_bp(ecoli):
    for name in ("promoter.fasta.gz", "non_promoter.fasta.gz"):
        source = SequenceFile(ecoli / name)
        lengths = Counter(len(record.sequence) for record in source)
        assert lengths == {81: 3382}
        assert source.alphabet is Alphabet.DNA


def test_labels_come_from_the_file_names(ecoli):
    labels = Counter(
        label
        for _, label in labelled_records(
            [ecoli / "promoter.fasta.gz", ecoli / "non_promoter.fasta.gz"]
        )
    )
    assert labels == {"promoter": 3382, "non_promoter": 3382}


def test_summary_of_promoters(ecoli):
    summary = summarise_file(ecoli / "promoter.fasta.gz")
    assert (summary.records, summary.residues, summary.n50) == (3382, 3382 * 81, 81)
    assert summary.ambiguous_percent == 0
    assert 35 < summary.gc_percent < 50  # promoters are AT-rich (E. coli genome ~50.8% GC)


def test_dinucleotide_shuffles_of_promoters(ecoli, tmp_path):
    output = tmp_path / "controls.fasta.gz"
    assert main(["synthetic", str(ecoli / "promoter.fasta.gz"), "-o", str(output)]) == 0
    originals = {r.id: r.sequence for r in SequenceFile(ecoli / "promoter.fasta.gz")}
    controls = list(SequenceFile(output))
    assert len(controls) == 3382
    changed = 0
    for control in controls:
        source = originals[control.id.removesuffix("_ctrl1")]
        pairs = Counter(source[i : i + 2] for i in range(80))
        assert Counter(control.sequence[i : i + 2] for i in range(80)) == pairs
        changed += control.sequence != source
    assert changed > 3300


def test_dataset_of_promoters_keeps_sources_apart(ecoli, tmp_path):
    import datasets

    inputs = [str(ecoli / "promoter.fasta.gz"), str(ecoli / "non_promoter.fasta.gz")]
    assert (
        main(["tokenise", *inputs, "-o", str(tmp_path / "tok"), "--method", "kmer", "-k", "6"]) == 0
    )
    assert main(["dataset", *inputs, "-t", str(tmp_path / "tok"), "-o", str(tmp_path / "ds")]) == 0
    dataset = datasets.load_from_disk(str(tmp_path / "ds"))
    groups = {split: set(dataset[split]["group"]) for split in dataset}
    assert sum(len(g) for g in groups.values()) == 2 * 3382
    assert groups["train"].isdisjoint(groups["valid"] | groups["test"])
    assert groups["valid"].isdisjoint(groups["test"])
    assert [len(groups[s]) for s in ("train", "valid", "test")] == [5412, 676, 676]
    assert len(dataset["train"]) == 2 * 5412  # every train sequence and its reverse complement
    assert set(dataset["test"]["strand"]) == {"+"}
    assert max(len(ids) for ids in dataset["test"]["input_ids"]) == 76 + 2  # 81 - 6 + 1 k-mers
    # The rows of each split, in order, as the in-memory build of genomeflow 0.1.0 wrote them
    # (before the stage streamed): seed 42 must keep giving the same splits.
    ordered = {s: hashlib.sha256("\n".join(dataset[s]["id"]).encode()).hexdigest() for s in groups}
    assert {s: digest[:16] for s, digest in ordered.items()} == {
        "train": "5a9d48c1423bd888",
        "valid": "8cda5a2d4a971ed0",
        "test": "d07b0d3f7c5a55fd",
    }
