"""Nothing a user owns is ever deleted or replaced: existing outputs, overlapping inputs, `-o .`.

Each refusal is one line on stderr with exit code 2, names the path and the fix, and leaves
every file that was there byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import pytest

from genomeflow import storage
from genomeflow.cli import build_parser, main
from genomeflow.stages import run_command
from genomeflow.storage import OUTPUT_MARKER, OutputError, check_outputs, s3
from helpers import MOTIF, fasta_text, planted_records, write_text

FIX = "pass --overwrite to replace an earlier genomeflow output, or choose another -o"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(*roots: Path) -> dict[str, str]:
    """sha256 of every file under the roots (and of the roots that are files), by path."""
    found = {}
    for root in roots:
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in paths:
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def refused(capsys, *argv) -> str:
    """Run a command that must be refused; returns its one-line message."""
    code, out, err = run(capsys, *argv)
    assert code == 2, out + err
    assert err.count("\n") == 1 and err.startswith("genomeflow: error: "), err
    assert "Traceback" not in err
    return err


@pytest.fixture
def corpus(tmp_path) -> Path:
    return write_text(tmp_path / "in.fa", fasta_text(planted_records(20, 40, 1, MOTIF)))


@pytest.fixture
def notes(tmp_path) -> Path:
    """A user's folder with their own files."""
    folder = tmp_path / "notes"
    (folder / "deep").mkdir(parents=True)
    (folder / "todo.txt").write_text("ring the lab\n")
    (folder / "deep" / "data.bin").write_bytes(os.urandom(256))
    return folder


def tokenise(capsys, corpus: Path, output, *flags) -> tuple[int, str, str]:
    return run(capsys, "tokenise", corpus, "-o", output, "--method", "char", *flags)


# --- an existing output -------------------------------------------------------------------


def test_an_existing_user_folder_is_refused(capsys, tmp_path, corpus, notes):
    before = snapshot(tmp_path)
    err = refused(capsys, "tokenise", corpus, "-o", notes, "--method", "char")
    assert f"{notes}: already exists" in err and FIX in err
    assert snapshot(tmp_path) == before


def test_overwrite_refuses_a_folder_genomeflow_did_not_write(capsys, tmp_path, corpus, notes):
    before = snapshot(tmp_path)
    err = refused(capsys, "tokenise", corpus, "-o", notes, "--method", "char", "--overwrite")
    assert f"{notes}: is not an earlier genomeflow output" in err
    assert OUTPUT_MARKER in err and "choose another -o" in err
    assert snapshot(tmp_path) == before


def test_overwrite_replaces_an_earlier_output_of_the_same_stage(capsys, tmp_path, corpus):
    output = tmp_path / "tok"
    assert tokenise(capsys, corpus, output)[0] == 0
    marker = json.loads((output / OUTPUT_MARKER).read_text())
    assert marker["stage"] == "tokenise" and marker["genomeflow_version"]
    before = snapshot(tmp_path)

    err = refused(capsys, "tokenise", corpus, "-o", output, "--method", "char")
    assert f"{output}: already exists" in err and FIX in err
    assert snapshot(tmp_path) == before

    code, out, _ = tokenise(capsys, corpus, output, "--overwrite")
    assert code == 0 and f"to {output}" in out
    assert (output / OUTPUT_MARKER).is_file() and (output / "tokenizer.json").is_file()
    assert snapshot(corpus) == {str(corpus): before[str(corpus)]}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial left


def test_every_folder_stage_marks_its_output(capsys, tmp_path, corpus):
    """Folders written outside atomic_directory's callers (tokens inspect) carry it too."""
    assert tokenise(capsys, corpus, tmp_path / "tok")[0] == 0
    code, _, _ = run(capsys, "tokens", "inspect", tmp_path / "tok", "-o", tmp_path / "report")
    assert code == 0
    marker = json.loads((tmp_path / "report" / OUTPUT_MARKER).read_text())
    assert marker["stage"] == "tokens-inspect"
    # and so --overwrite may replace it
    code, _, _ = run(
        capsys, "tokens", "inspect", tmp_path / "tok", "-o", tmp_path / "report", "--overwrite"
    )
    assert code == 0


def test_an_empty_folder_may_be_filled_with_overwrite(capsys, tmp_path, corpus):
    """Nothing to lose (a pipeline step's pre-made artifact folder), but still never silently."""
    empty = tmp_path / "empty"
    empty.mkdir()
    refused(capsys, "tokenise", corpus, "-o", empty, "--method", "char")
    assert tokenise(capsys, corpus, empty, "--overwrite")[0] == 0
    assert (empty / OUTPUT_MARKER).is_file()


# --- single-file outputs: the ledger ------------------------------------------------------


def test_a_file_output_is_replaced_only_while_it_is_what_genomeflow_wrote(capsys, tmp_path, corpus):
    output = tmp_path / "controls.fa"
    assert run(capsys, "synthetic", corpus, "-o", output)[0] == 0
    written = output.read_bytes()

    err = refused(capsys, "synthetic", corpus, "-o", output, "--seed", "7")
    assert f"{output}: already exists" in err and FIX in err
    assert output.read_bytes() == written

    assert run(capsys, "synthetic", corpus, "-o", output, "--seed", "7", "--overwrite")[0] == 0
    assert output.read_bytes() != written  # another seed: other controls, and recorded again
    assert run(capsys, "synthetic", corpus, "-o", output, "--overwrite")[0] == 0
    assert output.read_bytes() == written

    with output.open("a") as handle:  # the user edits it: it is theirs now
        handle.write(">mine\nACGT\n")
    before = snapshot(tmp_path)
    err = refused(capsys, "synthetic", corpus, "-o", output, "--overwrite")
    assert f"{output}: is not a file genomeflow wrote" in err and "choose another -o" in err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["synthetic", "validate"])
def test_overwrite_refuses_a_file_genomeflow_did_not_write(capsys, tmp_path, corpus, command):
    mine = tmp_path / "mine.json"
    mine.write_text('{"mine": true}\n')
    flag = "-o" if command == "synthetic" else "--json"
    before = snapshot(tmp_path)
    assert f"{mine}: already exists" in refused(capsys, command, corpus, flag, mine)
    err = refused(capsys, command, corpus, flag, mine, "--overwrite")
    assert f"{mine}: is not a file genomeflow wrote" in err
    assert snapshot(tmp_path) == before


# --- outputs overlapping the inputs: always refused ----------------------------------------


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_an_output_that_is_the_input_is_refused(capsys, tmp_path, corpus, overwrite):
    before = snapshot(tmp_path)
    err = refused(capsys, "synthetic", corpus, "-o", corpus, *overwrite)
    assert f"{corpus}: the output is the stage's input {corpus}" in err
    assert "even with --overwrite" in err
    assert snapshot(tmp_path) == before


def test_a_genomeflow_folder_given_as_input_and_output_is_refused(capsys, tmp_path, corpus):
    """`train ds/ -o ds/`: the input is genomeflow's own output, so only the overlap rule stops
    --overwrite from replacing it."""
    tok = tmp_path / "tok"
    assert tokenise(capsys, corpus, tok)[0] == 0
    before = snapshot(tmp_path)
    err = refused(capsys, "dataset", corpus, corpus, "-t", tok, "-o", tok, "--overwrite")
    assert f"{tok}: the output is the stage's input {tok}" in err
    assert snapshot(tmp_path) == before


def test_an_output_inside_an_input_is_refused(capsys, tmp_path, corpus):
    tok = tmp_path / "tok"
    assert tokenise(capsys, corpus, tok)[0] == 0
    before = snapshot(tmp_path)
    err = refused(capsys, "tokens", "inspect", tok, "-o", tok / "report", "--overwrite")
    assert f"{tok / 'report'}: the output lies inside the stage's input {tok}" in err
    assert snapshot(tmp_path) == before and not (tok / "report").exists()


def test_an_output_holding_an_input_is_refused(capsys, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    corpus = write_text(data / "in.fa", fasta_text(planted_records(20, 40, 1, MOTIF)))
    before = snapshot(tmp_path)
    err = refused(capsys, "tokenise", corpus, "-o", data, "--method", "char", "--overwrite")
    assert f"{data}: the output holds the stage's input {corpus}" in err
    assert snapshot(tmp_path) == before


def test_paths_are_compared_resolved_symlinks_and_dots(capsys, tmp_path, corpus, monkeypatch):
    tok = tmp_path / "tok"
    assert tokenise(capsys, corpus, tok)[0] == 0
    (tmp_path / "link.fa").symlink_to(corpus)
    (tmp_path / "tok-link").symlink_to(tok, target_is_directory=True)
    before = snapshot(tmp_path)
    err = refused(capsys, "synthetic", corpus, "-o", tmp_path / "link.fa", "--overwrite")
    assert "the output is the stage's input" in err
    err = refused(capsys, "tokens", "inspect", tok, "-o", tmp_path / "tok-link", "--overwrite")
    assert "the output is the stage's input" in err
    monkeypatch.chdir(tmp_path)
    err = refused(capsys, "synthetic", "in.fa", "-o", "./in.fa", "--overwrite")
    assert "./in.fa: the output is the stage's input in.fa" in err
    err = refused(capsys, "tokens", "inspect", "tok", "-o", "../" + tmp_path.name + "/tok/x")
    assert "lies inside the stage's input tok" in err
    assert snapshot(tmp_path) == before


def test_overwrite_keeps_a_users_symlink(capsys, tmp_path, corpus):
    """A link to an earlier output is the user's: replacing it would lose the link."""
    assert tokenise(capsys, corpus, tmp_path / "tok")[0] == 0
    (tmp_path / "latest").symlink_to(tmp_path / "tok", target_is_directory=True)
    before = snapshot(tmp_path)
    err = refused(capsys, "tokenise", corpus, "-o", tmp_path / "latest", "--method", "char",
                  "--overwrite")  # fmt: skip
    assert f"{tmp_path / 'latest'}: is a symbolic link" in err
    assert (tmp_path / "latest").is_symlink() and snapshot(tmp_path) == before


@pytest.mark.parametrize("target", [".", "./", "..", "work/.."])
def test_the_current_folder_is_never_an_output(capsys, tmp_path, corpus, monkeypatch, target):
    work = tmp_path / "work"
    work.mkdir()
    (work / "mine.txt").write_text("the user's file\n")
    (work / OUTPUT_MARKER).write_text("{}")  # even a genomeflow folder: it is where we stand
    monkeypatch.chdir(work if target != "work/.." else tmp_path)
    before = snapshot(tmp_path)
    err = refused(capsys, "tokenise", corpus, "-o", target, "--method", "char", "--overwrite")
    assert f"{target}: is the current folder" in err and "give a new folder name" in err
    assert snapshot(tmp_path) == before


# --- the API the pipeline components use ---------------------------------------------------


def test_components_replace_their_own_output_but_never_an_input(tmp_path, corpus):
    settings = {"inputs": [str(corpus)], "output": str(tmp_path / "tok"), "method": "char"}
    run_command("tokenise", settings, tracking_uri="none")
    with pytest.raises(OutputError, match="already exists"):
        run_command("tokenise", settings, tracking_uri="none")
    run_command("tokenise", settings, tracking_uri="none", overwrite=True)  # a retried step
    before = snapshot(tmp_path)
    with pytest.raises(OutputError, match="is the stage's input"):
        run_command(
            "synthetic",
            {"inputs": [str(corpus)], "output": str(corpus)},
            tracking_uri="none",
            overwrite=True,
        )
    assert snapshot(tmp_path) == before


def test_overwrite_is_a_flag_of_every_command_with_an_output():
    parser = build_parser()
    assert parser.parse_args(["synthetic", "a.fa", "-o", "b.fa", "--overwrite"]).overwrite
    assert not parser.parse_args(["tokenise", "a.fa", "-o", "t"]).overwrite
    assert not parser.parse_args(["pipeline", "compile"]).overwrite
    with pytest.raises(SystemExit):
        parser.parse_args(["services", "status", "--overwrite"])


def test_check_outputs_on_uris_compares_normalised_prefixes():
    check_outputs(["s3://b/data/in.fa"], ["s3://b/data-2/out"], exists_check=False)
    check_outputs(["models:/promoters@champion"], ["models"], exists_check=False)
    for output, source in [
        ("s3://b/data/", "s3://b/data"),
        ("s3://b/data/x/", "s3://b//data"),
        ("s3://b", "s3://b/data/in.fa"),
    ]:
        with pytest.raises(OutputError, match="the stage's input"):
            check_outputs([source], [output], overwrite=True, exists_check=False)


def test_pipeline_compile_keeps_a_user_file(capsys, tmp_path):
    mine = tmp_path / "pipeline.yaml"
    mine.write_text("mine: true\n")
    before = snapshot(tmp_path)
    assert f"{mine}: already exists" in refused(capsys, "pipeline", "compile", "-o", mine)
    err = refused(capsys, "pipeline", "compile", "-o", mine, "--overwrite")
    assert "is not a file genomeflow wrote" in err
    assert snapshot(tmp_path) == before
    compiled = tmp_path / "compiled.yaml"
    assert run(capsys, "pipeline", "compile", "-o", compiled)[0] == 0
    refused(capsys, "pipeline", "compile", "-o", compiled)
    assert run(capsys, "pipeline", "compile", "-o", compiled, "--overwrite")[0] == 0


def test_pipeline_run_adds_to_its_own_root_only(capsys, tmp_path, corpus, notes, monkeypatch):
    """Runs add run-named artifacts to the root and replace nothing: a user's folder is
    refused (with or without --overwrite), as is a root holding the inputs."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # checked, never reached
    before = snapshot(tmp_path)
    for flags in ([], ["--overwrite"]):
        err = refused(
            capsys, "pipeline", "run", "--local", "--inputs", corpus, corpus, "-o", notes, *flags
        )
        assert f"{notes}: is not an earlier genomeflow output" in err
    err = refused(capsys, "pipeline", "run", "--local", "--inputs", corpus, corpus, "-o", tmp_path)
    assert f"{tmp_path}: the output holds the stage's input {corpus}" in err
    assert snapshot(tmp_path) == before


# --- s3:// outputs (the real Ceph S3 store) -------------------------------------------------


@pytest.mark.integration
def test_s3_outputs_follow_the_same_rules(live, capsys, tmp_path, corpus):
    root = f"s3://{live['object_store']['bucket']}/overwrite-{uuid.uuid4().hex[:8]}"
    mine = tmp_path / "mine.txt"
    mine.write_text("the user's object\n")
    storage.upload(mine, f"{root}/notes/todo.txt")  # a prefix without genomeflow's marker
    untracked = ["--tracking-uri", "none"]

    def objects() -> dict[str, bytes]:
        return {uri: storage.read_bytes(uri) for uri in storage.list_files(root)}

    # a user's object: put without genomeflow's metadata
    bucket, key = s3.split_uri(f"{root}/notes.txt")
    s3.client().put_object(Bucket=bucket, Key=key, Body=b"the user's object\n")
    before = objects()
    for target in (f"{root}/notes", f"{root}/notes.txt"):
        err = refused(capsys, "synthetic", corpus, "-o", target, *untracked)
        assert f"{target}: already exists" in err and FIX in err
        err = refused(capsys, "synthetic", corpus, "-o", target, "--overwrite", *untracked)
        assert f"{target}: is not" in err
    assert objects() == before

    # genomeflow's own object and prefix may be replaced with --overwrite only
    controls, tok = f"{root}/controls.fa", f"{root}/tok"
    assert run(capsys, "synthetic", corpus, "-o", controls, *untracked)[0] == 0
    assert run(capsys, "tokenise", corpus, "-o", tok, "--method", "char", *untracked)[0] == 0
    assert f"{tok}/{OUTPUT_MARKER}" in storage.list_files(tok)
    refused(capsys, "synthetic", corpus, "-o", controls, *untracked)
    refused(capsys, "tokenise", corpus, "-o", tok, "--method", "char", *untracked)
    assert run(capsys, "synthetic", corpus, "-o", controls, "--overwrite", *untracked)[0] == 0
    code, _, _ = run(
        capsys, "tokenise", corpus, "-o", tok + "/", "--method", "char", "--overwrite", *untracked
    )
    assert code == 0

    # an output inside (or equal to) an s3:// input: always refused
    before = objects()
    err = refused(
        capsys, "tokens", "inspect", tok, "-o", f"{tok}/report", "--overwrite", *untracked
    )
    assert "lies inside the stage's input" in err
    err = refused(
        capsys, "dataset", corpus, corpus, "-t", tok, "-o", tok, "--overwrite", *untracked
    )
    assert "is the stage's input" in err
    assert objects() == before
