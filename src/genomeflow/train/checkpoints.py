"""The ``last/`` checkpoint folder shared by ``train``, ``crossval`` and ``pretrain``.

A checkpoint is written whole beside the old one, then swapped in by two renames. A run killed
between the renames leaves ``last.old`` and no ``last``; :func:`recover` finishes that swap, so
resume finds the newest whole checkpoint after a kill at any point.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from genomeflow.errors import InputError

LAST = "last"  # checkpoint folder of the newest whole epoch (or pretraining interval)
STATE = "trainer.json"  # the loop's own state inside it: history, best so far, fingerprint
WEIGHTS, TORCH_STATE = "model.safetensors", "state.pt"
BEST = "best.safetensors"  # the best epoch's weights, beside last/ (train and crossval)
# Everything checkpointing writes, whole or mid-write: a folder holding anything else is not ours.
WRITTEN = {LAST, f"{LAST}.partial", f"{LAST}.old", BEST, f"{BEST}.partial"}


def recover(folder: Path) -> Path:
    """Finish a swap that a killed run left half-done; returns ``folder/last``."""
    last, old = folder / LAST, folder / f"{LAST}.old"
    if old.is_dir():
        if (last / STATE).is_file():
            shutil.rmtree(old)  # killed after the new one was in place
        elif (old / STATE).is_file():
            shutil.rmtree(last, ignore_errors=True)
            old.replace(last)  # killed between the two renames: the old one is the newest whole
    return last


def foreign(folder: Path) -> list[str]:
    """Names in ``folder`` that checkpointing did not write (none when there is no folder)."""
    return (
        sorted(p.name for p in folder.iterdir() if p.name not in WRITTEN) if folder.is_dir() else []
    )


def has_last(folder: Path | None) -> bool:
    """Whether ``folder`` holds a whole checkpoint to resume from (after :func:`recover`)."""
    return folder is not None and (recover(folder) / STATE).is_file()


def save_last(folder: Path, model: Any, tensors: dict[str, Any], state: dict) -> None:
    """Write weights, optimiser-like ``tensors`` with the RNG states, and ``state`` as ``last/``."""
    import torch
    from safetensors.torch import save_model

    folder.mkdir(parents=True, exist_ok=True)
    fresh, old, last = folder / f"{LAST}.partial", folder / f"{LAST}.old", recover(folder)
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir()
    save_model(model, str(fresh / WEIGHTS))
    rng_cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    torch.save(
        {**tensors, "rng_cpu": torch.get_rng_state(), "rng_cuda": rng_cuda}, fresh / TORCH_STATE
    )
    (fresh / STATE).write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
    if last.exists():
        last.replace(old)
    fresh.replace(last)
    shutil.rmtree(old, ignore_errors=True)


def load_last(folder: Path, fingerprint: str, model: Any, hint: str = "") -> tuple[dict, dict]:
    """Load ``last/`` into ``model`` and restore the RNGs; returns (state, saved tensors).

    Raises:
        InputError: it was written by a run with other settings or data.
    """
    import torch
    from safetensors.torch import load_model

    last = recover(folder)
    state = json.loads((last / STATE).read_text(encoding="utf-8"))
    if state.get("fingerprint") != fingerprint:
        raise InputError(
            f"{last}: these checkpoints come from a run with other settings or data; resume "
            f"with the same settings{hint}, or give a new --checkpoints folder"
        )
    load_model(model, str(last / WEIGHTS), device=str(next(model.parameters()).device))
    saved = torch.load(last / TORCH_STATE, weights_only=True)
    torch.set_rng_state(saved["rng_cpu"])
    if saved["rng_cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved["rng_cuda"])
    return state, saved
