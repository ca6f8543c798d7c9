"""Choosing a run's challenger: every model a run trained is a candidate, ranked on VALID.

Test is not touched here: the caller scores only the winner on test (against the champion), so
choosing among many candidates does not leak the test split into the choice. An ensemble of the
top candidates (mean probability) is a candidate too; its members were chosen on the same valid
split, so its valid score is slightly optimistic, which the leaderboard states.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genomeflow.evaluate import evaluate_predictions
from genomeflow.metric_names import HIGHER_IS_BETTER
from genomeflow.models.ensemble import EnsembleClassifier, check_compatible, write_ensemble


@dataclass(frozen=True)
class Candidate:
    """One model of the run.

    Attributes:
        name: a short description (``onehot+rf``, ``cnn-tiny``, ``distilbert-small``...).
        folder: its model folder.
        classifier: the loaded classifier.
        valid_score: the gate metric on the dataset's valid split; None when undefined there.
        valid_log_loss: the log loss on valid, which breaks ties of the gate metric.
    """

    name: str
    folder: Path
    classifier: Any
    valid_score: float | None
    valid_log_loss: float | None = None


def score(classifier: Any, rows: Any, label_names: Sequence[str], metric: str) -> float | None:
    """``metric`` of ``classifier`` on a split's rows (``sequence``, ``label`` columns)."""
    return _finite(_metrics(classifier, rows, label_names)[metric])


def _metrics(classifier: Any, rows: Any, label_names: Sequence[str]) -> dict[str, Any]:
    probabilities = classifier.predict_proba(rows["sequence"].tolist())
    return evaluate_predictions(rows["label"].to_numpy(), probabilities, label_names).metrics


def _finite(value: Any) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def candidate(
    name: str, folder: Path, classifier: Any, rows: Any, label_names: Sequence[str], metric: str
) -> Candidate:
    """A candidate scored on valid ``rows``: the gate metric, and the log loss for ties."""
    metrics = _metrics(classifier, rows, label_names)
    return Candidate(
        name, Path(folder), classifier, _finite(metrics[metric]), _finite(metrics["log_loss"])
    )


def describe(classifier: Any) -> str:
    """A candidate's name from its manifest: features+model, architecture-preset, or ensemble."""
    manifest = getattr(classifier, "manifest", {}) or {}
    kind = manifest.get("kind")
    config = manifest.get("config", {})
    if kind == "ensemble":
        return "ensemble(" + ", ".join(manifest.get("member_names", [])) + ")"
    if kind == "baseline":
        return f"{config.get('features')}+{config.get('model')}"
    model = manifest.get("model", {})
    name = f"{model.get('architecture', kind)}-{model.get('preset', '?')}"
    return name + ("-finetuned" if config.get("init_from") else "")


def rank(
    entries: Sequence[tuple[Path, Any]], valid: Any, label_names: Sequence[str], metric: str
) -> list[Candidate]:
    """Candidates best first by their ``metric`` on ``valid``; undefined scores last.

    Ties go to the lower valid log loss: on a small valid split several models often reach the
    same accuracy or F1, and the one whose probabilities are sharper where right and milder
    where wrong is the better bet. Full ties keep the order given (the caller lists simpler
    models first if it prefers them).
    Duplicate names get ``#2``, ``#3``... so the leaderboard stays readable.
    """
    if entries:
        for _, classifier in entries[1:]:
            check_compatible(entries[0][1], classifier)
    seen: dict[str, int] = {}
    candidates = []
    for folder, classifier in entries:
        name = describe(classifier)
        seen[name] = seen.get(name, 0) + 1
        name = name if seen[name] == 1 else f"{name}#{seen[name]}"
        candidates.append(candidate(name, folder, classifier, valid, label_names, metric))
    return ordered(candidates, metric)


def ordered(candidates: Sequence[Candidate], metric: str) -> list[Candidate]:
    """Best first by valid score (lower first for lower-is-better metrics), undefined last;
    ties by lower valid log loss."""
    sign = -1.0 if HIGHER_IS_BETTER[metric] else 1.0
    return sorted(
        candidates,
        key=lambda c: (
            c.valid_score is None,
            0.0 if c.valid_score is None else sign * c.valid_score,
            math.inf if c.valid_log_loss is None else c.valid_log_loss,
        ),
    )


def add_ensemble(
    candidates: Sequence[Candidate],
    top: int,
    valid: Any,
    label_names: Sequence[str],
    metric: str,
    workspace: Path | None = None,
) -> list[Candidate]:
    """The candidates plus the mean-probability ensemble of the ``top`` best (when ``top`` >= 2
    and at least two candidates have a defined score), re-ranked.

    The ensemble's folder is written under ``workspace`` (a temporary folder when None, which
    lives as long as the process: the caller copies or registers it).
    """
    members = [c for c in candidates if c.valid_score is not None][:top]
    if top < 2 or len(members) < 2:
        return list(candidates)
    workspace = workspace or Path(tempfile.mkdtemp(prefix="genomeflow-ensemble-"))
    folder = workspace / "ensemble"
    manifest = write_ensemble(
        folder,
        [(c.name, c.folder) for c in members],
        label_names,
        members[0].classifier.alphabet.value,
        {c.name: c.valid_score for c in members},
        metric,
    )
    ensemble = EnsembleClassifier([c.classifier for c in members], manifest)
    entry = candidate(describe(ensemble), folder, ensemble, valid, label_names, metric)
    return ordered([*candidates, entry], metric)


def leaderboard(
    candidates: Sequence[Candidate],
    metric: str,
    test_score: float | None = None,
    decision: str = "",
) -> str:
    """The leaderboard as Markdown: rank, candidate, valid score and log loss (the tie-break),
    and the chosen one's test score.

    Only the first (the challenger) has a test score: the others were never scored on test.
    """
    lines = [
        f"| rank | candidate | valid {metric} | valid log_loss | test {metric} |",
        "|---:|---|---:|---:|---:|",
    ]
    for index, entry in enumerate(candidates):
        valid, loss = (
            "undefined" if value is None else f"{value:.4f}"
            for value in (entry.valid_score, entry.valid_log_loss)
        )
        test = ""
        if index == 0:
            test = "undefined" if test_score is None else f"{test_score:.4f}"
        lines.append(f"| {index + 1} | {entry.name} | {valid} | {loss} | {test} |")
    if any(c.classifier.manifest.get("kind") == "ensemble" for c in candidates):
        lines.append(
            "\nThe ensemble's members were chosen on the same valid split, so its valid score "
            "is slightly optimistic."
        )
    if decision:
        lines.append(f"\nDecision: {decision}")
    return "\n".join(lines) + "\n"
