"""Bad input and faults, as one table: every row is a command a user might run on bad data.

Each row runs a real command in a folder holding good inputs and artifacts (two FASTA classes, a
k-mer tokeniser, a dataset, a logistic-regression baseline, a tiny transformer) plus whatever the
row breaks, and checks: exit code 2, one line on stderr naming the problem, no traceback, no
file added (nothing half-written), and every file that was there byte-identical afterwards.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from genomeflow.cli import main
from helpers import (
    BAD_INPUTS,
    MOTIF,
    bad_file,
    fasta_text,
    planted_records,
    write_text,
    write_text_corpus,
)

Prepare = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    """One bad-input row: ``argv`` is formatted with ``{w}`` = the case's folder."""

    name: str
    argv: str
    message: str
    prepare: Prepare | None = None
    env: dict[str, str] = field(default_factory=dict)


def _write(name: str, content: bytes | str) -> Prepare:
    def prepare(folder: Path) -> None:
        data = content.encode() if isinstance(content, str) else content
        (folder / name).write_bytes(data)

    return prepare


def _bad_case(case: str) -> Prepare:
    """Put BAD_INPUTS' file ``case`` at ``bad.fasta`` (or ``bad.fasta.gz``) as ``bad.fa``."""

    def prepare(folder: Path) -> None:
        made = bad_file(folder, case)
        if made.exists():
            made.rename(folder / "bad.fa")

    return prepare


def _truncate(relative: str, keep: float = 0.5) -> Prepare:
    def prepare(folder: Path) -> None:
        path = folder / relative
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])

    return prepare


def _remove(relative: str) -> Prepare:
    def prepare(folder: Path) -> None:
        path = folder / relative
        shutil.rmtree(path) if path.is_dir() else path.unlink()

    return prepare


def _then(*steps: Prepare) -> Prepare:
    def prepare(folder: Path) -> None:
        for step in steps:
            step(folder)

    return prepare


def _symlink(name: str, target: str) -> Prepare:
    def prepare(folder: Path) -> None:
        (folder / name).symlink_to(folder / target)

    return prepare


def _user_folder(name: str) -> Prepare:
    def prepare(folder: Path) -> None:
        (folder / name).mkdir()
        (folder / name / "notes.txt").write_text("my own notes\n")

    return prepare


PROTEIN = fasta_text([(f"p{i}", "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ") for i in range(6)])
FASTQ_NO_PLUS = "@r1\nACGTACGT\nIIIIIIII\n@r2\nACGT\n+\nIIII\n"
FASTQ_NO_AT = "@r1\nACGT\n+\nIIII\nr2\nACGT\n+\nIIII\n"
FASTQ_SHORT_QUALITY = "@r1\nACGT\n+\nIIII\n@r2\nACGTACGT\n+\nIII\n"
NON_UTF8 = b">a\nACGT\n>b caf\xe9\nACGT\n"

# A folder of good things, and which command reads what:
#   pos.fa, neg.fa      two classes of 60 bp DNA
#   tok/                6-mer tokeniser          ds/   dataset of pos/neg
#   model/              logreg baseline on ds/   tmodel/  tiny transformer on ds/
DS = "{w}/ds"
OUT = "-o {w}/out"

CASES = [
    # --- sequence files, through several commands --------------------------------------------
    *[
        Case(f"validate: {case}", "validate {w}/bad.fa", message, _bad_case(case))
        for case, (_, message) in sorted(BAD_INPUTS.items())
    ],
    *[
        Case(
            f"tokenise: {case}",
            "tokenise {w}/bad.fa -o {w}/out --method kmer -k 3",
            BAD_INPUTS[case][1],
            _bad_case(case),
        )
        for case in ("empty file", "invalid character", "binary content", "truncated gzip")
    ],
    *[
        Case(
            f"dataset: {case}",
            f"dataset {{w}}/pos.fa {{w}}/bad.fa -t {{w}}/tok {OUT}",
            BAD_INPUTS[case][1],
            _bad_case(case),
        )
        for case in ("no records", "empty header", "corrupt gzip")
    ],
    *[
        Case(
            f"predict: {case}",
            "predict {w}/model {w}/bad.fa -o {w}/out.csv",
            BAD_INPUTS[case][1],
            _bad_case(case),
        )
        for case in ("missing file", "not fasta", "no sequence")
    ],
    Case(
        "validate: ids repeated across files",
        "validate {w}/pos.fa {w}/pos2.fa",
        "repeats the id",
        lambda w: shutil.copy(w / "pos.fa", w / "pos2.fa"),
    ),
    Case(
        "validate: fastq without + line", "validate {w}/r.fq", "r1", _write("r.fq", FASTQ_NO_PLUS)
    ),
    Case("validate: fastq header without @", "validate {w}/r.fq", "@", _write("r.fq", FASTQ_NO_AT)),
    Case(
        "validate: fastq quality shorter than sequence",
        "validate {w}/r.fq",
        "r2",
        _write("r.fq", FASTQ_SHORT_QUALITY),
    ),
    Case("validate: non-UTF-8 header", "validate {w}/u.fa", "line 3", _write("u.fa", NON_UTF8)),
    Case(
        "validate: protein letters declared dna",
        "validate {w}/p.fa --alphabet dna",
        "not a valid dna character",
        _write("p.fa", PROTEIN),
    ),
    Case(
        "synthetic: protein reverse complement",
        "synthetic {w}/p.fa -o {w}/c.fa --reverse-complement",
        "protein",
        _write("p.fa", PROTEIN),
    ),
    # --- label tables ------------------------------------------------------------------------
    Case(
        "dataset: label table without header",
        f"dataset {{w}}/pos.fa {{w}}/neg.fa -t {{w}}/tok {OUT} --label-table {{w}}/l.csv",
        "l.csv",
        _write("l.csv", "pos0,a\npos1,b\n"),
    ),
    Case(
        "dataset: label table missing ids",
        f"dataset {{w}}/pos.fa {{w}}/neg.fa -t {{w}}/tok {OUT} --label-table {{w}}/l.csv",
        "l.csv",
        _write("l.csv", "id,label\npos0,a\nneg0,b\n"),
    ),
    Case(
        "dataset: empty label table",
        f"dataset {{w}}/pos.fa -t {{w}}/tok {OUT} --label-table {{w}}/l.csv",
        "l.csv",
        _write("l.csv", ""),
    ),
    Case("dataset: one class", f"dataset {{w}}/pos.fa -t {{w}}/tok {OUT}", "class"),
    Case(
        "dataset: protein through a dna tokeniser",
        f"dataset {{w}}/p.fa {{w}}/p2.fa -t {{w}}/tok {OUT}",
        "protein",
        _then(_write("p.fa", PROTEIN), _write("p2.fa", PROTEIN.replace(">p", ">q"))),
    ),
    Case(
        "dataset: split sums wrong",
        f"dataset {{w}}/pos.fa {{w}}/neg.fa -t {{w}}/tok {OUT} --split 0.8 0.3 0.1",
        "split",
    ),
    # --- settings files ------------------------------------------------------------------------
    *[
        Case(
            f"settings: {text.strip()}",
            "tokenise {w}/pos.fa -o {w}/out --config {w}/s.yaml",
            fragment,
            _write("s.yaml", text),
        )
        for text, fragment in [
            ("method: kmer\nk: four\n", "k"),
            ("method: kmer\nk: 4.7\n", "k"),
            ("method: kmer\nk: true\n", "k"),
            ("vocab_size: '64'\n", "vocab_size"),
            ("nonsense: 1\n", "nonsense"),
            ("- k\n- 4\n", "mapping"),
            ("method: [kmer\n", "YAML"),
            ("method: sentencepiece\n", "method"),
        ]
    ],
    Case(
        "settings: max_length 12.5",
        f"dataset {{w}}/pos.fa {{w}}/neg.fa -t {{w}}/tok {OUT} --config {{w}}/s.yaml",
        "max_length",
        _write("s.yaml", "max_length: 12.5\n"),
    ),
    Case(
        "settings: missing file",
        "tokenise {w}/pos.fa -o {w}/out --config {w}/none.yaml",
        "none.yaml",
    ),
    Case(
        "sweep spec: unknown key",
        f"baseline {DS} {OUT} --model logreg --sweep {{w}}/sw.yaml",
        "sw.yaml",
        _write("sw.yaml", "method: random\nparameters: {C: {values: [1]}}\nbogus: 1\n"),
    ),
    Case(
        "sweep spec: min above max",
        f"baseline {DS} {OUT} --model logreg --sweep {{w}}/sw.yaml",
        "min",
        _write("sw.yaml", "method: random\nparameters:\n  C: {min: 2.0, max: 1.0}\n"),
    ),
    Case(
        "baseline: unknown hyperparameter",
        f"baseline {DS} {OUT} --model logreg --params nope=1",
        "nope",
    ),
    # --- tokeniser, dataset and model folders ----------------------------------------------------
    Case(
        "dataset: tokeniser missing",
        f"dataset {{w}}/pos.fa {{w}}/neg.fa -t {{w}}/none {OUT}",
        "none",
    ),
    Case(
        "dataset: corrupt tokenizer.json",
        f"dataset {{w}}/pos.fa {{w}}/neg.fa -t {{w}}/tok {OUT}",
        "tokenizer.json",
        _truncate("tok/tokenizer.json"),
    ),
    Case("baseline: not a dataset folder", f"baseline {{w}}/tok {OUT}", "dataset"),
    Case(
        "baseline: truncated parquet split",
        f"baseline {DS} {OUT} --model logreg",
        "parquet",
        _truncate("ds/parquet/train.parquet"),
    ),
    Case(
        "evaluate: truncated parquet split",
        "evaluate {w}/model --dataset {w}/ds -o {w}/out",
        "parquet",
        _truncate("ds/parquet/test.parquet"),
    ),
    Case(
        "register: truncated parquet split",
        "register {w}/model --name m --dataset {w}/ds --tracking-uri none",
        "parquet",
        _truncate("ds/parquet/test.parquet"),
    ),
    Case("predict: model folder missing", "predict {w}/none {w}/pos.fa -o {w}/out.csv", "none"),
    Case("predict: not a model folder", "predict {w}/ds {w}/pos.fa -o {w}/out.csv", "model"),
    Case(
        "predict: model.safetensors missing",
        "predict {w}/tmodel {w}/pos.fa -o {w}/out.csv",
        "model.safetensors",
        _remove("tmodel/model.safetensors"),
    ),
    Case(
        "predict: model.safetensors truncated",
        "predict {w}/tmodel {w}/pos.fa -o {w}/out.csv",
        "model.safetensors",
        _truncate("tmodel/model.safetensors"),
    ),
    Case(
        "evaluate: model.safetensors truncated",
        "evaluate {w}/tmodel --dataset {w}/ds -o {w}/out",
        "model.safetensors",
        _truncate("tmodel/model.safetensors"),
    ),
    Case(
        "interpret: model.safetensors missing",
        "interpret {w}/tmodel -o {w}/out --inputs {w}/pos.fa",
        "model.safetensors",
        _remove("tmodel/model.safetensors"),
    ),
    Case(
        "predict: protein through a dna model",
        "predict {w}/model {w}/p.fa -o {w}/out.csv",
        "protein",
        _write("p.fa", PROTEIN),
    ),
    Case(
        "interpret: protein through a dna model",
        "interpret {w}/tmodel -o {w}/out --inputs {w}/p.fa",
        "protein",
        _write("p.fa", PROTEIN),
    ),
    Case(
        "interpret: invalid literal sequence",
        "interpret {w}/tmodel -o {w}/out --sequences ACGTZZ",
        "Z",
    ),
    Case(
        "interpret: motif file missing",
        "interpret {w}/tmodel -o {w}/out --inputs {w}/pos.fa --motif-database {w}/none.meme",
        "none.meme: no such motif file",
    ),
    Case(
        "interpret: motif file not MEME or JASPAR",
        "interpret {w}/tmodel -o {w}/out --inputs {w}/pos.fa --motif-database {w}/pos.fa",
        "pos.fa: line 2: expected a row",
    ),
    Case(
        "interpret: motif matrix row of the wrong size",
        "interpret {w}/tmodel -o {w}/out --inputs {w}/pos.fa --motif-database {w}/m.meme",
        "m.meme: line 4",
        _write("m.meme", "MEME version 5\nMOTIF a\nletter-probability matrix: w= 1\n1 0\n"),
    ),
    Case(
        "interpret: unknown JASPAR release",
        "interpret {w}/tmodel -o {w}/out --inputs {w}/pos.fa --jaspar-release JASPAR1999",
        "JASPAR1999",
    ),
    Case(
        "interpret: unknown JASPAR taxon",
        "interpret {w}/tmodel -o {w}/out --inputs {w}/pos.fa --motif-taxon mammals",
        "mammals",
    ),
    Case(
        "evaluate: dataset of other classes",
        "evaluate {w}/model --dataset {w}/ds2 -o {w}/out",
        "class",
        lambda w: _relabelled_dataset(w),
    ),
    Case("predict: output format unknown", "predict {w}/model {w}/pos.fa -o {w}/out.xlsx", "xlsx"),
    # --- output paths: never lose what genomeflow did not write ---------------------------------
    Case(
        "tokenise: -o an existing user folder",
        "tokenise {w}/pos.fa -o {w}/notes --method kmer -k 3",
        "notes",
        _user_folder("notes"),
    ),
    Case(
        "tokenise: --overwrite a user folder",
        "tokenise {w}/pos.fa -o {w}/notes --method kmer -k 3 --overwrite",
        "notes",
        _user_folder("notes"),
    ),
    Case("train: -o the dataset", "train {w}/ds -o {w}/ds --preset tiny --epochs 1", "ds"),
    Case(
        "train: -o the dataset with --overwrite",
        "train {w}/ds -o {w}/ds --preset tiny --epochs 1 --overwrite",
        "ds",
    ),
    Case(
        "train: --checkpoints a user folder",
        "train {w}/ds -o {w}/m --preset tiny --epochs 1 --checkpoints {w}/notes",
        "not genomeflow checkpoints",
        _user_folder("notes"),
    ),
    Case(
        "train: --checkpoints the dataset",
        "train {w}/ds -o {w}/m --preset tiny --epochs 1 --checkpoints {w}/ds",
        "ds",
    ),
    Case("dataset: -o the tokeniser", "dataset {w}/pos.fa {w}/neg.fa -t {w}/tok -o {w}/tok", "tok"),
    Case("synthetic: -o the input", "synthetic {w}/pos.fa -o {w}/pos.fa", "pos.fa"),
    Case(
        "synthetic: -o the input with --overwrite",
        "synthetic {w}/pos.fa -o {w}/pos.fa --overwrite",
        "pos.fa",
    ),
    Case(
        "synthetic: -o a symlink to the input",
        "synthetic {w}/pos.fa -o {w}/link.fa --overwrite",
        "link.fa",
        _symlink("link.fa", "pos.fa"),
    ),
    Case("synthetic: -o the input as ./", "synthetic {w}/pos.fa -o {w}/./pos.fa", "pos.fa"),
    Case(
        "synthetic: -o an existing user file",
        "synthetic {w}/pos.fa -o {w}/mine.fa",
        "mine.fa",
        _write("mine.fa", ">x\nACGT\n"),
    ),
    Case(
        "synthetic: --overwrite a user file",
        "synthetic {w}/pos.fa -o {w}/mine.fa --overwrite",
        "mine.fa",
        _write("mine.fa", ">x\nACGT\n"),
    ),
    Case(
        "baseline: -o inside the dataset", f"baseline {DS} -o {{w}}/ds/model --model logreg", "ds"
    ),
    Case(
        "crossval: -o holding the dataset", "crossval {w}/ds -o {w} --preset tiny --epochs 1", "{w}"
    ),
    Case(
        "tokenise: -o under a regular file",
        "tokenise {w}/pos.fa -o {w}/pos.fa/tok --method char",
        "pos.fa",
    ),
    Case("predict: -o a folder", "predict {w}/model {w}/pos.fa -o {w}/tok", "tok"),
    Case("pipeline compile: -o a folder", "pipeline compile -o {w}/tok", "tok"),
    Case("validate: --json over the input", "validate {w}/pos.fa --json {w}/pos.fa", "pos.fa"),
    # --- the pipeline checks its inputs before the first step -----------------------------------
    Case(
        "pipeline run: missing input",
        "pipeline run --local --inputs {w}/pos.fa {w}/missing.fa -o {w}/run",
        "missing.fa",
    ),
    Case(
        "pipeline run: unknown parameter",
        "pipeline run --local --inputs {w}/pos.fa {w}/neg.fa --param nope=1 -o {w}/run",
        "nope",
    ),
    # --- text corpora (--alphabet text): tables and plain files -----------------------------------
    Case(
        "tokenise text: no such column",
        "tokenise {w}/docs.csv --text-column body -o {w}/out",
        "has no column 'body'",
    ),
    Case(
        "tokenise text: k-mers",
        "tokenise {w}/pets.txt --alphabet text --method kmer -o {w}/out",
        "a text corpus takes unigram or bpe",
    ),
    *[
        Case(
            f"dataset text: {case}",
            f"dataset {{w}}/{name} -t {{w}}/ttok {OUT}",
            message,
            _write(name, content),
        )
        for case, (name, content, message) in {
            "empty document": ("bad.csv", "text,label\nhi there,a\n ,b\n", "row 2, column 'text'"),
            "label with one document": ("bad.csv", "text,label\nx,a\ny,a\nz,b\n", "label 'b'"),
            "bad JSON line": ("bad.jsonl", '{"text": "x", "label": "a"}\n{"text"\n', "line 2"),
            "number as text": ("bad.jsonl", '{"text": 7, "label": "a"}\n', "holds 7, not text"),
        }.items()
    ],
    Case(
        "dataset text: not UTF-8",
        f"dataset {{w}}/pets.txt {{w}}/bad.txt -t {{w}}/ttok {OUT}",
        "holds the byte",
        _write("bad.txt", b"caf\xe9\nok\n"),
    ),
    Case(
        "dataset text: a FASTA file",
        f"dataset {{w}}/pos.fa {{w}}/neg.fa -t {{w}}/ttok {OUT}",
        "named as FASTA/FASTQ",
    ),
    Case(
        "dataset text: FASTA in a .txt file",
        f"dataset {{w}}/pets.txt {{w}}/s.txt -t {{w}}/ttok {OUT}",
        "starts like FASTA",
        _write("s.txt", ">r1\nACGT\n"),
    ),
    Case(
        "dataset text: tables mixed with plain files",
        f"dataset {{w}}/docs.csv {{w}}/pets.txt -t {{w}}/ttok {OUT}",
        "mix tables",
    ),
    Case(
        "dataset text: a DNA tokeniser",
        f"dataset {{w}}/docs.csv --alphabet text -t {{w}}/tok {OUT}",
        "built for dna",
    ),
    Case(
        "baseline text: one-hot features",
        "baseline {w}/tds -o {w}/out --features onehot",
        "a text dataset takes count, tfidf or word2vec",
    ),
    # --- network faults: a listener that accepts and never answers ------------------------------
    Case(
        "validate: silent S3 endpoint",
        "validate s3://bucket/pos.fa",
        "{endpoint}",
        env={
            "GENOMEFLOW_S3_CONNECT_TIMEOUT": "2",
            "GENOMEFLOW_S3_READ_TIMEOUT": "2",
            "GENOMEFLOW_S3_MAX_ATTEMPTS": "1",
            "AWS_ACCESS_KEY_ID": "k",
            "AWS_SECRET_ACCESS_KEY": "s",
            "AWS_ENDPOINT_URL_S3": "{endpoint}",
        },
    ),
    Case(
        "validate: silent MLflow server",
        "validate {w}/pos.fa --tracking-uri {endpoint}",
        "{endpoint}",
        env={"MLFLOW_HTTP_REQUEST_TIMEOUT": "2", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"},
    ),
]


def _relabelled_dataset(folder: Path) -> None:
    """``ds2``: a dataset whose classes are not the model's (three classes, other names)."""
    from helpers import make_dataset

    sub = folder / "other"
    sub.mkdir()
    make_dataset(sub, planted_records(30, 60, 5, MOTIF), planted_records(30, 60, 6, None))
    shutil.move(str(sub / "ds"), folder / "ds2")
    shutil.rmtree(sub)
    for path in (folder / "ds2").rglob("*"):
        path.touch()


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """The good inputs and artifacts every case starts from."""
    folder = tmp_path_factory.mktemp("good")
    write_text(folder / "pos.fa", fasta_text(planted_records(40, 60, 1, MOTIF)))
    write_text(folder / "neg.fa", fasta_text(planted_records(40, 60, 2, None)))
    write_text_corpus(folder, count=20)  # docs.csv, pets.txt, markets.txt
    for argv in (
        "tokenise {w}/pos.fa -o {w}/tok --method kmer -k 6",
        "dataset {w}/pos.fa {w}/neg.fa -t {w}/tok -o {w}/ds",
        "baseline {w}/ds -o {w}/model --features count --model logreg --folds 2",
        "train {w}/ds -o {w}/tmodel --preset tiny --epochs 1 --batch-size 16",
        "tokenise {w}/docs.csv --alphabet text -o {w}/ttok --vocab-size 100",
        "dataset {w}/docs.csv -t {w}/ttok -o {w}/tds",
    ):
        assert main([*argv.format(w=folder).split(), "--tracking-uri", "none"]) == 0, argv
    return folder


@pytest.fixture(scope="module")
def silent_endpoint():
    """``http://127.0.0.1:PORT`` of a listener that accepts connections and never answers."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.5)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(5)
    for connection in held:
        connection.close()
    server.close()


def snapshot(folder: Path) -> dict[str, str]:
    """Every file (and symlink) under ``folder`` -> its SHA-256."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            found[str(path)] = "link:" + str(path.readlink())
        elif path.is_file():
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[str(path)] = "folder"
    return found


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input(case: Case, good: Path, tmp_path: Path, capsys, monkeypatch, silent_endpoint):
    work = tmp_path / "w"
    shutil.copytree(good, work, symlinks=True)
    if case.prepare:
        case.prepare(work)
    monkeypatch.chdir(work)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value.format(endpoint=silent_endpoint))
    before = snapshot(work)
    argv = case.argv.format(w=work, endpoint=silent_endpoint).split()
    if "--tracking-uri" not in argv and argv[0] not in ("pipeline",):
        argv += ["--tracking-uri", "none"]
    code = main(argv)
    out, err = capsys.readouterr()
    fragment = case.message.format(w=work, endpoint=silent_endpoint)
    assert code == 2, err
    assert "Traceback" not in err and "Traceback" not in out
    assert err.startswith("genomeflow: error: ") and err.count("\n") == 1, err
    assert fragment in err, err
    assert snapshot(work) == before  # nothing changed, nothing half-written left


def test_table_is_large():
    assert len(CASES) >= 60


def test_kill_mid_write_leaves_no_output_and_the_input_intact(tmp_path):
    """kill -9 while controls are written: no output file, no partial file, input unchanged."""
    source = write_text(
        tmp_path / "big.fa.gz",
        fasta_text([(f"r{i}", "ACGT" * 500) for i in range(4000)]),
        gz=True,
    )
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    output = tmp_path / "controls.fa.gz"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "genomeflow.cli",
            "synthetic",
            str(source),
            "-o",
            str(output),
            "--per-sequence",
            "5",
            "--tracking-uri",
            "none",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    # Wait for the partial file itself: the write check's probe (.controls.fa.gz.probe-*) lives
    # only an instant before it, and a kill then would catch no partial file at all.
    while not any(".partial-" in p.name for p in tmp_path.iterdir()):
        assert process.poll() is None, "finished before it could be killed: make the input larger"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    assert not output.exists()
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest
    # A killed writer's partial file is named as such (.controls.fa.gz.partial-PID), never as the
    # output; the next run clears it and leaves only the finished file.
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "big.fa.gz"]
    assert leftovers and all(".partial-" in name for name in leftovers)
    assert main(["synthetic", str(source), "-o", str(output), "--tracking-uri", "none"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.fa.gz", "controls.fa.gz"]
