"""Choosing the challenger among a run's candidates, on valid; the ensemble candidate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genomeflow.errors import InputError
from genomeflow.models.candidates import add_ensemble, leaderboard, rank
from genomeflow.models.loading import load_classifier
from genomeflow.sequence.alphabet import Alphabet

LABELS = ["a", "b"]


class Planted:
    """A classifier whose probability of class ``b`` is planted per sequence."""

    def __init__(self, kind: str, name: str, p_b: dict[str, float], labels=LABELS) -> None:
        self.p_b = p_b
        self.label_names = list(labels)
        self.alphabet = Alphabet.DNA
        self.manifest = {"kind": kind, "config": {"features": name, "model": "x"}}
        if kind == "transformer":
            self.manifest = {"kind": kind, "config": {}, "model": {"architecture": name}}

    def predict_proba(self, sequences):
        column = np.array([self.p_b[s] for s in sequences])
        return np.column_stack([1 - column, column])


def rows(labels: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"sequence": [f"s{i}" for i in range(len(labels))], "label": labels})


VALID = rows([0, 0, 0, 1, 1, 1])


def planted(kind: str, name: str, right: int) -> Planted:
    """Gets the first ``right`` of VALID's six rows right (confidently), the rest wrong."""
    p_b = {}
    for index, label in enumerate(VALID["label"]):
        correct = index < right
        p_b[f"s{index}"] = (0.9 if label else 0.1) if correct else (0.1 if label else 0.9)
    return Planted(kind, name, p_b)


def test_best_on_valid_wins_ties_go_to_the_lower_log_loss_then_the_given_order(tmp_path):
    entries = [
        (tmp_path / "rf", planted("baseline", "onehot", 4)),
        (tmp_path / "cnn", planted("transformer", "cnn", 6)),
        (tmp_path / "bert", planted("transformer", "bert", 5)),
        (tmp_path / "rf2", planted("baseline", "onehot", 4)),
    ]
    board = rank(entries, VALID, LABELS, "accuracy")
    assert [c.name for c in board] == ["cnn-?", "bert-?", "onehot+x", "onehot+x#2"]
    assert [c.valid_score for c in board] == pytest.approx([1.0, 5 / 6, 4 / 6, 4 / 6])
    # Equal accuracy, but one is surer where right: the lower log loss breaks the tie.
    sharp = Planted(
        "baseline", "kmer", {f"s{i}": (0.01, 0.01, 0.9, 0.99, 0.99, 0.1)[i] for i in range(6)}
    )
    tied = rank([*entries[:1], (tmp_path / "sharp", sharp)], VALID, LABELS, "accuracy")
    assert [c.name for c in tied] == ["kmer+x", "onehot+x"]
    assert tied[0].valid_score == tied[1].valid_score == pytest.approx(4 / 6)
    # A lower-is-better metric ranks the other way round.
    by_loss = rank(entries, VALID, LABELS, "log_loss")
    assert by_loss[0].name == "cnn-?" and by_loss[-1].valid_score > by_loss[0].valid_score


def test_candidates_with_other_classes_are_refused(tmp_path):
    other = Planted("baseline", "count", {f"s{i}": 0.5 for i in range(6)}, labels=["b", "a"])
    with pytest.raises(InputError, match="different classes"):
        rank([(tmp_path / "x", planted("baseline", "count", 3)), (tmp_path / "y", other)],
             VALID, LABELS, "accuracy")  # fmt: skip


def test_the_ensemble_averages_the_top_candidates_and_is_ranked_with_them(tmp_path):
    # Two complementary models: each right on a different half; together they are right on
    # every row (their mean leans to the confident right answer).
    first = Planted("baseline", "count", {"s0": 0.1, "s1": 0.1, "s2": 0.1,
                                          "s3": 0.45, "s4": 0.45, "s5": 0.45})  # fmt: skip
    second = Planted("baseline", "tfidf", {"s0": 0.55, "s1": 0.55, "s2": 0.55,
                                           "s3": 0.95, "s4": 0.95, "s5": 0.95})  # fmt: skip
    weak = planted("baseline", "onehot", 2)
    entries = [(tmp_path / "m1", first), (tmp_path / "m2", second), (tmp_path / "m3", weak)]
    for name, (folder, model) in zip(("m1", "m2", "m3"), entries, strict=True):
        _save_baseline_like(folder, model, name)
    board = rank(entries, VALID, LABELS, "accuracy")
    assert [c.valid_score for c in board] == pytest.approx([0.5, 0.5, 2 / 6])
    # Tied on accuracy; tfidf's wrong answers are milder (0.55 against 0.45 on the wrong side),
    # so its valid log loss is lower and it ranks first.
    assert [c.name for c in board[:2]] == ["tfidf+x", "count+x"]
    assert board[0].valid_log_loss < board[1].valid_log_loss
    with_ensemble = add_ensemble(board, 2, VALID, LABELS, "accuracy", tmp_path / "work")
    best = with_ensemble[0]
    assert best.name == "ensemble(tfidf+x, count+x)" and best.valid_score == 1.0
    assert len(with_ensemble) == 4
    expected = first.predict_proba(VALID["sequence"]) + second.predict_proba(VALID["sequence"])
    np.testing.assert_allclose(best.classifier.predict_proba(VALID["sequence"]), expected / 2)
    # The folder is self-contained: its members are copied in.
    members = sorted(p.name for p in (best.folder / "members").iterdir())
    assert members == ["0-tfidf_x", "1-count_x"]
    text = leaderboard(with_ensemble, "accuracy", 0.9, "promoted")
    loss = f"{best.valid_log_loss:.4f}"
    assert f"| 1 | ensemble(tfidf+x, count+x) | 1.0000 | {loss} | 0.9000 |" in text
    assert "slightly optimistic" in text and "Decision: promoted" in text
    # No ensemble with fewer than two candidates, or top < 2.
    assert add_ensemble(board[:1], 3, VALID, LABELS, "accuracy") == board[:1]
    assert add_ensemble(board, 1, VALID, LABELS, "accuracy") == board


def _save_baseline_like(folder: Path, model: Planted, name: str) -> None:
    folder.mkdir(parents=True)
    (folder / "weights.txt").write_text(name)


def test_a_saved_ensemble_of_real_baselines_loads_and_predicts(planted_models, tmp_path):
    """Real baselines: the written ensemble folder loads with load_classifier and predicts the
    mean of its members."""
    dataset, folders = planted_models
    from genomeflow.data import load_dataset

    loaded = load_dataset(dataset)
    entries = [(Path(f), load_classifier(f)) for f in folders]
    valid = loaded.splits["valid"]
    board = add_ensemble(
        rank(entries, valid, loaded.label_names, "f1_macro"),
        2,
        valid,
        loaded.label_names,
        "f1_macro",
        tmp_path,
    )
    ensemble = next(c for c in board if c.name.startswith("ensemble("))
    again = load_classifier(ensemble.folder)
    sequences = valid["sequence"].tolist()
    members = [c for c in board if c is not ensemble][:2]
    mean = np.mean([c.classifier.predict_proba(sequences) for c in members], axis=0)
    np.testing.assert_allclose(again.predict_proba(sequences), mean, rtol=1e-6)


@pytest.fixture(scope="module")
def planted_models(planted, tmp_path_factory):
    """Two quick real baselines on the planted dataset."""
    from genomeflow.config import BaselineConfig
    from genomeflow.train.baseline import train_baseline

    folder = tmp_path_factory.mktemp("candidates")
    made = []
    for features, model in (("count", "logreg"), ("tfidf", "logreg")):
        config = BaselineConfig(
            dataset=planted,
            output=str(folder / f"{features}-{model}"),
            features=features,
            model=model,
            folds=0,
            importance_top=5,
            permutation_repeats=1,
        )
        train_baseline(config)
        made.append(config.output)
    return planted, made
