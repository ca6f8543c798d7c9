"""An ensemble candidate: the mean of several saved classifiers' class probabilities.

The folder holds ``ensemble.json`` and a copy of each member's folder under ``members/``, so it
is self-contained: it is registered, served and moved like any other genomeflow model folder.
Members must share classes (in order) and alphabet; they may be of any kind (baseline, CNN,
transformer).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genomeflow import __version__
from genomeflow.errors import InputError
from genomeflow.storage import read_manifest, write_json

MANIFEST = "ensemble.json"
MEMBERS = "members"


class EnsembleClassifier:
    """The unweighted mean of member probabilities.

    Args:
        members: loaded classifiers (``label_names``, ``alphabet``, ``predict_proba``).
        manifest: the ensemble's manifest (``ensemble.json``).
    """

    def __init__(self, members: Sequence[Any], manifest: dict[str, Any]) -> None:
        if not members:
            raise InputError("an ensemble needs at least one member model")
        self.members = list(members)
        self.manifest = manifest
        self.label_names: list[str] = list(members[0].label_names)
        self.alphabet = members[0].alphabet
        for member in members[1:]:
            check_compatible(members[0], member)

    def predict_proba(self, sequences: Sequence[str]) -> np.ndarray:
        """Probabilities, shape (len(sequences), classes): the members' mean."""
        sequences = list(sequences)
        total = np.zeros((len(sequences), len(self.label_names)))
        for member in self.members:
            total += np.asarray(member.predict_proba(sequences), dtype=float)
        return total / len(self.members)


def check_compatible(first: Any, other: Any) -> None:
    """Models that can stand side by side: the same classes in the same order, one alphabet.

    Raises:
        InputError: naming both models' classes or alphabets.
    """
    if list(other.label_names) != list(first.label_names):
        raise InputError(
            f"models with different classes cannot be compared: {list(first.label_names)} vs "
            f"{list(other.label_names)}; train every candidate on one dataset"
        )
    if other.alphabet != first.alphabet:
        raise InputError(
            f"models of different alphabets cannot be compared: {first.alphabet.value} vs "
            f"{other.alphabet.value}; train every candidate on one dataset"
        )


def member_folders(folder: str | Path) -> list[Path]:
    """The member folders of a saved ensemble, in manifest order."""
    folder = Path(folder)
    manifest = read_manifest(
        folder, MANIFEST, "genomeflow ensemble", "build it with `genomeflow register`"
    )
    return [folder / MEMBERS / name for name in manifest["members"]]


def write_ensemble(
    output: Path,
    members: Sequence[tuple[str, Path]],
    label_names: Sequence[str],
    alphabet: str,
    scores: dict[str, float],
    metric: str,
) -> dict[str, Any]:
    """Write an ensemble folder at ``output`` (a fresh folder the caller publishes).

    Args:
        output: the folder to fill (created).
        members: ``(name, model folder)`` of each member; names become folder names.
        label_names: the shared classes.
        alphabet: the shared alphabet's value (``dna``...).
        scores: each member's validation score, by name (recorded for provenance).
        metric: the metric of ``scores``.

    Returns:
        The manifest written as ``ensemble.json``.
    """
    output.mkdir(parents=True, exist_ok=True)
    names = []
    for index, (name, folder) in enumerate(members):
        names.append(f"{index}-{_safe(name)}")
        shutil.copytree(folder, output / MEMBERS / names[-1])
    manifest = {
        "stage": "register",
        "kind": "ensemble",
        "genomeflow_version": __version__,
        "members": names,
        "member_names": [name for name, _ in members],
        "valid_scores": {name: scores.get(name) for name, _ in members},
        "metric": metric,
        "label_names": list(label_names),
        "alphabet": alphabet,
        "config": {"members": [name for name, _ in members], "combine": "mean probability"},
    }
    write_json(output / MANIFEST, manifest)
    return manifest


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]
