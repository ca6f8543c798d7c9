"""Motifs a biologist can name, with the real tools: a CTCF matrix from JASPAR (pyjaspar) planted
in random DNA, a tiny CNN trained on it by the CLI, `genomeflow interpret` running TF-MoDISco
and TOMTOM; the discovered motif must be named CTCF (MA0139.2) at q < 0.05."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from genomeflow.cli import main
from genomeflow.interpret.meme import read_motif_file
from helpers import fasta_text, make_dataset, write_text

UNTRACKED = ["--tracking-uri", "none"]
PLANTED = "MA0139.2"  # CTCF, JASPAR CORE vertebrates: an information-rich matrix
LENGTH = 100  # bp per sequence


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def ctcf_counts() -> np.ndarray:
    """The planted matrix, read with pyjaspar's own API (not genomeflow's reader): (width, 4)."""
    from pyjaspar import jaspardb

    motif = jaspardb().fetch_motif_by_id(PLANTED)
    return np.asarray([motif.counts[base] for base in "ACGT"], dtype=np.float64).T


def planted(count: int, seed: int, matrix: np.ndarray | None) -> list[tuple[str, str]]:
    """Random DNA; with ``matrix``, a site sampled from it at a random place and strand."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(count):
        bases = rng.integers(0, 4, LENGTH)
        if matrix is not None:
            frequencies = matrix / matrix.sum(axis=1, keepdims=True)
            site = np.array([rng.choice(4, p=row) for row in frequencies])
            if rng.random() < 0.5:
                site = 3 - site[::-1]  # the reverse complement: ACGT codes 0-3
            at = rng.integers(0, LENGTH - len(site))
            bases[at : at + len(site)] = site
        records.append(
            (f"{'ctcf' if matrix is not None else 'bg'}{i}", "".join("ACGT"[b] for b in bases))
        )
    return records


@pytest.mark.slow
def test_a_planted_jaspar_motif_is_discovered_and_named(tmp_path):
    matrix = ctcf_counts()
    dataset = make_dataset(tmp_path, planted(200, 1, matrix), planted(200, 2, None))
    model = tmp_path / "model"
    flags = ["--architecture", "cnn", "--preset", "tiny", "--batch-size", "32", "--epochs", "5"]
    assert main(["train", dataset, "-o", str(model), *flags, "--patience", "0", *UNTRACKED]) == 0
    positives = write_text(tmp_path / "ctcf.fa", fasta_text(planted(150, 3, matrix)))
    report = tmp_path / "report"
    args = ["interpret", str(model), "-o", str(report), "--inputs", str(positives)]
    assert main([*args, "--target", "promoter", "--steps", "8", *UNTRACKED]) == 0

    table = pd.read_csv(report / "motifs.tsv", sep="\t")
    named = table[(table["best_match"] == PLANTED) & (table["q_value"] < 0.05)]
    assert len(named) >= 1, table.to_string()
    assert (named["sign"] == "positive").all() and (named["seqlets"] >= 20).all()
    assert "matches MA0139.2 CTCF" in named["verdict"].iloc[0]
    motifs = {m.name: m for m in read_motif_file(report / "motifs.meme")}
    assert set(motifs) == set(table["motif"])  # the MEME file holds every discovered motif
    sites = pd.read_csv(report / "motif_sites.tsv", sep="\t")
    first = named["motif"].iloc[0]
    assert (sites["motif"] == first).sum() == int(named["seqlets"].iloc[0])
    assert (report / "reports" / "logos" / f"{first}.png").is_file()
    summary = (report / "summary.html").read_text()
    assert "MA0139.2 CTCF" in summary and "data:image/png;base64," in summary
    page = (report / "reports" / f"{sites['id'].iloc[0]}.html").read_text()
    assert "Motif sites" in page and "<mark" in page
    saved = json.loads((report / "interpret.json").read_text())
    assert saved["motif_database"].startswith("JASPAR") and first in saved["motifs"]
