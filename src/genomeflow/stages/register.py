"""The ``register`` stage: the run's best candidate becomes the challenger and meets the gate.

:func:`register_model` ranks every model folder given (and, with ``ensemble_top`` >= 2, the
mean-probability ensemble of the best) on the VALID split, logs the first as an MLflow pyfunc
model, registers it as a new version with the alias ``challenger``, and runs the gate
(:func:`judge`): the challenger becomes ``champion`` when there is no champion yet, or when it
beats the champion on the test split of the dataset by MORE than ``min_gain`` (``gain >
min_gain``: with the default 0 it must be strictly better; a tie keeps the champion).
Lower-is-better metrics (log_loss, brier, ece) count a drop as a gain. Models with other classes
(or another alphabet) than the champion are refused, never compared. The MLflow steps (the
version, the gate's turn among concurrent registrations, the aliases and tags) are
:mod:`genomeflow.tracking.gate`'s.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from genomeflow.data import load_dataset
from genomeflow.errors import InputError, TrackingError
from genomeflow.evaluate import evaluate_predictions
from genomeflow.metric_names import HIGHER_IS_BETTER
from genomeflow.models.candidates import add_ensemble, leaderboard, rank, score
from genomeflow.models.checkpoint import quiet_transformers
from genomeflow.models.loading import load_classifier
from genomeflow.tracking import active_run
from genomeflow.tracking.gate import (
    DECISION_TAG,
    RegisterSummary,
    decide,
    earlier_summary,
    gate_turn,
    record,
    register_version,
    score_text,
    take_challenger,
)
from genomeflow.tracking.registry import REGISTRY_SCHEME, download_registered

if TYPE_CHECKING:
    from genomeflow.config import RegisterConfig

log = logging.getLogger(__name__)


def judge(
    challenger_score: float | None,
    classifier: Any,
    champion: Any | None,
    test: pd.DataFrame,
    metric: str,
    min_gain: float,
) -> tuple[bool, str, float | None]:
    """``(promoted, reason, champion_score)`` of a challenger scoring ``challenger_score``.

    The champion is scored on the same ``test`` rows; it is replaced when the challenger's gain
    (its score minus the champion's, negated for lower-is-better metrics) is above ``min_gain``.
    """
    if champion is None:
        return True, "no champion yet", None
    label_names = list(classifier.label_names)
    if list(champion.label_names) != label_names:
        return (
            False,
            f"the champion's classes {list(champion.label_names)} differ from the "
            f"challenger's {label_names}; register it under another name",
            None,
        )
    if champion.alphabet != classifier.alphabet:
        return (
            False,
            f"the champion scores {champion.alphabet.value} but the challenger "
            f"{classifier.alphabet.value}; register it under another name",
            None,
        )
    champion_score = score(champion, test, label_names, metric)
    if challenger_score is None or champion_score is None:
        return False, f"{metric} is undefined on this test split; choose another --metric", None
    gain = challenger_score - champion_score
    if not HIGHER_IS_BETTER[metric]:
        gain = -gain
    verdict = "beats" if gain > min_gain else "does not beat"
    return (
        gain > min_gain,
        f"challenger {metric} {challenger_score:.4f} {verdict} champion {champion_score:.4f} "
        f"by more than {min_gain:g} (gain {gain:+.4f})",
        champion_score,
    )


def register_model(config: RegisterConfig) -> RegisterSummary:
    """Choose the run's challenger among its candidates, register it, run the gate.

    Every model folder given is a candidate; with ``ensemble_top`` >= 2 the mean-probability
    ensemble of the best candidates is one too. The challenger is the candidate with the best
    VALID score on the gate's metric; only it is scored on test, against the champion on the
    same test rows. Runs inside the active MLflow run (the CLI's ``register`` run): the pyfunc
    model is logged there, the gate's scores are its metrics, the leaderboard is its artifact
    (and its pipeline parent's, and the version's description), and the version's tags record
    provenance and the decision (``gate.decision``, ``gate.metric``, ``gate.challenger``,
    ``gate.champion``, ``gate.reason``). See the module docstring for the gate's rule.

    Args:
        config: a :class:`genomeflow.config.RegisterConfig`.

    Returns:
        RegisterSummary.

    Raises:
        TrackingError: tracking is off (no active run) or MLflow failed.
        InputError: a model or the dataset folder is not usable, or their classes differ.
    """
    # Inputs first: a bad model or dataset is reported before MLflow is needed.
    dataset = load_dataset(config.dataset)
    with quiet_transformers():  # no "Loading weights" bar per candidate
        entries = [(Path(folder), load_classifier(folder)) for folder in config.models]
    if dataset.label_names != list(entries[0][1].label_names):
        raise InputError(
            f"{config.dataset}: its classes {dataset.label_names} differ from the model's "
            f"{list(entries[0][1].label_names)}; use a dataset with the model's classes, in order"
        )
    valid = dataset.rows("valid", config.dataset)
    test = dataset.rows("test", config.dataset)
    run = active_run()
    if not run.active:
        raise TrackingError(
            "registering a model needs MLflow: start the server with `genomeflow services up` "
            "or pass --tracking-uri URI (not none); from Python, call register_model inside "
            "`Tracker(uri).run('register')`"
        )
    label_names = dataset.label_names
    with tempfile.TemporaryDirectory(prefix="genomeflow-candidates-") as workspace:
        board = rank(entries, valid, label_names, config.metric)
        board = add_ensemble(
            board, config.ensemble_top, valid, label_names, config.metric, Path(workspace)
        )
        chosen = board[0]
        if len(board) > 1:
            log.info(
                "challenger: %s (valid %s %s) of %d candidates",
                chosen.name,
                config.metric,
                score_text(chosen.valid_score),
                len(board),
            )
        # Scored before anything is registered: a model that cannot be scored is not registered.
        probabilities = chosen.classifier.predict_proba(test["sequence"].tolist())
        tested = evaluate_predictions(test["label"].to_numpy(), probabilities, label_names)
        scores = tested.scalars("test_")
        challenger_score = scores.get(f"test_{config.metric}")
        valid = {} if chosen.valid_score is None else {f"valid_{config.metric}": chosen.valid_score}
        version, earlier = register_version(
            config.name, run, chosen, dataset, {"test": scores, "validation": valid}
        )
    ranking = [(c.name, c.valid_score) for c in board]
    summary = earlier_summary(config.name, version, earlier, ranking)
    if summary is not None:  # a retried step: that attempt's decision stands
        board_text = leaderboard(board, config.metric, challenger_score, _decision_text(summary))
        record(run, summary, config, board_text, {**scores, **valid})
        return summary
    with gate_turn(run, config.name, version):
        champion_version = take_challenger(run, config.name, version)
        if champion_version == version:  # an earlier attempt promoted it, then stopped
            promoted = {**earlier, DECISION_TAG: "promoted"}
            summary = earlier_summary(config.name, version, promoted, ranking)
        if summary is None:
            summary = _judged(config, version, champion_version, chosen, test, challenger_score)
            summary = dataclasses.replace(summary, candidates=ranking)
        board_text = leaderboard(board, config.metric, challenger_score, _decision_text(summary))
        decide(run, summary, config.min_gain, board_text)
    record(run, summary, config, board_text, {**scores, **valid})
    return summary


def _judged(
    config: RegisterConfig,
    version: int,
    champion_version: int | None,
    chosen: Any,
    test: pd.DataFrame,
    challenger_score: float | None,
) -> RegisterSummary:
    """The gate's decision on ``chosen`` (version ``version``) against the champion's version."""
    champion, champion_score = None, None
    try:
        if champion_version is not None:
            uri = f"{REGISTRY_SCHEME}{config.name}/{champion_version}"
            with quiet_transformers():
                champion = load_classifier(download_registered(uri))
    except InputError as error:  # e.g. not a genomeflow model: refuse, do not crash
        promoted = False
        reason = f"the champion (version {champion_version}) could not be loaded: {error}"
    else:
        promoted, reason, champion_score = judge(
            challenger_score, chosen.classifier, champion, test, config.metric, config.min_gain
        )
    return RegisterSummary(
        config.name,
        version,
        promoted,
        reason,
        challenger_score,
        champion_score,
        champion_version,
        config.metric,
        chosen.name,
    )


def _decision_text(summary: RegisterSummary) -> str:
    verdict = "promoted to champion" if summary.promoted else "not promoted"
    return (
        f"{summary.candidate} registered as version {summary.version}, {verdict}: {summary.reason}"
    )
