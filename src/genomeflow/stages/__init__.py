"""The stage layer: every stage genomeflow runs, by name, and the one way to run it.

A stage takes its config (genomeflow.config) and returns a summary whose ``metrics()`` are what
MLflow records. The name is the same everywhere: the CLI command (``genomeflow train``), the KFP
component and task (``train``), the MLflow run (``train``; ``tokens compare`` runs as
``tokens-compare``). The CLI, the KFP components and the tracking wrapper all go through
:func:`run_stage`; the CLI adds only what it prints.

Stage functions are named ``"module:function"`` and imported when the stage runs: most of them
pull in torch, transformers or MLflow, and ``genomeflow --help`` should not wait for those.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from genomeflow.config import (
    BaselineConfig,
    CompareConfig,
    CrossvalConfig,
    DatasetConfig,
    EvaluateConfig,
    InterpretConfig,
    PredictConfig,
    PretrainConfig,
    RegisterConfig,
    StageConfig,
    SummariseConfig,
    SweepConfig,
    SyntheticConfig,
    TokeniseConfig,
    TokensCompareConfig,
    TokensInspectConfig,
    TokensMergeConfig,
    TrainConfig,
    ValidateConfig,
)

Metrics = dict[str, float]  # what a stage reports; logged to MLflow when tracking is on


class Summary(Protocol):
    """What every stage function returns."""

    def metrics(self) -> Mapping[str, float]: ...


@dataclass(frozen=True)
class Stage:
    """One stage: its name, config class, function and one-line description.

    Attributes:
        name: the CLI command (``train``, ``tokens compare``).
        config: the stage's config dataclass.
        function: ``"module:function"``, taking the config and returning a :class:`Summary`.
        help: one line for ``--help``.
        long: MLflow samples CPU/memory (and GPU) while it runs.
    """

    name: str
    config: type[StageConfig]
    function: str
    help: str
    long: bool = False

    @property
    def run_name(self) -> str:
        """The MLflow run's (and KFP task's) name: words joined by ``-``."""
        return self.name.replace(" ", "-")

    def run(self, config: StageConfig) -> Summary:
        """Run the stage on ``config`` (local paths) and return its summary."""
        module, _, name = self.function.partition(":")
        return getattr(importlib.import_module(module), name)(config)


STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in (
        Stage(
            "validate",
            ValidateConfig,
            "genomeflow.stages.validate:validate_files",
            "check FASTA/FASTQ files (format, alphabet, ids) and summarise them",
        ),
        Stage(
            "tokenise",
            TokeniseConfig,
            "genomeflow.tokenise.build:train_tokeniser",
            "learn (unigram, bpe) or build (char, kmer) a tokeniser folder from sequences",
            long=True,
        ),
        Stage(
            "tokens compare",
            TokensCompareConfig,
            "genomeflow.tokenise.qc.stages:tokens_compare",
            "compare tokenisers: vocabulary overlap, per-token score variance and outliers",
        ),
        Stage(
            "tokens merge",
            TokensMergeConfig,
            "genomeflow.tokenise.qc.stages:tokens_merge",
            "merge unigram tokenisers (inner/outer union, mean/median/min/max scores)",
        ),
        Stage(
            "tokens inspect",
            TokensInspectConfig,
            "genomeflow.tokenise.qc.stages:tokens_inspect",
            "inspect a tokeniser: vocabulary, token lengths, coverage of FASTA files",
        ),
        Stage(
            "dataset",
            DatasetConfig,
            "genomeflow.data.build:build_dataset",
            "split labelled sequences by source (grouped, stratified), augment train, tokenise",
            long=True,
        ),
        Stage(
            "baseline",
            BaselineConfig,
            "genomeflow.train.baseline:train_baseline",
            "train a classic classifier (count/tfidf/word2vec/onehot x rf/xgb/logreg), "
            "optionally swept, cross-validated, evaluated once on test",
            long=True,
        ),
        Stage(
            "pretrain",
            PretrainConfig,
            "genomeflow.train.pretrain:pretrain_model",
            "pretrain a masked language model (distilbert/bert/longformer/modernbert) on "
            "unlabelled FASTA/FASTQ sequences, or a dataset's train split, for train --init-from",
            long=True,
        ),
        Stage(
            "train",
            TrainConfig,
            "genomeflow.train.train:train_model",
            "train a transformer (distilbert/bert/longformer/modernbert) or convolutional (cnn) "
            "classifier, early-stopped on valid, evaluated once on test",
            long=True,
        ),
        Stage(
            "evaluate",
            EvaluateConfig,
            "genomeflow.stages.evaluate:evaluate_model",
            "score a saved model on one split of a dataset: metrics from probabilities, plots "
            "and an HTML report",
        ),
        Stage(
            "crossval",
            CrossvalConfig,
            "genomeflow.train.crossval:crossval_model",
            "cross-validate the transformer recipe: grouped stratified folds, a fresh model each",
            long=True,
        ),
        Stage(
            "sweep",
            SweepConfig,
            "genomeflow.train.sweep:sweep_model",
            "tune transformer hyperparameters on valid with a wandb-style sweep spec (Optuna "
            "here, or a Katib Experiment with --backend katib)",
            long=True,
        ),
        Stage(
            "interpret",
            InterpretConfig,
            "genomeflow.interpret.stage:interpret_sequences",
            "explain a transformer's or CNN's predictions: batched Integrated Gradients, HTML "
            "reports, TF-MoDISco motifs named against JASPAR or a motif file, top k-mers per class",
            long=True,
        ),
        Stage(
            "predict",
            PredictConfig,
            "genomeflow.predict:predict_files",
            "score FASTA/FASTQ sequences with a saved model: label and probability per class",
        ),
        Stage(
            "synthetic",
            SyntheticConfig,
            "genomeflow.synthetic:make_controls",
            "write control sequences (k-let shuffles, Markov samples, block bootstraps)",
        ),
        Stage(
            "compare",
            CompareConfig,
            "genomeflow.compare.stage:compare_models",
            "compare transformer models without data: weightwatcher alpha per layer, plots and "
            "an HTML report",
        ),
        Stage(
            "summarise",
            SummariseConfig,
            "genomeflow.compare.summarise:summarise_runs",
            "summarise one metric across MLflow runs and result folders: a table and a violin "
            "plot per method",
        ),
        Stage(
            "register",
            RegisterConfig,
            "genomeflow.stages.register:register_model",
            "register a model in MLflow as a new version (alias challenger); promote it to "
            "champion if it beats the champion on a test split",
        ),
    )
}


def run_stage(
    name: str,
    config: StageConfig,
    tracking_uri: str | None = None,
    experiment: str = "genomeflow",
    overwrite: bool = False,
    report: Callable[[StageConfig, Any], None] | None = None,
) -> Metrics:
    """Run the stage ``name`` inside an MLflow run (when tracking is on), s3:// paths local.

    Inside a pipeline task (``KFP_RUN_ID`` set) the run is a child of the pipeline's run. An
    existing output is refused unless ``overwrite`` (and genomeflow wrote it); an output that
    overlaps an input always is (genomeflow.storage.guard).

    Args:
        name: a key of :data:`STAGES`.
        config: the stage's settings.
        tracking_uri: MLflow URI; default $MLFLOW_TRACKING_URI, else the local services,
            ``none`` untracked.
        experiment: the MLflow experiment.
        overwrite: an existing output genomeflow wrote may be replaced.
        report: called with the (local) config and the summary inside the run, e.g. the CLI's
            printer.

    Returns:
        The stage's metrics.
    """
    from genomeflow.tracking import Tracker, resolve_tracking_uri
    from genomeflow.tracking.stage import run_tracked_stage
    from genomeflow.train.distributed import Processes

    stage = STAGES[name]
    if not Processes.from_env().main:  # a training worker: rank 0 checks, records, publishes
        with config.localised() as local:  # its own copy of s3:// inputs; it writes no output
            stage.run(local)
        return {}

    def body(local: StageConfig) -> Mapping[str, float]:
        summary = stage.run(local)
        if report is not None:
            report(local, summary)
        return summary.metrics()

    tracker = Tracker(resolve_tracking_uri(tracking_uri), experiment)
    metrics, published = run_tracked_stage(
        stage.run_name, config, body, tracker, stage.long, overwrite=overwrite
    )
    for uri in published:
        print(f"published to {uri}")
    return metrics


def run_command(
    name: str,
    settings: Mapping[str, Any],
    experiment: str = "genomeflow",
    tracking_uri: str | None = None,
    overwrite: bool = False,
) -> Metrics:
    """Run a stage from a mapping of its settings, as a pipeline component does.

    Args:
        name: a key of :data:`STAGES` (``train``, ``tokens inspect``...).
        settings: the stage config's fields (validated by the config's ``from_mapping``).
        experiment: the MLflow experiment.
        tracking_uri: MLflow URI; default $MLFLOW_TRACKING_URI, else the local services.
        overwrite: an existing output genomeflow wrote may be replaced (a retried step's own).

    Returns:
        The stage's metrics (what MLflow records).
    """
    config = STAGES[name].config.from_mapping(settings, source=f"the {name} step's settings")
    return run_stage(name, config, tracking_uri, experiment, overwrite)
