"""Transformer quality on the E. coli promoters: the genomicBERT recipe over seeded splits.

The same stratified 80/10/10 datasets grouped by record id (6-mer tokens, train-only reverse
complements) as the baseline suite; each seed trains a fresh DistilBERT, chooses the epoch on
valid and evaluates the test split once. Rows give mean ± sd over the seeds; the best classic
baseline of this machine's baseline run and the published marks are rows of their own.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from pathlib import Path

from genomeflow.config import TrainConfig
from genomeflow.train.train import train_model
from suite_baseline import PUBLISHED, REPORTED, _dataset, _mean_sd
from suite_tokenise import Row, Timer

HERE = Path(__file__).resolve().parent
RECIPES = {  # name -> (seeds, train settings); small gets fewer seeds/epochs on 2 CPU cores
    "tiny": ((1, 2, 3, 4, 5), {"preset": "tiny", "epochs": 12, "learning_rate": 1e-3}),
    "small": ((1, 2), {"preset": "small", "epochs": 3, "learning_rate": 5e-4}),
}


def _recipe_rows(work: Path, name: str) -> list[Row]:
    seeds, settings = RECIPES[name]
    scores: dict[str, list[float]] = {metric: [] for metric in REPORTED}
    seconds, epochs = [], []
    for seed in seeds:
        output = work / "transformer_models" / f"{name}_seed{seed}"
        output.parent.mkdir(parents=True, exist_ok=True)
        config = TrainConfig(
            dataset=_dataset(work, "6-mer", seed),
            output=str(output),
            seed=seed,
            patience=3,
            **settings,
        )
        start = time.perf_counter()
        summary = train_model(config)
        seconds.append(time.perf_counter() - start)
        epochs.append(summary.fit.best_epoch)
        metrics = summary.metrics()
        for metric in REPORTED:
            scores[metric].append(metrics[f"test_{metric}"])
        print(name, seed, {m: round(v[-1], 4) for m, v in scores.items()}, flush=True)
    return [
        {
            "model": f"distilbert-{name} (6-mer)",
            "seeds": len(seeds),
            **{f"test {metric}": _mean_sd(values) for metric, values in scores.items()},
            "chosen epoch (mean)": round(statistics.mean(epochs), 1),
            "stage s (mean)": round(statistics.mean(seconds), 1),
        }
    ]


def _reference_rows() -> list[Row]:
    """The best baseline of the baseline suite's results (same splits), and published marks."""
    rows: list[Row] = []
    results = HERE / "results" / "baseline.json"
    if results.exists():
        baselines = json.loads(results.read_text())["results"]
        measured = [r for r in baselines if r["model"] != "-"]
        best = max(measured, key=lambda r: float(r["test accuracy"].split()[0]))
        rows.append(
            {
                "model": f"best baseline: {best['features']} + {best['model']} (baseline suite)",
                "seeds": 5,
                **{f"test {m}": best[f"test {m}"] for m in REPORTED},
                "chosen epoch (mean)": "-",
                "stage s (mean)": best["stage s (mean)"],
            }
        )
    for source, accuracy, f1 in PUBLISHED:
        rows.append(
            {
                "model": source,
                "seeds": "-",
                "test accuracy": accuracy,
                "test f1_macro": f1,
                "test mcc": "-",
                "test roc_auc": "-",
                "chosen epoch (mean)": "-",
                "stage s (mean)": "-",
            }
        )
    return rows


def measure_quality(work: Path, timer: Timer) -> list[Row]:
    logging.getLogger("genomeflow").setLevel(logging.WARNING)
    rows: list[Row] = []
    for name in RECIPES:
        rows += _recipe_rows(work, name)
    return rows + _reference_rows()


SUITE_TRANSFORMER_QUALITY = (
    "Transformer (genomicBERT recipe) quality on the E. coli promoters (test split)",
    "Stratified 80/10/10 splits with seeds 1-5, grouped by record id (--group-by id, the DNA "
    "default: similar promoters are not clustered), 6-mer tokens (stride 1), train-only "
    "reverse complements; DistilBERT built from its config (no pretraining), AdamW with linear "
    "warmup/decay, batch 32, early stopping (patience 3) and epoch choice on valid macro F1; "
    "each seed's test split evaluated once. tiny = 2 x 64, small = 4 x 256. CPU only (no GPU "
    "was lent to this session), so small ran 2 seeds of at most 3 epochs. Values are mean ± "
    "sd over the seeds.",
    measure_quality,
)
