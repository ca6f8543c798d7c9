"""Batches of token windows: length-bucketed with dynamic padding, or padded to a fixed length.

Dynamic padding pads a batch to its own longest window; bucketing first sorts windows of
similar length together so little padding is left (the reference padded every window to the
maximum length). Order is drawn from a seeded generator per epoch, so a resumed run sees the
same batches as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BUCKET_BATCHES = 50  # batches per sorting pool: enough to bucket, small enough to stay random


def training_batches(
    lengths: np.ndarray, batch_size: int, seed: int, epoch: int, bucket: bool = True
) -> list[np.ndarray]:
    """Shuffled batches of window indices for one epoch.

    With ``bucket``, windows are shuffled, cut into pools of ``BUCKET_BATCHES`` batches, each
    pool sorted by length and cut into batches, and the batches shuffled again.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    if bucket:
        pool = batch_size * BUCKET_BATCHES
        order = np.concatenate(
            [
                chunk[np.argsort(lengths[chunk], kind="stable")]
                for chunk in np.split(order, range(pool, len(order), pool))
            ]
        )
    batches = np.split(order, range(batch_size, len(order), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def inference_batches(
    lengths: np.ndarray, batch_size: int, max_tokens: int | None = None
) -> list[np.ndarray]:
    """Batches of windows sorted by length (least padding); callers restore the order.

    Each batch holds at most ``batch_size`` windows and, with ``max_tokens``, at most that many
    tokens once padded to its longest window (a longer window goes alone): short windows then
    share a forward pass by the hundred, long ones by the few, at the same memory.
    """
    order = np.argsort(lengths, kind="stable")
    if max_tokens is None:
        return np.split(order, range(batch_size, len(order), batch_size))
    cuts, start = [], 0
    for position, width in enumerate(lengths[order].tolist()):
        held = position - start + 1  # windows in the batch with this one, all <= width long
        if position > start and (held * width > max_tokens or held > batch_size):
            cuts.append(position)
            start = position
    return np.split(order, cuts)


class Collator:
    """Pads a batch of id lists into tensors (``input_ids``, ``attention_mask``, ``labels``).

    Args:
        pad_id: the tokeniser's pad id.
        max_length: the model's window length in tokens.
        fixed: pad every batch to ``max_length`` (the reference's way); otherwise to the
            batch's longest window rounded up to a multiple of 8 (tensor-core friendly).
    """

    def __init__(self, pad_id: int, max_length: int, fixed: bool = False) -> None:
        self.pad_id, self.max_length, self.fixed = pad_id, max_length, fixed

    def __call__(self, rows: list[tuple[Any, int]]) -> dict[str, Any]:
        import torch

        longest = max(len(ids) for ids, _ in rows)
        width = self.max_length if self.fixed else min(-(-longest // 8) * 8, self.max_length)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (row, _) in enumerate(rows):
            ids[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
        labels = torch.as_tensor([label for _, label in rows], dtype=torch.long)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


class WindowData:
    """A map-style dataset over windows and their labels, for ``torch.utils.data.DataLoader``."""

    def __init__(self, input_ids: list[Any], labels: np.ndarray) -> None:
        self.input_ids, self.labels = input_ids, labels

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        return self.input_ids[index], int(self.labels[index])


def loader(
    data: WindowData, batches: list[np.ndarray], collate: Collator, workers: int, pin: bool
) -> Any:
    """A DataLoader yielding the given batches in order (pinned memory for GPU copies)."""
    from torch.utils.data import DataLoader

    return DataLoader(
        data,
        batch_sampler=[b.tolist() for b in batches],
        collate_fn=collate,
        num_workers=workers,
        pin_memory=pin,
    )
