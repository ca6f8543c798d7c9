"""Running a trained transformer or CNN on windows: the device and precision it computes in,
class probabilities per window, and per sequence (windows aggregated, both strands averaged).
Shared by training (validation), predict, interpret and the registered pyfunc model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from genomeflow.errors import ConfigError
from genomeflow.models.batching import Collator, WindowData, inference_batches, loader
from genomeflow.models.transformer import model_inputs
from genomeflow.models.windows import Windows, aggregate


@dataclass(frozen=True)
class Runtime:
    """Where and how the model computes.

    Attributes:
        device: ``cpu`` or ``cuda``.
        precision: ``fp32``, ``bf16`` or ``fp16`` (autocast; fp16 adds loss scaling).
        compile: run the forward pass through ``torch.compile``.
        workers: data-loader worker processes.
    """

    device: str
    precision: str
    compile: bool = False
    workers: int = 0

    @classmethod
    def resolve(
        cls, device: str, precision: str, compile: bool = False, workers: int = 0
    ) -> Runtime:
        """Pick ``auto`` choices for this machine and switch on TF32 matmuls on a GPU."""
        import torch

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA GPU is visible; use --device cpu or auto")
        if precision == "auto":
            bf16 = device == "cuda" and torch.cuda.is_bf16_supported()
            precision = "bf16" if bf16 else "fp32"
        if device == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True  # fp32 matmuls on tensor cores
            torch.backends.cudnn.allow_tf32 = True
        return cls(device, precision, compile, workers)

    def autocast(self) -> Any:
        import torch

        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        return torch.autocast(self.device, dtype=dtype, enabled=dtype is not None)


def predict_windows(
    model: Any,
    windows: Windows,
    batch_size: int,
    runtime: Runtime,
    max_tokens: int | None = None,
) -> np.ndarray:
    """Class probabilities of every window, shape (windows, classes), in window order; a
    forward pass takes at most ``batch_size`` windows and ``max_tokens`` padded tokens."""
    import torch

    pad_id = model.config.pad_token_id
    collate = Collator(pad_id, _max_positions(model))
    data = WindowData(windows.input_ids, np.zeros(len(windows.input_ids), dtype=np.int64))
    batches = inference_batches(windows.lengths, batch_size, max_tokens)
    out = np.zeros((len(windows.input_ids), model.config.num_labels), dtype=np.float64)
    model.eval()
    with torch.inference_mode():
        for indices, batch in zip(
            batches, loader(data, batches, collate, 0, runtime.device == "cuda"), strict=True
        ):
            batch = {k: v.to(runtime.device, non_blocking=True) for k, v in batch.items()}
            with runtime.autocast():
                logits = model(**model_inputs(model, batch)).logits
            out[indices] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    return out


def _max_positions(model: Any) -> int:
    """Longest window the model takes (Longformer reserves pad_id + 1 position slots)."""
    config = model.config
    if config.model_type == "longformer":
        return config.max_position_embeddings - config.pad_token_id - 1
    return config.max_position_embeddings


def sequence_probabilities(
    model: Any,
    windows: Windows,
    batch_size: int,
    runtime: Runtime,
    how: str = "mean",
    reverse: Windows | None = None,
    max_tokens: int | None = None,
) -> np.ndarray:
    """Per-sequence probabilities: window probabilities aggregated ``how``; with ``reverse``
    (the other strand's windows), the mean of both strands' aggregated probabilities."""

    def scored(side: Windows) -> np.ndarray:
        probabilities = predict_windows(model, side, batch_size, runtime, max_tokens)
        return aggregate(probabilities, side, how)

    rows = scored(windows)
    if reverse is not None:
        other = scored(reverse)
        rows = (rows + other) / 2
    return rows
