"""The ``train`` stage: a transformer classifier from a dataset, chosen on valid, tested once.

Order of work: hyperparameters resolved (file < previous run < --params) -> every split cut
into token windows -> a model built from its config -> epochs with early stopping and
checkpoint choice on the valid split (checkpoints each epoch; ``--resume`` continues) -> the
best epoch's valid report -> the test split, evaluated once -> the model folder (safetensors,
config, tokeniser, metrics.json, transformer.json, reports/).

``--architecture cnn`` takes the same path on residue windows (no tokeniser, none saved); on
DNA/RNA its valid and test splits are scored on both strands (``strand_average``), as the saved
classifier scores sequences. On text a cnn reads the token windows of the dataset's tokeniser,
as the transformers do, and its folder keeps the tokeniser.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from genomeflow import __version__
from genomeflow.config import HYPERPARAMETERS, TrainConfig, TransformerConfig
from genomeflow.data import LabelledDataset, load_dataset
from genomeflow.data.build import TOKENISER_FOLDER
from genomeflow.errors import InputError
from genomeflow.evaluate import Evaluation, write_evaluation
from genomeflow.io.files import file_digests
from genomeflow.models.residues import reads_residues
from genomeflow.models.transformer import (
    CNN,
    DEFAULT_CONTEXT,
    MANIFEST,
    PRESETS,
    WEIGHTS,
    ModelSpec,
    build_model,
    context_length,
    count_parameters,
    learning_rate,
)
from genomeflow.models.windows import default_stride, encode_windows
from genomeflow.sequence.alphabet import Alphabet
from genomeflow.storage import (
    atomic_directory,
    check_outputs,
    check_writable,
    write_json,
)
from genomeflow.sweep.katib_metrics import KATIB_METRICS
from genomeflow.tokenise.tokenizer import GenomeTokenizer
from genomeflow.train.checkpoints import foreign, has_last
from genomeflow.train.distributed import Processes
from genomeflow.train.loop import (
    FitResult,
    Runtime,
    Schedule,
    Split,
    epoch_metrics,
    evaluate_split,
    fit,
)
from genomeflow.train.params import resolve_hyperparameters

log = logging.getLogger(__name__)

REPORTS = "reports"


@dataclass(frozen=True)
class Prepared:
    """A dataset made ready for a transformer stage.

    Attributes:
        tokenizer: the dataset's tokeniser; None for a cnn on residues (not text: no tokens).
        stride: ``--window-stride`` as given (0: half a window).
        strand_average: score both strands of evaluation splits (a cnn on DNA/RNA).
    """

    data: LabelledDataset
    tokenizer: GenomeTokenizer | None
    spec: ModelSpec
    schedule: Schedule
    runtime: Runtime
    stride: int
    strand_average: bool = False


def prepare(config: TransformerConfig, data: LabelledDataset | None = None) -> Prepared:
    """Load the dataset (unless given) and its tokeniser (a cnn on residues: none); derive spec,
    schedule and runtime. The learning rate not given is the architecture's default."""
    data = data or load_dataset(config.dataset)
    architecture, preset, checkpoint, tokenizer = config.architecture, config.preset, None, None
    if config.init_from:  # the checkpoint's architecture, size and context
        from genomeflow.models.checkpoint import open_checkpoint
        from genomeflow.tracking.checkpoints import local_checkpoint

        location = str(config.init_from)
        checkpoint = open_checkpoint(location, local_checkpoint(location), config.trust_remote_code)
        if config.architecture == CNN and checkpoint.architecture != CNN:
            raise InputError(
                f"--init-from {config.init_from}: a {checkpoint.architecture} checkpoint, not a "
                "genomeflow cnn; --architecture cnn fine-tunes a model folder written by "
                "`genomeflow train --architecture cnn` (drop --architecture cnn to fine-tune "
                f"the {checkpoint.architecture} itself)"
            )
        if checkpoint.architecture == CNN:
            checkpoint.check_alphabet(data.alphabet, str(config.dataset))
        if not reads_residues(checkpoint.architecture, data.alphabet):
            tokenizer = data.tokeniser()
            checkpoint.check_vocabulary(tokenizer, str(config.dataset))
        architecture, preset = checkpoint.architecture, checkpoint.preset
        max_length = checkpoint.max_length(config.max_length)
        if (architecture, preset) != (config.architecture, config.preset):
            log.info(
                "--init-from %s: a %s-%s checkpoint; its architecture and size are used, not "
                "--architecture %s --preset %s",
                config.init_from,
                architecture,
                preset,
                config.architecture,
                config.preset,
            )
    else:
        max_length = context_length(config.architecture, config.max_length)
    if not reads_residues(architecture, data.alphabet):
        tokenizer = tokenizer or data.tokeniser()
    if tokenizer is None:  # residue ids: pad 0, the alphabet's letters, a gap; no CLS/SEP
        from genomeflow.models.residues import PAD_ID, residue_vocabulary

        vocab_size, pad_id = len(residue_vocabulary(data.alphabet)), PAD_ID
        cls_id = sep_id = None
    else:
        vocab_size, pad_id = tokenizer.vocab_size, tokenizer.hf.pad_token_id
        cls_id, sep_id = tokenizer.cls_id, tokenizer.sep_id
    spec = ModelSpec(
        architecture=architecture,
        preset=preset,
        vocab_size=vocab_size,
        label_names=tuple(data.label_names),
        max_length=max_length,
        dropout=config.dropout,
        position_bins=config.position_bins,
        pad_id=pad_id,
        cls_id=cls_id,
        sep_id=sep_id,
        checkpoint=str(checkpoint.folder) if checkpoint else None,
        trust_remote_code=config.trust_remote_code,
        alphabet=data.alphabet,
    )
    schedule = Schedule(
        epochs=config.epochs,
        batch_size=config.batch_size,
        learning_rate=learning_rate(architecture, config.learning_rate),
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
    strands = architecture == CNN and Alphabet.parse(data.alphabet).is_nucleic
    # Averaging strands declares the signal strand-symmetric; by default that follows the
    # dataset: a train split without reverse complements was built for an oriented signal.
    average = data.both_strands if config.strand_average is None else config.strand_average
    return Prepared(
        data,
        tokenizer,
        spec,
        schedule,
        runtime,
        config.window_stride,
        strand_average=strands and average,
    )


def split_of(prepared: Prepared, frame: Any, evaluated: bool = True) -> Split:
    """A data frame's sequences as windows, with their labels: token windows, or a residue
    cnn's residue windows; ``evaluated`` (a split scored, not trained on) with the reverse strand's
    windows too when the model averages strands."""
    sequences = frame["sequence"].tolist()
    spec = prepared.spec
    if prepared.tokenizer is None:
        from genomeflow.models.residues import residue_windows, reverse_windows

        windows = residue_windows(sequences, str(spec.alphabet), spec.max_length, prepared.stride)
        reverse = None
        if evaluated and prepared.strand_average:
            reverse = reverse_windows(windows, str(spec.alphabet))
        return Split(windows, frame["label"].to_numpy(), reverse)
    windows = encode_windows(prepared.tokenizer, sequences, spec.max_length, prepared.stride)
    return Split(windows, frame["label"].to_numpy())


def window_step(spec: ModelSpec, stride: int) -> int:
    """Tokens (a residue cnn: residues) between window starts, ``--window-stride`` 0 resolved."""
    if reads_residues(spec.architecture, spec.alphabet):
        from genomeflow.models.residues import residue_stride

        return residue_stride(spec.max_length, stride)
    return default_stride(spec.max_length, stride)


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
    model: str = ""  # architecture-preset as built (--init-from: the checkpoint's)

    def metrics(self) -> dict[str, float]:
        """Valid (best epoch) and test metrics with MLflow/KFP names, and the epochs run."""
        return {
            **self.valid.scalars("valid_"),
            **self.test.scalars("test_"),
            "best_epoch": self.fit.best_epoch,
            "epochs_run": len(self.fit.history),
        }


def train_model(config: TrainConfig) -> TrainSummary | None:
    """Run the train stage (see the module docstring) and publish the model folder.

    Under torchrun or ``--nproc`` (genomeflow.train.distributed) every process trains; rank 0
    returns the summary, the others None."""
    from genomeflow.tracking import active_run

    check_writable(config.output)  # before hours of training, not after
    processes = Processes.from_env()  # several under torchrun or --nproc; rank 0 writes
    config = resolve_hyperparameters(config)
    prepared = prepare(config)
    processes.start(prepared.runtime.device)
    splits = {
        name: split_of(prepared, frame, evaluated=name != "train")
        for name, frame in prepared.data.splits.items()
    }
    checkpoints = Path(config.checkpoints or f"{config.output}.checkpoints")
    # The folder is removed once the model is written: it must be genomeflow's to remove.
    check_outputs([config.dataset, config.output], [checkpoints], exists_check=False)
    if foreign(checkpoints):
        raise InputError(
            f"{checkpoints}: holds files that are not genomeflow checkpoints "
            f"({', '.join(foreign(checkpoints)[:3])}), and the folder is removed after training; "
            "choose another --checkpoints folder"
        )
    if has_last(checkpoints) and not config.resume:
        raise InputError(
            f"{checkpoints}: checkpoints of an earlier run are there; pass --resume to continue "
            "it, or delete the folder to start again"
        )
    model = build_model(prepared.spec, config.attention, config.seed)
    run = active_run()
    # The values used, once: the run's own params leave these out (TransformerConfig).
    run.log_params(
        {
            "parameters": count_parameters(model),
            "processes": processes.world,
            **resolved_hyperparameters(config, prepared),
        }
    )

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
        processes=processes,
    )
    processes.stop()
    if not processes.main:  # rank 0 tests, writes the model folder and records the run
        return None
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
        built = f"{prepared.spec.architecture}-{prepared.spec.preset}"
        summary = TrainSummary(
            str(config.output), params, result.best_evaluation, test, result, built
        )
        save_model_folder(folder, config, prepared, model, summary, run.run_id)
    shutil.rmtree(checkpoints, ignore_errors=True)
    return summary


def resolved_hyperparameters(config: TransformerConfig, prepared: Prepared) -> dict[str, Any]:
    """The hyperparameters as used: window length, stride and learning rate resolved from their
    defaults."""
    params = {name: getattr(config, name) for name in HYPERPARAMETERS}
    if prepared.spec.checkpoint:  # the checkpoint's, where genomeflow has names for them
        if prepared.spec.architecture in DEFAULT_CONTEXT:
            params["architecture"] = prepared.spec.architecture
        if prepared.spec.preset in PRESETS:
            params["preset"] = prepared.spec.preset
    params["max_length"] = prepared.spec.max_length
    params["window_stride"] = window_step(prepared.spec, prepared.stride)
    params["learning_rate"] = prepared.schedule.learning_rate
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
    """Weights (safetensors) + config.json, the tokeniser (a residue cnn has none),
    metrics.json and the manifest."""
    model.to("cpu").save_pretrained(folder, safe_serialization=True)
    tokeniser_files: list[str] = []
    if prepared.tokenizer is not None:
        (folder / TOKENISER_FOLDER).mkdir()
        prepared.tokenizer.save(folder / TOKENISER_FOLDER)
        tokeniser_files = sorted(
            f"{TOKENISER_FOLDER}/{path.name}"
            for path in (folder / TOKENISER_FOLDER).iterdir()
            if path.is_file()
        )
    write_json(folder / "metrics.json", summary.metrics())
    valid = prepared.data.splits["valid"]["sequence"]
    manifest = {
        "stage": "train",
        "kind": "transformer",
        "genomeflow_version": __version__,
        "config": config.to_dict(),
        "params": summary.params,
        "model": prepared.spec.to_dict(),
        "window_stride": window_step(prepared.spec, prepared.stride),
        "aggregate": config.aggregate,
        # a cnn on DNA/RNA averages both strands' probabilities (older folders: absent, off)
        "strand_average": prepared.strand_average,
        "label_names": prepared.data.label_names,
        "alphabet": prepared.data.alphabet,
        "dataset": prepared.data.provenance(config.dataset),
        "run_id": run_id,
        "examples": [s[:500] for s in valid.head(2)],  # an input example for the registry
        "metrics": summary.metrics(),
        # What the classifier loads, so a damaged file is named when it is loaded again.
        "files": file_digests(folder, [WEIGHTS, "config.json", *tokeniser_files]),
    }
    write_json(folder / MANIFEST, manifest)
