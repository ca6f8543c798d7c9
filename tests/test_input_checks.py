"""Damaged artifacts and bad inputs are one line (exit 2) naming the file, the fault and the fix,
found before any work starts, and they leave every input as it was."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import shutil
from pathlib import Path

import pytest

from genomeflow.cli import main
from genomeflow.config import BaselineConfig, TrainConfig
from genomeflow.train.baseline import train_baseline
from genomeflow.train.train import train_model
from helpers import MOTIF, fasta_text, make_dataset, planted_records, write_text

pytestmark = pytest.mark.slow

NO_TRACKING = ("--tracking-uri", "none")
PROTEIN = [("p1", "MKVLAAGIVGLLLAEEKRPQWY"), ("p2", "MKKLLPTAAAGLLLLAAQPAMAHE")]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> dict[str, Path]:
    """A tiny dataset, a logistic-regression baseline and a one-epoch tiny transformer on it,
    and a protein FASTA."""
    folder = tmp_path_factory.mktemp("checks")
    dataset = Path(
        make_dataset(folder, planted_records(40, 60, 1, MOTIF), planted_records(40, 60, 2, None))
    )
    baseline = folder / "logreg"
    train_baseline(
        BaselineConfig(
            dataset=str(dataset),
            output=str(baseline),
            features="count",
            model="logreg",
            folds=0,
            importance_top=5,
            permutation_repeats=1,
        )
    )
    transformer = folder / "tiny"
    train_model(
        TrainConfig(
            dataset=str(dataset), output=str(transformer), preset="tiny", epochs=1, batch_size=16
        )
    )
    return {
        "dataset": dataset,
        "tokeniser": folder / "tok",
        "promoter": folder / "promoter.fa",
        "background": folder / "background.fa",
        "baseline": baseline,
        "transformer": transformer,
        "protein": write_text(folder / "protein.fa", fasta_text(PROTEIN)),
    }


def snapshot(*paths: Path) -> dict[str, str]:
    """Digest of every file under ``paths`` (files or folders), by path."""
    files = [q for p in paths for q in ([p] if p.is_file() else sorted(p.rglob("*")))]
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.is_file()}


def refused(capsys, inputs, *argv) -> str:
    """Run the command; assert exit 2, one `genomeflow: error:` line, no traceback, inputs
    unchanged; returns the message."""
    before = snapshot(*inputs)
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    errors = [line for line in err.splitlines() if line.startswith("genomeflow: error: ")]
    assert len(errors) == 1, err  # other lines are libraries' logging (MLflow's, for one)
    assert "Traceback" not in err
    assert snapshot(*inputs) == before
    return errors[0]


def damaged(source: Path, tmp_path: Path, name: str, how: str, old: bool = False) -> Path:
    """A copy of an artifact folder with ``name`` truncated to half, or removed; ``old`` also
    drops the manifest's recorded digests (a folder from before they were recorded)."""
    copy = tmp_path / f"{source.name}-{how}"
    shutil.copytree(source, copy)
    target = copy / name
    if how == "missing":
        target.unlink()
    else:
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    if old:
        manifest = next(
            copy / m
            for m in ("transformer.json", "baseline.json", "manifest.json")
            if (copy / m).is_file()
        )
        content = json.loads(manifest.read_text())
        content.pop("files")
        manifest.write_text(json.dumps(content))
    return copy


# --- A. damaged artifacts -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("how", "old", "fragment"),
    [
        ("truncated", False, "SHA-256 differs from the one transformer.json recorded"),
        ("truncated", True, "truncated or corrupt (Error while deserializing header"),
        ("missing", False, "model.safetensors: missing"),
        ("missing", True, "model.safetensors: missing; the model folder is incomplete"),
    ],
)
def test_damaged_weights_are_named_by_predict_evaluate_and_interpret(
    work, tmp_path, capsys, how, old, fragment
):
    model = damaged(work["transformer"], tmp_path, "model.safetensors", how, old)
    inputs = [model, work["promoter"], work["dataset"]]
    for argv in (
        ["predict", model, work["promoter"], "-o", tmp_path / "p.csv"],
        ["evaluate", model, "--dataset", work["dataset"], "-o", tmp_path / "ev"],
        ["interpret", model, "-o", tmp_path / "rep", "--inputs", work["promoter"], "--limit", "2"],
    ):
        message = refused(capsys, inputs, *argv, *NO_TRACKING)
        assert f"{model}/model.safetensors" in message and fragment in message
        assert "re-run `genomeflow train`" in message
    assert {p.name for p in tmp_path.iterdir()} == {model.name}


@pytest.mark.parametrize("old", [False, True])
def test_truncated_split_is_named_by_baseline_and_evaluate(work, tmp_path, capsys, old):
    dataset = damaged(work["dataset"], tmp_path, "parquet/test.parquet", "truncated", old)
    for argv in (
        ["baseline", dataset, "-o", tmp_path / "bl", "--model", "logreg", "--folds", "0"],
        ["evaluate", work["baseline"], "--dataset", dataset, "-o", tmp_path / "ev"],
    ):
        message = refused(capsys, [dataset, work["baseline"]], *argv, *NO_TRACKING)
        assert f"{dataset}/parquet/test.parquet: truncated or corrupt" in message
        assert "re-run `genomeflow dataset`" in message
        assert ("SHA-256 differs" in message) is not old
    assert {p.name for p in tmp_path.iterdir()} == {dataset.name}


def test_damaged_baseline_file_is_named(work, tmp_path, capsys):
    model = damaged(work["baseline"], tmp_path, "model.skops", "truncated", old=True)
    message = refused(
        capsys, [model], "predict", model, work["promoter"], "-o", tmp_path / "p.csv", *NO_TRACKING
    )
    assert f"{model}/model.skops: truncated or corrupt" in message
    assert "re-run `genomeflow baseline`" in message


def test_register_names_damaged_weights_and_splits(work, tmp_path, capsys):
    tracking = ("--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}")
    model = damaged(work["transformer"], tmp_path, "model.safetensors", "truncated")
    argv = ["register", model, "-n", "checks", "--dataset", work["dataset"], *tracking]
    message = refused(capsys, [model, work["dataset"]], *argv)
    assert f"{model}/model.safetensors: truncated or corrupt" in message
    dataset = damaged(work["dataset"], tmp_path, "parquet/test.parquet", "truncated")
    argv = ["register", work["baseline"], "-n", "checks", "--dataset", dataset, *tracking]
    message = refused(capsys, [work["baseline"], dataset], *argv)
    assert f"{dataset}/parquet/test.parquet: truncated or corrupt" in message


@pytest.mark.parametrize(
    "content",
    [b'{"version": "1.0", "trunc', b"{}", b"\x00\xff binary"],
    ids=["cut", "empty", "bin"],
)
def test_corrupt_tokeniser_is_named_by_dataset(work, tmp_path, capsys, content):
    tokeniser = tmp_path / "tok"
    shutil.copytree(work["tokeniser"], tokeniser)
    (tokeniser / "tokenizer.json").write_bytes(content)
    inputs = [tokeniser, work["promoter"], work["background"]]
    message = refused(
        capsys,
        inputs,
        "dataset",
        work["promoter"],
        work["background"],
        "-t",
        tokeniser,
        "-o",
        tmp_path / "ds",
        *NO_TRACKING,
    )
    assert f"{tokeniser}/tokenizer.json: truncated or corrupt" in message
    assert "re-run `genomeflow tokenise`" in message
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("where", ["under a file", "proc"])
def test_unwritable_output_is_refused_before_work(work, tmp_path, capsys, where):
    blocker = write_text(tmp_path / "a-file", "not a folder\n")
    base = blocker if where == "under a file" else Path("/proc")
    expected = "is a file, not a folder" if where == "under a file" else "cannot write into /proc"
    inputs = [work["dataset"], work["promoter"], work["baseline"], work["transformer"], blocker]
    for argv in (
        ["validate", work["promoter"], "--json", base / "summary.json"],
        ["predict", work["baseline"], work["promoter"], "-o", base / "p.csv"],
        ["evaluate", work["baseline"], "--dataset", work["dataset"], "-o", base / "ev"],
        ["interpret", work["transformer"], "-o", base / "rep", "--sequences", "ACGTACGTAC"],
        ["baseline", work["dataset"], "-o", base / "bl", "--model", "logreg", "--folds", "0"],
        ["train", work["dataset"], "-o", base / "tr", "--preset", "tiny", "--epochs", "1"],
        [
            "dataset",
            work["promoter"],
            work["background"],
            "-t",
            work["tokeniser"],
            "-o",
            base / "ds",
        ],
    ):
        message = refused(capsys, inputs, *argv, *NO_TRACKING)
        assert str(base) in message and expected in message, message
    assert {p.name for p in tmp_path.iterdir()} == {"a-file"}


def test_pipeline_compile_to_a_folder_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "yamls").mkdir()
    message = refused(capsys, [], "pipeline", "compile", "-o", "new/")
    assert "-o new/: names a folder; give the YAML file to write" in message
    message = refused(capsys, [], "pipeline", "compile", "-o", "yamls", "--overwrite")
    assert "yamls/genomeflow-training.yaml" in message
    blocker = write_text(tmp_path / "a-file", "x\n")
    message = refused(capsys, [blocker], "pipeline", "compile", "-o", "a-file/p.yaml")
    assert "a-file is a file, not a folder" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "yamls"]


# --- B. every input checked before work starts --------------------------------------------


def test_interpret_refuses_protein_through_a_dna_model_as_predict_does(work, tmp_path, capsys):
    inputs = [work["transformer"], work["protein"]]
    for argv in (
        ["interpret", work["transformer"], "-o", tmp_path / "rep", "--inputs", work["protein"]],
        ["predict", work["transformer"], work["protein"], "-o", tmp_path / "p.csv"],
    ):
        message = refused(capsys, inputs, *argv, *NO_TRACKING)
        assert f"{work['protein']}: holds protein but the model" in message
        assert "was built for dna" in message
    message = refused(
        capsys,
        inputs,
        "interpret",
        work["transformer"],
        "-o",
        tmp_path / "rep",
        "--inputs",
        work["promoter"],
        work["protein"],
        *NO_TRACKING,
    )
    assert f"{work['protein']}: holds protein" in message  # every file, not only the first
    assert list(tmp_path.iterdir()) == []


def test_inputs_are_checked_before_the_model_is_loaded(work, tmp_path, capsys):
    """With damaged weights, the input's fault is still the one reported: it came first."""
    model = damaged(work["transformer"], tmp_path, "model.safetensors", "truncated")
    missing = tmp_path / "missing.fa"
    cases = [
        (["predict", model, work["promoter"], missing, "-o", tmp_path / "p.csv"], "missing.fa"),
        (["interpret", model, "-o", tmp_path / "r", "--inputs", missing], "missing.fa"),
        (["interpret", model, "-o", tmp_path / "r", "--inputs", work["protein"]], "protein"),
        (
            ["interpret", model, "-o", tmp_path / "r", "--sequences", "ACGTMKQ"],
            "'Q' at position 7",
        ),
        (["predict", model, work["protein"], "-o", tmp_path / "p.csv"], "holds protein"),
        (["evaluate", model, "--dataset", tmp_path / "nowhere", "-o", tmp_path / "e"], "nowhere"),
    ]
    for argv, fragment in cases:
        message = refused(capsys, [model, work["promoter"]], *argv, *NO_TRACKING)
        assert fragment in message and "model.safetensors" not in message, message
    dataset = damaged(work["dataset"], tmp_path, "parquet/test.parquet", "truncated")
    message = refused(
        capsys,
        [model, dataset],
        *["evaluate", model, "--dataset", dataset, "-o", tmp_path / "e"],
        *NO_TRACKING,
    )
    assert "test.parquet: truncated or corrupt" in message


def test_evaluate_refuses_a_dataset_of_another_alphabet(work, tmp_path, capsys):
    dataset = tmp_path / "protein-ds"
    shutil.copytree(work["dataset"], dataset)
    manifest = json.loads((dataset / "manifest.json").read_text())
    manifest["alphabet"] = "protein"
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    message = refused(
        capsys,
        [dataset],
        *["evaluate", work["baseline"], "--dataset", dataset, "-o", tmp_path / "e"],
        *NO_TRACKING,
    )
    assert "holds protein but the model" in message and "built for dna" in message


def test_pipeline_run_names_a_missing_input_before_any_step(work, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "missing.fa"
    message = refused(
        capsys,
        [work["promoter"]],
        *["pipeline", "run", "--local", "--inputs", work["promoter"], missing, "-o", "root"],
    )
    assert f"pipeline input(s) missing: {missing} (no such file)" in message
    assert "no step was started" in message
    message = refused(
        capsys,
        [work["promoter"]],
        *["pipeline", "run", "--local", "--inputs", work["promoter"], work["background"]],
        *["--param", f"label_table={missing}", "-o", "root"],
    )
    assert f"{missing} (no such file)" in message
    message = refused(
        capsys,
        [work["promoter"]],
        *["pipeline", "run", "--local", "--pipeline", "predict", "--inputs", work["promoter"]],
        *["--param", f"model={tmp_path / 'no-model'}", "-o", "root"],
    )
    assert "no-model (no such model folder)" in message
    assert not (tmp_path / "root").exists()


def test_validate_refuses_ids_repeated_across_files(tmp_path, capsys):
    first = write_text(tmp_path / "a.fa", fasta_text([("x", "ACGT"), ("y", "ACGG")]))
    second = write_text(tmp_path / "b.fa", fasta_text([("z", "ACGT"), ("y", "TTTT")]))
    message = refused(capsys, [first, second], "validate", first, second, *NO_TRACKING)
    assert f"{second}: record #2 repeats the id 'y' of {first}" in message
    assert "--allow-duplicate-ids" in message
    assert main(["validate", str(first), str(second), "--allow-duplicate-ids", *NO_TRACKING]) == 0
    assert main(["validate", str(first), *NO_TRACKING]) == 0


FASTQ_CASES = {
    "quality length": (
        f"@r1\n{'ACGT' * 6}\n+\n{'I' * 24}\n@r2 read two\nACGT\n+\nII\n",
        "line 8 (record 'r2', #2): the quality line has 2 characters but the sequence has 4",
    ),
    "missing plus at the end": (
        "@r1\nACGT\n+\nIIII\n@r2\nACGT\nIIII\n",
        "line 5 (record 'r2', #2): no '+' line after the sequence (the file ends first)",
    ),
    "missing plus before the next record": (
        "@r1\nACGT\nIIII\n@r2\nACGT\n+\nIIII\n",
        "line 1 (record 'r1', #1): no '+' line after the sequence (line 4 starts the next",
    ),
    "missing header": (
        "@r1\nACGT\n+\nIIII\nr2\nACGT\n+\nIIII\n",
        "line 5 (#2): expected a record header starting with '@', found 'r2'",
    ),
    "plus names another record": (
        "@r1\nACGT\n+r9\nIIII\n",
        "line 3 (record 'r1', #1): the '+' line names 'r9', not the header's 'r1'",
    ),
}


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("case", sorted(FASTQ_CASES))
def test_fastq_errors_name_the_line_record_and_fault(tmp_path, capsys, case, gz):
    text, fragment = FASTQ_CASES[case]
    path = write_text(tmp_path / "reads.fastq", text, gz=gz)
    message = refused(capsys, [path], "validate", path, *NO_TRACKING)
    assert f"{path}: malformed FASTQ at {fragment}" in message
    assert "Lengths of sequence" not in message and "differs (" not in message


def test_fastq_with_blank_lines_and_at_signs_in_quality_still_reads(tmp_path, capsys):
    text = "\n@r1\nACGT\n+r1\n@III\n\n@r2\nAC\nGT\n+\n@I\nII\n\n"
    path = write_text(tmp_path / "ok.fastq", text, crlf=True)
    assert main(["validate", str(path), *NO_TRACKING]) == 0
    assert "ok.fastq" in capsys.readouterr().out


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_non_utf8_bytes_are_located_by_line_and_record(tmp_path, capsys, gz):
    data = b">a first\nACGT\n>b\nAC\xff\xfeGT\nAAAA\n"
    path = tmp_path / "odd.fa"
    path.write_bytes(gzip.compress(data) if gz else data)
    message = refused(capsys, [path], "validate", path, *NO_TRACKING)
    assert f"{path}: not a text FASTA/FASTQ file: line 4 (record 'b')" in message
    assert "b'\\xff'" in message
    assert "plain" not in message  # the file is plain text already: no advice to give one


def test_non_utf8_byte_in_a_fastq_names_its_record(tmp_path, capsys):
    path = tmp_path / "odd.fastq"
    path.write_bytes(b"@r1\nACGT\n+\nIIII\n@r2\nACGT\n+\nII\xc3I\n")
    message = refused(capsys, [path], "validate", path, *NO_TRACKING)
    assert "line 8 (record 'r2')" in message


def test_resume_without_a_checkpoint_says_it_starts_fresh(work, tmp_path, caplog):
    output = tmp_path / "model"
    argv = ["train", work["dataset"], "-o", output, "--preset", "tiny", "--epochs", "1"]
    with caplog.at_level(logging.INFO):
        assert main([str(a) for a in [*argv, "--resume", *NO_TRACKING]]) == 0
    said = [r for r in caplog.records if "--resume" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.WARNING
    assert f"no checkpoint in {output}.checkpoints/last" in said[0].getMessage()
    assert "training from epoch 1" in said[0].getMessage()
    assert (output / "model.safetensors").is_file()
