"""Configs of the neural stages: train, crossval and sweep, and the transformer settings they
share (pretrain: genomeflow.config.pretraining)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from genomeflow.config.base import (
    StageConfig,
    _require,
    option,
    parse_assignments,
)
from genomeflow.metric_names import canonical_metric

TRANSFORMER_ARCHITECTURES_HELP = (
    "distilbert (the reference's); bert; longformer (windowed attention, >= 4096 tokens); "
    "modernbert (rotary, local/global attention, 8192 tokens)"
)
TRANSFORMER_PRESETS_HELP = (
    "size: tiny 2 x 64 (minutes on a laptop CPU), small 4 x 256, base 6 x 768 (the reference's "
    "DistilBERT)"
)
# What a sweep spec or --params may set on a transformer stage (and --params-from-run copies).
HYPERPARAMETERS = (
    "architecture",
    "preset",
    "max_length",
    "window_stride",
    "epochs",
    "batch_size",
    "learning_rate",
    "weight_decay",
    "warmup_ratio",
    "dropout",
    "gradient_clip",
    "patience",
    "position_bins",
)
# Parameters the reference toolkit's sweep files sample but never applied to the model.
IGNORED_REFERENCE_PARAMETERS = ("decay", "momentum")


@dataclass
class TransformerConfig(StageConfig):
    """Settings shared by ``genomeflow train``, ``crossval`` and ``sweep``."""

    # A params file, a run's params or the architecture's defaults settle these: train and
    # crossval record the values used as params, once (genomeflow.tracking.stage).
    RESOLVED_PARAMS: ClassVar[tuple[str, ...]] = HYPERPARAMETERS

    dataset: str = option(
        help="dataset folder written by genomeflow dataset", positional=True, role="input"
    )
    output: str = option(help="output folder", short="-o", role="output")
    architecture: Literal["distilbert", "bert", "longformer", "modernbert", "cnn"] = option(
        "distilbert",
        help=TRANSFORMER_ARCHITECTURES_HELP + "; cnn (residual dilated convolutions on one-hot "
        "residues, no tokeniser: the dataset's is ignored)",
    )
    preset: Literal["tiny", "small", "base"] = option(
        "small",
        help=TRANSFORMER_PRESETS_HELP + "; cnn: tiny 64 channels x 3 blocks (65-residue "
        "receptive field, 0.12M parameters), small 128 x 5 (257, 0.78M), base 256 x 8 (2049, 4.9M)",
    )
    max_length: int = option(
        0,
        help="tokens per window with CLS/SEP (cnn: residues per window); longer sequences are "
        "cut into sliding windows whose probabilities are averaged",
        shown="512; longformer 4096; modernbert 8192; cnn 1024",
    )
    window_stride: int = option(
        0,
        help="tokens (cnn: residues) between window starts (< window overlaps)",
        shown="half a window",
    )
    aggregate: Literal["mean", "max"] = option(
        "mean", help="how window probabilities make a sequence's: mean, or per-class max"
    )
    epochs: int = option(10, help="most passes over the train split")
    batch_size: int = option(32, help="windows per optimiser step")
    learning_rate: float | None = option(
        None,
        help="AdamW peak learning rate (linear warmup/decay); when not given, the "
        "architecture's default; the MLflow param learning_rate is the value used",
        shown="5e-4; cnn 3e-3",
    )
    weight_decay: float = option(0.01, help="AdamW decoupled weight decay")
    warmup_ratio: float = option(0.1, help="share of steps spent warming the learning rate up")
    dropout: float = option(
        0.1,
        help="dropout of embeddings, attention and the classifier (cnn: after every "
        "convolution and in the head)",
    )
    gradient_clip: float = option(1.0, help="largest gradient norm (0 = no clipping)")
    position_bins: int = option(
        0,
        help="cnn: also average the features of each of this many equal stretches of a "
        "window, so the head sees where a feature sits, not only that it is there: for aligned "
        "inputs (promoters or splice sites cut around their site), most of all when the "
        "preset's receptive field is shorter than the window (8 lifted cnn tiny by 2 points on "
        "81 bp promoters); 0: position-free pooling, for motifs anywhere; transformers: no "
        "effect",
    )
    patience: int = option(
        3, help="epochs without a better validation metric before stopping (0 = never stop)"
    )
    metric: str = option(
        "f1_macro", help="validation metric for early stopping and checkpoint choice"
    )
    params: list[str] = option(
        [], help="hyperparameters as name=value, winning over --params-file/--params-from-run"
    )
    params_file: str | None = option(
        None,
        help="YAML/JSON mapping of hyperparameters, or a sweep's best_params.json",
        role="input",
    )
    params_from_run: str | None = option(
        None, help="MLflow run id whose hyperparameters (or sweep's best params) to reuse"
    )
    device: Literal["auto", "cpu", "cuda"] = option("auto", help="auto: cuda when present")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = option(
        "auto", help="autocast precision; auto: bf16 on a GPU that has it, else fp32"
    )
    attention: Literal["auto", "sdpa", "eager", "flash_attention_2"] = option(
        "auto",
        help="attention kernel; auto: sdpa (fused/flash on GPU), eager for longformer, none "
        "for cnn",
    )
    strand_average: bool | None = option(
        None,
        help="cnn on DNA/RNA: score every window and its reverse complement and average the "
        "two strands' probabilities (validation, test, evaluate, predict, register); off for "
        "strand-specific signals (promoters, splice sites, coding sequence); transformers and "
        "protein: no effect",
        shown="on when the dataset's train split has reverse complements (dataset "
        "--reverse-complement, the DNA/RNA default), off when it was built with "
        "--no-reverse-complement",
    )
    compile: bool = option(False, help="torch.compile the model (slow start, faster steps)")
    padding: Literal["dynamic", "max_length"] = option(
        "dynamic",
        help="dynamic: pad each length-bucketed batch to its longest window; max_length: "
        "pad every window to --max-length (the reference's way, slower)",
    )
    workers: int = option(0, help="data-loader worker processes")
    seed: int = option(42, help="seed of initialisation, data order, dropout and folds")
    init_from: str | None = option(
        None,
        help="fine-tune a pretrained checkpoint: a `genomeflow pretrain` folder, a local "
        "Hugging Face masked-LM folder (BERT, DistilBERT, ModernBERT...), an s3:// folder, "
        "runs:/RUN_ID/PATH or models:/NAME@ALIAS; its encoder weights, architecture and size "
        "are used with a fresh classification head (build the dataset with -t CHECKPOINT); "
        "--architecture cnn: a genomeflow cnn model folder (its convolutions, a fresh head)",
        shown="none: a randomly initialised model",
        role="input",
    )
    trust_remote_code: bool = option(
        False,
        help="with --init-from: run the model code a checkpoint ships (e.g. DNABERT-2); only "
        "for checkpoints you trust",
    )

    def __post_init__(self) -> None:
        _require(bool(self.dataset), "give a dataset folder (genomeflow dataset ... -o DATASET)")
        _require(bool(self.output), "give an output folder (--output FOLDER)")
        _require(
            self.init_from is None or bool(str(self.init_from).strip()),
            "--init-from: give a checkpoint folder, runs:/RUN_ID/PATH or models:/NAME@ALIAS",
        )
        # --init-from with --architecture cnn: a genomeflow cnn folder; any other checkpoint is
        # refused once it is opened (genomeflow.train.train.prepare), in one line
        _require(
            not self.trust_remote_code or bool(self.init_from),
            "--trust-remote-code applies to --init-from checkpoints only; drop it or add "
            "--init-from CHECKPOINT",
        )
        self._check_choices()  # a sweep's backend and katib_algorithm too
        _require(
            self.max_length == 0 or self.max_length >= 8,
            f"--max-length must be 0 (the architecture's default) or at least 8, got "
            f"{self.max_length}",
        )
        _require(self.window_stride >= 0, "--window-stride must be 0 (half a window) or more")
        for name in ("epochs", "batch_size"):
            _require(getattr(self, name) >= 1, f"--{name.replace('_', '-')} must be at least 1")
        _require(
            self.learning_rate is None or self.learning_rate > 0,
            f"--learning-rate must be positive, got {self.learning_rate}",
        )
        for name in ("weight_decay", "gradient_clip", "patience", "workers", "position_bins"):
            _require(getattr(self, name) >= 0, f"--{name.replace('_', '-')} must be 0 or more")
        for name in ("warmup_ratio", "dropout"):
            value = getattr(self, name)
            _require(0 <= value < 1, f"--{name.replace('_', '-')} must be in [0, 1), got {value}")
        self.metric = canonical_metric(self.metric)
        parse_assignments(self.params, "--params")  # fail early on a malformed item


def processes_option() -> Any:
    """``--nproc``: train and pretrain on several processes (genomeflow.train.distributed)."""
    return option(
        1,
        help="training processes on this machine (DistributedDataParallel: gloo on CPU, one GPU "
        "each with NCCL); --batch-size stays the global batch. Under torchrun leave it at 1",
    )


@dataclass
class TrainConfig(TransformerConfig):
    """Settings of ``genomeflow train``: a transformer classifier from a dataset folder."""

    checkpoints: str | None = option(
        None,
        help="folder of per-epoch checkpoints, kept until the model folder is written",
        shown="OUTPUT.checkpoints",
    )
    resume: bool = option(False, help="continue from the last checkpoint of a stopped run")
    nproc: int = processes_option()

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.nproc >= 1, f"--nproc must be at least 1, got {self.nproc}")


def shared_option(name: str, **changes: Any) -> Any:
    """A copy of a :class:`TransformerConfig` setting (default, help...) for another stage;
    ``changes`` replace its default or any :func:`option` argument."""
    item = {f.name: f for f in dataclasses.fields(TransformerConfig)}[name]
    settings = {**item.metadata, **changes}
    default = settings.pop("default", item.default)
    return option(default, **settings)


@dataclass
class CrossvalConfig(TransformerConfig):
    """Settings of ``genomeflow crossval``: k-fold CV with a fresh model per fold."""

    folds: int = option(5, help="stratified folds grouped by source sequence, on train+valid")
    nproc: int = processes_option()

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.folds >= 2, f"--folds must be at least 2, got {self.folds}")
        _require(self.nproc >= 1, f"--nproc must be at least 1, got {self.nproc}")


REMOTE_CHECKPOINTS = ("s3://", "runs:/", "models:/")  # --init-from a trial pod can read


@dataclass
class SweepConfig(TransformerConfig):
    """Settings of ``genomeflow sweep``: tune a transformer on the valid split."""

    RESOLVED_PARAMS: ClassVar[tuple[str, ...]] = ()  # the fixed settings; trials record theirs

    spec: str = option("", help="sweep spec (wandb-style JSON/YAML)", role="input")
    trials: int | None = option(
        None,
        help="sweep trials",
        shown="the spec's run_cap, the grid size, katib hyperband's schedule, else 20",
    )
    parallel: int | None = option(
        None,
        help="trials run at once (local: threads, >1 is not reproducible; katib: trial pods)",
        shown="local 1; katib 3, hyperband its first bracket",
    )
    backend: Literal["local", "katib"] = option(
        "local",
        help="local: Optuna on this machine; katib: a Katib Experiment whose trials are "
        "`genomeflow train` pods (DATASET and --output must be s3:// URIs)",
    )
    dry_run: bool = option(
        False, help="with --backend katib: print the Experiment YAML and create nothing"
    )
    namespace: str | None = option(
        None,
        help="Kubernetes namespace of the Katib Experiment, its trials and Secrets",
        shown="the pod's namespace, else the kubeconfig context's, else kubeflow",
    )
    katib_algorithm: Literal["spec", "hyperband"] = option(
        "spec",
        help="spec: the spec's method (random, grid, bayes as tpe) with medianstop early "
        "stopping when it has early_terminate; hyperband: Katib's hyperband over epochs (eta, "
        "max_iter from early_terminate)",
    )
    timeout: float = option(86400.0, help="seconds to wait for the Katib Experiment to finish")
    nodes: int = option(
        1,
        help="with --backend katib: pods per trial; above 1 each trial is a PyTorchJob of that "
        "many pods, each with the cluster's GPUs (the Kubeflow training operator)",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(bool(self.spec), "give a sweep spec (--spec sweep.yaml)")
        _require(self.nodes >= 1, f"--nodes must be at least 1, got {self.nodes}")
        _require(self.trials is None or self.trials >= 1, "--trials must be at least 1")
        _require(self.parallel is None or self.parallel >= 1, "--parallel must be at least 1")
        katib_only = {
            "dry_run": self.dry_run,
            "katib_algorithm": self.katib_algorithm != "spec",
            "nodes": self.nodes > 1,
        }
        for name, given in katib_only.items():
            flag = "--" + name.replace("_", "-")
            _require(
                self.backend == "katib" or not given,
                f"{flag} applies to --backend katib only; add --backend katib or drop {flag}",
            )
        _require(self.timeout > 0, f"--timeout must be positive, got {self.timeout}")
        if self.backend == "katib" and not self.dry_run:
            for name, value in (("DATASET", self.dataset), ("--output", self.output)):
                _require(
                    str(value).startswith("s3://"),
                    f"--backend katib: {name} {value} must be an s3:// URI: trial pods read the "
                    "dataset from and write their models to the object store; give s3:// URIs, "
                    "or add --dry-run to only print the Experiment",
                )
            _require(
                not self.init_from or str(self.init_from).startswith(REMOTE_CHECKPOINTS),
                f"--backend katib: --init-from {self.init_from} must be an s3:// folder, "
                "runs:/ or models:/ URI: trial pods cannot read this machine's files",
            )
        if self.parallel is None and self.backend == "local":
            self.parallel = 1  # Katib's default depends on the algorithm: the compiler sets it

    @contextmanager
    def localised(self) -> Iterator[SweepConfig]:
        """Locally as every stage. On Katib the trial pods read the dataset and write under the
        output themselves, so both stay URIs; only the spec and params file are fetched."""
        if self.backend == "local":
            with super().localised() as local:
                yield local
            return
        from genomeflow import storage

        with ExitStack() as stack:
            fetched = {
                name: str(stack.enter_context(storage.local_copy(getattr(self, name))))
                for name in ("spec", "params_file")
                if getattr(self, name)
            }
            yield dataclasses.replace(self, **fetched)
