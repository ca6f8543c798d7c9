"""``genomeflow evaluate``: score any saved model on one split of a dataset, with a report.

The same numbers as the model's own test evaluation (the classifiers are deterministic), laid
out for people: ``<split>_metrics.json``, the four plots and one self-contained ``report.html``
(images embedded) that the Kubeflow UI can show as an HTML artifact.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genomeflow.config import EvaluateConfig
from genomeflow.data import load_dataset
from genomeflow.errors import InputError
from genomeflow.evaluate.metrics import Evaluation, evaluate_predictions
from genomeflow.evaluate.plots import write_evaluation
from genomeflow.models.checkpoint import quiet_transformers
from genomeflow.models.loading import load_classifier, model_manifest
from genomeflow.report import html_page, html_table, number, png_image
from genomeflow.storage import atomic_directory, check_writable
from genomeflow.tracking.registry import resolve_model

REPORT = "report.html"
SHOWN = ("accuracy", "balanced_accuracy", "f1_macro", "mcc", "roc_auc", "pr_auc", "log_loss")


@dataclass(frozen=True)
class EvaluateSummary:
    """What :func:`evaluate_model` measured and wrote."""

    output: str
    split: str
    evaluation: Evaluation

    def metrics(self) -> dict[str, float]:
        """``<split>_<metric>`` for every finite metric: the names MLflow and KFP carry."""
        return self.evaluation.scalars(f"{self.split}_")


def evaluate_model(config: EvaluateConfig) -> EvaluateSummary:
    """Score ``config.model`` on ``config.split`` of ``config.dataset``; write plots and report.

    Raises:
        InputError: the model or dataset cannot be read, their classes differ, or the split
            is empty.
    """
    check_writable(config.output)
    classifier, dataset = model_and_dataset(config.model, config.dataset)
    rows = dataset.rows(config.split, config.dataset)
    label_names = list(classifier.label_names)
    probabilities = classifier.predict_proba(rows["sequence"].tolist())
    evaluation = evaluate_predictions(rows["label"].to_numpy(), probabilities, label_names)
    with atomic_directory(config.output) as folder:
        written = write_evaluation(evaluation, folder, prefix=f"{config.split}_")
        plots = {path.stem: path.read_bytes() for path in written if path.suffix == ".png"}
        title = f"{Path(config.model).name} on the {config.split} split of {config.dataset}"
        (folder / REPORT).write_text(report_page(evaluation, title, plots), encoding="utf-8")
    return EvaluateSummary(str(config.output), config.split, evaluation)


def model_and_dataset(model: str, dataset: str) -> tuple[Any, Any]:
    """A saved model and a dataset with the same classes, in the same order, and alphabet.

    The dataset is read and checked against the model's manifest before the model is loaded.

    Raises:
        InputError: either cannot be read (a file missing, truncated or corrupt), or their
            classes or alphabets differ.
    """
    loaded = load_dataset(dataset)
    folder = resolve_model(model)
    _, manifest = model_manifest(folder)
    if loaded.label_names != list(manifest["label_names"]):
        raise InputError(
            f"{dataset}: its classes {loaded.label_names} differ from the model's "
            f"{list(manifest['label_names'])}; use a dataset with the model's classes, in that "
            "order"
        )
    if loaded.alphabet != manifest["alphabet"]:
        raise InputError(
            f"{dataset}: holds {loaded.alphabet} but the model {model} was built for "
            f"{manifest['alphabet']}; use a dataset of {manifest['alphabet']} sequences"
        )
    with quiet_transformers():  # no "Loading weights" bar among evaluate's lines
        return load_classifier(folder), loaded


def report_page(evaluation: Evaluation, title: str, plots: dict[str, bytes]) -> str:
    """One HTML page: headline metrics, per-class scores and the plots (name -> PNG), embedded."""
    headline = html_table(
        ["metric", "value"], [[name, number(evaluation.metrics.get(name))] for name in SHOWN]
    )
    per_class = html_table(
        ["class", "precision", "recall", "F1", "ROC-AUC", "support"],
        [
            [
                name,
                *(number(scores[k]) for k in ("precision", "recall", "f1", "roc_auc")),
                str(scores["support"]),
            ]
            for name, scores in evaluation.per_class.items()
        ],
    )
    images = "\n".join(png_image(png, name) for name, png in plots.items())
    body = (
        f"<h1>{html.escape(title)}</h1>\n<p>{evaluation.count} sequences; metrics from predicted "
        f"probabilities.</p>\n{headline}\n<h2>Per class</h2>\n{per_class}\n<h2>Plots</h2>\n{images}"
    )
    return html_page(title, body)
