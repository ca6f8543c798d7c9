"""Transformer training throughput: genomeflow's loop against a reference-equivalent HF Trainer
set-up, each in its own process (peak RSS), in the same run on the same machine."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from suite_tokenise import Row, Timer, run_child

HERE = Path(__file__).resolve().parent
# (preset, timed steps, batch): base on a GPU as the issue asks; tiny where only CPUs are.
GPU_CASE, CPU_CASE = ("base", 50, 32), ("tiny", 20, 16)


def _case() -> tuple[str, int, int]:
    import torch

    return GPU_CASE if torch.cuda.is_available() else CPU_CASE


def measure_speed(work: Path, timer: Timer) -> list[Row]:
    preset, steps, batch = _case()
    rows: list[Row] = []
    for implementation in ("reference", "ours"):
        log = work / f"throughput_{implementation}.log"
        command = [
            sys.executable,
            str(HERE / "transformer_throughput.py"),
            implementation,
            preset,
            str(steps),
            str(batch),
            str(work / "throughput"),
        ]
        child = run_child(command, log, limit_s=1800)
        if child.returncode != 0:
            raise RuntimeError(f"{implementation} failed: see {log}")
        result = json.loads(log.read_text().strip().splitlines()[-1])
        rows.append(
            {
                "configuration": {
                    "reference": "reference-equivalent: HF Trainer, eager attention, pad to 512"
                    + (", fp16" if result["device"] != "cpu" else ", fp32"),
                    "ours": "genomeflow: bucketed dynamic padding, SDPA"
                    + (", bf16, fused AdamW, TF32" if result["device"] != "cpu" else ", fp32"),
                }[implementation],
                "device": result["device"],
                "model": f"distilbert-{preset} ({result['parameters'] / 1e6:.1f}M)",
                "sequences/s": round(result["sequences_per_s"], 1),
                "tokens/s": round(result["tokens_per_s"]),
                "MFU": "-" if result["mfu"] is None else f"{100 * result['mfu']:.1f}%",
                "peak GPU MiB": "-"
                if result["peak_gpu_mib"] is None
                else round(result["peak_gpu_mib"]),
                "peak RSS MiB": round(child.peak_mib),
            }
        )
    base = rows[0]["sequences/s"]
    for row in rows:
        row["speed-up"] = f"{row['sequences/s'] / base:.2f}x"
    return rows


SUITE_TRANSFORMER_SPEED = (
    "Transformer training throughput (DistilBERT, 512-token context)",
    "Random DNA of 100-510 nt, one token per nucleotide (windows of 102-512 tokens), batch as "
    "listed in the code (GPU: base, 50 timed steps of 32; CPU: tiny, 20 timed steps of 16) "
    "after as many warm-up steps. tokens/s counts real tokens, not padding. MFU = (6 x "
    "non-embedding parameters + 12 x layers x width x 512) x tokens/s over the device's dense "
    "bf16 peak (NVIDIA datasheets); not given on CPU.",
    measure_speed,
)
