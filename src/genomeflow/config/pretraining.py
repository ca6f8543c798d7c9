"""The config of ``genomeflow pretrain``: masked-LM pretraining on unlabelled sequences."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from genomeflow.config.base import (
    StageConfig,
    _alphabet_or_none,
    _require,
    alphabet_option,
    duplicate_ids_option,
    option,
)
from genomeflow.config.training import (
    TRANSFORMER_ARCHITECTURES_HELP,
    TRANSFORMER_PRESETS_HELP,
    processes_option,
    shared_option,
)
from genomeflow.sequence.alphabet import Alphabet


@dataclass
class PretrainConfig(StageConfig):
    """Settings of ``genomeflow pretrain``: a masked language model on unlabelled sequences."""

    inputs: list[str] = option(
        help="FASTA/FASTQ files (plain or .gz), or one dataset folder (its train split only)",
        positional=True,
        role="input",
    )
    output: str = option(
        help="model folder: AutoModelForMaskedLM and AutoTokenizer load it; pretrain.json",
        short="-o",
        role="output",
    )
    tokeniser: str | None = option(
        None,
        help="tokeniser folder (genomeflow tokenise, or a Hugging Face tokenizer folder)",
        short="-t",
        shown="a dataset input's own",
        role="input",
    )
    architecture: Literal["distilbert", "bert", "longformer", "modernbert"] = shared_option(
        "architecture", help=TRANSFORMER_ARCHITECTURES_HELP
    )
    preset: Literal["tiny", "small", "base"] = shared_option(
        "preset", help=TRANSFORMER_PRESETS_HELP
    )
    max_length: int = shared_option(
        "max_length",
        help="tokens per window with CLS/SEP; records are cut into windows",
        shown="512; longformer 4096; modernbert 8192",
    )
    mask_probability: float = option(
        0.15, help="share of tokens masked: 8 in 10 become <mask>, 1 a random token, 1 stays"
    )
    steps: int | None = option(
        None, help="optimiser steps; the corpus repeats as needed", shown="--epochs"
    )
    epochs: int | None = option(None, help="passes over the corpus", shown="1 without --steps")
    batch_size: int = shared_option("batch_size")
    learning_rate: float = shared_option(
        "learning_rate",
        default=5e-4,
        help="AdamW peak learning rate (linear warmup/decay)",
        shown=None,
    )
    weight_decay: float = shared_option("weight_decay")
    warmup_ratio: float = shared_option("warmup_ratio")
    dropout: float = shared_option(
        "dropout", help="dropout of embeddings, attention and the classifier"
    )
    gradient_clip: float = shared_option("gradient_clip")
    log_every: int = option(50, help="steps between logged loss, masked accuracy, perplexity")
    checkpoint_every: int = option(500, help="steps between checkpoints (and one at the end)")
    shuffle_buffer: int = option(
        10_000, help="windows in the seeded shuffle buffer (memory stays flat)"
    )
    checkpoints: str | None = option(
        None,
        help="folder of the resumable state, kept after the run: --resume with a larger --steps "
        "extends it",
        shown="OUTPUT.checkpoints",
    )
    resume: bool = option(
        False, help="continue from the last checkpoint of a run with the same settings"
    )
    device: Literal["auto", "cpu", "cuda"] = shared_option("device")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = shared_option("precision")
    attention: Literal["auto", "sdpa", "eager", "flash_attention_2"] = shared_option(
        "attention",
        help="attention kernel; auto: sdpa (fused/flash on GPU), eager for longformer",
    )
    seed: int = shared_option("seed", help="seed of initialisation, shuffling, masking, dropout")
    alphabet: Alphabet | None = alphabet_option()
    allow_duplicate_ids: bool = duplicate_ids_option()
    nproc: int = processes_option()

    def __post_init__(self) -> None:
        _require(bool(self.inputs), "give FASTA/FASTQ files or a dataset folder to pretrain on")
        _require(bool(self.output), "give an output folder (--output pretrained/)")
        _require(self.nproc >= 1, f"--nproc must be at least 1, got {self.nproc}")
        self._check_choices()
        _require(
            self.max_length == 0 or self.max_length >= 8,
            f"--max-length must be 0 (the architecture's default) or at least 8, got "
            f"{self.max_length}",
        )
        _require(
            0 < self.mask_probability < 1,
            f"--mask-probability must be between 0 and 1, got {self.mask_probability}",
        )
        _require(
            self.steps is None or self.epochs is None,
            "give --steps or --epochs, not both",
        )
        for name in ("steps", "epochs"):
            value = getattr(self, name)
            _require(value is None or value >= 1, f"--{name} must be at least 1, got {value}")
        for name in ("batch_size", "log_every", "checkpoint_every", "shuffle_buffer"):
            _require(getattr(self, name) >= 1, f"--{name.replace('_', '-')} must be at least 1")
        _require(
            self.learning_rate > 0, f"--learning-rate must be positive, got {self.learning_rate}"
        )
        for name in ("weight_decay", "gradient_clip"):
            _require(getattr(self, name) >= 0, f"--{name.replace('_', '-')} must be 0 or more")
        for name in ("warmup_ratio", "dropout"):
            value = getattr(self, name)
            _require(0 <= value < 1, f"--{name.replace('_', '-')} must be in [0, 1), got {value}")
        self.alphabet = _alphabet_or_none(self.alphabet)
