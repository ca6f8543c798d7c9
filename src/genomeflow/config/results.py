"""Configs of the stages that use trained models: predict, register, interpret, compare,
evaluate and summarise."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from genomeflow.config.base import (
    StageConfig,
    _require,
    _text_columns,
    alphabet_option,
    duplicate_ids_option,
    label_column_option,
    option,
    text_column_option,
)
from genomeflow.metric_names import canonical_metric, metric_choice
from genomeflow.sequence.alphabet import Alphabet


@dataclass
class PredictConfig(StageConfig):
    """Settings of ``genomeflow predict``: class probabilities for new sequences."""

    model: str = option(
        help="model folder (genomeflow baseline or train), or models:/NAME@ALIAS",
        positional=True,
        role="input",
    )
    inputs: list[str] = option(
        help="FASTA/FASTQ files (plain or .gz) to score; a text model's: a text corpus (tables "
        "or plain-text files, one document per line)",
        positional=True,
        role="input",
    )
    output: str = option(
        help="predictions table: .csv, .tsv or .parquet (id, file, label, probability per class)",
        short="-o",
        role="output",
    )
    batch_size: int = option(1024, help="sequences scored per batch")
    reverse_complement: bool = option(
        False, help="average each sequence's probabilities with its reverse complement's"
    )
    alphabet: Alphabet | None = alphabet_option()
    text_column: str | None = text_column_option()
    allow_duplicate_ids: bool = duplicate_ids_option()

    def __post_init__(self) -> None:
        _require(bool(self.inputs), "give the FASTA/FASTQ files to score")
        _require(
            Path(self.output).suffix.lower() in (".csv", ".tsv", ".parquet"),
            f"--output {self.output}: end the name in .csv, .tsv or .parquet",
        )
        _require(self.batch_size >= 1, f"--batch-size must be at least 1, got {self.batch_size}")
        _text_columns(self)


# A registered model name genomeflow accepts. MLflow forbids '/' and ':' (and path tricks such as
# '..'); '@' would break `models:/NAME@alias` and spaces break command lines: a plain subset.
REGISTERED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,249}")


@dataclass
class RegisterConfig(StageConfig):
    """Settings of ``genomeflow register``: a new MLflow model version and the champion gate."""

    models: list[str] = option(
        help="model folders of one run, every one a candidate (genomeflow baseline or train): the "
        "best on the dataset's VALID split is the challenger",
        positional=True,
        role="input",
    )
    name: str = option(
        help="registered model name: letters, digits, '_', '.', '-' (e.g. promoters)", short="-n"
    )
    dataset: str = option(
        help="dataset folder whose test split scores challenger and champion (the challenger's "
        "dataset, or one with the same classes)",
        role="input",
    )
    metric: str = option(
        "f1_macro",
        help="the gate's metric (f1_macro, mcc, roc_auc, log_loss...; eval/f1 style accepted); "
        "lower-is-better metrics such as log_loss count a drop as a gain",
    )
    min_gain: float = option(
        0.0,
        help="the challenger becomes champion only if it beats the champion by more than this "
        "(0: strictly better; a tie keeps the champion)",
    )
    ensemble_top: int = option(
        3,
        help="also make the mean-probability ensemble of the K best candidates (on valid) a "
        "candidate; 0 or 1: no ensemble",
    )
    report: str | None = option(
        None, help="also write the gate decision to this JSON file", role="output"
    )

    def __post_init__(self) -> None:
        _require(bool(self.models), "give the model folder(s) to register")
        _require(
            self.ensemble_top >= 0, f"--ensemble-top must be 0 or more, got {self.ensemble_top}"
        )
        _require(
            isinstance(self.name, str) and REGISTERED_NAME.fullmatch(self.name) is not None,
            f"--name {self.name!r}: use letters, digits, '_', '.' and '-' only (no '/', ':', '@' "
            "or spaces), starting with a letter or digit, at most 250 characters",
        )
        _require(
            bool(self.dataset),
            "give --dataset: the dataset folder whose test split the gate scores",
        )
        self.metric = canonical_metric(self.metric)
        _require(
            self.min_gain >= 0 and self.min_gain != float("inf"),
            f"--min-gain must be a finite number >= 0, got {self.min_gain}",
        )
        _require(
            self.report is None or Path(self.report).suffix.lower() == ".json",
            f"--report {self.report}: end the file name in .json",
        )


@dataclass
class InterpretConfig(StageConfig):
    """Settings of ``genomeflow interpret``: Integrated Gradients reports and motif summaries."""

    model: str = option(
        help="transformer or CNN model folder (genomeflow train), or models:/NAME@ALIAS",
        positional=True,
        role="input",
    )
    output: str = option(
        help="report folder: index.html, sequences/, attributions, motif tables",
        short="-o",
        role="output",
    )
    inputs: list[str] = option(
        [],
        help="FASTA/FASTQ files to explain; a text model's: a text corpus (tables, whose label "
        "column gives the true labels when it has one, or plain-text files, one document per "
        "line)",
        role="input",
    )
    sequences: list[str] = option(
        [], help="literal sequences (a text model's: documents) to explain (ids seq1, seq2...)"
    )
    labels: list[str] = option(
        [],
        help="the true class of each input file, in order (shown in the reports; a text "
        "table's come from its label column)",
    )
    limit: int = option(500, help="most records read from the input files, in file order")
    pages: int = option(
        200,
        help="sequences given their own page and track plot, taken in turn from each "
        "attributed class (each plot takes about a second; the index, the attribution files "
        "and motif discovery cover every sequence)",
    )
    target: str | None = option(
        None, help="class to attribute to", shown="each sequence's predicted class"
    )
    steps: int = option(50, help="Integrated Gradients interpolation steps")
    baseline: Literal["pad", "shuffle"] = option(
        "pad", help="reference input: residue tokens as <pad>, or the same tokens shuffled"
    )
    batch_size: int = option(16, help="windows attributed per call (many sequences at once)")
    internal_batch_size: int = option(
        256, help="interpolated windows per forward pass (lower it if memory runs out)"
    )
    motif_k: int = option(0, help="k-mer length of the motif summary", shown="6; protein 3")
    motif_top: int = option(
        20, help="k-mers (a text model's: words) listed per class in the motif summary"
    )
    motif_min_support: int = option(
        5,
        help="sequences a k-mer (a text model's: documents a word) must occur in to be listed in "
        "the summary",
    )
    motif_discovery: bool = option(
        True, help="find motifs with TF-MoDISco in each class's attributions and name them"
    )
    motif_database: str | None = option(
        None,
        help="MEME or JASPAR motif file to name discovered motifs against",
        shown="JASPAR CORE",
        role="input",
    )
    jaspar_release: str | None = option(
        None,
        help="JASPAR release named against, e.g. JASPAR2024 (offline, from pyjaspar)",
        shown="the newest pyjaspar carries",
    )
    motif_taxon: str | None = option(
        None,
        help="JASPAR taxonomic group: vertebrates, insects, plants, fungi, nematodes...",
        shown="all",
    )
    motif_min_seqlets: int = option(
        20, help="seqlets a TF-MoDISco cluster needs to become a motif (and to cluster at all)"
    )
    motif_max_seqlets: int = option(
        2000, help="most seqlets of each sign clustered per class (time grows with it)"
    )
    seed: int = option(42, help="seed of shuffled baselines and control shuffles")
    alphabet: Alphabet | None = alphabet_option()
    text_column: str | None = text_column_option()
    label_column: str | None = label_column_option()

    def __post_init__(self) -> None:
        _require(
            bool(self.inputs or self.sequences),
            "give input files (FASTA/FASTQ, or a text model's corpus) and/or --sequences",
        )
        _require(
            not self.labels or len(self.labels) == len(self.inputs),
            f"--labels: give one class per input file ({len(self.inputs)}), got {len(self.labels)}",
        )
        self._check_choices()
        _require(self.pages >= 0, "--pages must be 0 or more")
        positive = ("limit", "steps", "batch_size", "internal_batch_size", "motif_top")
        for name in (*positive, "motif_min_support", "motif_min_seqlets", "motif_max_seqlets"):
            _require(getattr(self, name) >= 1, f"--{name.replace('_', '-')} must be at least 1")
        _require(self.motif_k >= 0, "--motif-k must be 0 (automatic) or more")
        _text_columns(self)


@dataclass
class CompareConfig(StageConfig):
    """Settings of ``genomeflow compare``: weightwatcher analysis of transformer models."""

    models: list[str] = option(
        help="transformer model folders (genomeflow train) or models:/NAME@ALIAS",
        positional=True,
        role="input",
    )
    output: str = option(
        help="report folder: layers.tsv, summary.tsv, alpha_histogram.png, alpha_by_layer.png, "
        "report.md, report.html",
        short="-o",
        role="output",
    )
    names: list[str] | None = option(
        None, help="a name per model, in order, for tables and plots", shown="the folder names"
    )

    def __post_init__(self) -> None:
        _require(
            bool(self.models), "give one or more model folders (or models:/NAME@ALIAS) to compare"
        )
        _require(bool(self.output), "give a report folder (--output compare/)")
        _require(
            self.names is None or len(self.names) == len(self.models),
            f"--names: give one name per model ({len(self.models)}), got {len(self.names or [])}",
        )


@dataclass
class EvaluateConfig(StageConfig):
    """Settings of ``genomeflow evaluate``: score a saved model on one split of a dataset."""

    model: str = option(
        help="model folder (genomeflow baseline or train) or models:/NAME@ALIAS",
        positional=True,
        role="input",
    )
    dataset: str = option(help="dataset folder with the model's classes", role="input")
    output: str = option(
        help="report folder: <split>_metrics.json, ROC/PR/confusion/calibration plots, report.html",
        short="-o",
        role="output",
    )
    split: Literal["train", "valid", "test"] = option("test", help="the split to score")

    def __post_init__(self) -> None:
        _require(bool(self.model), "give the model folder (or models:/NAME@ALIAS) to evaluate")
        _require(bool(self.dataset), "give the dataset to score it on (--dataset DATASET)")
        _require(bool(self.output), "give a report folder (--output evaluation/)")


@dataclass
class SummariseConfig(StageConfig):
    """Settings of ``genomeflow summarise``: one metric across runs and result folders."""

    output: str = option(
        help="report folder: runs.tsv, summary.tsv and METRIC.png (violin + box plot)",
        short="-o",
        role="output",
    )
    folders: list[str] = option(
        [],
        help="result folders: model folders (genomeflow train or baseline) and crossval folders",
        positional=True,
        shown="none",
        role="input",
    )
    from_experiment: str | None = option(
        None,
        help="MLflow experiment whose finished runs to summarise (train, baseline, crossval "
        "folds, sweep trials), read from the server of --tracking-uri, $MLFLOW_TRACKING_URI "
        "or `genomeflow services up`",
    )
    metric: str = option(
        "f1_macro",
        help="metric to compare (f1_macro, mcc, roc_auc, auc...); a prefix keeps one split: "
        "test_, cv_/held_ (cross-validation folds), valid_/eval/ (validation, sweep trials)",
        shown="f1_macro: test values, cv folds and sweep trials",
    )
    group_by: str = option(
        "stage",
        help="stage: the method each run trained (distilbert-tiny, tfidf+rf); name: the run "
        "or folder name; else a hyperparameter whose values are the groups (learning_rate)",
    )

    def __post_init__(self) -> None:
        _require(
            bool(self.folders) or bool(self.from_experiment),
            "give result folders and/or --from-experiment NAME to summarise",
        )
        _require(bool(self.output), "give a report folder (--output summary/)")
        _require(bool(self.group_by), "--group-by: give stage, name or a hyperparameter name")
        metric_choice(self.metric)  # fail early on a metric genomeflow does not compute
