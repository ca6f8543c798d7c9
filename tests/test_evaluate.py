"""genomeflow.evaluate: metrics checked against hand-computed values, bad input, reports."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy
import pytest
from sklearn.metrics import roc_auc_score

from genomeflow.errors import ConfigError, InputError
from genomeflow.evaluate import Evaluation, evaluate_predictions, write_evaluation
from genomeflow.metric_names import HIGHER_IS_BETTER, METRIC_NAMES, canonical_metric

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Binary: 3 positives, 5 negatives; p1 = probability of the positive class (index 1).
BINARY_LABELS = [1, 1, 1, 0, 0, 0, 0, 0]
BINARY_P1 = numpy.array([0.92, 0.64, 0.44, 0.72, 0.36, 0.28, 0.18, 0.08])
# Predicted (p1 > 0.5):   1     1     0     1     0     0     0     0
# TP = 2, FN = 1 (0.44), FP = 1 (0.72), TN = 4.

# Three classes a, b, c; supports 4, 3, 3. Rows are (p_a, p_b, p_c); argmax in the comment.
THREE_LABELS = [0, 0, 0, 1, 1, 1, 2, 2, 2, 0]
THREE_PROBS = [
    [0.70, 0.20, 0.10],  # a, right
    [0.50, 0.30, 0.20],  # a, right
    [0.30, 0.60, 0.10],  # b, wrong
    [0.20, 0.70, 0.10],  # b, right
    [0.10, 0.50, 0.40],  # b, right
    [0.45, 0.15, 0.40],  # a, wrong
    [0.10, 0.10, 0.80],  # c, right
    [0.20, 0.20, 0.60],  # c, right
    [0.25, 0.45, 0.30],  # b, wrong
    [0.60, 0.30, 0.10],  # a, right
]


def binary() -> Evaluation:
    return evaluate_predictions(
        BINARY_LABELS, numpy.column_stack([1 - BINARY_P1, BINARY_P1]), ["neg", "pos"]
    )


def test_binary_metrics_match_hand_computation() -> None:
    result = binary()
    m = result.metrics
    assert set(m) == set(METRIC_NAMES) and result.count == 8
    assert result.confusion == [[4, 1], [1, 2]]  # rows true neg, pos; columns predicted
    # accuracy = (TP + TN) / n = 6 / 8
    assert m["accuracy"] == pytest.approx(6 / 8)
    # pos: precision = TP / (TP + FP) = 2/3, recall = TP / (TP + FN) = 2/3, F1 = 2/3
    # neg: precision = TN / (TN + FN) = 4/5, recall = TN / (TN + FP) = 4/5, F1 = 4/5
    assert result.per_class["pos"]["precision"] == pytest.approx(2 / 3)
    assert result.per_class["pos"]["recall"] == pytest.approx(2 / 3)
    assert result.per_class["neg"]["f1"] == pytest.approx(4 / 5)
    assert result.per_class["neg"]["support"] == 5
    # macro = (2/3 + 4/5) / 2 = 11/15 for precision, recall and F1; balanced accuracy = mean
    # recall = 11/15; weighted = (3 * 2/3 + 5 * 4/5) / 8 = 6/8
    for name in ("precision_macro", "recall_macro", "f1_macro", "balanced_accuracy"):
        assert m[name] == pytest.approx(11 / 15), name
    for name in ("precision_weighted", "recall_weighted", "f1_weighted"):
        assert m[name] == pytest.approx(6 / 8), name
    # MCC = (TP*TN - FP*FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (8 - 1) / sqrt(3*3*5*5) = 7/15
    assert m["mcc"] == pytest.approx(7 / 15)
    # ROC-AUC = concordant (positive, negative) pairs / (3 * 5): 0.92 beats all 5 negatives;
    # 0.64 beats 0.36, 0.28, 0.18, 0.08 (4); 0.44 beats the same 4 -> 13 / 15
    assert m["roc_auc"] == pytest.approx(13 / 15)
    # AP = sum over positives of precision at its rank / 3; ranking 0.92+ 0.72- 0.64+ 0.44+:
    # precision 1/1, 2/3, 3/4 -> (1 + 2/3 + 3/4) / 3 = 29/36
    assert m["pr_auc"] == pytest.approx(29 / 36)
    assert result.per_class["pos"]["pr_auc"] == pytest.approx(29 / 36)
    # log loss = -mean ln p(true class); negatives' p(neg) = 1 - p1 = .28 .64 .72 .82 .92
    truth = [0.92, 0.64, 0.44, 0.28, 0.64, 0.72, 0.82, 0.92]
    assert m["log_loss"] == pytest.approx(-sum(math.log(v) for v in truth) / 8)
    # Brier = mean of sum_c (p_c - onehot_c)^2 = mean of 2 (p1 - y)^2:
    # 2 * (.08² + .36² + .56² + .72² + .36² + .28² + .18² + .08²) / 8 = 2 * 1.2148 / 8
    assert m["brier"] == pytest.approx(2 * 1.2148 / 8)
    # ECE, top-label confidence (right?): .92 y, .64 y, .56 n, .72 n, .64 y, .72 y, .82 y, .92 y
    # bins: [.9,1) 2 at .92 acc 1 -> gap .08; [.6,.7) 2 at .64 acc 1 -> .36; [.5,.6) 1 at .56
    # acc 0 -> .56; [.7,.8) 2 at .72 acc .5 -> .22; [.8,.9) 1 at .82 acc 1 -> .18
    # ECE = (2*.08 + 2*.36 + .56 + 2*.22 + .18) / 8 = 2.06 / 8
    assert m["ece"] == pytest.approx(2.06 / 8)
    assert [b["count"] for b in result.calibration["bins"]] == [0, 0, 0, 0, 0, 1, 2, 2, 1, 2]
    assert result.calibration["bins"][7]["accuracy"] == pytest.approx(0.5)
    assert result.calibration["bins"][0]["confidence"] is None  # empty bin


def test_three_classes_match_hand_computation() -> None:
    result = evaluate_predictions(THREE_LABELS, THREE_PROBS, ["a", "b", "c"])
    m = result.metrics
    assert result.confusion == [[3, 1, 0], [1, 2, 0], [0, 1, 2]]
    assert m["accuracy"] == pytest.approx(7 / 10)
    # a: P = 3/4 (a predicted 4 times), R = 3/4, F1 = 3/4
    # b: P = 2/4, R = 2/3, F1 = 2 PR / (P + R) = (2/3) / (7/6) = 4/7
    # c: P = 2/2, R = 2/3, F1 = (4/3) / (5/3) = 4/5
    assert [result.per_class[c]["f1"] for c in "abc"] == pytest.approx([3 / 4, 4 / 7, 4 / 5])
    # macro F1 = (3/4 + 4/7 + 4/5) / 3 = 297/420; weighted = (4*3/4 + 3*4/7 + 3*4/5) / 10
    assert m["f1_macro"] == pytest.approx(297 / 420)
    assert m["f1_weighted"] == pytest.approx((3 + 12 / 7 + 12 / 5) / 10)
    assert m["balanced_accuracy"] == pytest.approx((3 / 4 + 2 / 3 + 2 / 3) / 3)
    # One-vs-rest AUC by counting (positive, negative) pairs where the positive scores higher:
    # a: pos .70 .50 .30 .60 vs neg .20 .10 .45 .10 .20 .25 -> 6 + 6 + 5 + 6 = 23 of 24
    # b: pos .70 .50 .15 vs neg .20 .30 .60 .10 .20 .45 .30 -> 7 + 6 + 1 = 14 of 21
    # c: pos .80 .60 .30 vs neg .10 .20 .10 .10 .40 .40 .10 -> 7 + 7 + 5 = 19 of 21
    assert result.per_class["a"]["roc_auc"] == pytest.approx(23 / 24)
    assert result.per_class["b"]["roc_auc"] == pytest.approx(14 / 21)
    assert result.per_class["c"]["roc_auc"] == pytest.approx(19 / 21)
    assert m["roc_auc"] == pytest.approx((23 / 24 + 14 / 21 + 19 / 21) / 3)
    assert m["pr_auc"] == pytest.approx(
        sum(result.per_class[c]["pr_auc"] for c in "abc") / 3  # macro average precision
    )


def test_auc_uses_probabilities_not_hard_labels() -> None:
    """The reference toolkit's ROC from argmax labels is balanced accuracy (11/15 here)."""
    result = binary()
    hard = roc_auc_score(BINARY_LABELS, (BINARY_P1 > 0.5).astype(int))
    assert hard == pytest.approx(11 / 15)
    assert result.metrics["roc_auc"] == pytest.approx(13 / 15)
    assert result.metrics["roc_auc"] != pytest.approx(hard)
    roc = result.curves["pos"]["roc"]
    assert len(roc["fpr"]) > 3  # a curve through several thresholds, not one operating point


def test_absent_class_gives_none_and_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    labels = [0, 0, 1, 1, 0]  # class "c" never occurs
    probs = [[0.8, 0.1, 0.1], [0.5, 0.3, 0.2], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4], [0.1, 0.6, 0.3]]
    with caplog.at_level(logging.WARNING, logger="genomeflow.evaluate"):
        result = evaluate_predictions(labels, probs, ["a", "b", "c"])
    assert result.metrics["roc_auc"] is None and result.metrics["pr_auc"] is None
    assert result.per_class["c"]["roc_auc"] is None
    assert result.per_class["a"]["roc_auc"] is not None  # a vs rest is still defined
    assert result.curves["c"] == {"roc": None, "pr": None}
    assert any("'c'" in record.getMessage() for record in caplog.records)
    text = json.dumps(result.to_dict(), allow_nan=False)
    assert "NaN" not in text
    assert "roc_auc" not in {k.removeprefix("x_") for k in result.scalars("x_")}


def test_perfect_predictions() -> None:
    labels = [0, 1, 2, 2, 1, 0]
    result = evaluate_predictions(labels, numpy.eye(3)[labels], ["a", "b", "c"])
    for name in METRIC_NAMES:
        value = result.metrics[name]
        if HIGHER_IS_BETTER[name]:
            assert value == pytest.approx(1.0), name
        else:
            assert value == pytest.approx(0.0, abs=1e-9), name
    assert result.metrics["ece"] == 0.0


def test_float32_rows_are_accepted_and_renormalised() -> None:
    # float32 softmax rows are off by ~1e-7; sklearn alone would reject rows off by 1e-4
    probs = numpy.array(THREE_PROBS, dtype=numpy.float32) * numpy.float32(1.0005)
    result = evaluate_predictions(numpy.array(THREE_LABELS), probs, ["a", "b", "c"])
    assert result.metrics["roc_auc"] == pytest.approx((23 / 24 + 14 / 21 + 19 / 21) / 3)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("eval/f1", "f1_macro"),
        ("f1", "f1_macro"),
        ("test_f1_macro", "f1_macro"),
        ("validation/roc-auc", "roc_auc"),
        ("valid_auroc", "roc_auc"),
        ("AUC", "roc_auc"),
        ("eval_loss", "log_loss"),
        ("auprc", "pr_auc"),
        ("average_precision", "pr_auc"),
        ("matthews_corrcoef", "mcc"),
        ("acc", "accuracy"),
        ("precision", "precision_macro"),
        ("recall", "recall_macro"),
        ("ece", "ece"),
    ],
)
def test_canonical_metric(written: str, expected: str) -> None:
    assert canonical_metric(written) == expected


def test_canonical_metric_unknown_lists_the_names() -> None:
    with pytest.raises(ConfigError, match=r"unknown metric 'eval/f2'.*f1_macro.*roc_auc"):
        canonical_metric("eval/f2")


def test_metric_names_are_fixed() -> None:
    assert len(METRIC_NAMES) == 14 and set(HIGHER_IS_BETTER) == set(METRIC_NAMES)
    assert [n for n in METRIC_NAMES if not HIGHER_IS_BETTER[n]] == ["log_loss", "brier", "ece"]


GOOD = [[0.9, 0.1], [0.2, 0.8]]


@pytest.mark.parametrize(
    ("labels", "probabilities", "names", "message"),
    [
        ([0, 1, 0], GOOD, ["a", "b"], r"3 labels but 2 probability rows"),
        ([0, 1], [0.9, 0.2], ["a", "b"], r"must be 2-D.*column_stack"),
        ([0, 1], GOOD, ["a", "b", "c"], r"2 columns but there are 3 label_names"),
        ([0, 2], GOOD, ["a", "b"], r"label 2 at row 1 is outside 0\.\.1"),
        ([-1, 1], GOOD, ["a", "b"], r"label -1 at row 0 is outside"),
        ([0, 1], [[0.9, 0.1], [float("nan"), 0.8]], ["a", "b"], r"NaN or infinity at row 1"),
        ([0, 1], [[1.2, -0.2], [0.2, 0.8]], ["a", "b"], r"negative at row 0.*softmax"),
        ([0, 1], [[0.5, 0.6], [0.2, 0.8]], ["a", "b"], r"row 0 sums to 1\.1, not 1.*softmax"),
        ([], numpy.empty((0, 2)), ["a", "b"], r"no examples"),
        ([0.5, 1], GOOD, ["a", "b"], r"integer class indices"),
        (["a", "b"], GOOD, ["a", "b"], r"label_names\.index"),
        ([0, 1], GOOD, ["a", "a"], r"repeats 'a'"),
        ([0, 0], [[1.0], [1.0]], ["a"], r"at least 2"),
        ([0, 1], GOOD, "ab", r"list of class names"),
    ],
)
def test_bad_input_is_an_input_error(labels, probabilities, names, message) -> None:
    with pytest.raises(InputError, match=message) as caught:
        evaluate_predictions(labels, probabilities, names)
    assert "\n" not in str(caught.value)  # one line for the CLI


def test_write_evaluation_and_scalars(tmp_path) -> None:
    result = evaluate_predictions(THREE_LABELS, THREE_PROBS, ["class a", "b/x", "c"])
    paths = write_evaluation(result, tmp_path / "new" / "report", prefix="test_")
    assert [p.name for p in paths] == [
        "test_metrics.json",
        "test_roc.png",
        "test_pr.png",
        "test_confusion.png",
        "test_calibration.png",
    ]
    for path in paths[1:]:
        assert path.read_bytes().startswith(PNG_SIGNATURE)
    document = json.loads(paths[0].read_text())
    assert document == result.to_dict()
    assert Evaluation.from_dict(document) == result
    assert sorted(p.name for p in paths[0].parent.iterdir()) == sorted(p.name for p in paths)

    scalars = result.scalars("test_")
    assert all(name.startswith("test_") for name in scalars)
    assert all(isinstance(v, float) and math.isfinite(v) for v in scalars.values())
    assert scalars["test_f1_macro"] == pytest.approx(297 / 420)
    assert scalars["test_f1_class_class_a"] == pytest.approx(3 / 4)
    assert scalars["test_f1_class_b_x"] == pytest.approx(4 / 7)
    assert set(result.scalars()) >= set(METRIC_NAMES)


def test_curves_are_downsampled() -> None:
    rng = numpy.random.default_rng(7)
    labels = rng.integers(0, 2, 5000)
    p1 = numpy.clip(labels * 0.2 + rng.random(5000) * 0.8, 0, 1)
    result = evaluate_predictions(labels, numpy.column_stack([1 - p1, p1]), ["a", "b"])
    for name in ("a", "b"):
        assert len(result.curves[name]["roc"]["fpr"]) <= 200
        assert len(result.curves[name]["pr"]["recall"]) <= 200
    assert (
        result.curves["b"]["roc"]["fpr"][0] == 0.0 and result.curves["b"]["roc"]["tpr"][-1] == 1.0
    )


def test_write_evaluation_rejects_a_path_in_the_prefix(tmp_path) -> None:
    with pytest.raises(ConfigError, match="path separator"):
        write_evaluation(binary(), tmp_path, prefix="sub/test_")


def test_evaluate_command_scores_a_model_and_refuses_other_classes(planted, tmp_path, capsys):
    from genomeflow.cli import main
    from helpers import MOTIF, fasta_text, planted_records, write_text

    model, report = tmp_path / "model", tmp_path / "report"
    untracked = ["--tracking-uri", "none"]
    assert main(["baseline", planted, "-o", str(model), "--features", "tfidf", "--model",
                 "logreg", *untracked]) == 0  # fmt: skip
    assert main(["evaluate", str(model), "--dataset", planted, "-o", str(report), *untracked]) == 0
    assert {"test_metrics.json", "test_roc.png", "report.html"} <= {
        p.name for p in report.iterdir()
    }
    own = json.loads((model / "reports" / "test_metrics.json").read_text())["metrics"]
    again = json.loads((report / "test_metrics.json").read_text())["metrics"]
    assert again == pytest.approx(own)  # the same test split, the same numbers

    files = [
        write_text(tmp_path / "alpha.fa", fasta_text(planted_records(30, 60, 5, MOTIF))),
        write_text(tmp_path / "beta.fa", fasta_text(planted_records(30, 60, 6, None))),
    ]
    other = tmp_path / "other"
    tokeniser = str(Path(planted).parent / "tok")
    assert main(["dataset", *map(str, files), "-t", tokeniser, "-o", str(other), *untracked]) == 0
    capsys.readouterr()
    refused = tmp_path / "refused"
    assert (
        main(["evaluate", str(model), "--dataset", str(other), "-o", str(refused), *untracked]) == 2
    )
    assert "differ from the model's" in capsys.readouterr().err and not refused.exists()
