"""The ``genomeflow`` command line: one parser, one subcommand per stage.

Each subcommand's flags are generated from its stage config dataclass (genomeflow.config);
the handler builds the config (defaults < ``--config`` file < flags), calls one library
function and prints a short report. User errors become one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import logging
import os
import sys
import traceback
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from genomeflow import __version__
from genomeflow.config import (
    BaselineConfig,
    CompareConfig,
    CrossvalConfig,
    DatasetConfig,
    EvaluateConfig,
    InterpretConfig,
    PipelineConfig,
    PredictConfig,
    PretrainConfig,
    RegisterConfig,
    ServicesConfig,
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
    read_settings_file,
)
from genomeflow.errors import GenomeflowError

log = logging.getLogger("genomeflow")

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _unwrap_optional(annotation: Any) -> Any:
    """``X | None`` -> ``X``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def _show(value: Any) -> str:
    """A default as the user would type it: ``0.8 0.1 0.1``, ``dna``, ``none``."""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, list):
        return " ".join(map(str, value))
    return "none" if value is None else str(value)


def add_config_arguments(parser: argparse.ArgumentParser, config_class: type) -> None:
    """Add one argument per field of a config dataclass, help text showing its default.

    Options the user does not give are left out of the namespace (argparse.SUPPRESS), so a
    ``--config`` file can supply them.
    """
    hints = typing.get_type_hints(config_class)
    for item in dataclasses.fields(config_class):
        annotation = _unwrap_optional(hints[item.name])
        required = (
            item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING
        )
        default = (
            item.default_factory()
            if item.default_factory is not dataclasses.MISSING
            else item.default
        )
        text = item.metadata["help"]
        if not required:
            text += f" (default: {item.metadata['shown'] or _show(default)})"
        else:
            text += " (required)"
        kwargs: dict[str, Any] = {"help": text, "default": argparse.SUPPRESS}
        origin = typing.get_origin(annotation)
        if annotation is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif origin is list:
            kwargs["nargs"] = "*" if item.metadata["positional"] else "+"
            kwargs["type"] = typing.get_args(annotation)[0]
        elif origin is typing.Literal:
            kwargs["choices"] = list(typing.get_args(annotation))
        elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            kwargs["choices"] = [member.value for member in annotation]
        else:
            kwargs["type"] = annotation
        if item.metadata["positional"]:
            parser.add_argument(item.name, metavar=item.name.upper(), **kwargs)
        else:
            flags = [item.metadata["short"], _flag(item.name)]
            parser.add_argument(*filter(None, flags), dest=item.name, **kwargs)


def config_from_args(config_class: type[StageConfig], args: argparse.Namespace) -> Any:
    """Merge dataclass defaults < ``--config`` file < flags given, and build the config."""
    names = {item.name for item in dataclasses.fields(config_class)}  # type: ignore[arg-type]
    given = {name: value for name, value in vars(args).items() if name in names}
    if given.get("inputs") == []:  # an empty positional list means "not given"
        given.pop("inputs")
    if args.config:
        return config_class.from_mapping(
            {**read_settings_file(args.config), **given}, source=args.config
        )
    return config_class.from_mapping(given, source="command line")


# --- handlers: build the config, call one library function, report -------------------------


def run_validate(config: ValidateConfig) -> Metrics:
    from genomeflow.io.summary import summarise_file
    from genomeflow.storage import check_writable, write_json

    if config.json:
        check_writable(config.json)  # before every file is read, not after
    seen_ids: dict[str, Any] = {}  # shared: an id repeated in another file is refused too
    summaries = [
        summarise_file(path, config.alphabet, config.allow_duplicate_ids, seen_ids)
        for path in config.inputs
    ]
    columns = ["records", "residues", "min_length", "median_length", "max_length", "n50"]
    header = ["file", "alphabet", *columns, "gc_%", "ambiguous_%", "lowercase_%"]
    rows = [
        [
            s.path,
            s.alphabet,
            *(f"{getattr(s, c):g}" for c in columns),
            "-" if s.gc_percent is None else f"{s.gc_percent:.2f}",
            f"{s.ambiguous_percent:.3f}",
            f"{s.lowercase_percent:.3f}",
        ]
        for s in summaries
    ]
    print_table(header, rows)
    if config.json:
        write_json(config.json, [s.to_dict() for s in summaries])
        print(f"summary written to {config.json}")
    return {
        "records": sum(x.records for x in summaries),
        "residues": sum(x.residues for x in summaries),
    }


def run_synthetic(config: SyntheticConfig) -> Metrics:
    from genomeflow.synthetic import make_controls

    summary = make_controls(config)
    print(
        f"wrote {summary.controls} controls ({summary.residues:,} residues) of "
        f"{summary.inputs} sequences to {summary.output}"
    )
    return {"controls": summary.controls, "residues": summary.residues}


def run_tokenise(config: TokeniseConfig) -> Metrics:
    from genomeflow.tokenise import GenomeTokenizer, train_tokeniser

    summary = train_tokeniser(config)
    trained = (
        f", trained on {summary.trained_on_residues:,} residues"
        if summary.trained_on_residues
        else ""
    )
    print(
        f"wrote {summary.method} tokeniser ({summary.vocab_size:,} tokens, {summary.alphabet}) to "
        f"{summary.output} from {summary.corpus_records:,} records / "
        f"{summary.corpus_residues:,} residues{trained}"
    )
    if config.example:
        tokens = GenomeTokenizer.load(summary.output).tokens(config.example)
        print(f"{config.example} -> {' '.join(tokens)}")
    return {
        "vocab_size": summary.vocab_size,
        "corpus_residues": summary.corpus_residues,
        "trained_on_residues": summary.trained_on_residues,
    }


def run_dataset(config: DatasetConfig) -> Metrics:
    from genomeflow.data import SPLITS, build_dataset

    summary = build_dataset(config)
    header = ["split", *summary.label_names, "total"]
    rows = [
        [
            split,
            *(str(summary.rows[split].get(name, 0)) for name in summary.label_names),
            str(sum(summary.rows[split].values())),
        ]
        for split in SPLITS
    ]
    print_table(header, rows, left=1)
    note = f"; {summary.truncated} rows truncated" if summary.truncated else ""
    grouping = summary.grouping
    clustered = grouping.get("method") == "similarity"
    if clustered:
        print(
            f"grouped by similarity ({grouping['tool']}, identity >= {grouping['min_identity']:g}"
            f", coverage >= {grouping['coverage']:g}): {grouping['clusters']} clusters, "
            f"{grouping['mixed_label_clusters']} with mixed labels"
        )
    print(f"dataset written to {summary.output}{note}")
    return (
        {f"rows_{split}": sum(summary.rows[split].values()) for split in SPLITS}
        | {"truncated_rows": summary.truncated}
        | ({"clusters": grouping["clusters"]} if clustered else {})
    )


SHOWN_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "mcc", "roc_auc", "pr_auc")


def run_baseline(config: BaselineConfig) -> Metrics:
    from genomeflow.models.baseline import train_baseline

    summary = train_baseline(config)
    metrics = summary.metrics()
    print_scores(metrics, ("valid", "test"), config.folds if summary.cv else 0)
    params = _params(summary.params)
    print(f"{config.features} + {config.model} written to {summary.output} ({params})")
    return metrics


def run_train(config: TrainConfig) -> Metrics:
    from genomeflow.train.train import train_model

    summary = train_model(config)
    metrics = summary.metrics()
    print_scores(metrics, ("valid", "test"))
    stop = ", stopped early" if summary.fit.stopped_early else ""
    print(
        f"{summary.model} written to {summary.output} (epoch "
        f"{summary.fit.best_epoch} of {len(summary.fit.history)} chosen on valid{stop}; "
        f"{_params(summary.params)})"
    )
    return metrics


def run_pretrain(config: PretrainConfig) -> Metrics:
    from genomeflow.train.pretrain import pretrain_model

    summary = pretrain_model(config)
    corpus = summary.corpus
    resumed = f", resumed at step {summary.resumed_from}" if summary.resumed_from else ""
    scores = ", ".join(f"{name} {value:.4g}" for name, value in summary.final.items())
    print(
        f"{config.architecture}-{config.preset} masked LM written to {summary.output} after "
        f"{summary.steps} steps{resumed} on {corpus['records']:,} records / "
        f"{corpus['windows']:,} windows / {corpus['tokens']:,} tokens ({scores}); fine-tune "
        f"it: genomeflow train DATASET -o MODEL --init-from {summary.output}"
    )
    return summary.metrics()


def run_evaluate(config: EvaluateConfig) -> Metrics:
    from genomeflow.evaluate.stage import evaluate_model

    summary = evaluate_model(config)
    print_scores(summary.metrics(), (config.split,))
    print(f"metrics, plots and report.html written to {summary.output}")
    return summary.metrics()


def run_crossval(config: CrossvalConfig) -> Metrics:
    from genomeflow.train.crossval import crossval_model

    summary = crossval_model(config)
    print_scores(summary.metrics(), (), config.folds)
    print(f"fold table and box plot written to {summary.output}")
    return summary.metrics()


def run_sweep(config: SweepConfig) -> Metrics:
    if config.backend == "katib":  # --dry-run: print the Experiment; else run it on the cluster
        from genomeflow.sweep import katib

        sweep = katib.katib_sweep(config)
        if config.dry_run:
            print(sweep.to_yaml(), end="")
            return {}
        result = katib.run_katib_sweep(sweep, config.output, config.timeout)
        best = "-" if result.best_value is None else f"{result.best_value:.4f}"
        print(
            f"best valid {result.metric} {best} in trial {result.best_trial} of Katib Experiment "
            f"{result.experiment} ({result.trials} trials, {result.early_stopped} stopped early, "
            f"{result.failed} failed): {_params(result.params)}"
        )
        print(
            f"best_params.json written to {config.output}; train with them: genomeflow train "
            f"{config.dataset} -o MODEL --params-file {config.output}/best_params.json"
        )
        return result.metrics()
    from genomeflow.train.sweep import sweep_model

    summary = sweep_model(config)
    print(
        f"best valid {summary.metric} {summary.best_value:.4f} of {summary.trials} trials "
        f"({summary.pruned} pruned, {summary.failed} failed): {_params(summary.best_params)}"
    )
    print(
        f"trials and best_params.json written to {summary.output}; train with them: genomeflow "
        f"train {config.dataset} -o MODEL --params-file {summary.output}/best_params.json"
    )
    return summary.metrics()


def run_interpret(config: InterpretConfig) -> Metrics:
    from genomeflow.interpret.stage import interpret_sequences

    summary = interpret_sequences(config)
    zero = f"; {summary.zero_norm} with all-zero attributions" if summary.zero_norm else ""
    print(
        f"attributed {summary.sequences} sequences (largest convergence delta "
        f"{summary.max_delta:.3g}{zero}); report: {summary.output}/index.html"
    )
    for target, kmer in summary.top_motifs.items():
        print(f"top k-mer towards {target}: {kmer}")
    return summary.metrics()


def run_compare(config: CompareConfig) -> Metrics:
    from genomeflow.compare.weights import compare_models

    summary = compare_models(config.models, config.output, config.names)
    rows = [
        [
            analysis.name,
            str(analysis.summary["analysed"]),
            str(analysis.summary["failed"]),
            f"{analysis.summary['alpha_mean']:.2f}",
            f"{100 * analysis.summary['alpha_in_band_share']:.0f}%",
            str(analysis.summary["alpha_above_6"]),
            str(analysis.summary["alpha_below_2"]),
        ]
        for analysis in summary.analyses
    ]
    header = ["model", "layers", "failed", "mean alpha", "2<=alpha<=6", "alpha>6", "alpha<2"]
    print_table(header, rows, left=1)
    for analysis in summary.analyses:
        for problem in analysis.failures:
            print(f"note: {analysis.name}: layer {problem.name} not analysed: {problem.reason}")
    print(f"report written to {summary.output}: {', '.join(summary.files)}")
    return summary.metrics()


def run_summarise(config: SummariseConfig) -> Metrics:
    from genomeflow.compare.summarise import summarise_runs

    summary = summarise_runs(
        config.from_experiment, config.folders, config.metric, config.output, config.group_by
    )
    columns = ("mean", "sd", "median", "min", "max")
    rows = [
        [
            str(row["group"]),
            row["split"],
            str(row["n"]),
            *(_score(None if row[c] != row[c] else row[c]) for c in columns),  # NaN sd: "-"
        ]
        for row in summary.summary.to_dict("records")
    ]
    print_table(["group", "split", "n", *columns], rows)
    print(
        f"{summary.rows} {summary.metric} values; table and plot written to {summary.output}: "
        f"{', '.join(summary.files)}"
    )
    return summary.metrics()


def print_scores(metrics: Metrics, splits: Sequence[str], folds: int = 0) -> None:
    """A table of the shown metrics: one row per split, and the CV mean±sd when ``folds``."""
    rows = [
        [split, *(_score(metrics.get(f"{split}_{name}")) for name in SHOWN_METRICS)]
        for split in splits
    ]
    if folds:
        rows.append(
            [
                f"cv ({folds} folds)",
                *(
                    f"{_score(metrics.get(f'cv_{name}_mean'))}±{_score(metrics.get(f'cv_{name}_sd'))}"
                    for name in SHOWN_METRICS
                ),
            ]
        )
    print_table(["split", *SHOWN_METRICS], rows, left=1)


def _params(params: dict[str, Any]) -> str:
    return ", ".join(
        f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
        for name, value in params.items()
    )


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def run_predict(config: PredictConfig) -> Metrics:
    from genomeflow.predict import predict_files

    summary = predict_files(config)
    counts = ", ".join(f"{label}: {n:,}" for label, n in summary.per_label.items())
    print(f"scored {summary.rows:,} sequences ({counts}) into {summary.output}")
    return {"rows": summary.rows}


def run_tokens_compare(config: TokensCompareConfig) -> Metrics:
    from genomeflow.tokenise.qc import compare_tokenisers, write_comparison

    result = compare_tokenisers(config.tokenisers, config.names)
    written = write_comparison(result, config.output)
    print("token overlap, % of the row tokeniser's tokens also in the column tokeniser's:")
    print_table(
        ["", *result.names],
        [
            [name, *(f"{value:.1f}" for value in row)]
            for name, row in zip(result.names, result.contained_pct, strict=True)
        ],
        left=1,
    )
    summary = result.summary()
    print(
        f"{summary['tokens_in_all']:,} of {summary['tokens_in_union']:,} tokens are in every "
        f"tokeniser; {len(summary['outliers'])} score-variance outliers"
    )
    for note in result.notes:
        print(f"note: {note}")
    print(f"report written to {config.output}: {', '.join(p.name for p in written)}")
    return {"tokens_in_all": summary["tokens_in_all"], "outliers": len(summary["outliers"])}


def run_tokens_merge(config: TokensMergeConfig) -> Metrics:
    from genomeflow.tokenise import GenomeTokenizer
    from genomeflow.tokenise.qc import merge_tokenisers

    folder = merge_tokenisers(
        config.tokenisers, config.output, config.how, config.pooling, config.names
    )
    size = GenomeTokenizer.load(folder).vocab_size
    print(
        f"merged {len(config.tokenisers)} tokenisers ({config.how}, {config.pooling}) into "
        f"{folder}: {size:,} tokens"
    )
    return {"vocab_size": size}


def run_tokens_inspect(config: TokensInspectConfig) -> Metrics:
    from genomeflow.tokenise.qc import inspect_tokeniser, write_inspection

    result = inspect_tokeniser(config.tokeniser, config.fasta)
    written = write_inspection(result, config.output)
    print(
        f"{result.folder}: {result.method} tokeniser for {result.alphabet}, "
        f"{result.vocab_size:,} tokens, mean token length {result.mean_token_length:.2f} residues"
    )
    if result.coverage is not None:
        cover = result.coverage
        print(
            f"on {cover.records:,} sequences: {100 * cover.residue_coverage:.2f}% of residues "
            f"in known tokens, {100 * cover.unknown_share:.2f}% <unk> tokens, "
            f"{cover.tokens_per_sequence:.1f} tokens per sequence, "
            f"{cover.residues_per_token:.2f} residues per token"
        )
    print(f"report written to {config.output}: {', '.join(p.name for p in written)}")
    return {"vocab_size": result.vocab_size}


def run_services(config: ServicesConfig) -> Metrics:
    from genomeflow.services import services_down, services_status, services_up

    if config.action == "up":
        state = services_up(config)
        store = state.get("object_store")
        if store:
            print(f"object store: {store['endpoint']} bucket {store['bucket']}")
        print(f"MLflow UI: {state['mlflow']['uri']} (artifacts: {state['mlflow']['artifacts']})")
    elif config.action == "down":
        stopped = services_down(config)
        print(
            f"stopped: {', '.join(stopped)}" if stopped else "nothing genomeflow started is running"
        )
    else:
        for name, status in services_status(config).items():
            print(f"{name}: {status}")
    return {}


def run_register(config: RegisterConfig) -> Metrics:
    from genomeflow.tracking.registry import register_model

    summary = register_model(config)
    print(
        f"registered {summary.name} version {summary.version} "
        f"(aliases: {', '.join(summary.aliases)})"
    )
    champion = "-" if summary.champion_version is None else str(summary.champion_version)
    print_table(
        ["model", "version", summary.metric],
        [
            ["challenger", str(summary.version), _score(summary.challenger_score)],
            ["champion (before)", champion, _score(summary.champion_score)],
        ],
        left=1,
    )
    print(f"gate: {'promoted' if summary.promoted else 'refused'}: {summary.reason}")
    if config.report:
        print(f"decision written to {config.report}")
    return {}  # register_model recorded the version and the gate's scores on the run


def run_pipeline(config: PipelineConfig) -> Metrics:
    from genomeflow.pipelines import run
    from genomeflow.tracking import resolve_tracking_uri

    if config.action == "compile":
        print(f"compiled the {config.pipeline} pipeline to {run.compile_pipeline(config)}")
    elif config.action == "submit":
        submitted = run.submit(config)
        print(f"submitted run {submitted['run_id']}: {submitted['url']}")
        if "state" in submitted:
            print(f"run ended: {submitted['state']}")
            if resolve_tracking_uri() is not None:  # e.g. CI with MLFLOW_TRACKING_URI set
                print_pipeline_summary(submitted["run_id"], submitted["experiment"])
            if submitted["state"] != "SUCCEEDED":
                raise run.PipelineError(f"run {submitted['run_id']} ended {submitted['state']}")
    else:
        print_pipeline_summary(*run.run_local(config))
    return {}


def print_pipeline_summary(kfp_run_id: str, experiment: str) -> None:
    """The stage table of a finished local run, where to see it, and the gate's decision."""
    from genomeflow.tracking import Tracker, resolve_tracking_uri
    from genomeflow.tracking.pipeline import (
        SUMMARY_METRICS,
        pipeline_parent,
        stage_row,
        stage_runs,
    )

    tracker = Tracker(resolve_tracking_uri(), experiment)
    parent = pipeline_parent(tracker, kfp_run_id)
    if parent is None:
        print(f"no MLflow run is tagged kfp.run_id={kfp_run_id}")
        return
    runs = stage_runs(tracker, parent)
    rows = [stage_row(run) for run in runs]
    print_table(
        ["stage", "status", "seconds", *SUMMARY_METRICS],
        [
            [
                row["stage"],
                row["status"],
                f"{row['seconds']:.0f}",
                *(_score(row[m]) for m in SUMMARY_METRICS),
            ]
            for row in rows
        ],
    )
    experiment_id = runs[0].info.experiment_id if runs else "0"
    print(f"MLflow UI: {tracker.uri}/#/experiments/{experiment_id}/runs/{parent}")
    for run in runs:
        tags, scores = run.data.tags, run.data.metrics
        if "genomeflow.registered_model" in tags:
            name, metric = tags["genomeflow.registered_model"], run.data.params.get("metric")
            versus = (
                f" against the champion's {_score(scores['gate_champion_score'])}"
                if "gate_champion_score" in scores
                else " (no champion before)"
            )
            print(
                f"registered model: {name} version {tags['genomeflow.registered_version']}, "
                f"{metric} {_score(scores.get('gate_challenger_score'))}{versus}: gate "
                f"{tags.get('gate.decision')}; serve models:/{name}@champion"
            )


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 2) -> None:
    """Print rows as aligned columns: the first ``left`` columns left-aligned, numbers right."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in [header, *rows]:
        cells = [
            f"{cell:<{width}}" if index < left else f"{cell:>{width}}"
            for index, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


LONG_STAGES = {
    "pretrain",
    "tokenise",
    "dataset",
    "baseline",
    "train",
    "crossval",
    "sweep",
    "interpret",
}  # MLflow samples CPU/memory (and GPU) while they run
UNTRACKED = {
    "services",
    "pipeline",
}  # commands that are not stages: no MLflow run, no s3:// staging
Metrics = dict[str, float]  # what a stage reports; logged to MLflow when tracking is on

COMMANDS: dict[str, tuple[type[StageConfig], Callable[[Any], Metrics], str]] = {
    "validate": (
        ValidateConfig,
        run_validate,
        "check FASTA/FASTQ files (format, alphabet, ids) and summarise them",
    ),
    "tokenise": (
        TokeniseConfig,
        run_tokenise,
        "learn (unigram, bpe) or build (char, kmer) a tokeniser folder from sequences",
    ),
    "services": (
        ServicesConfig,
        run_services,
        "start, stop or check the local MLflow server and S3 object store",
    ),
    "tokens compare": (
        TokensCompareConfig,
        run_tokens_compare,
        "compare tokenisers: vocabulary overlap, per-token score variance and outliers",
    ),
    "tokens merge": (
        TokensMergeConfig,
        run_tokens_merge,
        "merge unigram tokenisers (inner/outer union, mean/median/min/max scores)",
    ),
    "tokens inspect": (
        TokensInspectConfig,
        run_tokens_inspect,
        "inspect a tokeniser: vocabulary, token lengths, coverage of FASTA files",
    ),
    "dataset": (
        DatasetConfig,
        run_dataset,
        "split labelled sequences by source (grouped, stratified), augment train, tokenise",
    ),
    "baseline": (
        BaselineConfig,
        run_baseline,
        "train a classic classifier (count/tfidf/word2vec/onehot x rf/xgb/logreg), optionally "
        "swept, cross-validated, evaluated once on test",
    ),
    "pretrain": (
        PretrainConfig,
        run_pretrain,
        "pretrain a masked language model (distilbert/bert/longformer/modernbert) on unlabelled "
        "FASTA/FASTQ sequences, or a dataset's train split, for train --init-from",
    ),
    "train": (
        TrainConfig,
        run_train,
        "train a transformer (distilbert/bert/longformer/modernbert) or convolutional (cnn) "
        "classifier, early-stopped on valid, evaluated once on test",
    ),
    "evaluate": (
        EvaluateConfig,
        run_evaluate,
        "score a saved model on one split of a dataset: metrics from probabilities, plots and an "
        "HTML report",
    ),
    "crossval": (
        CrossvalConfig,
        run_crossval,
        "cross-validate the transformer recipe: grouped stratified folds, a fresh model each",
    ),
    "sweep": (
        SweepConfig,
        run_sweep,
        "tune transformer hyperparameters on valid with a wandb-style sweep spec (Optuna here, "
        "or a Katib Experiment with --backend katib)",
    ),
    "interpret": (
        InterpretConfig,
        run_interpret,
        "explain a transformer's predictions: batched Integrated Gradients, HTML reports, "
        "attribution files and top k-mers per class",
    ),
    "predict": (
        PredictConfig,
        run_predict,
        "score FASTA/FASTQ sequences with a saved model: label and probability per class",
    ),
    "synthetic": (
        SyntheticConfig,
        run_synthetic,
        "write control sequences (k-let shuffles, Markov samples, block bootstraps)",
    ),
    "compare": (
        CompareConfig,
        run_compare,
        "compare transformer models without data: weightwatcher alpha per layer, plots and an "
        "HTML report",
    ),
    "summarise": (
        SummariseConfig,
        run_summarise,
        "summarise one metric across MLflow runs and result folders: a table and a violin plot "
        "per method",
    ),
    "pipeline": (
        PipelineConfig,
        run_pipeline,
        "compile the Kubeflow pipelines to YAML, run one on the KFP local runner, or submit it "
        "to a Kubeflow Pipelines endpoint",
    ),
    "register": (
        RegisterConfig,
        run_register,
        "register a model in MLflow as a new version (alias challenger); promote it to "
        "champion if it beats the champion on a test split",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: global options and one subparser per command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log debug messages and show tracebacks of errors",
    )
    parser = argparse.ArgumentParser(
        prog="genomeflow",
        description="Labelled biological sequences in; trained, evaluated, explained and "
        "registered classifiers out.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"genomeflow {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    groups: dict[str, Any] = {}  # "tokens" -> its subparsers, for two-word commands
    for name, (config_class, _, summary) in COMMANDS.items():
        group, _, leaf = name.rpartition(" ")
        if group and group not in groups:
            holder = commands.add_parser(group, help=f"{group} subcommands", parents=[common])
            groups[group] = holder.add_subparsers(
                dest="subcommand", metavar="SUBCOMMAND", required=True
            )
        sub = (groups[group] if group else commands).add_parser(
            leaf, help=summary, description=summary[0].upper() + summary[1:] + ".", parents=[common]
        )
        sub.set_defaults(command=name)
        sub.add_argument(
            "--config",
            metavar="FILE",
            help="YAML/JSON file of settings; flags given on the command line win (default: none)",
        )
        add_config_arguments(sub, config_class)
        if name == "pipeline" or any(
            item.metadata.get("role") == "output"
            for item in dataclasses.fields(config_class)  # type: ignore[arg-type]
        ):
            sub.add_argument(
                "--overwrite",
                action="store_true",
                default=False,
                help="replace an existing output, if genomeflow wrote it: a folder with its "
                "marker, an unchanged file it wrote (never an input, nor the current folder) "
                "(default: an existing output is an error)",
            )
        if name not in UNTRACKED:
            sub.add_argument(
                "--tracking-uri",
                default=None,
                help="MLflow tracking URI; 'none' to run untracked (default: $MLFLOW_TRACKING_URI, "
                "else the server of `genomeflow services up`, else untracked)",
            )
            sub.add_argument(
                "--experiment",
                default=os.environ.get("GENOMEFLOW_EXPERIMENT", "genomeflow"),
                help="MLflow experiment, one per project or dataset "
                "(default: $GENOMEFLOW_EXPERIMENT, else genomeflow)",
            )
    return parser


def run_stage(
    command: str,
    config: StageConfig,
    tracking_uri: str | None,
    experiment: str,
    overwrite: bool = False,
) -> Metrics:
    """Run one stage inside an MLflow run (when tracking is on), s3:// paths made local.

    Inside a pipeline task (``KFP_RUN_ID`` set) the run is a child of the pipeline's run. An
    existing output is refused unless ``overwrite`` (and genomeflow wrote it); an output that
    overlaps an input always is (genomeflow.storage.guard). Returns the stage's metrics.
    """
    from genomeflow.tracking import Tracker, resolve_tracking_uri
    from genomeflow.tracking.stage import run_tracked_stage

    tracker = Tracker(resolve_tracking_uri(tracking_uri), experiment)
    name = command.replace(" ", "-")
    handler = COMMANDS[command][1]
    metrics, published = run_tracked_stage(
        name, config, handler, tracker, command in LONG_STAGES, overwrite=overwrite
    )
    for uri in published:
        print(f"published to {uri}")
    return metrics


def run_command(
    command: str,
    settings: dict[str, Any],
    experiment: str = "genomeflow",
    tracking_uri: str | None = None,
    overwrite: bool = False,
) -> Metrics:
    """Run a stage from a mapping of its settings, as a pipeline component does.

    Args:
        command: a key of :data:`COMMANDS` (``train``, ``tokens inspect``...).
        settings: the stage config's fields (validated by the config's ``from_mapping``).
        experiment: the MLflow experiment.
        tracking_uri: MLflow URI; default $MLFLOW_TRACKING_URI, else the local services.
        overwrite: an existing output genomeflow wrote may be replaced (a retried step's own).

    Returns:
        The stage's metrics (what MLflow records).
    """
    config = COMMANDS[command][0].from_mapping(settings, source=f"the {command} step's settings")
    return run_stage(command, config, tracking_uri, experiment, overwrite)


def run_guarded_pipeline(config: PipelineConfig, overwrite: bool) -> None:
    """``genomeflow pipeline`` with its ``-o`` checked as a stage's output is.

    compile and submit write a YAML file: an existing one is replaced only with ``overwrite``
    and if genomeflow wrote it. (``run --local`` checks its root folder itself, once the
    pipeline's parameters are known good: runs add to it and replace nothing.)
    """
    import time

    from genomeflow.storage import check_outputs, record_files

    if config.action == "run":
        run_pipeline(config)
        return
    target = config.output or f"genomeflow-{config.pipeline}.yaml"
    inputs = [*config.inputs, *([config.params_file] if config.params_file else [])]
    check_outputs(inputs, [target], overwrite)
    started = time.time_ns()
    try:
        run_pipeline(config)
    finally:  # submit writes the YAML before it talks to the cluster, which may fail
        path = Path(target)
        if path.is_file() and path.stat().st_mtime_ns >= started:
            record_files([target])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 2 user error, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = getattr(args, "verbose", False)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s" if verbose else "%(message)s",
    )
    config_class, handler, _ = COMMANDS[args.command]
    try:
        config = config_from_args(config_class, args)
        overwrite = getattr(args, "overwrite", False)
        if args.command == "pipeline":
            run_guarded_pipeline(config, overwrite)
        elif args.command in UNTRACKED:
            handler(config)
        else:
            run_stage(args.command, config, args.tracking_uri, args.experiment, overwrite)
        return 0
    except GenomeflowError as error:
        if verbose:
            traceback.print_exc()
        message = " ".join(str(error).split())
        print(f"genomeflow: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("genomeflow: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
