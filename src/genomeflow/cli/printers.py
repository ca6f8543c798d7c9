"""What the command line prints after each stage: a short table and where the output went.

One printer per stage, called with the stage's (local) config and its summary
(genomeflow.stages). Standard output carries only these results; logs go to stderr.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

SHOWN_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "mcc", "roc_auc", "pr_auc")
SPLITS = ("train", "valid", "test")


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 2) -> None:
    """Print rows as aligned columns: the first ``left`` columns left-aligned, numbers right."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in [header, *rows]:
        cells = [
            f"{cell:<{width}}" if index < left else f"{cell:>{width}}"
            for index, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def print_scores(metrics: dict[str, float], splits: Sequence[str], folds: int = 0) -> None:
    """A table of the shown metrics: one row per split, and the CV mean±sd when ``folds``."""
    rows = [
        [split, *(score(metrics.get(f"{split}_{name}")) for name in SHOWN_METRICS)]
        for split in splits
    ]
    if folds:
        rows.append(
            [
                f"cv ({folds} folds)",
                *(
                    f"{score(metrics.get(f'cv_{name}_mean'))}±{score(metrics.get(f'cv_{name}_sd'))}"
                    for name in SHOWN_METRICS
                ),
            ]
        )
    print_table(["split", *SHOWN_METRICS], rows, left=1)


def params_text(params: dict[str, Any]) -> str:
    return ", ".join(
        f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
        for name, value in params.items()
    )


def score(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def validate(config: Any, summary: Any) -> None:
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
        for s in summary.files
    ]
    print_table(header, rows)
    if summary.json:
        print(f"summary written to {summary.json}")


def synthetic(config: Any, summary: Any) -> None:
    print(
        f"wrote {summary.controls} controls ({summary.residues:,} residues) of "
        f"{summary.inputs} sequences to {summary.output}"
    )


def _units(alphabet: str) -> tuple[str, str]:
    """What a record and its letters are called: documents and characters for text."""
    return ("documents", "characters") if alphabet == "text" else ("sequences", "residues")


def tokenise(config: Any, summary: Any) -> None:
    from genomeflow.tokenise import GenomeTokenizer

    records, letters = _units(summary.alphabet)
    trained = (
        f", trained on {summary.trained_on_residues:,} {letters}"
        if summary.trained_on_residues
        else ""
    )
    print(
        f"wrote {summary.method} tokeniser ({summary.vocab_size:,} tokens, {summary.alphabet}) to "
        f"{summary.output} from {summary.corpus_records:,} {records} / "
        f"{summary.corpus_residues:,} {letters}{trained}"
    )
    if config.example:
        tokens = GenomeTokenizer.load(summary.output).tokens(config.example)
        print(f"{config.example} -> {' '.join(tokens)}")


def dataset(config: Any, summary: Any) -> None:
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
    if summary.clustered:
        grouping = summary.grouping
        print(
            f"grouped by similarity ({grouping['tool']}, identity >= {grouping['min_identity']:g}"
            f", coverage >= {grouping['coverage']:g}): {grouping['clusters']} clusters, "
            f"{grouping['mixed_label_clusters']} with mixed labels"
        )
    print(f"dataset written to {summary.output}{note}")


def baseline(config: Any, summary: Any) -> None:
    print_scores(summary.metrics(), ("valid", "test"), config.folds if summary.cv else 0)
    print(
        f"{config.features} + {config.model} written to {summary.output} "
        f"({params_text(summary.params)})"
    )


def train(config: Any, summary: Any) -> None:
    print_scores(summary.metrics(), ("valid", "test"))
    stop = ", stopped early" if summary.fit.stopped_early else ""
    print(
        f"{summary.model} written to {summary.output} (epoch "
        f"{summary.fit.best_epoch} of {len(summary.fit.history)} chosen on valid{stop}; "
        f"{params_text(summary.params)})"
    )


def pretrain(config: Any, summary: Any) -> None:
    corpus = summary.corpus
    resumed = f", resumed at step {summary.resumed_from}" if summary.resumed_from else ""
    scores = ", ".join(f"{name} {value:.4g}" for name, value in summary.final.items())
    print(
        f"{config.architecture}-{config.preset} masked LM written to {summary.output} after "
        f"{summary.steps} steps{resumed} on {corpus['records']:,} records / "
        f"{corpus['windows']:,} windows / {corpus['tokens']:,} tokens ({scores}); fine-tune "
        f"it: genomeflow train DATASET -o MODEL --init-from {summary.output}"
    )


def evaluate(config: Any, summary: Any) -> None:
    print_scores(summary.metrics(), (config.split,))
    print(f"metrics, plots and report.html written to {summary.output}")


def crossval(config: Any, summary: Any) -> None:
    print_scores(summary.metrics(), (), config.folds)
    print(f"fold table and box plot written to {summary.output}")


def sweep(config: Any, summary: Any) -> None:
    if summary.experiment_yaml is not None:  # a Katib dry run: the Experiment alone
        print(summary.experiment_yaml, end="")
        return
    best = "-" if summary.best_value is None else f"{summary.best_value:.4f}"
    params = params_text(summary.best_params)
    if summary.backend == "katib":
        print(
            f"best valid {summary.metric} {best} in trial {summary.best_trial} of Katib "
            f"Experiment {summary.experiment} ({summary.trials} trials, {summary.pruned} stopped "
            f"early, {summary.failed} failed): {params}"
        )
        written = "best_params.json"
    else:
        print(
            f"best valid {summary.metric} {best} of {summary.trials} trials "
            f"({summary.pruned} pruned, {summary.failed} failed): {params}"
        )
        written = "trials and best_params.json"
    print(
        f"{written} written to {summary.output}; train with them: genomeflow train "
        f"{config.dataset} -o MODEL --params-file {summary.output}/best_params.json"
    )


def interpret(config: Any, summary: Any) -> None:
    zero = f"; {summary.zero_norm} with all-zero attributions" if summary.zero_norm else ""
    print(
        f"attributed {summary.sequences} {'documents' if summary.unit == 'word' else 'sequences'} "
        f"(largest convergence delta "
        f"{summary.max_delta:.3g}{zero}); report: {summary.output}/index.html"
    )
    for target, top in summary.top_motifs.items():
        print(f"top {summary.unit} towards {target}: {top}")


def compare(config: Any, summary: Any) -> None:
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


def summarise(config: Any, summary: Any) -> None:
    columns = ("mean", "sd", "median", "min", "max")
    rows = [
        [
            str(row["group"]),
            row["split"],
            str(row["n"]),
            *(score(None if row[c] != row[c] else row[c]) for c in columns),  # NaN sd: "-"
        ]
        for row in summary.summary.to_dict("records")
    ]
    print_table(["group", "split", "n", *columns], rows)
    print(
        f"{summary.rows} {summary.metric} values; table and plot written to {summary.output}: "
        f"{', '.join(summary.files)}"
    )


def predict(config: Any, summary: Any) -> None:
    counts = ", ".join(f"{label}: {n:,}" for label, n in summary.per_label.items())
    print(f"scored {summary.rows:,} sequences ({counts}) into {summary.output}")


def tokens_compare(config: Any, summary: Any) -> None:
    result = summary.result
    print("token overlap, % of the row tokeniser's tokens also in the column tokeniser's:")
    print_table(
        ["", *result.names],
        [
            [name, *(f"{value:.1f}" for value in row)]
            for name, row in zip(result.names, result.contained_pct, strict=True)
        ],
        left=1,
    )
    counts = result.summary()
    print(
        f"{counts['tokens_in_all']:,} of {counts['tokens_in_union']:,} tokens are in every "
        f"tokeniser; {len(counts['outliers'])} score-variance outliers"
    )
    for note in result.notes:
        print(f"note: {note}")
    print(f"report written to {config.output}: {', '.join(p.name for p in summary.written)}")


def tokens_merge(config: Any, summary: Any) -> None:
    print(
        f"merged {len(config.tokenisers)} tokenisers ({config.how}, {config.pooling}) into "
        f"{summary.output}: {summary.vocab_size:,} tokens"
    )


def tokens_inspect(config: Any, summary: Any) -> None:
    result = summary.result
    records, letters = _units(result.alphabet)
    print(
        f"{result.folder}: {result.method} tokeniser for {result.alphabet}, "
        f"{result.vocab_size:,} tokens, mean token length {result.mean_token_length:.2f} {letters}"
    )
    if result.coverage is not None:
        cover = result.coverage
        print(
            f"on {cover.records:,} {records}: {100 * cover.residue_coverage:.2f}% of {letters} "
            f"in known tokens, {100 * cover.unknown_share:.2f}% <unk> tokens, "
            f"{cover.tokens_per_sequence:.1f} tokens per {records[:-1]}, "
            f"{cover.residues_per_token:.2f} {letters} per token"
        )
    print(f"report written to {config.output}: {', '.join(p.name for p in summary.written)}")


def register(config: Any, summary: Any) -> None:
    print(
        f"registered {summary.name} version {summary.version} "
        f"(aliases: {', '.join(summary.aliases)})"
    )
    champion = "-" if summary.champion_version is None else str(summary.champion_version)
    print_table(
        ["model", "version", summary.metric],
        [
            ["challenger", str(summary.version), score(summary.challenger_score)],
            ["champion (before)", champion, score(summary.champion_score)],
        ],
        left=1,
    )
    print(f"gate: {'promoted' if summary.promoted else 'refused'}: {summary.reason}")
    if config.report:
        print(f"decision written to {config.report}")


PRINTERS: dict[str, Callable[[Any, Any], None]] = {
    "validate": validate,
    "synthetic": synthetic,
    "tokenise": tokenise,
    "tokens compare": tokens_compare,
    "tokens merge": tokens_merge,
    "tokens inspect": tokens_inspect,
    "dataset": dataset,
    "baseline": baseline,
    "pretrain": pretrain,
    "train": train,
    "evaluate": evaluate,
    "crossval": crossval,
    "sweep": sweep,
    "interpret": interpret,
    "compare": compare,
    "summarise": summarise,
    "predict": predict,
    "register": register,
}
