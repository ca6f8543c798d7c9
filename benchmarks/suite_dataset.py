"""Dataset build throughput on the E. coli corpus: sequences/s and peak memory per tokeniser.

``SUITE_DATASET`` is shaped like the entries of suites.SUITES. Each tokeniser is trained once
(cached under work/tokenisers), then ``genomeflow dataset`` builds the 80/10/10 dataset with
train-only reverse complements: once in a fresh child process (wall time with start-up, and its
own peak resident memory via os.wait4), and best-of-3 in this process (the build alone).
The baseline is ``genomeflow validate`` on the same files: reading and validating them is the
floor of any build.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from genomeflow.config import DatasetConfig, TokeniseConfig
from genomeflow.data import build_dataset
from genomeflow.tokenise import train_tokeniser
from suite_tokenise import ECOLI, Row, Timer, _genomeflow, run_child

TOKENISERS = {  # label -> tokenise settings
    "char": {"method": "char"},
    "kmer k=6 stride=1": {"method": "kmer", "k": 6},
    "bpe vocab 4096": {"method": "bpe", "vocab_size": 4096},
    "unigram vocab 4096": {"method": "unigram", "vocab_size": 4096},
}


def measure_dataset(work: Path, timer: Timer) -> list[Row]:
    inputs = [str(path) for path in sorted(ECOLI.glob("*.fasta.gz"))]
    sources = 2 * 3382  # sequences in the two E. coli files
    untracked = {**os.environ, "MLFLOW_TRACKING_URI": "none"}  # measure the stage, not MLflow
    baseline = run_child(
        [*_genomeflow(), "validate", *inputs], work / "validate.log", env=untracked
    )
    rows: list[Row] = [
        {
            "tokeniser": "none: genomeflow validate (baseline)",
            "rows written": "-",
            "build s (in process, best of 3)": "-",
            "sequences/s": "-",
            "child wall s (with start-up)": round(baseline.seconds, 2),
            "child peak MiB": round(baseline.peak_mib),
        }
    ]
    for label, settings in TOKENISERS.items():
        folder = work / "dataset_tokenisers" / label.replace(" ", "_").replace("=", "")
        if not (folder / "tokenizer.json").exists():
            folder.parent.mkdir(parents=True, exist_ok=True)
            train_tokeniser(TokeniseConfig(inputs=inputs, output=str(folder), **settings))
        output = work / "datasets" / folder.name
        output.parent.mkdir(parents=True, exist_ok=True)
        config = DatasetConfig(inputs=inputs, tokeniser=str(folder), output=str(output))
        seconds = timer(lambda c=config: build_dataset(c), 3)
        shutil.rmtree(output)
        command = [*_genomeflow(), "dataset", *inputs, "-t", str(folder), "-o", str(output)]
        child = run_child(command, work / f"dataset_{folder.name}.log", env=untracked)
        manifest = json.loads((output / "manifest.json").read_text())
        written = sum(sum(counts.values()) for counts in manifest["rows"].values())
        rows.append(
            {
                "tokeniser": label,
                "rows written": written,
                "build s (in process, best of 3)": round(seconds, 2),
                "sequences/s": round(sources / seconds),
                "child wall s (with start-up)": round(child.seconds, 2),
                "child peak MiB": round(child.peak_mib),
            }
        )
    return rows


SUITE_DATASET = (
    "Dataset build throughput (E. coli promoters, 6,764 sequences of 81 bp)",
    "80/10/10 grouped stratified split with train-only reverse complements (12,176 rows). "
    "'sequences/s' counts source sequences through the in-process build (split, augment, "
    "tokenise, save Arrow + Parquet + manifest). Child figures are one fresh process each, "
    "start-up and imports included; peak memory is that child's own peak RSS (os.wait4).",
    measure_dataset,
)
