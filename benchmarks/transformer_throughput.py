"""Training throughput of one configuration, run as its own process; prints one JSON line.

Usage: python transformer_throughput.py {ours|reference} PRESET STEPS BATCH WORK_DIR

Both train the same DistilBERT on the same windows: random DNA of 100-510 nt under a
character tokeniser (one token per nucleotide, so windows of 102-512 tokens).
- ours: genomeflow's loop: length-bucketed dynamic padding, SDPA attention, bf16 autocast and
  fused AdamW on a GPU (fp32 on CPU), TF32, pinned memory.
- reference: what the reference toolkit ran: the HF Trainer, fp16 on a GPU, eager attention,
  every window padded to 512 tokens.
The first STEPS optimiser steps warm up (kernels, allocator, autotuning) and are not timed; the
next STEPS are.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import numpy as np

LENGTH = 512  # tokens per window, CLS/SEP included
# Dense bf16 tensor-core peak in TFLOP/s, from NVIDIA's datasheets, for MFU.
BF16_PEAK_TFLOPS = {
    "H100 SXM": 989.0,
    "H100 PCIe": 756.0,
    "H100 NVL": 835.0,
    "H200": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10": 125.0,
}


def _windows(work: Path, count: int):
    from genomeflow.config import TokeniseConfig
    from genomeflow.models.windows import encode_windows
    from genomeflow.tokenise import GenomeTokenizer, train_tokeniser

    rng = random.Random(0)
    sequences = [
        "".join(rng.choice("ACGT") for _ in range(rng.randint(100, LENGTH - 2)))
        for _ in range(count)
    ]
    tokeniser = work / "char_tokeniser"
    if not (tokeniser / "tokenizer.json").exists():
        fasta = work / "throughput.fa"
        fasta.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(sequences[:200])))
        train_tokeniser(TokeniseConfig(inputs=[str(fasta)], output=str(tokeniser), method="char"))
    tokenizer = GenomeTokenizer.load(tokeniser)
    return tokenizer, encode_windows(tokenizer, sequences, LENGTH, 0)


def _spec(tokenizer, preset: str):
    from genomeflow.models.transformer import ModelSpec

    hf = tokenizer.hf
    return ModelSpec(
        "distilbert",
        preset,
        tokenizer.vocab_size,
        ("a", "b"),
        LENGTH,
        0.1,
        hf.pad_token_id,
        hf.cls_token_id,
        hf.sep_token_id,
    )


def _peak_tflops(name: str) -> float | None:
    for key, value in BF16_PEAK_TFLOPS.items():
        if all(part in name for part in key.split()):
            return value
    return None


def _flops_per_token(model) -> float:
    """Training FLOPs per token: 6 x non-embedding parameters + attention (PaLM appendix B)."""
    config = model.config
    embedding = sum(p.numel() for n, p in model.named_parameters() if "embeddings" in n)
    dense = sum(p.numel() for p in model.parameters()) - embedding
    return 6 * dense + 12 * config.n_layers * config.dim * LENGTH


def run_ours(model, tokenizer, windows, labels, steps, batch, device) -> float:
    from genomeflow.models.inference import Runtime
    from genomeflow.models.windows import Windows
    from genomeflow.train.loop import Schedule, Split, fit

    runtime = Runtime.resolve(device, "auto")
    count = steps * batch
    train = Windows(windows.input_ids[:count], np.arange(count), count)
    valid = Windows(windows.input_ids[count : count + batch], np.arange(batch), batch)
    schedule = Schedule(
        epochs=2,
        batch_size=batch,
        learning_rate=1e-4,
        weight_decay=0.01,
        warmup_ratio=0.0,
        gradient_clip=1.0,
        patience=0,
        metric="accuracy",
        seed=0,
        max_length=LENGTH,
    )
    result = fit(
        model,
        Split(train, labels[:count]),
        Split(valid, labels[count : count + batch]),
        ["a", "b"],
        schedule,
        runtime,
    )
    return result.history[1]["seconds"]  # epoch 2: warm


def run_reference(model, tokenizer, windows, labels, steps, batch, device) -> float:
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments

    pad = tokenizer.hf.pad_token_id
    rows = []
    for ids, label in zip(windows.input_ids[: 2 * steps * batch], labels, strict=False):
        padded = [*ids.tolist(), *[pad] * (LENGTH - len(ids))]
        rows.append(
            {
                "input_ids": torch.tensor(padded),
                "attention_mask": torch.tensor([1] * len(ids) + [0] * (LENGTH - len(ids))),
                "labels": torch.tensor(int(label)),
            }
        )
    marks: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step in (steps, 2 * steps):
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                marks.append(time.perf_counter())

    arguments = TrainingArguments(
        output_dir=str(Path(sys.argv[5]) / "trainer"),
        per_device_train_batch_size=batch,
        max_steps=2 * steps,
        learning_rate=1e-4,
        fp16=device == "cuda",
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        use_cpu=device == "cpu",
        dataloader_pin_memory=device == "cuda",
    )
    Trainer(model=model, args=arguments, train_dataset=rows, callbacks=[Clock()]).train()
    return marks[1] - marks[0]


def main() -> None:
    import torch

    from genomeflow.models.transformer import build_model, count_parameters

    implementation, preset = sys.argv[1], sys.argv[2]
    steps, batch, work = int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5])
    work.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer, windows = _windows(work, 2 * steps * batch + batch)
    labels = np.random.default_rng(0).integers(0, 2, len(windows.input_ids))
    attention = "sdpa" if implementation == "ours" else "eager"
    model = build_model(_spec(tokenizer, preset), attention=attention, seed=0)
    runner = run_ours if implementation == "ours" else run_reference
    seconds = runner(model, tokenizer, windows, labels, steps, batch, device)
    used = windows.input_ids[: (1 if implementation == "ours" else 2) * steps * batch]
    tokens = steps * batch * float(np.mean([len(ids) for ids in used]))  # real, not padding
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    peak = _peak_tflops(name) if device == "cuda" else None
    flops = _flops_per_token(model) * tokens / seconds
    result = {
        "device": name,
        "sequences_per_s": steps * batch / seconds,
        "tokens_per_s": tokens / seconds,
        "mfu": flops / (peak * 1e12) if peak else None,
        "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None,
        "parameters": count_parameters(model),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
