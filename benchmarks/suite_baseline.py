"""Baseline quality on the E. coli promoters: every feature x model pair over 5 seeded splits.

Each seed builds its own stratified 80/10/10 dataset grouped by record id (``--group-by id``:
the DNA default; similar promoters are not clustered) with train-only reverse complements,
trains every pair with default hyperparameters on train, and evaluates the test split once.
Rows give mean ± sd over the seeds; the published marks are rows of their own.
"""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path

from genomeflow.config import BaselineConfig, DatasetConfig, TokeniseConfig
from genomeflow.data import build_dataset
from genomeflow.tokenise import train_tokeniser
from genomeflow.train.baseline import train_baseline
from suite_tokenise import ECOLI, Row, Timer

SEEDS = (1, 2, 3, 4, 5)
TOKENISERS = {  # name -> tokenise settings; trained on all sequences, labels unseen
    "6-mer": {"method": "kmer", "k": 6},
    "unigram 4096": {"method": "unigram", "vocab_size": 4096},
}
PAIRS = [  # (features, tokeniser)
    ("onehot", "6-mer"),  # onehot reads residues; the tokeniser is unused
    ("count", "6-mer"),
    ("tfidf", "6-mer"),
    ("tfidf", "unigram 4096"),
    ("word2vec", "6-mer"),
]
MODELS = ("rf", "xgb", "logreg")
REPORTED = ("accuracy", "f1_macro", "mcc", "roc_auc")
PUBLISHED = [  # (source, accuracy, F1)
    ("BERT-Promoter (Le et al. 2022), published", "0.855", "-"),
    ("positional one-hot + random forest, published", "~0.82", "-"),
    ("genomeNLP best, published", "-", "0.79"),
]


def _dataset(work: Path, tokeniser: str, seed: int, one_strand: bool = False) -> str:
    """The seeded E. coli dataset (cached); ``one_strand``: no reverse complements in train
    (the same split)."""
    inputs = [str(p) for p in sorted(ECOLI.glob("*.fasta.gz"))]
    folder = work / "baseline_tokenisers" / tokeniser.replace(" ", "_")
    if not (folder / "tokenizer.json").exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        train_tokeniser(TokeniseConfig(inputs=inputs, output=str(folder), **TOKENISERS[tokeniser]))
    suffix = "_one_strand" if one_strand else ""
    output = work / "baseline_datasets" / f"{folder.name}_seed{seed}{suffix}"
    if not (output / "manifest.json").exists():
        output.parent.mkdir(parents=True, exist_ok=True)
        build_dataset(
            DatasetConfig(
                inputs=inputs,
                tokeniser=str(folder),
                output=str(output),
                seed=seed,
                group_by="id",
                reverse_complement=False if one_strand else None,
            )
        )
    return str(output)


def _mean_sd(values: list[float]) -> str:
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def measure_baselines(work: Path, timer: Timer) -> list[Row]:
    logging.getLogger("genomeflow").setLevel(logging.WARNING)
    rows: list[Row] = []
    for features, tokeniser in PAIRS:
        for model in MODELS:
            scores: dict[str, list[float]] = {name: [] for name in REPORTED}
            seconds = []
            for seed in SEEDS:
                config = BaselineConfig(
                    dataset=_dataset(work, tokeniser, seed),
                    output=str(work / "baseline_models" / f"{features}_{model}_{seed}"),
                    features=features,
                    model=model,
                    folds=0,
                    importance_top=10,
                    permutation_repeats=2,
                    seed=seed,
                )
                Path(config.output).parent.mkdir(parents=True, exist_ok=True)
                start = time.perf_counter()
                metrics = train_baseline(config).metrics()
                seconds.append(time.perf_counter() - start)
                for name in REPORTED:
                    scores[name].append(metrics[f"test_{name}"])
            rows.append(
                {
                    "features": features,
                    "tokens": "residues" if features == "onehot" else tokeniser,
                    "model": model,
                    **{f"test {name}": _mean_sd(values) for name, values in scores.items()},
                    "stage s (mean)": round(statistics.mean(seconds), 1),
                }
            )
            print(rows[-1], flush=True)
    for source, accuracy, f1 in PUBLISHED:
        rows.append(
            {
                "features": source,
                "tokens": "-",
                "model": "-",
                "test accuracy": accuracy,
                "test f1_macro": f1,
                "test mcc": "-",
                "test roc_auc": "-",
                "stage s (mean)": "-",
            }
        )
    return rows


SUITE_BASELINE = (
    "Classic baselines on the E. coli promoters (test split, 5 seeds)",
    "Stratified 80/10/10 splits with seeds 1-5, grouped by record id (--group-by id, the DNA "
    "default: similar promoters are not clustered), train-only reverse complements; "
    "default hyperparameters, no sweep; the test split of each seed evaluated once. Values are "
    "mean ± sd over the seeds. 'stage s' is the whole baseline stage (features, fit, reports, "
    "importances). Published marks are from their papers, on their own splits.",
    measure_baselines,
)
