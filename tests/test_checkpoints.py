"""The ``last/`` checkpoint swap survives a kill at any point: real torch weights on disk."""

from __future__ import annotations

import pytest
import torch

from genomeflow.errors import InputError
from genomeflow.train.checkpoints import (
    LAST,
    STATE,
    foreign,
    has_last,
    load_last,
    recover,
    save_last,
)


def _saved(folder, step: int) -> None:
    torch.manual_seed(step)
    model = torch.nn.Linear(3, 2)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    save_last(
        folder, model, {"optimizer": optimiser.state_dict()}, {"fingerprint": "f", "step": step}
    )


def _loaded(folder) -> tuple[int, torch.Tensor]:
    model = torch.nn.Linear(3, 2)
    state, saved = load_last(folder, "f", model)
    assert "optimizer" in saved
    return state["step"], model.weight.detach().clone()


def _weights(step: int) -> torch.Tensor:
    torch.manual_seed(step)
    return torch.nn.Linear(3, 2).weight.detach().clone()


def test_a_kill_between_the_two_renames_resumes_from_the_old_checkpoint(tmp_path):
    folder = tmp_path / "ckpt"
    _saved(folder, 1)
    _saved(folder, 2)
    # The state a kill leaves after `last -> last.old` and before `last.partial -> last`.
    (folder / LAST).replace(folder / f"{LAST}.old")
    (folder / f"{LAST}.partial").mkdir()
    assert has_last(folder) and not (folder / f"{LAST}.old").exists()
    step, weights = _loaded(folder)
    assert step == 2 and torch.equal(weights, _weights(2))
    _saved(folder, 3)
    assert _loaded(folder)[0] == 3
    assert sorted(p.name for p in folder.iterdir()) == [LAST]


def test_a_kill_after_the_swap_leaves_an_old_folder_the_next_save_clears(tmp_path):
    """The CI failure this module fixes: `last.old` still full when the next epoch swaps."""
    folder = tmp_path / "ckpt"
    _saved(folder, 1)
    _saved(folder, 2)
    old = folder / f"{LAST}.old"
    old.mkdir()
    (old / STATE).write_text('{"fingerprint": "f", "step": 1}\n')
    _saved(folder, 3)
    assert _loaded(folder)[0] == 3 and not old.exists()


def test_other_settings_and_foreign_files_are_named(tmp_path):
    folder = tmp_path / "ckpt"
    assert not has_last(folder) and foreign(folder) == []
    _saved(folder, 1)
    with pytest.raises(InputError, match="other settings"):
        load_last(folder, "another", torch.nn.Linear(3, 2))
    (folder / "notes.txt").write_text("mine\n")
    assert foreign(folder) == ["notes.txt"]
    assert recover(folder) == folder / LAST
