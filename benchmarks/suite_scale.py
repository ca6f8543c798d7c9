"""Scale: the dataset stage's time and peak memory from 10k to 10M reads, streaming against the
in-memory build it replaced.

``SUITE_SCALE`` is shaped like the entries of suites.SUITES. Reads are generated (seeded, not
committed): two classes of 150 bp uniform random DNA, half the reads each, in two plain FASTA
files. Each build runs in a fresh child process (wall time, start-up included, and the child's
own peak RSS; see suite_tokenise.run_child), with the stage's defaults: 80/10/10 split grouped by
read id, train-only reverse complements, a 6-mer tokeniser of stride 6 (25 tokens a read).

The baseline is the in-memory ``build_dataset`` of genomeflow before the stage streamed, taken
from git (``SCALE_BASELINE_REF``, default the commit before the streaming one) and run against
today's package: it builds every row in a Python list first. It runs up to
``SCALE_BASELINE_MAX`` reads (default 1M); above that it needs more memory than the machine has.

Environment: ``SCALE_READS`` (comma-separated read counts, default 10000,100000,1000000,10000000),
``SCALE_BASELINE_REF``, ``SCALE_BASELINE_MAX``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from genomeflow.config import TokeniseConfig
from genomeflow.tokenise import train_tokeniser
from suite_tokenise import Row, Timer, run_child, run_with_load

READ_LENGTH = 150  # bp, a short-read length
REPOSITORY = Path(__file__).resolve().parents[1]
BASELINE_REF = os.environ.get("SCALE_BASELINE_REF", "049e219")
BASELINE_MAX = int(os.environ.get("SCALE_BASELINE_MAX", "1000000"))
SIZES = [int(n) for n in os.environ.get("SCALE_READS", "10000,100000,1000000,10000000").split(",")]
LIMIT_S = 3 * 3600  # a child running longer is killed and reported as such

# Builds with the given build module; a thread samples the process's anonymous resident memory
# (RssAnon: what it allocated, without the file pages of memory-mapped Arrow files, which the
# kernel may drop at will and which peak RSS counts) every 20 ms, and writes the peak in kB.
_BUILD = """
import importlib.util, sys, threading, time
from genomeflow.config import DatasetConfig
report, module, tokeniser, output, *inputs = sys.argv[1:]
peak = [0]
def sample():
    while True:
        for line in open("/proc/self/status"):
            if line.startswith("RssAnon:"):
                peak[0] = max(peak[0], int(line.split()[1]))
        time.sleep(0.02)
threading.Thread(target=sample, daemon=True).start()
spec = importlib.util.spec_from_file_location("build_under_test", module)
build = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # dataclasses look it up
spec.loader.exec_module(build)
build.build_dataset(DatasetConfig(inputs=inputs, tokeniser=tokeniser, output=output))
open(report, "w").write(str(peak[0]))
"""


def reads(work: Path, count: int) -> list[Path]:
    """Two FASTA files of ``count // 2`` seeded random reads each (cached)."""
    folder = work / "scale_reads" / str(count)
    paths = [folder / "class_a.fa", folder / "class_b.fa"]
    if all(path.exists() for path in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    bases = np.frombuffer(b"ACGT", dtype=np.uint8)
    for seed, path in enumerate(paths):
        rng = np.random.default_rng(seed)
        partial = path.with_name(path.name + ".partial")
        with open(partial, "wb") as handle:
            for start in range(0, count // 2, 100_000):  # 15 MB of residues per block
                block = bases[rng.integers(0, 4, (min(100_000, count // 2 - start), READ_LENGTH))]
                handle.writelines(
                    b">%s%d\n%s\n" % (path.stem[-1:].encode(), start + i, row.tobytes())
                    for i, row in enumerate(block)
                )
        partial.rename(path)
    return paths


def _tokeniser(work: Path) -> Path:
    """The 6-mer tokeniser of stride 6 the builds use (trained once on the 10k reads)."""
    folder = work / "scale_tokeniser_k6_stride6"
    if not folder.exists():
        inputs = [str(p) for p in reads(work, 10_000)]
        config = TokeniseConfig(inputs=inputs, output=str(folder), method="kmer", k=6, stride=6)
        train_tokeniser(config)
    return folder


def _inmemory_build(work: Path) -> Path:
    """The in-memory build module of ``BASELINE_REF``, written out from git."""
    path = work / f"build_inmemory_{BASELINE_REF}.py"
    if not path.exists():
        source = subprocess.run(
            ["git", "-C", str(REPOSITORY), "show", f"{BASELINE_REF}:src/genomeflow/data/build.py"],
            check=True,
            capture_output=True,
            timeout=60,
        ).stdout
        path.write_bytes(source)
    return path


def measure_scale(work: Path, timer: Timer) -> list[Row]:
    del timer  # one run per figure: minutes each
    import genomeflow.data.build as streaming

    tokeniser = _tokeniser(work)
    builds = {"streaming (this version)": Path(streaming.__file__)}
    builds[f"in-memory ({BASELINE_REF}, baseline)"] = _inmemory_build(work)
    rows: list[Row] = []
    for count in SIZES:
        inputs = reads(work, count)
        for label, module in builds.items():
            if "baseline" in label and count > BASELINE_MAX:
                skipped = f"not run above {BASELINE_MAX:,} reads"
                rows.append(_row(count, label, None, None, skipped, None, None))
                continue
            output = work / "scale_dataset"
            shutil.rmtree(output, ignore_errors=True)
            anonymous = work / "scale_anonymous_kb"
            anonymous.unlink(missing_ok=True)
            command = [sys.executable, "-c", _BUILD, str(anonymous), str(module)]
            command += [str(tokeniser), str(output)]
            command += [str(p) for p in inputs]
            log = work / f"scale_{count}_{'baseline' if 'baseline' in label else 'streaming'}.log"
            child, load = run_with_load(command, log, LIMIT_S, env={"OMP_NUM_THREADS": "2"})
            written = None
            if child.returncode == 0:
                manifest = json.loads((output / "manifest.json").read_text())
                written = sum(sum(c.values()) for c in manifest["rows"].values())
            note = "" if child.returncode == 0 else _failure(child, log)
            peak_anonymous = int(anonymous.read_text()) / 1024 if anonymous.exists() else None
            rows.append(_row(count, label, child, written, note, peak_anonymous, load))
            shutil.rmtree(output, ignore_errors=True)
    return rows


def _row(count: int, label: str, child, written, note: str, anonymous, load) -> Row:
    ok = child is not None and not note
    return {
        "reads": f"{count:,}",
        "build": label,
        "rows written": f"{written:,}" if written else "-",
        "wall s (child, start-up in)": round(child.seconds, 1) if ok else "-",
        "reads/s": round(count / child.seconds) if ok else "-",
        "peak MiB (child RSS)": round(child.peak_mib) if ok else "-",
        "peak MiB anonymous (RssAnon)": round(anonymous) if ok and anonymous else "-",
        "load (mean)": round(load, 1) if load is not None else "-",
        "note": note or "-",
    }


def _failure(child, log: Path) -> str:
    if child.timed_out:
        return f"killed after {LIMIT_S} s"
    last = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
    return f"exit {child.returncode}: {last[0][:120]}"


SUITE_SCALE = (
    "Dataset build at scale: streaming against in-memory (150 bp reads, 2 classes)",
    "One fresh child process per figure (wall time with start-up; 'load' is the machine's "
    "mean 1-minute load average meanwhile: above 2, other work shared the 2 cores; the child's "
    "own peak RSS, which counts the pages of memory-mapped Arrow files it read, and its peak "
    "anonymous memory, RssAnon sampled every 20 ms, which does not: the memory the build "
    "itself holds). "
    "Generated reads: seeded uniform random 150 bp DNA, half per class, plain FASTA. The stage's "
    "defaults: 80/10/10 grouped by id, train-only reverse complements, 6-mer tokens of stride 6. "
    "The baseline is the in-memory build of genomeflow before the stage streamed, run from git "
    "against this version's package (its splits are the same; see tests/test_ecoli.py).",
    measure_scale,
)


PREDICT_SIZES = [int(n) for n in os.environ.get("SCALE_PREDICT_READS", "100000,1000000").split(",")]
# The CNN scores ~200 reads/s on 2 busy cores: 1M reads take over an hour; a run may stop it
# at a smaller size (the row says so) and let the baseline model show the 1M case.
PREDICT_CNN_MAX = int(os.environ.get("SCALE_PREDICT_CNN_MAX", "1000000"))


def _predict_models(work: Path) -> dict[str, Path]:
    """The two models predict runs: CNN tiny (one epoch) and 6-mer counts + logistic
    regression, both trained on the 10k-read dataset (their scores mean nothing here)."""
    from genomeflow.config import DatasetConfig
    from genomeflow.data import build_dataset
    from suite_tokenise import _genomeflow

    dataset = work / "scale_train_dataset"
    if not (dataset / "manifest.json").exists():
        shutil.rmtree(dataset, ignore_errors=True)
        inputs = [str(p) for p in reads(work, 10_000)]
        config = DatasetConfig(inputs=inputs, tokeniser=str(_tokeniser(work)), output=str(dataset))
        build_dataset(config)
    models = {
        "CNN tiny": (
            work / "scale_cnn_tiny",
            ["train", "--architecture", "cnn", "--preset", "tiny", "--epochs", "1"],
        ),
        "6-mer counts + logistic regression": (
            work / "scale_count_logreg",
            ["baseline", "--features", "count", "--model", "logreg", "--folds", "0"],
        ),
    }
    for name, (model, (stage, *flags)) in models.items():
        if not any(model.glob("*.json")):
            shutil.rmtree(model, ignore_errors=True)
            command = [*_genomeflow(), stage, str(dataset), "-o", str(model), *flags]
            log = work / f"{model.name}.log"
            trained = run_child([*command, "--tracking-uri", "none"], log, limit_s=LIMIT_S)
            if trained.returncode != 0:
                raise RuntimeError(f"training {name} failed: see {log}")
    return {name: model for name, (model, _) in models.items()}


def measure_predict(work: Path, timer: Timer) -> list[Row]:
    """``genomeflow predict`` of a tiny CNN and of a k-mer baseline on 100k and 1M reads,
    beside ``genomeflow validate`` of the same files (reading and checking them: the floor of
    any scoring)."""
    del timer
    from suite_tokenise import _genomeflow

    models = _predict_models(work)
    untracked = ["--tracking-uri", "none"]
    rows: list[Row] = []
    for count in PREDICT_SIZES:
        inputs = [str(p) for p in reads(work, count)]
        table = work / "scale_predictions.csv"
        steps = {"genomeflow validate (baseline: read and check)": ["validate", *inputs]}
        for name, model in models.items():
            steps[f"genomeflow predict, {name} (CSV)"] = ["predict", str(model), *inputs, "-o"]
        for label, arguments in steps.items():
            row = {"reads": f"{count:,}", "step": label}
            if "CNN" in label and count > PREDICT_CNN_MAX:
                skipped = f"not run above {PREDICT_CNN_MAX:,} reads in this run (time)"
                rows.append(row | dict.fromkeys(PREDICT_FIGURES, "-") | {"note": skipped})
                continue
            table.unlink(missing_ok=True)
            log = work / f"scale_{arguments[0]}_{count}_{len(rows)}.log"
            arguments += [str(table)] if arguments[-1] == "-o" else []
            child, load = run_with_load([*_genomeflow(), *arguments, *untracked], log, LIMIT_S)
            note = "" if child.returncode == 0 else _failure(child, log)
            ok = not note
            figures = [
                round(child.seconds, 1) if ok else "-",
                round(count / child.seconds) if ok else "-",
                round(child.peak_mib) if ok else "-",
                round(load, 1),
            ]
            rows.append(
                row | dict(zip(PREDICT_FIGURES, figures, strict=True)) | {"note": note or "-"}
            )
        table.unlink(missing_ok=True)
    return rows


PREDICT_FIGURES = ("wall s (child, start-up in)", "reads/s", "peak MiB (child RSS)", "load (mean)")

SUITE_SCALE_PREDICT = (
    "predict at scale: a tiny CNN and a k-mer baseline score 150 bp reads in bounded memory",
    "One fresh child process per figure (wall time with start-up; the child's own peak RSS). "
    "The reads of the dataset suite (seeded uniform random 150 bp DNA, two files); the models "
    "are CNN tiny trained one epoch and 6-mer counts + logistic regression, both on the 10k-read "
    "dataset (their scores mean nothing: speed and memory do not depend on them). predict reads "
    "1,024 reads a batch (the CNN scores both strands, in forward passes of up to 32,768 "
    "residues: 218 windows of 150) on both torch threads and writes the CSV batch by batch; "
    "validate reads and checks the same files, the floor of any scoring.",
    measure_predict,
)


def measure_processes(work: Path, timer: Timer) -> list[Row]:
    """``genomeflow train`` of the tiny transformer on the E. coli promoters, one epoch, on one
    process and on two (``--nproc 2``: DistributedDataParallel over gloo), same global batch."""
    del timer
    from genomeflow.config import DatasetConfig
    from genomeflow.data import build_dataset
    from suite_tokenise import ECOLI, _genomeflow

    inputs = [str(path) for path in sorted(ECOLI.glob("*.fasta.gz"))]
    tokeniser, dataset = work / "scale_ecoli_kmer6", work / "scale_ecoli_dataset"
    if not tokeniser.exists():
        train_tokeniser(TokeniseConfig(inputs=inputs, output=str(tokeniser), method="kmer", k=6))
    if not dataset.exists():
        build_dataset(DatasetConfig(inputs=inputs, tokeniser=str(tokeniser), output=str(dataset)))
    rows: list[Row] = []
    for processes in (1, 2):
        model = work / f"scale_ecoli_model_{processes}"
        shutil.rmtree(model, ignore_errors=True)
        command = [*_genomeflow(), "train", str(dataset), "-o", str(model), "--preset", "tiny"]
        command += ["--epochs", "1", "--batch-size", "32", "--nproc", str(processes)]
        command += ["--tracking-uri", "none"]
        log = work / f"scale_processes_{processes}.log"
        child, load = run_with_load(command, log, LIMIT_S)
        figures = {"windows_per_second": "-", "seconds": "-", "valid_loss": "-"}
        if child.returncode == 0:
            table = (model / "reports" / "epochs.tsv").read_text().splitlines()
            epoch = dict(zip(table[0].split("\t"), table[1].split("\t"), strict=True))
            figures = {name: round(float(epoch[name]), 4) for name in figures}
        rows.append(
            {
                "processes": processes,
                "train windows/s (epoch 1)": figures["windows_per_second"],
                "epoch s": figures["seconds"],
                "valid log loss": figures["valid_loss"],
                "wall s (child, start-up in)": round(child.seconds, 1),
                "peak MiB (largest process)": round(child.peak_mib),
                "load (mean)": round(load, 1),
                "note": "-" if child.returncode == 0 else _failure(child, log),
            }
        )
    return rows


SUITE_SCALE_PROCESSES = (
    "Training on 1 and 2 processes (CPU, DistributedDataParallel over gloo)",
    "genomeflow train of DistilBERT tiny on the E. coli promoters (6-mer tokens, the default "
    "80/10/10 dataset with train-only reverse complements: 10,824 train windows), one epoch, "
    "global batch 32, in a fresh child; --nproc 2 runs two processes of one torch thread each "
    "on the same 2 cores, each taking half of every batch. Windows/s and epoch seconds are the "
    "trainer's own (epochs.tsv, training steps only); peak MiB is the largest process's "
    "(rusage of the child and of the processes it waited for: --nproc 2's training processes).",
    measure_processes,
)
