"""The benchmark suites: each returns rows of measured figures, baseline rows included."""

from __future__ import annotations

import gzip
import random
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from Bio import SeqIO
from Bio.Seq import reverse_complement as biopython_reverse_complement

from genomeflow.io import SequenceFile
from genomeflow.sequence import block_bootstrap, kmer_shuffle, markov_sample, reverse_complement

Timer = Callable[[Callable[[], object], int], float]
MBP = 1e6


def random_dna(rng: random.Random, length: int) -> str:
    return "".join(rng.choices("ACGT", k=length))


def make_fasta(path: Path, records: int, length: int, width: int) -> int:
    """Write a seeded random DNA FASTA (gzip if the name ends in .gz); returns residues."""
    if path.exists():
        return records * length
    rng = random.Random(0)
    with gzip.open(path, "wt") if path.suffix == ".gz" else open(path, "w") as out:
        for i in range(records):
            sequence = random_dna(rng, length)
            lines = (
                [sequence[j : j + width] for j in range(0, length, width)] if width else [sequence]
            )
            out.write(f">r{i} benchmark record\n" + "\n".join(lines) + "\n")
    return records * length


def _decompress_only(path: Path) -> None:
    with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as handle:
        while handle.read(1 << 20):
            pass


def _genomeflow_read(path: Path) -> int:
    return sum(len(r.sequence) for r in SequenceFile(path))


def _biopython_read(path: Path) -> int:
    with gzip.open(path, "rt") if path.suffix == ".gz" else open(path) as handle:
        return sum(len(r.seq) for r in SeqIO.parse(handle, "fasta"))


def io_suite(work: Path, timer: Timer) -> list[dict[str, object]]:
    """FASTA read throughput against plain decompression (the limit) and Biopython SeqIO."""
    shapes = {
        "short records (200k x 100 bp, 1 line each)": (200_000, 100, 0),
        "long records (4 x 5 Mbp, 60 bp lines)": (4, 5_000_000, 60),
    }
    rows = []
    for shape, (records, length, width) in shapes.items():
        for suffix in (".fa", ".fa.gz"):
            path = work / f"{records}x{length}w{width}{suffix}"
            residues = make_fasta(path, records, length, width)
            readers = {
                "read only (limit)": lambda p=path: _decompress_only(p),
                "genomeflow SequenceFile (validated)": lambda p=path: _genomeflow_read(p),
                "Biopython SeqIO.parse": lambda p=path: _biopython_read(p),
            }
            for reader, task in readers.items():
                seconds = timer(task, 3)
                row = {
                    "input": f"{shape}, {'gzip' if suffix.endswith('.gz') else 'plain'}",
                    "reader": reader,
                    "seconds": round(seconds, 3),
                    "Mbp/s": round(residues / MBP / seconds, 1),
                    "peak MiB (tracemalloc)": "-",
                }
                if reader.startswith("genomeflow"):
                    tracemalloc.start()
                    _genomeflow_read(path)
                    row["peak MiB (tracemalloc)"] = round(
                        tracemalloc.get_traced_memory()[1] / 2**20, 1
                    )
                    tracemalloc.stop()
                rows.append(row)
    return rows


def sequence_suite(work: Path, timer: Timer) -> list[dict[str, object]]:
    """Reverse complement against Biopython; shuffles against a plain permutation (k=1)."""
    rng = random.Random(1)
    many = [random_dna(rng, 10_000) for _ in range(1_000)]  # 10 Mbp
    one = "".join(many)
    rows = []
    for label, sequences in (("1,000 x 10 kbp", many), ("1 x 10 Mbp", [one])):
        residues = sum(map(len, sequences))
        for name, function in (
            ("genomeflow reverse_complement (validated)", reverse_complement),
            ("Biopython Bio.Seq.reverse_complement", biopython_reverse_complement),
        ):
            seconds = timer(lambda f=function, s=sequences: [f(x) for x in s], 3)
            rows.append(_rate_row("reverse complement", label, name, residues, seconds))
    controls = many[:100]  # 1 Mbp
    residues = sum(map(len, controls))
    generators: dict[str, Callable[[str, random.Random], str]] = {
        "random.shuffle of residues (baseline)": _plain_permutation,
        "kmer_shuffle k=1": lambda s, r: kmer_shuffle(s, 1, r),
        "kmer_shuffle k=2": lambda s, r: kmer_shuffle(s, 2, r),
        "kmer_shuffle k=3": lambda s, r: kmer_shuffle(s, 3, r),
        "kmer_shuffle k=6": lambda s, r: kmer_shuffle(s, 6, r),
        "markov_sample order=2": lambda s, r: markov_sample(s, 2, r),
        "block_bootstrap block=10": lambda s, r: block_bootstrap(s, 10, r),
    }
    for name, make in generators.items():
        seconds = timer(lambda m=make: [m(s, random.Random(0)) for s in controls], 3)
        rows.append(_rate_row("control", "100 x 10 kbp", name, residues, seconds))
    long_one = many[0] * 100  # one 1 Mbp record: the graph is built once
    seconds = timer(lambda: kmer_shuffle(long_one, 2, 0), 3)
    rows.append(_rate_row("control", "1 x 1 Mbp", "kmer_shuffle k=2", len(long_one), seconds))
    return rows


def _plain_permutation(sequence: str, rng: random.Random) -> str:
    residues = list(sequence)
    rng.shuffle(residues)
    return "".join(residues)


def _rate_row(
    operation: str, data: str, method: str, residues: int, seconds: float
) -> dict[str, object]:
    return {
        "operation": operation,
        "data": data,
        "method": method,
        "seconds": round(seconds, 4),
        "Mbp/s": round(residues / MBP / seconds, 2),
    }


SUITES = {
    "io": (
        "FASTA read throughput",
        "Mbp/s of residues read; best of 3. 'read only' decompresses (or reads) the file in 1 MiB "
        "blocks and parses nothing: the limit for any reader on this machine.",
        io_suite,
    ),
    "sequence": (
        "Sequence operation throughput",
        "Mbp/s of input residues; best of 3. Shuffles are compared with a plain permutation of "
        "the residues (what k=1 must cost at least).",
        sequence_suite,
    ),
}

# Suites in their own modules (they share the child-process measurement of suite_tokenise).
from suite_dataset import SUITE_DATASET  # noqa: E402
from suite_services import SUITE_SERVICES  # noqa: E402
from suite_tokenise import SUITES_TOKENISE  # noqa: E402

SUITES.update(SUITES_TOKENISE)
SUITES["dataset"] = SUITE_DATASET
SUITES["services"] = SUITE_SERVICES
from suite_baseline import SUITE_BASELINE  # noqa: E402

SUITES["baseline"] = SUITE_BASELINE
from suite_transformer_quality import SUITE_TRANSFORMER_QUALITY  # noqa: E402

SUITES["transformer_quality"] = SUITE_TRANSFORMER_QUALITY
from suite_transformer_speed import SUITE_TRANSFORMER_SPEED  # noqa: E402

SUITES["transformer_speed"] = SUITE_TRANSFORMER_SPEED
from suite_attribution_speed import SUITE_ATTRIBUTION_SPEED  # noqa: E402

SUITES["attribution_speed"] = SUITE_ATTRIBUTION_SPEED
from suite_quality import (  # noqa: E402
    SUITE_QUALITY,
    SUITE_QUALITY_POSITIONS,
    SUITE_QUALITY_TEXT,
)

SUITES["quality"] = SUITE_QUALITY
SUITES["quality_positions"] = SUITE_QUALITY_POSITIONS
SUITES["quality_text"] = SUITE_QUALITY_TEXT
from suite_interpret import SUITE_INTERPRET  # noqa: E402

SUITES["interpret"] = SUITE_INTERPRET
from suite_scale import SUITE_SCALE, SUITE_SCALE_PREDICT, SUITE_SCALE_PROCESSES  # noqa: E402

SUITES["scale"] = SUITE_SCALE
SUITES["scale_predict"] = SUITE_SCALE_PREDICT
SUITES["scale_processes"] = SUITE_SCALE_PROCESSES
# Run only when named: quality takes hours on 2 cores (QUALITY_* env: minutes), quality_positions
# an hour; interpret needs quality's motif models and takes tens of minutes; scale writes and
# builds 10M reads (an hour).
ON_REQUEST = {
    "quality",
    "quality_positions",
    "quality_text",
    "interpret",
    "scale",
    "scale_predict",
    "scale_processes",
}
