"""The training loop: AdamW with linear warmup/decay, mixed precision, early stopping on the
validation split, and per-epoch checkpoints that a killed run resumes from exactly.

GPU paths (bf16/fp16 autocast, fused AdamW, TF32, pinned memory, torch.compile) switch on by
device; the same code runs on CPU in fp32.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from genomeflow.evaluate import Evaluation, evaluate_predictions
from genomeflow.metric_names import HIGHER_IS_BETTER
from genomeflow.models.batching import Collator, WindowData, loader, training_batches
from genomeflow.models.inference import Runtime, sequence_probabilities
from genomeflow.models.transformer import model_inputs
from genomeflow.models.windows import Windows
from genomeflow.train.checkpoints import BEST, LAST, has_last, load_last, save_last
from genomeflow.train.distributed import Processes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Schedule:
    """Optimisation settings of one training run (a subset of the stage config)."""

    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    warmup_ratio: float
    gradient_clip: float
    patience: int
    metric: str
    seed: int
    max_length: int
    padding: str = "dynamic"
    aggregate: str = "mean"


@dataclass(frozen=True)
class Split:
    """A split's windows and its per-sequence labels (class indices); ``reverse``: the reverse
    strand's windows (a CNN's strand averaging), whose probabilities evaluation averages in."""

    windows: Windows
    labels: np.ndarray
    reverse: Windows | None = None


@dataclass
class FitResult:
    """What :func:`fit` did: per-epoch records, the best epoch and whether it stopped early."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_value: float | None = None
    stopped_early: bool = False
    best_evaluation: Evaluation | None = None


EpochHook = Callable[[int, dict[str, float], Evaluation], None]


def epoch_metrics(record: dict[str, float]) -> dict[str, float]:
    """An epoch's record as MLflow metrics: ``epoch/<name>`` (the final scores keep the plain
    names), None values left out."""
    return {f"epoch/{k}": v for k, v in record.items() if v is not None and k != "epoch"}


def evaluate_split(
    model: Any, split: Split, label_names: list[str], schedule: Schedule, runtime: Runtime
) -> Evaluation:
    """Predict a split's windows (both strands when it has ``reverse``), aggregate them per
    sequence and score the sequences."""
    rows = sequence_probabilities(
        model, split.windows, schedule.batch_size * 2, runtime, schedule.aggregate, split.reverse
    )
    return evaluate_predictions(split.labels, rows, label_names)


def fit(
    model: Any,
    train: Split,
    valid: Split,
    label_names: list[str],
    schedule: Schedule,
    runtime: Runtime,
    checkpoints: Path | None = None,
    resume: bool = False,
    on_epoch: EpochHook | None = None,
    processes: Processes | None = None,
) -> FitResult:
    """Train ``model`` on ``train``, choosing the epoch by ``schedule.metric`` on ``valid``.

    After each epoch the model is scored on ``valid`` (per sequence, windows aggregated),
    ``on_epoch(epoch, record, evaluation)`` is called (it may raise to stop, e.g. a pruned
    sweep trial) and, with ``checkpoints``, the full state is saved there. Training stops
    after ``patience`` epochs without improvement. On return the model holds the best
    epoch's weights.

    Args:
        model: a transformers sequence classifier, on the CPU.
        checkpoints: folder of the per-epoch state (``last/``) and the best weights.
        resume: continue from ``checkpoints/last`` when it is there (same settings only).
        processes: this process's place among several training processes (DDP); each takes
            its share of every global batch; rank 0 alone scores valid, decides when to stop,
            calls ``on_epoch`` and writes checkpoints. On return only rank 0's model holds the
            best epoch's weights.

    Raises:
        InputError: ``resume`` finds checkpoints written with other settings or data.
    """
    import torch
    import torch.nn.functional as F
    from safetensors.torch import load_model
    from transformers import get_linear_schedule_with_warmup

    processes = processes or Processes()
    model.to(runtime.device)
    network = processes.wrap(model, runtime.device)  # DDP averages the gradients of the ranks
    forward = torch.compile(network) if runtime.compile else network
    cuda = runtime.device == "cuda"
    optimizer = torch.optim.AdamW(
        _parameter_groups(model, schedule.weight_decay),
        lr=schedule.learning_rate,
        fused=cuda or None,  # one kernel for all parameters on a GPU
    )
    steps_per_epoch = math.ceil(len(train.windows.input_ids) / schedule.batch_size)
    total = steps_per_epoch * schedule.epochs
    scheduler = get_linear_schedule_with_warmup(
        optimizer, round(schedule.warmup_ratio * total), total
    )
    scaler = torch.amp.GradScaler(runtime.device, enabled=runtime.precision == "fp16")
    fingerprint = _fingerprint(model, schedule, train)
    result, start = FitResult(), 1
    if resume and has_last(checkpoints):
        result, start = _restore(checkpoints, fingerprint, model, optimizer, scheduler, scaler)
        log.info("resuming from %s after epoch %d", checkpoints / LAST, start - 1)
    elif resume:
        log.warning(
            "--resume: no checkpoint in %s to resume from; training from epoch 1",
            checkpoints / LAST if checkpoints is not None else "(no --checkpoints folder)",
        )
    data = WindowData(train.windows.input_ids, train.windows.window_labels(train.labels))
    collate = Collator(
        model.config.pad_token_id, schedule.max_length, schedule.padding != "dynamic"
    )
    higher = HIGHER_IS_BETTER[schedule.metric]
    bad_epochs = _bad_epochs(result)
    best_state: dict[str, Any] | None = None  # best weights in memory when not checkpointing
    for epoch in range(start, schedule.epochs + 1):
        if processes.decide(bool(schedule.patience and bad_epochs >= schedule.patience)):
            result.stopped_early = True
            break
        began = time.perf_counter()
        batches = training_batches(
            train.windows.lengths,
            schedule.batch_size,
            schedule.seed,
            epoch,
            bucket=schedule.padding == "dynamic",
        )
        batches = processes.shard(batches)
        model.train()
        losses, tokens = [], 0
        progress = tqdm(
            loader(data, batches, collate, runtime.workers, cuda),
            total=len(batches),
            desc=f"epoch {epoch}/{schedule.epochs}",
            unit="batch",
            leave=False,
            disable=None,
        )
        for batch in progress:
            batch = {k: v.to(runtime.device, non_blocking=True) for k, v in batch.items()}
            with runtime.autocast():
                logits = forward(**model_inputs(model, batch)).logits
            loss = F.cross_entropy(logits.float(), batch["labels"])
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if schedule.gradient_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), schedule.gradient_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            losses.append(loss.detach())
            tokens += int(batch["attention_mask"].sum())
            if len(losses) % 20 == 0:
                progress.set_postfix(loss=f"{float(losses[-1]):.4f}", refresh=False)
        seconds = time.perf_counter() - began
        train_loss = processes.mean(float(torch.stack(losses).mean()))
        tokens = processes.total(tokens)
        if not processes.main:
            continue  # rank 0 scores valid, decides, writes and reports
        evaluation = evaluate_split(model, valid, label_names, schedule, runtime)
        value = evaluation.metrics[schedule.metric]
        record = {
            "epoch": epoch,
            "train_loss": train_loss,
            "valid_loss": evaluation.metrics["log_loss"],
            f"valid_{schedule.metric}": value,
            "learning_rate": scheduler.get_last_lr()[0],
            "seconds": seconds,
            "windows_per_second": len(data) / seconds,
            "tokens_per_second": tokens / seconds,
        }
        improved = _better(value, evaluation, result, higher)
        if improved:
            result.best_epoch, result.best_value, result.best_evaluation = epoch, value, evaluation
            bad_epochs = 0
        else:
            bad_epochs += 1
        record["best_epoch"] = result.best_epoch
        result.history.append(record)
        if checkpoints is not None:
            _checkpoint(
                checkpoints, fingerprint, model, optimizer, scheduler, scaler, result, improved
            )
        elif improved:
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if on_epoch is not None:
            on_epoch(epoch, record, evaluation)
    if not processes.main:
        return result
    if checkpoints is not None and (checkpoints / BEST).is_file():
        load_model(model, checkpoints / BEST, device=runtime.device)
    elif best_state is not None:
        model.load_state_dict(best_state)
    return result


def _better(value: float | None, evaluation: Evaluation, result: FitResult, higher: bool) -> bool:
    """Is this epoch better than the best so far? Ties go to the lower validation loss."""
    if value is None:
        return False
    if result.best_value is None or result.best_evaluation is None:
        return True
    if value == result.best_value:
        loss, best_loss = evaluation.metrics["log_loss"], result.best_evaluation.metrics["log_loss"]
        return loss is not None and best_loss is not None and loss < best_loss
    return value > result.best_value if higher else value < result.best_value


def _parameter_groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices only: biases and norm scales are left undecayed."""
    decayed = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    plain = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    return [
        {"params": decayed, "weight_decay": weight_decay},
        {"params": plain, "weight_decay": 0.0},
    ]


def _bad_epochs(result: FitResult) -> int:
    """Epochs since the best one (after a resume)."""
    return len(result.history) - result.best_epoch if result.history else 0


def _fingerprint(model: Any, schedule: Schedule, train: Split) -> str:
    """What a checkpoint must match to be resumed: settings, model config, training data."""
    digest = hashlib.sha256()
    digest.update(json.dumps(asdict(schedule), sort_keys=True).encode())
    digest.update(model.config.to_json_string(use_diff=True).encode())
    digest.update(np.asarray(train.labels).tobytes())
    for ids in train.windows.input_ids[:: max(1, len(train.windows.input_ids) // 1000)]:
        digest.update(np.asarray(ids, dtype=np.int64).tobytes())
    return digest.hexdigest()


def _checkpoint(folder, fingerprint, model, optimizer, scheduler, scaler, result, improved) -> None:
    """Save everything an exact resume needs; ``best`` weights too when this epoch improved."""
    from safetensors.torch import save_model

    state = {
        "fingerprint": fingerprint,
        "history": result.history,
        "best_epoch": result.best_epoch,
        "best_value": result.best_value,
        "best_evaluation": result.best_evaluation.to_dict() if result.best_evaluation else None,
    }
    if improved:
        folder.mkdir(parents=True, exist_ok=True)
        save_model(model, str(folder / f"{BEST}.partial"))
        (folder / f"{BEST}.partial").replace(folder / BEST)
    tensors = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}
    save_last(folder, model, {**tensors, "scaler": scaler.state_dict()}, state)


def _restore(folder, fingerprint, model, optimizer, scheduler, scaler) -> tuple[FitResult, int]:
    """Load the last checkpoint into the model and optimiser; returns the state and next epoch."""
    state, saved = load_last(folder, fingerprint, model)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    scaler.load_state_dict(saved["scaler"])
    best = state["best_evaluation"]
    result = FitResult(
        history=state["history"],
        best_epoch=state["best_epoch"],
        best_value=state["best_value"],
        best_evaluation=Evaluation.from_dict(best) if best else None,
    )
    return result, len(result.history) + 1
