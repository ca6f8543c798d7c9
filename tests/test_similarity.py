"""Similarity-grouped splits: homologs (MMseqs2 clusters) never straddle train/valid/test."""

import json
import random
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

import datasets
import pytest

from genomeflow.cli import main
from genomeflow.config import DatasetConfig, TokeniseConfig
from genomeflow.data import assign_splits, build_dataset
from genomeflow.data.similarity import ClusteringError, _components, cluster_records
from genomeflow.data.split import stratification_labels
from genomeflow.errors import ConfigError
from genomeflow.io.sequences import SequenceRecord
from genomeflow.sequence.alphabet import Alphabet
from genomeflow.tokenise import train_tokeniser
from helpers import fasta_text, write_text

AMINO = "ACDEFGHIKLMNPQRSTVWY"
needs_mmseqs = pytest.mark.skipif(
    shutil.which("mmseqs") is None, reason="MMseqs2 missing: apt-get install mmseqs2"
)


def mutated(rng, root, share, letters):
    """``root`` with ``share`` of its positions changed to another letter (90% identity: 0.1)."""
    chain = list(root)
    for at in rng.sample(range(len(root)), round(share * len(root))):
        chain[at] = rng.choice(letters.replace(chain[at], ""))
    return "".join(chain)


def family(rng, name, size, length, letters, share):
    root = "".join(rng.choices(letters, k=length))
    return [(f"{name}_{i}", mutated(rng, root, share, letters)) for i in range(size)]


def reverse_complement(sequence):
    return sequence[::-1].translate(str.maketrans("ACGT", "TGCA"))


@pytest.fixture(scope="module")
def proteins(tmp_path_factory):
    """Two classes of protein families (a random protein and 3 copies at 90% identity), plus
    one family whose members carry both labels; and a char tokeniser."""
    folder = tmp_path_factory.mktemp("proteins")
    rng = random.Random(7)
    records = {"bind": [], "other": []}
    for label in records:
        for k in range(8):
            records[label] += family(rng, f"{label}fam{k}", 4, 100, AMINO, 0.1)
    mixed = family(rng, "mixfam", 4, 100, AMINO, 0.1)
    records["bind"] += mixed[:3]
    records["other"] += mixed[3:]
    files = [
        str(write_text(folder / f"{label}.faa", fasta_text(found)))
        for label, found in records.items()
    ]
    tokeniser = folder / "tok"
    train_tokeniser(TokeniseConfig(inputs=files, output=str(tokeniser), method="char"))
    return files, str(tokeniser)


def build(files, tokeniser, output, **settings):
    build_dataset(DatasetConfig(inputs=files, tokeniser=tokeniser, output=str(output), **settings))
    manifest = json.loads((output / "manifest.json").read_text())
    return datasets.load_from_disk(str(output)), manifest


def family_splits(dataset):
    """Family name -> the splits its members went to."""
    found = defaultdict(set)
    for split in dataset:
        for row_id in dataset[split]["id"]:
            found[row_id.rsplit("_", 1)[0]].add(split)
    return found


@needs_mmseqs
def test_protein_families_stay_in_one_split_only_with_similarity_grouping(tmp_path, proteins):
    files, tokeniser = proteins
    by_id, _ = build(files, tokeniser, tmp_path / "by_id", group_by="id")
    leaked = [name for name, splits in family_splits(by_id).items() if len(splits) > 1]
    assert len(leaked) >= 5  # the leak: grouped by record, homologs land in train and test

    clustered, manifest = build(files, tokeniser, tmp_path / "clustered")  # auto: protein
    assert all(len(splits) == 1 for splits in family_splits(clustered).values())
    assert {split for split in clustered if len(clustered[split])} == {"train", "valid", "test"}
    for split in clustered:
        assert set(clustered[split]["label"]) == {0, 1}  # still stratified
    grouping = manifest["grouping"]
    assert grouping["method"] == "similarity" and grouping["requested"] == "auto"
    assert grouping["min_identity"] == 0.3 and grouping["coverage"] == 0.8
    assert grouping["tool"].startswith("mmseqs2")
    assert grouping["clusters"] == 17 and grouping["mixed_label_clusters"] == 1
    assert grouping["largest_cluster"] == 4 and grouping["singleton_clusters"] == 0
    assert grouping["source_sequences"] == {"train": 52, "valid": 8, "test": 8}  # whole clusters
    assert manifest["config"]["group_by"] == "auto"
    # The group column is the cluster (its first record's id): grouped CV keeps it together.
    assert set(clustered["train"]["group"]) <= {
        f"{label}fam{k}_0" for label in ("bind", "other") for k in range(8)
    } | {"mixfam_0"}
    lines = (tmp_path / "clustered" / "clusters.tsv").read_text().splitlines()
    assert lines[0] == "id\tcluster\tlabel\tsplit" and len(lines) == 1 + 68
    table = [line.split("\t") for line in lines[1:]]
    assert ["mixfam_3", "mixfam_0", "other"] in [row[:3] for row in table]
    assert (tmp_path / "clustered" / "mmseqs.log").stat().st_size > 0

    again, _ = build(files, tokeniser, tmp_path / "again", group_by="similarity")
    assert family_splits(again) == family_splits(clustered)  # same seed, same split
    assert (tmp_path / "again" / "clusters.tsv").read_text() == "\n".join(lines) + "\n"


@needs_mmseqs
def test_dna_similarity_grouping_keeps_copies_and_reverse_complements_together(tmp_path):
    rng = random.Random(11)
    files = []
    for label in ("promoter", "background"):
        records = []
        for k in range(8):
            copies = family(rng, f"{label}fam{k}", 3, 150, "ACGT", 0.05)
            name, sequence = copies[2]
            copies[2] = (name, reverse_complement(sequence))  # a copy on the other strand
            records += copies
        files.append(str(write_text(tmp_path / f"{label}.fa", fasta_text(records))))
    tokeniser = tmp_path / "tok"
    train_tokeniser(TokeniseConfig(inputs=files, output=str(tokeniser), method="kmer", k=3))

    by_id, manifest = build(files, str(tokeniser), tmp_path / "auto")  # auto: DNA by id
    assert manifest["grouping"] == {
        "method": "id",
        "requested": "auto",
        "source_sequences": {"train": 38, "valid": 6, "test": 4},
    }
    assert not (tmp_path / "auto" / "clusters.tsv").exists()
    assert any(len(splits) > 1 for splits in family_splits(by_id).values())

    clustered, manifest = build(files, str(tokeniser), tmp_path / "sim", group_by="similarity")
    assert all(len(splits) == 1 for splits in family_splits(clustered).values())
    assert manifest["grouping"]["clusters"] == 16
    assert manifest["grouping"]["min_identity"] == 0.8
    assert set(clustered["train"]["strand"]) == {"+", "-"}  # augmentation still train-only
    assert set(clustered["test"]["strand"]) == {"+"}

    with pytest.raises(ConfigError, match="--min-identity applies to --group-by similarity"):
        build(files, str(tokeniser), tmp_path / "x", min_identity=0.9)


def test_missing_mmseqs_is_one_line_exit_2(tmp_path, proteins, monkeypatch, capsys):
    files, tokeniser = proteins
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "none")
    code = main(["dataset", *files, "-t", tokeniser, "-o", str(tmp_path / "ds")])
    error = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in error
    assert "protein by similarity (the default, --group-by auto)" in error
    assert "apt-get install mmseqs2" in error and "--group-by id" in error
    assert not (tmp_path / "ds").exists()  # no silent fallback to id grouping

    assert (
        main(["dataset", *files, "-t", tokeniser, "-o", str(tmp_path / "ds"), "--group-by", "id"])
        == 0
    )
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert manifest["grouping"]["method"] == "id"


def fake_mmseqs(folder, script):
    folder.mkdir(exist_ok=True)
    path = folder / "mmseqs"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def test_mmseqs_failure_and_deadline_are_one_line_with_the_log_kept(tmp_path, monkeypatch, capfd):
    sleep = shutil.which("sleep")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    records = [SequenceRecord("a", "MKTAYIAKQR"), SequenceRecord("b", "MKLLVEEKKR")]
    fake_mmseqs(
        tmp_path / "bin", "echo 'noise on stdout'\necho 'Error: broken input' >&2\nexit 3\n"
    )
    with pytest.raises(ClusteringError) as failed:
        cluster_records(records, Alphabet.PROTEIN, 0.3, 0.8)
    message = str(failed.value)
    assert "\n" not in message and "exit code 3: Error: broken input (log: " in message
    log = Path(message.split("(log: ")[1].rstrip(")"))
    assert "noise on stdout" in log.read_text()
    assert capfd.readouterr() == ("", "")  # mmseqs' output went to the log, not the terminal

    fake_mmseqs(tmp_path / "bin", f"exec {sleep} 30\n")
    with pytest.raises(ClusteringError, match=r"ran past its 0.5 s deadline on 2 sequences"):
        cluster_records(records, Alphabet.PROTEIN, 0.3, 0.8, timeout=0.5)


def test_clusters_join_through_duplicate_ids_and_are_named_by_their_first_record():
    ids = ["a", "b", "c", "b", "d"]
    # mmseqs rows are (representative index, member index): {0, 3} and {1, 2}; 4 left out
    assert _components(ids, [(3, 0), (3, 3), (2, 1), (2, 2)]) == {
        "a": "a",
        "b": "a",  # b (#3) sits with a, and b (#1) with c: one cluster
        "c": "a",
        "d": "d",
    }


def test_cluster_splits_are_whole_stratified_by_majority_and_seeded():
    groups = [(f"c{i // 3}", "xy"[i // 3 % 2]) for i in range(60)]  # 20 clusters of 3
    groups[0] = ("c0", "y")  # c0: x, x and y -> stratified as x
    labels, mixed = stratification_labels(groups)
    assert labels["c0"] == "x" and mixed == 1
    tie, _ = stratification_labels([("t", "x"), ("t", "y"), ("u", "y")])
    assert tie["t"] == "x"  # a tie goes to the rarer class
    first = assign_splits(groups, [0.8, 0.1, 0.1], 3)
    assert len(first) == 20 and first == assign_splits(groups, [0.8, 0.1, 0.1], 3)
    assert first != assign_splits(groups, [0.8, 0.1, 0.1], 4)
    shares = [
        sum(3 for split in first.values() if split == name) for name in ("train", "valid", "test")
    ]
    assert shares == [48, 6, 6]


def test_grouping_settings_are_checked():
    with pytest.raises(ConfigError, match="group_by"):
        DatasetConfig(inputs=["a.fa"], tokeniser="t", output="o", group_by="family")
    with pytest.raises(ConfigError, match="--min-identity must be between 0 and 1"):
        DatasetConfig(inputs=["a.fa"], tokeniser="t", output="o", min_identity=30)
    with pytest.raises(ConfigError, match="--coverage must be between 0 and 1"):
        DatasetConfig(inputs=["a.fa"], tokeniser="t", output="o", coverage=1.5)
