"""Masked-language-model pieces of ``pretrain``: a streamed, shuffled corpus of token windows,
seeded masking, one optimiser step, running metrics and resumable state."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genomeflow.models.batching import Collator
from genomeflow.models.inference import Runtime
from genomeflow.models.transformer import model_inputs
from genomeflow.models.windows import encode_windows
from genomeflow.tokenise.corpus import cut
from genomeflow.tokenise.tokenizer import GenomeTokenizer
from genomeflow.train.checkpoints import load_last, save_last

SEGMENT = 20_000  # residues tokenised at a time, so chromosome-sized records stay cheap
ENCODE_BATCH = 64  # segments per tokeniser call


class WindowStream(torch.utils.data.IterableDataset):
    """Token windows (CLS ... SEP) of a corpus, tokenised on the fly and shuffled in a seeded
    buffer of ``buffer`` windows, so memory does not grow with the corpus. ``epoch`` picks the
    order; ``skip`` passes that many windows over (a resumed epoch).

    Args:
        sequences: returns a fresh iterator over the corpus's sequences on every call.
        tokenizer: the tokeniser; its CLS/SEP ids frame every window.
        max_length: tokens per window, CLS/SEP included; records give consecutive windows.
        buffer: windows held by the shuffle buffer.
        seed: the shuffle's seed (with the epoch).
    """

    def __init__(
        self,
        sequences: Callable[[], Iterable[str]],
        tokenizer: GenomeTokenizer,
        max_length: int,
        buffer: int,
        seed: int,
    ) -> None:
        self.sequences, self.tokenizer, self.max_length = sequences, tokenizer, max_length
        self.buffer, self.seed, self.epoch, self.skip = buffer, seed, 0, 0

    def windows(self, counts: dict[str, int] | None = None) -> Iterator[np.ndarray]:
        """Every window in corpus order (``counts`` gets records and residues added)."""
        pending: list[str] = []
        for sequence in itertools.chain(self.sequences(), [None]):
            if sequence is not None:
                if counts is not None:
                    counts["records"] += 1
                    counts["residues"] += len(sequence)
                pending.extend(cut(sequence, SEGMENT))
            if pending and (sequence is None or len(pending) >= ENCODE_BATCH):
                content = self.max_length - 2  # consecutive windows, not overlapping halves
                encoded = encode_windows(self.tokenizer, pending, self.max_length, content)
                yield from encoded.input_ids
                pending = []

    def count(self) -> dict[str, int]:
        """Records, residues, windows and tokens of one pass (which validates every record)."""
        counts = dict.fromkeys(("records", "residues", "windows", "tokens"), 0)
        for ids in self.windows(counts):
            counts["windows"] += 1
            counts["tokens"] += len(ids)
        return counts

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        rng, held = random.Random(self.seed * 1_000_003 + self.epoch), []
        order = itertools.chain(self._swapped(rng, held), iter(held))
        for ids in itertools.islice(order, self.skip, None):
            yield ids, 0  # (window, label) as the Collator takes them

    def _swapped(self, rng: random.Random, held: list[np.ndarray]) -> Iterator[np.ndarray]:
        for ids in self.windows():
            if len(held) < self.buffer:
                held.append(ids)
                continue
            slot = rng.randrange(self.buffer)
            yield held[slot]
            held[slot] = ids
        rng.shuffle(held)  # what is left, in a seeded order


def batches(stream: WindowStream, collate: Collator, size: int, start: int, per_epoch: int):
    """Padded batches from step ``start`` on, epoch after epoch. Each loader draws its seed from
    a generator of its own, not torch's global one, which drives dropout: a resumed run's
    dropout follows an uninterrupted run's."""
    epoch, done = divmod(start, per_epoch)
    while True:
        stream.epoch, stream.skip = epoch, done * size
        yield from torch.utils.data.DataLoader(
            stream, batch_size=size, collate_fn=collate, generator=torch.Generator()
        )
        epoch, done = epoch + 1, 0


def mask_tokens(
    masker: Any, ids: torch.Tensor, special: torch.Tensor, seed: int, step: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, labels)`` of a batch masked by ``masker`` (transformers'
    DataCollatorForLanguageModeling) with a generator seeded by ``seed`` and ``step``: a step
    masks the same positions however the run got there. Special tokens (CLS, SEP, pad) are
    never masked; labels are -100 except at masked positions."""
    masker.generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
    return masker.torch_mask_tokens(ids.clone(), special_tokens_mask=torch.isin(ids, special))


def learning_rate_factor(step: int, warmup: int, total: int) -> float:
    """Linear warmup over ``warmup`` steps, then linear decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def masked_step(
    model: Any,
    batch: dict[str, torch.Tensor],
    labels: torch.Tensor,
    optimizer: Any,
    scaler: Any,
    runtime: Runtime,
    gradient_clip: float,
    network: Any = None,
) -> tuple[float, int, int]:
    """One optimiser step on masked tokens; returns their mean loss, count and correct ones.

    ``network`` runs the forward pass when it is not ``model`` itself (DistributedDataParallel
    around it, which averages the processes' gradients)."""
    import torch.nn.functional as F

    feed = {name: batch[name].to(runtime.device) for name in ("input_ids", "attention_mask")}
    labels = labels.to(runtime.device)
    with runtime.autocast():
        logits = (network or model)(**model_inputs(model, feed)).logits
    chosen = labels != -100
    picked, truth = logits[chosen].float(), labels[chosen]
    loss = F.cross_entropy(picked, truth) if truth.numel() else logits.sum() * 0.0
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if gradient_clip:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), gradient_clip)
    scaler.step(optimizer)
    scaler.update()
    correct = int((picked.detach().argmax(-1) == truth).sum())
    return float(loss.detach()), int(truth.numel()), correct


class Meter:
    """Masked-token loss, accuracy and perplexity summed over steps (its ``state`` is JSON)."""

    def __init__(self, state: dict[str, float] | None = None) -> None:
        self.state = dict(state or dict.fromkeys(("loss", "masked", "correct", "steps"), 0.0))

    def add(self, loss: float, masked: int, correct: int) -> None:
        self.state["loss"] += loss * masked
        self.state["masked"] += masked
        self.state["correct"] += correct
        self.state["steps"] += 1

    def values(self) -> dict[str, float]:
        masked = max(self.state["masked"], 1.0)
        loss = self.state["loss"] / masked
        return {
            "loss": loss,
            "masked_accuracy": self.state["correct"] / masked,
            "perplexity": math.exp(min(loss, 50.0)),
        }


def save_state(folder: Path, model: Any, optimizer: Any, scaler: Any, state: dict) -> None:
    """Everything an exact resume needs in ``folder/last``, replaced only once whole."""
    save_last(
        folder, model, {"optimizer": optimizer.state_dict(), "scaler": scaler.state_dict()}, state
    )


def load_state(folder: Path, fingerprint: str, model: Any, optimizer: Any, scaler: Any) -> dict:
    """Load ``folder/last`` into model and optimiser; returns the state saved with it.

    Raises:
        InputError: it was written by a run with other settings or data.
    """
    state, saved = load_last(folder, fingerprint, model, " (only --steps/--epochs may change)")
    optimizer.load_state_dict(saved["optimizer"])
    scaler.load_state_dict(saved["scaler"])
    return state
