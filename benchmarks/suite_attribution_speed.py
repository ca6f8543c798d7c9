"""Attribution throughput: batched Integrated Gradients against one sequence at a time, with the
same steps, on the quality suite's tiny E. coli model (trained by `transformer_quality`)."""

from __future__ import annotations

from pathlib import Path

from genomeflow.data import load_dataset
from genomeflow.interpret.attributions import Attributor
from genomeflow.models.loading import load_classifier
from suite_baseline import _dataset
from suite_tokenise import Row, Timer

SEQUENCES, STEPS = 64, 50
CASES = {  # name -> (windows per attribution call, interpolated rows per forward pass)
    "one sequence at a time": (1, STEPS),
    "batched (16 sequences per call)": (16, 16 * STEPS),
}


def measure_interpret(work: Path, timer: Timer) -> list[Row]:
    import torch

    model = work / "transformer_models" / "tiny_seed1"
    if not (model / "transformer.json").exists():
        raise RuntimeError(f"{model} is missing: run `benchmarks/run.py transformer_quality` first")
    classifier = load_classifier(model)
    test = load_dataset(_dataset(work, "6-mer", 1)).splits["test"].head(SEQUENCES)
    ids, sequences = test["id"].tolist(), test["sequence"].tolist()
    rows: list[Row] = []
    for name, (batch, internal) in CASES.items():
        attributor = Attributor(
            classifier, steps=STEPS, batch_size=batch, internal_batch_size=internal
        )
        attributor.attribute(ids[:4], sequences[:4])  # warm-up
        seconds = timer(lambda a=attributor: a.attribute(ids, sequences), 2)
        rows.append(
            {
                "method": name,
                "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
                "sequences": SEQUENCES,
                "steps": STEPS,
                "attributions/s": round(SEQUENCES / seconds, 2),
                "seconds": round(seconds, 2),
            }
        )
    base = rows[0]["attributions/s"]
    for row in rows:
        row["speed-up"] = f"{row['attributions/s'] / base:.2f}x"
    return rows


SUITE_ATTRIBUTION_SPEED = (
    "Integrated Gradients throughput (attributions per second)",
    f"{SEQUENCES} E. coli test sequences (81 bp, 76 six-mer tokens) attributed to their "
    f"predicted class with {STEPS} steps by the tiny DistilBERT of the quality suite (seed 1); "
    "best of 2. 'One at a time' runs one sequence per call with its 50 interpolations in one "
    "forward pass; 'batched' runs 16 sequences per call, 800 interpolated rows per forward pass.",
    measure_interpret,
)
