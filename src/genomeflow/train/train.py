"""The ``train`` stage: a transformer classifier from a dataset, chosen on valid, tested once.

Order of work: hyperparameters resolved (file < previous run < --params) -> every split cut
into token windows -> a model built from its config -> epochs with early stopping and
checkpoint choice on the valid split (checkpoints each epoch; ``--resume`` continues) -> the
best epoch's valid report -> the test split, evaluated once -> the model folder (safetensors,
config, tokeniser, metrics.json, transformer.json, reports/).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from genomeflow import __version__
from genomeflow.config import HYPERPARAMETERS, TrainConfig, TransformerConfig
from genomeflow.data import LabelledDataset, load_dataset
from genomeflow.data.build import MANIFEST as DATASET_MANIFEST
from genomeflow.data.build import TOKENISER_FOLDER
from genomeflow.errors import InputError
from genomeflow.evaluate import Evaluation, write_evaluation
from genomeflow.models.transformer import (
    ModelSpec,
    build_model,
    context_length,
    count_parameters,
)
from genomeflow.storage import atomic_directory, file_digest, write_json
from genomeflow.tokenise.tokenizer import GenomeTokenizer
from genomeflow.train.loop import (
    LAST,
    FitResult,
    Runtime,
    Schedule,
    Split,
    epoch_metrics,
    evaluate_split,
    fit,
)
from genomeflow.train.params import resolve_hyperparameters
from genomeflow.train.windows import default_stride, encode_windows

MANIFEST = "transformer.json"
REPORTS = "reports"
KATIB_METRICS = ("accuracy", "balanced_accuracy", "mcc", "roc_auc", "pr_auc")


@dataclass(frozen=True)
class Prepared:
    """A dataset made ready for a transformer stage."""

    data: LabelledDataset
    tokenizer: GenomeTokenizer
    spec: ModelSpec
    schedule: Schedule
    runtime: Runtime
    stride: int


def prepare(config: TransformerConfig, data: LabelledDataset | None = None) -> Prepared:
    """Load the dataset (unless given) and its tokeniser; derive spec, schedule and runtime."""
    data = data or load_dataset(config.dataset)
    tokenizer = data.tokeniser()
    max_length = context_length(config.architecture, config.max_length)
    hf = tokenizer.hf
    spec = ModelSpec(
        architecture=config.architecture,
        preset=config.preset,
        vocab_size=tokenizer.vocab_size,
        label_names=tuple(data.label_names),
        max_length=max_length,
        dropout=config.dropout,
        pad_id=hf.pad_token_id,
        cls_id=hf.cls_token_id,
        sep_id=hf.sep_token_id,
    )
    schedule = Schedule(
        epochs=config.epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        warmup_ratio=config.warmup_ratio,
        gradient_clip=config.gradient_clip,
        patience=config.patience,
        metric=config.metric,
        seed=config.seed,
        max_length=max_length,
        padding=config.padding,
        aggregate=config.aggregate,
    )
    runtime = Runtime.resolve(config.device, config.precision, config.compile, config.workers)
    return Prepared(data, tokenizer, spec, schedule, runtime, config.window_stride)


def split_of(prepared: Prepared, frame: Any) -> Split:
    """A data frame's sequences as windows, with their labels."""
    windows = encode_windows(
        prepared.tokenizer,
        frame["sequence"].tolist(),
        prepared.spec.max_length,
        prepared.stride,
    )
    return Split(windows, frame["label"].to_numpy())


def katib_lines(epoch: int, record: dict[str, float], evaluation: Evaluation) -> list[str]:
    """Per-epoch metrics as Katib's StdOut collector reads them: ``<RFC 3339 time> name=value``.

    Names are ``eval_<metric>`` (valid split), ``eval_f1`` for macro F1 as the reference's
    ``eval/f1``, ``eval_loss`` and ``train_loss``.
    """
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    values = {"epoch": epoch, "train_loss": record["train_loss"]}
    values["eval_loss"] = evaluation.metrics["log_loss"]
    values["eval_f1"] = evaluation.metrics["f1_macro"]
    values |= {f"eval_{name}": evaluation.metrics[name] for name in KATIB_METRICS}
    return [f"{stamp} {name}={value:.6g}" for name, value in values.items() if value is not None]


@dataclass(frozen=True)
class TrainSummary:
    """What :func:`train_model` wrote and measured."""

    output: str
    params: dict[str, Any]
    valid: Evaluation
    test: Evaluation
    fit: FitResult

    def metrics(self) -> dict[str, float]:
        """Valid (best epoch) and test metrics with MLflow/KFP names, and the epochs run."""
        return {
            **self.valid.scalars("valid_"),
            **self.test.scalars("test_"),
            "best_epoch": self.fit.best_epoch,
            "epochs_run": len(self.fit.history),
        }


def train_model(config: TrainConfig) -> TrainSummary:
    """Run the train stage (see the module docstring) and publish the model folder."""
    from genomeflow.tracking import active_run

    config = resolve_hyperparameters(config)
    prepared = prepare(config)
    splits = {name: split_of(prepared, frame) for name, frame in prepared.data.splits.items()}
    checkpoints = Path(config.checkpoints or f"{config.output}.checkpoints")
    if (checkpoints / LAST).exists() and not config.resume:
        raise InputError(
            f"{checkpoints}: checkpoints of an earlier run are there; pass --resume to continue "
            "it, or delete the folder to start again"
        )
    model = build_model(prepared.spec, config.attention, config.seed)
    run = active_run()
    run.log_params({"parameters": count_parameters(model), **used_params(config, prepared)})

    def report(epoch: int, record: dict[str, float], evaluation: Evaluation) -> None:
        for line in katib_lines(epoch, record, evaluation):
            print(line, flush=True)
        run.log_metrics(epoch_metrics(record), step=epoch)

    result = fit(
        model,
        splits["train"],
        splits["valid"],
        prepared.data.label_names,
        prepared.schedule,
        prepared.runtime,
        checkpoints=checkpoints,
        resume=config.resume,
        on_epoch=report,
    )
    if result.best_evaluation is None:
        raise InputError(
            f"{config.dataset}: the validation {config.metric} was undefined in every epoch "
            "(a class missing from valid?); rebuild the dataset or choose another --metric"
        )
    with atomic_directory(config.output) as folder:
        reports = folder / REPORTS
        reports.mkdir()
        write_evaluation(result.best_evaluation, reports, "valid_")
        write_history(result, reports, config.metric)
        test = evaluate_split(  # the test split, once
            model, splits["test"], prepared.data.label_names, prepared.schedule, prepared.runtime
        )
        write_evaluation(test, reports, "test_")
        params = resolved_hyperparameters(config, prepared)
        summary = TrainSummary(str(config.output), params, result.best_evaluation, test, result)
        save_model_folder(folder, config, prepared, model, summary, run.run_id)
    shutil.rmtree(checkpoints, ignore_errors=True)
    return summary


def used_params(config: TransformerConfig, prepared: Prepared) -> dict[str, Any]:
    """The resolved hyperparameters as MLflow params ``used.<name>``: the run's own params are
    the flags as given, and a sweep's best params or a params file may have replaced them."""
    from genomeflow.tracking.runs import USED_PREFIX

    return {
        f"{USED_PREFIX}{name}": value
        for name, value in resolved_hyperparameters(config, prepared).items()
    }


def resolved_hyperparameters(config: TransformerConfig, prepared: Prepared) -> dict[str, Any]:
    """The hyperparameters as used: window length and stride resolved from their defaults."""
    params = {name: getattr(config, name) for name in HYPERPARAMETERS}
    params["max_length"] = prepared.spec.max_length
    params["window_stride"] = default_stride(prepared.spec.max_length, prepared.stride)
    return params


def write_history(result: FitResult, reports: Path, metric: str) -> None:
    """The per-epoch table (epochs.tsv) and learning curves (learning_curve.png)."""
    import pandas as pd
    from matplotlib.figure import Figure

    table = pd.DataFrame(result.history)
    table.to_csv(reports / "epochs.tsv", sep="\t", index=False, float_format="%.6g")
    figure = Figure(figsize=(9, 3.6), layout="constrained")
    loss_axes, metric_axes = figure.subplots(1, 2)
    loss_axes.plot(table["epoch"], table["train_loss"], marker="o", label="train")
    loss_axes.plot(table["epoch"], table["valid_loss"], marker="o", label="valid")
    loss_axes.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    loss_axes.legend()
    metric_axes.plot(table["epoch"], table[f"valid_{metric}"], marker="o", color="C2")
    metric_axes.axvline(result.best_epoch, color="grey", linestyle="--", label="chosen epoch")
    metric_axes.set(xlabel="epoch", ylabel=metric, title=f"valid {metric}")
    metric_axes.legend()
    for axes in (loss_axes, metric_axes):
        axes.grid(alpha=0.3)
    figure.savefig(reports / "learning_curve.png", dpi=120)


def save_model_folder(
    folder: Path,
    config: TransformerConfig,
    prepared: Prepared,
    model: Any,
    summary: TrainSummary,
    run_id: str | None,
) -> None:
    """Weights (safetensors) + config.json, the tokeniser, metrics.json and the manifest."""
    model.to("cpu").save_pretrained(folder, safe_serialization=True)
    (folder / TOKENISER_FOLDER).mkdir()
    prepared.tokenizer.save(folder / TOKENISER_FOLDER)
    write_json(folder / "metrics.json", summary.metrics())
    valid = prepared.data.splits["valid"]["sequence"]
    manifest = {
        "stage": "train",
        "kind": "transformer",
        "genomeflow_version": __version__,
        "config": config.to_dict(),
        "params": summary.params,
        "model": prepared.spec.to_dict(),
        "window_stride": default_stride(prepared.spec.max_length, prepared.stride),
        "aggregate": config.aggregate,
        "label_names": prepared.data.label_names,
        "alphabet": prepared.data.alphabet,
        "dataset": {
            "path": str(config.dataset),
            "digest": file_digest(prepared.data.folder / DATASET_MANIFEST),
        },
        "run_id": run_id,
        "examples": [s[:500] for s in valid.head(2)],  # an input example for the registry
        "metrics": summary.metrics(),
    }
    write_json(folder / MANIFEST, manifest)
