"""Motif recovery and its cost: ``genomeflow interpret`` (Integrated Gradients, TF-MoDISco,
TOMTOM against JASPAR) on the quality suite's planted-motif set, with the models that suite
trained on it (seed 1).

Each model explains 2,000 sequences of the set (the first 500 of each class, 200 bp) towards its
predicted class.
A planted matrix counts as recovered when a discovered motif's match to it has TOMTOM q < 0.05
(the report's own threshold). The phases' times come from the stage's ``interpret.json``; the
wall time and peak memory from the child process.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from datasets_quality import MOTIFS, motif_fastas
from suite_quality import _with_load
from suite_tokenise import Row, Timer, _genomeflow, describe_failure

# The quality suite's families on the motif task: the tiny CNN and transformer. cnn-small's
# attributions need about 6x cnn-tiny's arithmetic (128 channels x 5 blocks against 64 x 3) for
# the same test accuracy there (0.993 against 0.990).
MODELS = ("cnn-tiny", "distilbert-tiny")
RELEASE, TAXON = "JASPAR2024", "vertebrates"  # the planted matrices' release and group
Q_THRESHOLD = 0.05
PER_CLASS = 500  # sequences of each of the 4 classes explained: 2,000 in all


def _recovery(report: Path) -> dict[str, tuple[float, str]]:
    """Planted matrix id -> (best q of any discovered motif's match to it, that motif)."""
    import pandas as pd

    best = {matrix: (math.inf, "-") for matrix in MOTIFS.values()}
    table = report / "motif_matches.tsv"
    if not table.exists():  # no motif was found at all
        return best
    for row in pd.read_csv(table, sep="\t").itertuples():
        if row.match in best and row.q_value < best[row.match][0]:
            best[row.match] = (float(row.q_value), str(row.motif))
    return best


def _accuracy(model: Path) -> float:
    data = json.loads((model / "reports" / "test_metrics.json").read_text())
    return float(data["metrics"]["accuracy"])


def _inputs(work: Path) -> list[Path]:
    """The first PER_CLASS records of each class's FASTA file (in the set's own order)."""
    folder = work / "interpret" / "inputs"
    folder.mkdir(parents=True, exist_ok=True)
    chosen = []
    for path in motif_fastas(work):
        records = path.read_text().split(">")[1 : PER_CLASS + 1]
        target = folder / path.name
        target.write_text("".join(f">{record}" for record in records))
        chosen.append(target)
    return chosen


def measure_interpret(work: Path, timer: Timer) -> list[Row]:
    fastas = _inputs(work)
    rows: list[Row] = []
    for family in MODELS:
        model = work / "quality" / "motif" / "seed1" / family / "model"
        if not (model / "transformer.json").exists():
            raise RuntimeError(
                f"{model} is missing: run `QUALITY_SETS=motif benchmarks/run.py quality` first"
            )
        output = work / "interpret" / family
        log = work / "interpret" / f"{family}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        command = [
            *_genomeflow(),
            "interpret",
            str(model),
            "-o",
            str(output),
            "--overwrite",
            "--inputs",
            *map(str, fastas),
            "--labels",
            *(path.stem for path in fastas),
            "--limit",
            str(10**6),
            "--jaspar-release",
            RELEASE,
            "--motif-taxon",
            TAXON,
        ]
        run, load = _with_load(command, log)
        if run.returncode != 0:
            rows.append({"model": family, "failure": describe_failure(run)})
            continue
        report = json.loads((output / "interpret.json").read_text())
        seconds = report["seconds"]
        recovered = _recovery(output)
        row: Row = {
            "model": family,
            "test accuracy": round(_accuracy(model), 3),
            "sequences": report["sequences"],
            "attribution s": round(seconds["attribution"]),
            "MoDISco + TOMTOM s": round(seconds["motif_discovery"]),
            "reports s": round(seconds["reports"]),
            "wall s": round(run.seconds),
            "peak MiB": round(run.peak_mib),
            "load (mean)": round(load, 1),
            "motifs": len(report["motifs"]),
        }
        for label, matrix in MOTIFS.items():
            q, motif = recovered[matrix]
            found = q < Q_THRESHOLD
            row[f"{label} {matrix}"] = f"yes, q = {q:.1e} ({motif})" if found else "no"
        rows.append(row)
    return rows


SUITE_INTERPRET = (
    "Motif recovery: planted JASPAR sites found by TF-MoDISco in the attributions and named by "
    "TOMTOM (2 CPU cores)",
    "The quality suite's planted-motif task (benchmarks/datasets_quality.py: 3,000 x 200 bp "
    "C. diphtheriae windows, classes background / CTCF / REST / CTCF_and_REST, sites of JASPAR "
    "2024 MA0139.2 and MA0138.3). Each model is the quality suite's, trained on seed 1's train "
    "split; 'test accuracy' is its test score there. `genomeflow interpret` explains 2,000 "
    "sequences, the first 500 of each class (from train, valid and test alike: motif discovery "
    "reads attributions, not labels) towards "
    "the predicted class with 50 Integrated Gradients steps, runs TF-MoDISco per class and names "
    "each motif with TOMTOM against JASPAR 2024 CORE vertebrates. A planted matrix is recovered "
    "when some motif's match to it has q < 0.05. The phase times come from interpret.json: "
    "attribution, then TF-MoDISco + TOMTOM (numba kernels already compiled: the first call on a "
    "fresh install adds about 2 minutes), then the HTML pages (a page and track plot for 200 "
    "sequences, the default), logos and tables. 'load' is the mean 1-minute load average: the "
    "2 cores may have been shared.",
    measure_interpret,
)
