"""Tokeniser training at genome scale: time and memory, and how stable the vocabulary is.

Public names:
    SUITES_TOKENISE: {name: (title, notes, measure)}, two suites shaped like the entries of
        suites.SUITES (their rows have different columns, so they are two tables):
        "tokenise_scaling"   - wall time and peak memory of ``genomeflow tokenise`` on one-record
                               genomes of 1, 10 and 50 Mbp (unigram, bpe; char as the baseline);
        "tokenise_vocabulary" - token overlap of unigram vocabularies trained with other segment
                               lengths, sample sizes and seeds against a reference vocabulary.
    measure_scaling, measure_vocabulary: the two measure(work, timer) functions.
    genome(work, mbp): the cached genome-like FASTA the suites train on.
    run_child(command, log) -> ChildRun: wall time and peak RSS of one child process (also used
        by suite_dataset, with ECOLI, Row, Timer and _genomeflow).
    tokenise(...) -> Trained | ChildRun, overlap_percent, describe_failure: the pieces of a run.

Register with ``SUITES.update(suite_tokenise.SUITES_TOKENISE)`` in suites.py, then run
``python benchmarks/run.py tokenise_scaling tokenise_vocabulary``: ~20 minutes on 2 cores
(3-5 for scaling, 16 for vocabulary, of which the reference is ~8), plus ~40 s the first time to
write the genomes.

Every figure is one run of ``genomeflow tokenise`` in a fresh child process (a training run takes
up to minutes, so there is no best-of-3; the ``timer`` argument is not used). Peak memory is the
child's own peak resident set size (ru_maxrss), reported by a small wrapper process whose only
child it is (see :func:`run_child`: neither ``getrusage(RUSAGE_CHILDREN)`` of this process, a
maximum over all its children, nor ``os.wait4``, which on Linux includes this process's own peak,
isolates one child).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from genomeflow.io import read_sequences
from genomeflow.sequence import markov_sample

Timer = Callable[[Callable[[], object], int], float]
Row = dict[str, object]
MBP = 1_000_000

# The genomes are sampled from an order-5 Markov chain fitted to the E. coli promoter and
# non-promoter sequences (548 kbp, 81 bp each): genome-like 6-mer statistics, no repeats.
ECOLI = Path(__file__).resolve().parents[1] / "examples" / "data" / "ecoli_promoters"
MARKOV_ORDER = 5
LINE_WIDTH = 60  # residues per FASTA line

# Defaults of `genomeflow tokenise` that the suites keep (see `genomeflow tokenise --help`).
DEFAULT_VOCAB = 32_000  # tokens; HF's Unigram trainer is no slower at 32000 than at 4096
DEFAULT_SEGMENT = 1_000  # residues per training segment
DEFAULT_SAMPLE = 2_000_000  # residues in the segment sample
SMALL_VOCAB = 4_096  # tokens; a second unigram size, on the largest genome only

SCALING_GENOMES = (1, 10, 50)  # Mbp, one record each
VOCABULARY_GENOME = 10  # Mbp
SEGMENT_LENGTHS = (512, 1_000, 10_000, 100_000, 1_000_000)  # residues
SAMPLE_SIZES = (500_000, 1_000_000, 2_000_000, 4_000_000)  # residues
# The reference vocabulary: 8 of the 10 Mbp in 10 kbp segments. The whole genome (--sample-bp 0)
# took 700 s alone on this machine: Unigram costs ~35-70 s per Mbp trained on at any vocab size.
REFERENCE_SEGMENT = 10_000  # residues
REFERENCE_SAMPLE = 8_000_000  # residues
OTHER_SEED = 43  # a second sample at the defaults: the run-to-run noise of an overlap figure
# The order-5 chain has no structure beyond 6-mers (4**6 = 4096 of them), so the head of a
# vocabulary is signal and much of a 32000-piece tail is chance: overlap is also reported for
# the TOP best-scored pieces of each vocabulary, and long pieces (mostly chance repeats) counted.
TOP = 4_096  # pieces
LONG_PIECE = 12  # residues

UNTRACKED = {"MLFLOW_TRACKING_URI": "none"}  # genomeflow stages track to MLflow when a server is up
CHILD_LIMIT_S = 900  # seconds; any child running longer is killed and reported as timed out
# 1 Mbp sentences overflow the stack of a worker thread of HF's Unigram trainer (Rust threads get
# 2 MiB by default): SIGSEGV after ~35 s. RUST_MIN_STACK, which sizes only spawned threads, cures
# it, which places the overflow off the main thread. The series runs them both ways.
BIG_STACK = {"RUST_MIN_STACK": str(256 * 2**20)}  # bytes per rayon thread stack


@dataclass(frozen=True)
class ChildRun:
    """Wall time and peak memory of one child process."""

    seconds: float
    peak_mib: float
    returncode: int
    timed_out: bool


# Runs argv[2:] and writes "<exit code> <peak RSS of that child, ru_maxrss units>" to argv[1].
# The peak is RUSAGE_CHILDREN of this small process, whose only child is the measured command.
_PEAK_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "with open(sys.argv[1], 'w') as report:\n"
    "    report.write(f'{code} {peak}')\n"
)


def run_child(
    command: Sequence[str],
    log: Path,
    limit_s: float = CHILD_LIMIT_S,
    env: dict[str, str] | None = None,
) -> ChildRun:
    """Run ``command`` with stdout and stderr to ``log``; its wall time and own peak RSS.

    The command runs under a small Python wrapper that reports the ``ru_maxrss`` of its only
    child. Reading the child's rusage here instead (``os.wait4``) is wrong on Linux: a child
    started by fork/vfork + exec inherits the peak RSS of the process that started it, so every
    child of a benchmark process that once held a 50 Mbp genome reported >= 882 MiB. The wrapper
    is ~10 MiB, below any genomeflow process. A command running past ``limit_s`` seconds is
    killed with its wrapper. ``env`` is added to this process's environment.
    """
    import subprocess

    report = log.with_suffix(".peak")
    report.unlink(missing_ok=True)
    with open(log, "wb") as output:
        start = time.perf_counter()
        wrapper = subprocess.Popen(
            [sys.executable, "-c", _PEAK_WRAPPER, str(report), *command],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # its own process group, so a kill reaches the command too
        )
        killer = threading.Timer(limit_s, os.killpg, (wrapper.pid, signal.SIGKILL))
        killer.start()
        try:
            wrapper.wait()
        finally:
            killer.cancel()
        seconds = time.perf_counter() - start
    if not report.exists():  # the wrapper was killed: the time limit
        return ChildRun(seconds, float("nan"), -signal.SIGKILL, timed_out=True)
    code, peak = map(int, report.read_text().split())
    report.unlink()
    unit = 1 if sys.platform == "darwin" else 1024  # bytes per ru_maxrss unit
    return ChildRun(seconds, peak * unit / 2**20, code, timed_out=False)


def run_with_load(
    command: Sequence[str], log: Path, limit_s: float, env: dict[str, str] | None = None
) -> tuple[ChildRun, float]:
    """run_child, and the machine's mean 1-minute load average while it ran (sampled every
    5 s): how much else shared the cores."""
    import statistics

    samples = [os.getloadavg()[0]]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(5.0):
            samples.append(os.getloadavg()[0])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        run = run_child(command, log, limit_s=limit_s, env=env)
    finally:
        done.set()
        sampler.join()
    return run, statistics.mean(samples)


def _genomeflow() -> list[str]:
    """The ``genomeflow`` command of this interpreter's environment."""
    # normpath: `../.venv/bin/python run.py` and an absolute interpreter name the same command
    script = Path(os.path.normpath(os.path.abspath(sys.executable))).with_name("genomeflow")
    return [str(script)] if script.exists() else [sys.executable, "-m", "genomeflow.cli"]


def genome(work: Path, mbp: int) -> Path:
    """A one-record gzip FASTA of ``mbp`` Mbp sampled from the E. coli Markov chain (cached).

    The chain is seeded with ``mbp``, so each size is a different, reproducible genome.
    """
    path = work / f"markov{MARKOV_ORDER}_ecoli_{mbp}Mbp.fa.gz"
    if path.exists():
        return path
    sources = sorted(ECOLI.glob("*.fasta.gz"))
    if not sources:
        raise FileNotFoundError(f"no E. coli promoter FASTA under {ECOLI}")
    fitted = "".join(record.sequence for record in read_sequences(sources))
    sequence = markov_sample(fitted, order=MARKOV_ORDER, seed=mbp, length=mbp * MBP)  # ~2 Mbp/s
    partial = path.with_name(path.name + ".partial")  # renamed when whole: no broken cache
    with gzip.open(partial, "wt") as handle:
        handle.write(f">markov{MARKOV_ORDER}_ecoli_{mbp}Mbp genome-like benchmark record\n")
        for start in range(0, len(sequence), LINE_WIDTH * 10_000):  # 600 kbp per write
            block = sequence[start : start + LINE_WIDTH * 10_000]
            lines = (block[i : i + LINE_WIDTH] for i in range(0, len(block), LINE_WIDTH))
            handle.write("\n".join(lines) + "\n")
    partial.rename(path)
    return path


@dataclass(frozen=True)
class Trained:
    """One ``genomeflow tokenise`` run and what it wrote."""

    run: ChildRun
    tokens: int  # vocabulary size, special tokens included
    ranked: tuple[str, ...]  # the non-special tokens, best first (Unigram score; BPE/ids order)
    trained_on_residues: int
    trained_on_segments: int

    @property
    def pieces(self) -> frozenset[str]:
        return frozenset(self.ranked)

    def top(self, k: int) -> frozenset[str]:
        """The ``k`` best pieces."""
        return frozenset(self.ranked[:k])


def tokenise(
    work: Path,
    fasta: Path,
    name: str,
    method: str,
    env: dict[str, str] | None = None,
    **flags: int,
) -> Trained | ChildRun:
    """Run ``genomeflow tokenise`` on ``fasta`` into ``work/tokenisers/name``.

    ``flags`` become ``--flag-name value``. The run is untracked (MLFLOW_TRACKING_URI=none), so
    the figures are the stage's own and no MLflow server gets benchmark runs. Returns the bare
    :class:`ChildRun` when the child failed or timed out (its log is ``work/tokenisers/name.log``).
    """
    folder = work / "tokenisers" / name
    folder.parent.mkdir(parents=True, exist_ok=True)
    command = [*_genomeflow(), "tokenise", str(fasta), "-o", str(folder), "--method", method]
    for flag, value in flags.items():
        command += [f"--{flag.replace('_', '-')}", str(value)]
    run = run_child(command, folder.with_suffix(".log"), env={**UNTRACKED, **(env or {})})
    if run.returncode:
        for partial in folder.parent.glob(f".{name}.partial-*"):  # left by a crash or a kill
            shutil.rmtree(partial, ignore_errors=True)
        return run
    document = json.loads((folder / "tokenizer.json").read_text())
    model = document["model"]
    # Unigram: a list of [piece, score], ranked by score; BPE and WordLevel: {piece: id}, by id.
    if model["type"] == "Unigram":
        vocabulary = [piece for piece, _ in sorted(model["vocab"], key=lambda item: -item[1])]
    else:
        vocabulary = sorted(model["vocab"], key=model["vocab"].__getitem__)
    special = {token["content"] for token in document["added_tokens"] if token["special"]}
    corpus = json.loads((folder / "genomeflow.json").read_text())["corpus"]
    return Trained(
        run=run,
        tokens=len(set(vocabulary) | special),
        ranked=tuple(piece for piece in vocabulary if piece not in special),
        trained_on_residues=corpus["trained_on_residues"],
        trained_on_segments=corpus["trained_on_segments"],
    )


def describe_failure(run: ChildRun) -> str:
    """Why a child gave no tokeniser, in a few words."""
    if run.timed_out:
        return f"killed after {run.seconds:.0f} s (time limit)"
    if run.returncode < 0:
        return f"crashed ({signal.Signals(-run.returncode).name}) after {run.seconds:.0f} s"
    return f"exited {run.returncode} after {run.seconds:.0f} s"


def overlap_percent(vocabulary: frozenset[str], reference: frozenset[str]) -> float:
    """|vocabulary ∩ reference| / |reference| in %, over non-special tokens."""
    return 100 * len(vocabulary & reference) / len(reference)


def _long_pieces(pieces: frozenset[str]) -> int:
    return sum(len(piece) >= LONG_PIECE for piece in pieces)


def measure_scaling(work: Path, timer: Timer) -> list[Row]:
    """Time and peak memory of tokenise on 1, 10 and 50 Mbp one-record genomes."""
    methods = (  # (label, method, vocab size); char learns nothing: read, validate, write
        ("char (baseline: read + write only)", "char", None),
        ("bpe", "bpe", DEFAULT_VOCAB),
        ("unigram", "unigram", DEFAULT_VOCAB),
        ("unigram", "unigram", SMALL_VOCAB),
    )
    rows: list[Row] = []
    for mbp in SCALING_GENOMES:
        fasta = genome(work, mbp)
        for label, method, vocab in methods:
            if vocab == SMALL_VOCAB and mbp != max(SCALING_GENOMES):
                continue  # ~80 s a run; the largest genome is enough to show the vocab effect
            flags = {"vocab_size": vocab} if vocab else {}
            result = tokenise(work, fasta, f"scaling_{mbp}Mbp_{method}_{vocab}", method, **flags)
            if not isinstance(result, Trained):
                raise RuntimeError(f"{method} on {mbp} Mbp: {describe_failure(result)}")
            trained = result.trained_on_residues
            rows.append(
                {
                    "genome": f"{mbp} Mbp, 1 record",
                    "method": label,
                    "--vocab-size": f"{vocab:,}" if vocab else "-",
                    "tokens": f"{result.tokens:,}",
                    "trained on (bp)": f"{trained:,}" if trained else "-",
                    "seconds": round(result.run.seconds, 1),
                    "peak RSS (MiB)": round(result.run.peak_mib),
                }
            )
            print(rows[-1], flush=True)  # progress: the suite takes minutes
    return rows


def measure_vocabulary(work: Path, timer: Timer) -> list[Row]:
    """Unigram vocabulary overlap with a reference vocabulary, by segment length and sample."""
    fasta = genome(work, VOCABULARY_GENOME)
    Key = tuple[int, int, int, bool]  # (segment, sample, seed, big rayon stacks)
    runs: dict[Key, Trained | ChildRun] = {}
    series: list[tuple[str, Key]] = []  # (what is varied, run); the default run appears twice

    def train(varied: str, segment: int, sample: int, seed: int = 42, stack: bool = False) -> None:
        key = (segment, sample, seed, stack)
        if key not in runs:
            name = f"vocabulary_seg{segment}_sample{sample}_seed{seed}{'_stack' if stack else ''}"
            runs[key] = tokenise(
                work, fasta, name, "unigram", BIG_STACK if stack else None,
                vocab_size=DEFAULT_VOCAB, segment_length=segment, sample_bp=sample, seed=seed,
            )  # fmt: skip
            result = runs[key]
            summary = result.run if isinstance(result, Trained) else result
            print(varied, key, summary, flush=True)  # progress: the suite takes minutes
        series.append((varied, key))

    train("reference", REFERENCE_SEGMENT, REFERENCE_SAMPLE)
    for segment in SEGMENT_LENGTHS:
        train("segment length", segment, DEFAULT_SAMPLE)
    longest = max(SEGMENT_LENGTHS)  # the one that overflows the default stacks
    train("segment length, RUST_MIN_STACK=256 MiB", longest, DEFAULT_SAMPLE, stack=True)
    for sample in SAMPLE_SIZES:
        train("sample size", DEFAULT_SEGMENT, sample)
    train("seed (noise)", DEFAULT_SEGMENT, DEFAULT_SAMPLE, OTHER_SEED)

    reference = runs[series[0][1]]
    if not isinstance(reference, Trained):
        raise RuntimeError(f"the reference run: {describe_failure(reference)}")
    rows: list[Row] = []
    for varied, key in series:
        segment, sample, seed, _ = key
        result = runs[key]
        row: Row = {
            "varied": varied,
            "--segment-length": f"{segment:,}",
            "--sample-bp": f"{sample:,}" if sample else "0 (all)",
            "--seed": seed,
        }
        if isinstance(result, Trained):
            row |= {
                "trained on (bp)": f"{result.trained_on_residues:,}",
                "segments": f"{result.trained_on_segments:,}",
                "tokens": f"{result.tokens:,}",
                f"pieces >= {LONG_PIECE} bp": f"{_long_pieces(result.pieces):,}",
                "overlap with reference %": round(
                    overlap_percent(result.pieces, reference.pieces), 1
                ),
                f"top-{TOP:,} overlap %": round(
                    overlap_percent(result.top(TOP), reference.top(TOP)), 1
                ),
                "seconds": round(result.run.seconds, 1),
                "peak RSS (MiB)": round(result.run.peak_mib),
            }
        else:  # failed or timed out: the figures it would have given are unknown
            row |= dict.fromkeys(
                ("trained on (bp)", "segments", "tokens", f"pieces >= {LONG_PIECE} bp"), "-"
            ) | {
                "overlap with reference %": f"none: {describe_failure(result)}",
                f"top-{TOP:,} overlap %": "-",
                "seconds": round(result.seconds, 1),
                "peak RSS (MiB)": "-" if result.timed_out else round(result.peak_mib),
            }
        rows.append(row)
    return rows


_COMMON = (
    "Genome-like DNA: one record per genome, sampled from an order-5 Markov chain fitted to the "
    "548 kbp of E. coli promoter and non-promoter sequences (seeded; cached in benchmarks/work; "
    "60 bp lines, gzip). Each figure is one `genomeflow tokenise` run in a fresh child process "
    "(wall seconds, including interpreter start and imports, reading and writing). Peak RSS is "
    "the child's ru_maxrss, read from RUSAGE_CHILDREN by a ~10 MiB Python wrapper whose only "
    "child it is (os.wait4 from the benchmark process is wrong on Linux: a child inherits the "
    "peak RSS of the process that forks it). Runs are untracked (MLFLOW_TRACKING_URI=none). The "
    "HF trainers use both cores; another process may have used one of them."
)

SUITES_TOKENISE: dict[str, tuple[str, str, Callable[[Path, Timer], list[Row]]]] = {
    "tokenise_scaling": (
        "Tokeniser training at genome scale",
        _COMMON + f" Defaults otherwise: --segment-length {DEFAULT_SEGMENT:,}, --sample-bp "
        f"{DEFAULT_SAMPLE:,} (a seeded reservoir sample of segments), --max-piece-length 16; "
        f"--vocab-size {DEFAULT_VOCAB:,} is the default; unigram at {SMALL_VOCAB:,} is run on "
        "the largest genome only. 'char' learns nothing: it reads and validates the genome and "
        "writes the folder, the cost every method pays. Unigram tokens exceed --vocab-size by "
        "the 11 IUPAC letters the corpus lacks, appended so they are not <unk>.",
        measure_scaling,
    ),
    "tokenise_vocabulary": (
        "Unigram vocabulary versus segment length and sample size",
        _COMMON + f" All runs: --method unigram --vocab-size {DEFAULT_VOCAB:,} on the "
        f"{VOCABULARY_GENOME} Mbp genome. Overlap = |pieces ∩ reference| / |reference| over "
        f"non-special tokens; top-{TOP:,} overlap is the same for the {TOP:,} highest-scoring "
        f"pieces of each (the chain has no structure beyond {MARKOV_ORDER + 1}-mers, of which "
        f"there are {4 ** (MARKOV_ORDER + 1):,}; pieces of {LONG_PIECE}+ bp are mostly chance "
        "repeats). The reference vocabulary is trained on the largest sample that "
        f"fits the time budget: --sample-bp {REFERENCE_SAMPLE:,} of the {VOCABULARY_GENOME:,} "
        f"Mbp, --segment-length {REFERENCE_SEGMENT:,} (the whole genome took ~700 s). The "
        f"segment-length series keeps --sample-bp {DEFAULT_SAMPLE:,}; the sample-size series "
        f"keeps --segment-length {DEFAULT_SEGMENT:,} (the default run appears in both); the "
        "seed row repeats the defaults with another sample, so its difference from the default "
        "row is the noise of an overlap figure. 1 Mbp segments overflow a stack of the trainer's "
        "worker threads (SIGSEGV; Rust threads get 2 MiB by default); the next row reruns them "
        "with RUST_MIN_STACK raised to 256 MiB.",
        measure_vocabulary,
    ),
}
