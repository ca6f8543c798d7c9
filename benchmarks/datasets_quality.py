"""The datasets of the quality suite (suite_quality.py): five tasks, built once and cached.

Public names:
    QUALITY_SETS: {name: QualitySet}: how each task's input files, tokeniser and seeded
        dataset folders are made, with its source and licence text for the notes.
    chromosome(work) -> str: the C. diphtheriae NCTC11397 chromosome (2.46 Mbp), read from the
        pyrodigal 3.7.1 wheel's test data.

Sources are fetched at benchmark time with ``pip download --no-deps`` into
``work/quality_sources/`` (a wheel is a zip: its data files are read from it, and the two
wheels are also installed there with ``pip install --no-deps --target``, never into the
project's environment):

- pyrodigal 3.7.1 (GPL-3.0-or-later): ``pyrodigal/tests/data/GCF_001457455.1_NCTC11397_genomic
  .fna.gz`` (RefSeq NZ_LN831026.1, *Corynebacterium diphtheriae* NCTC11397 chromosome; NCBI
  sequence data carry no use restrictions) and ``MIIJ01000039.faa.gz`` (the Prodigal proteins of
  contig MIIJ01000039 of an *Escherichia coli* genome: NCBI taxon 562, BioSample SAMN05730656).
- pyjaspar 4.0.0 (MIT): the JASPAR 2024 SQLite database (JASPAR data: CC BY 4.0).

The E. coli promoters are the repository's own copy (examples/data/ecoli_promoters: RegulonDB
as assembled for iPSW(2L)-PseKNC / BERT-Promoter) built by suite_baseline's builder, so the
splits are the baseline and transformer suites' splits of the same seeds.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from genomeflow.config import DatasetConfig, TokeniseConfig
from genomeflow.data import build_dataset
from genomeflow.tokenise import train_tokeniser
from suite_baseline import _dataset as ecoli_dataset
from suite_tokenise import UNTRACKED, _genomeflow, run_child

PYRODIGAL = ("pyrodigal", "3.7.1")
PYJASPAR = ("pyjaspar", "4.0.0")
CHROMOSOME = "pyrodigal/tests/data/GCF_001457455.1_NCTC11397_genomic.fna.gz"
ECOLI_PROTEINS = "pyrodigal/tests/data/MIIJ01000039.faa.gz"
DATA_SEED = 0  # the sequences of the built sets are fixed; the split seed varies
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "data"

# Motif set: 200 bp windows of the chromosome, a sampled site of each factor planted.
MOTIF_WINDOW = 200  # residues
MOTIF_PER_CLASS = 750  # sequences
# Two matrices whose sampled sites rarely occur by chance in 200 bp of background, so that the
# set's ceiling (motif_oracle) is near 1 and the table measures the models, not the set's noise.
# A first version planted SOX2 (MA0143.4, 11 bp, 10.0 bits) beside CTCF: chance SOX2-like sites
# capped even the oracle at test accuracy 0.767 (run of 2026-11-29). With REST, sites drawn freely
# from the matrices still capped it at 0.923 (5% of CTCF draws score under 9 of its 22 bits):
# planted sites must score MIN_SITE_FRACTION of the matrix's best, as bound sites do.
MIN_SITE_FRACTION = 0.75
PSEUDOCOUNT = 0.01  # added to each PWM probability before the log: JASPAR columns hold zeros
MOTIFS = {  # label -> JASPAR 2024 matrix id
    "CTCF": "MA0139.2",  # 15 bp, 16.2 bits (human, ChIP-seq)
    "REST": "MA0138.3",  # 20 bp, 22.8 bits (human, ChIP-seq)
}
MOTIF_CLASSES = {  # class (file stem) -> factors planted
    "background": (),
    "CTCF": ("CTCF",),
    "REST": ("REST",),
    "CTCF_and_REST": ("CTCF", "REST"),
}

# Protein set: C. diphtheriae proteins (pyrodigal single mode) vs the E. coli contig's proteins.
MIN_PROTEIN = 50  # residues; shorter predicted proteins are left out (both organisms)
CDIP_PER_ECOLI = 2  # C. diphtheriae proteins sampled per E. coli protein

# Long set: 4 kb chromosome windows vs dinucleotide shuffles of other windows.
LONG_WINDOW = 4_000  # residues
LONG_PER_CLASS = 250  # windows per class (500 x 4 kb = 2 Mbp of the 2.46 Mbp chromosome)


def _sources(work: Path) -> Path:
    folder = work / "quality_sources"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _wheel(work: Path, package: str, version: str) -> Path:
    """The package's wheel under work/quality_sources (``pip download --no-deps`` once)."""
    folder = _sources(work)
    found = sorted(folder.glob(f"{package}-{version}-*.whl"))
    if not found:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary",
                ":all:",
                f"{package}=={version}",
                "-d",
                str(folder),
            ],
            check=True,
        )
        found = sorted(folder.glob(f"{package}-{version}-*.whl"))
    return found[0]


def _importable(work: Path, *packages: tuple[str, str]) -> None:
    """Install the wheels into work/quality_sources/pylib (not the venv) and import from it."""
    target = _sources(work) / "pylib"
    for package, version in packages:
        if not (target / f"{package}-{version}.dist-info").exists():
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--no-deps",
                    "--quiet",
                    "--target",
                    str(target),
                    str(_wheel(work, package, version)),
                ],
                check=True,
            )
    if str(target) not in sys.path:
        sys.path.append(str(target))


def _wheel_fasta(work: Path, member: str) -> list[tuple[str, str]]:
    """(header, sequence) records of a gzipped FASTA inside the pyrodigal wheel."""
    with zipfile.ZipFile(_wheel(work, *PYRODIGAL)) as wheel:
        text = gzip.decompress(wheel.read(member)).decode()
    records: list[tuple[str, str]] = []
    for block in text.split(">")[1:]:
        header, _, body = block.partition("\n")
        records.append((header.strip(), "".join(body.split()).upper()))
    return records


def chromosome(work: Path) -> str:
    """The C. diphtheriae NCTC11397 chromosome (NZ_LN831026.1), upper case."""
    ((header, sequence),) = _wheel_fasta(work, CHROMOSOME)
    assert header.startswith("NZ_LN831026.1"), header
    return sequence


def _write_fasta(path: Path, records: list[tuple[str, str]], width: int = 80) -> None:
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w") as handle:
        for header, sequence in records:
            lines = (sequence[i : i + width] for i in range(0, len(sequence), width))
            handle.write(f">{header}\n" + "\n".join(lines) + "\n")
    partial.rename(path)


def _slots(sequence: str, width: int, count: int, rng: random.Random) -> list[int]:
    """Starts of ``count`` distinct non-overlapping ``width``-residue windows of A/C/G/T only."""
    starts = [s for s in range(0, len(sequence) - width + 1, width)]
    clean = [s for s in starts if set(sequence[s : s + width]) <= set("ACGT")]
    return sorted(rng.sample(clean, count))


# --- motif set ------------------------------------------------------------------------------


def _motif_columns(work: Path) -> dict[str, tuple[str, list[list[float]]]]:
    """label -> (matrix id and name, per-position A/C/G/T probabilities) from JASPAR 2024."""
    _importable(work, PYJASPAR)
    from pyjaspar import jaspardb

    database = jaspardb(release="JASPAR2024")
    columns = {}
    for label, matrix in MOTIFS.items():
        motif = database.fetch_motif_by_id(matrix)
        counts = motif.counts
        probabilities = []
        for position in range(motif.length):
            column = [float(counts[base][position]) for base in "ACGT"]
            probabilities.append([c / sum(column) for c in column])
        columns[label] = (f"{matrix} {motif.name}", probabilities)
    return columns


def _site_score(site: str, probabilities: list[list[float]]) -> float:
    """Log-odds of ``site`` (forward strand) against a uniform background, in bits."""
    return sum(
        math.log2((column["ACGT".index(base)] + PSEUDOCOUNT) / (1 + 4 * PSEUDOCOUNT) / 0.25)
        for base, column in zip(site, probabilities, strict=True)
    )


def _sample_site(probabilities: list[list[float]], rng: random.Random) -> str:
    """A site drawn from the matrix, redrawn until it scores at least MIN_SITE_FRACTION of the
    matrix's best score: a bound site, not one that background DNA matches by chance."""
    best = sum(
        math.log2((max(column) + PSEUDOCOUNT) / (1 + 4 * PSEUDOCOUNT) / 0.25)
        for column in probabilities
    )
    while True:
        site = "".join(rng.choices("ACGT", weights=column)[0] for column in probabilities)
        if _site_score(site, probabilities) >= MIN_SITE_FRACTION * best:
            break
    if rng.random() < 0.5:  # either strand
        site = site[::-1].translate(str.maketrans("ACGT", "TGCA"))
    return site


def motif_fastas(work: Path) -> list[Path]:
    """One FASTA per class: 750 x 200 bp chromosome windows each, sites planted (cached)."""
    folder = work / "quality_data" / "motif"
    paths = [folder / f"{label}.fasta" for label in MOTIF_CLASSES]
    if all(p.exists() for p in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    genome = chromosome(work)
    columns = _motif_columns(work)
    rng = random.Random(DATA_SEED)
    starts = _slots(genome, MOTIF_WINDOW, MOTIF_PER_CLASS * len(MOTIF_CLASSES), rng)
    rng.shuffle(starts)
    for index, (label, factors) in enumerate(MOTIF_CLASSES.items()):
        records = []
        for start in starts[index * MOTIF_PER_CLASS : (index + 1) * MOTIF_PER_CLASS]:
            window = list(genome[start : start + MOTIF_WINDOW])
            taken: list[tuple[int, int]] = []
            planted = []
            for factor in factors:
                site = _sample_site(columns[factor][1], rng)
                while True:  # a position that overlaps no site planted before
                    at = rng.randrange(0, MOTIF_WINDOW - len(site) + 1)
                    if all(at + len(site) <= a or at >= b for a, b in taken):
                        break
                taken.append((at, at + len(site)))
                window[at : at + len(site)] = site
                planted.append(f"{factor}@{at}")
            header = f"cdip_{start} NZ_LN831026.1:{start + 1}-{start + MOTIF_WINDOW}"
            records.append(
                (header + (" planted=" + ",".join(planted) if planted else ""), "".join(window))
            )
        _write_fasta(folder / f"{label}.fasta", records)
    (folder / "SOURCE.json").write_text(
        json.dumps({"motifs": {k: v[0] for k, v in columns.items()}, "seed": DATA_SEED}) + "\n"
    )
    return paths


# --- protein set ----------------------------------------------------------------------------


def protein_fastas(work: Path) -> list[Path]:
    """C_diphtheriae.fasta (pyrodigal-predicted, sampled) and E_coli.fasta (cached)."""
    folder = work / "quality_data" / "protein"
    paths = [folder / "C_diphtheriae.fasta", folder / "E_coli.fasta"]
    if all(p.exists() for p in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    _importable(work, PYRODIGAL)
    import pyrodigal

    genome = chromosome(work)
    finder = pyrodigal.GeneFinder()  # single mode: trained on this chromosome
    finder.train(genome)
    genes = finder.find_genes(genome)
    cdip = [
        (
            f"cdip_gene{i + 1} {gene.begin}..{gene.end} strand={gene.strand}",
            gene.translate(include_stop=False),
        )
        for i, gene in enumerate(genes)
    ]
    cdip = [(h, s) for h, s in cdip if len(s) >= MIN_PROTEIN]
    ecoli = [
        (header.split()[0], sequence.rstrip("*"))
        for header, sequence in _wheel_fasta(work, ECOLI_PROTEINS)
    ]
    ecoli = [(h, s) for h, s in ecoli if len(s) >= MIN_PROTEIN]
    rng = random.Random(DATA_SEED)
    chosen = sorted(rng.sample(range(len(cdip)), min(len(cdip), CDIP_PER_ECOLI * len(ecoli))))
    _write_fasta(paths[0], [cdip[i] for i in chosen])
    _write_fasta(paths[1], ecoli)
    (folder / "SOURCE.json").write_text(
        json.dumps(
            {"cdip_genes_predicted": len(genes), "cdip_kept": len(chosen), "ecoli": len(ecoli)}
        )
        + "\n"
    )
    return paths


# --- long set -------------------------------------------------------------------------------


def long_fastas(work: Path) -> list[Path]:
    """genomic.fasta (4 kb windows) and dinucleotide_shuffled.fasta (other windows, shuffled
    with ``genomeflow synthetic --method shuffle -k 2``), cached."""
    folder = work / "quality_data" / "long"
    paths = [folder / "genomic.fasta", folder / "dinucleotide_shuffled.fasta"]
    if all(p.exists() for p in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    genome = chromosome(work)
    rng = random.Random(DATA_SEED)
    starts = _slots(genome, LONG_WINDOW, 2 * LONG_PER_CLASS, rng)
    rng.shuffle(starts)
    real, source = sorted(starts[:LONG_PER_CLASS]), sorted(starts[LONG_PER_CLASS:])

    def records(chosen: list[int], prefix: str) -> list[tuple[str, str]]:
        return [(f"{prefix}{s}", genome[s : s + LONG_WINDOW]) for s in chosen]

    _write_fasta(paths[0], records(real, "cdip_"))
    unshuffled = folder / "to_shuffle.fasta"
    _write_fasta(unshuffled, records(source, "shuf_"))
    command = [
        *_genomeflow(),
        "synthetic",
        str(unshuffled),
        "-o",
        str(paths[1]),
        "--method",
        "shuffle",
        "-k",
        "2",
        "--seed",
        str(DATA_SEED),
    ]
    run = run_child(command, folder / "synthetic.log", env=UNTRACKED)
    if run.returncode != 0:
        raise RuntimeError(f"genomeflow synthetic failed: see {folder / 'synthetic.log'}")
    return paths


# --- datasets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class QualitySet:
    """How one task's dataset folders are made, and what the notes say about it."""

    title: str
    fastas: Callable[[Path], list[Path]] | None  # None: E. coli (suite_baseline builds it)
    tokeniser: dict[str, object]
    grouping: str  # --group-by
    source: str
    dataset_options: dict[str, object] = field(default_factory=dict)

    def dataset(self, work: Path, name: str, seed: int, one_strand: bool = False) -> Path:
        """The seeded dataset folder (cached); ``one_strand``: no reverse complements added to
        train (the same split)."""
        if self.fastas is None:
            return Path(ecoli_dataset(work, "6-mer", seed, one_strand))
        inputs = [str(p) for p in self.fastas(work)]
        folder = work / "quality_tokenisers" / name
        if not (folder / "tokenizer.json").exists():
            folder.parent.mkdir(parents=True, exist_ok=True)
            train_tokeniser(TokeniseConfig(inputs=inputs, output=str(folder), **self.tokeniser))
        output = work / "quality_datasets" / f"{name}_seed{seed}{'_one_strand' * one_strand}"
        options = self.dataset_options | ({"reverse_complement": False} if one_strand else {})
        if not (output / "manifest.json").exists():
            output.parent.mkdir(parents=True, exist_ok=True)
            build_dataset(
                DatasetConfig(
                    inputs=inputs,
                    tokeniser=str(folder),
                    output=str(output),
                    seed=seed,
                    group_by=self.grouping,
                    **options,
                )
            )
        return output


QUALITY_SETS = {
    "ecoli": QualitySet(
        title="E. coli promoters (2 classes, 6,764 x 81 bp)",
        fastas=None,
        tokeniser={"method": "kmer", "k": 6},
        grouping="id",
        source="RegulonDB promoters / non-promoters as assembled for iPSW(2L)-PseKNC and "
        "BERT-Promoter (examples/data/ecoli_promoters; RegulonDB's terms: free for academic use)",
    ),
    "motif": QualitySet(
        title="planted JASPAR motifs in C. diphtheriae DNA (4 classes, 3,000 x 200 bp)",
        fastas=motif_fastas,
        tokeniser={"method": "kmer", "k": 6},
        grouping="id",
        source="backgrounds: 3,000 distinct non-overlapping 200 bp windows of the C. diphtheriae "
        "NCTC11397 chromosome (RefSeq NZ_LN831026.1, from the pyrodigal 3.7.1 wheel's test data, "
        "GPL-3.0-or-later package; NCBI data unrestricted); classes background / CTCF / REST / "
        "CTCF_and_REST (750 each): one site per factor sampled from its JASPAR 2024 PFM, redrawn "
        "until its log-odds reaches 75% of the matrix's best "
        "(CTCF MA0139.2, 15 bp, 16.2 bits; REST MA0138.3, 20 bp, 22.8 bits; JASPAR CC BY 4.0, "
        "read offline from pyjaspar 4.0.0, MIT), random strand and position, non-overlapping; "
        "data seed 0",
    ),
    "protein": QualitySet(
        title="protein organism of origin (C. diphtheriae vs E. coli)",
        fastas=protein_fastas,
        tokeniser={"method": "char"},
        grouping="similarity",
        source="C. diphtheriae NCTC11397 proteins predicted by pyrodigal 3.7.1 GeneFinder "
        "(single mode, trained on the chromosome), a seeded sample of 2 per E. coli protein, vs "
        "the Prodigal proteins of E. coli contig MIIJ01000039 (NCBI taxon 562, BioSample "
        "SAMN05730656; MIIJ01000039.faa.gz of the pyrodigal wheel); proteins >= 50 aa, stop "
        "removed",
    ),
    "text": QualitySet(
        title="Python documentation paragraphs (3 classes, 396 documents of 60-400 characters)",
        fastas=lambda work: [EXAMPLES / "python_docs" / "paragraphs.csv"],
        tokeniser={"method": "unigram", "vocab_size": 2000, "alphabet": "text"},
        grouping="id",
        source="examples/data/python_docs: paragraphs of CPython 3.11.7's pydoc_data.topics "
        "(PSF License 2), labelled statements / expressions / types by the part of the "
        "documentation their topic belongs to, 132 each (its README)",
    ),
    "long": QualitySet(
        title="4 kb C. diphtheriae windows vs dinucleotide shuffles (2 classes, 500 x 4 kb)",
        fastas=long_fastas,
        tokeniser={"method": "kmer", "k": 6, "stride": 6},
        grouping="id",
        source="500 distinct non-overlapping 4 kb windows of the C. diphtheriae NCTC11397 "
        "chromosome (pyrodigal 3.7.1 wheel test data): 250 kept (genomic), 250 others shuffled "
        "by `genomeflow synthetic --method shuffle -k 2` (dinucleotide_shuffled; every 2-mer "
        "count kept), so no control is a shuffle of a genomic window of the set; data seed 0",
    ),
}


def describe_fasta(path: Path) -> tuple[int, int]:
    """(records, residues) of a plain or gzip FASTA."""
    opener = gzip.open if path.suffix == ".gz" else open
    records = residues = 0
    with opener(path, "rt") as handle:
        for line in handle:
            if line.startswith(">"):
                records += 1
            else:
                residues += len(line.strip())
    return records, residues


# --- the motif set's ceiling: a classifier that knows the planted matrices ---------------------


def motif_oracle(work: Path, dataset: Path) -> dict[str, float]:
    """TEST scores of an oracle that knows which JASPAR matrices were planted: per sequence, the
    best log-odds site score of each matrix (both strands, against the train split's base
    composition), then multinomial logistic regression on those scores fitted on train. No
    model of the sequences can know more than the planted matrices, so this approximates the
    set's ceiling (sites sampled from a matrix also occur by chance in background DNA)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from genomeflow.data import load_dataset
    from genomeflow.evaluate import evaluate_predictions

    data = load_dataset(dataset)
    train, test = data.splits["train"], data.splits["test"]
    composition = np.array([sum(s.count(b) for s in train["sequence"]) for b in "ACGT"], float)
    background = composition / composition.sum()
    lookup = np.full(256, 4, dtype=np.int64)  # other letters: a column scoring 0
    for index, base in enumerate("ACGT"):
        lookup[ord(base)] = lookup[ord(base.lower())] = index
    matrices = []
    for _, probabilities in _motif_columns(work).values():
        odds = np.log((np.array(probabilities) + PSEUDOCOUNT) / (1 + 4 * PSEUDOCOUNT) / background)
        forward = np.hstack([odds, np.zeros((len(odds), 1))])  # column 4: unknown letters
        reverse = np.hstack([odds[::-1, ::-1], np.zeros((len(odds), 1))])  # reverse complement
        matrices.append((forward, reverse))

    def features(sequences) -> np.ndarray:
        rows = []
        for sequence in sequences:
            codes = lookup[np.frombuffer(sequence.encode(), dtype=np.uint8)]
            row = []
            for forward, reverse in matrices:
                width = len(forward)
                windows = np.lib.stride_tricks.sliding_window_view(codes, width)
                positions = np.arange(width)
                best = max(
                    forward[positions, windows].sum(axis=1).max(),
                    reverse[positions, windows].sum(axis=1).max(),
                )
                row.append(best)
            rows.append(row)
        return np.array(rows)

    model = LogisticRegression(max_iter=1000).fit(features(train["sequence"]), train["label"])
    probabilities = model.predict_proba(features(test["sequence"]))
    metrics = evaluate_predictions(test["label"].to_numpy(), probabilities, data.label_names)
    return {
        name: float(metrics.metrics[name]) for name in ("accuracy", "f1_macro", "mcc", "roc_auc")
    }
