"""Pretrained checkpoints for ``--init-from``: found, described, checked against a dataset.

A checkpoint is a folder transformers loads (config.json and weights): a ``genomeflow
pretrain`` output, a genomeflow model folder, or a masked language model saved elsewhere with
``save_pretrained`` (DNABERT-2, Nucleotide Transformer...). ``runs:/`` and ``models:/`` URIs
are downloaded first, once. The classifier keeps the checkpoint's encoder weights and gets a
fresh classification head, initialised from the seed.
"""

from __future__ import annotations

import functools
import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genomeflow.errors import ConfigError, InputError
from genomeflow.models.transformer import CNN, DEFAULT_CONTEXT, PRESETS, ModelSpec

if TYPE_CHECKING:
    from genomeflow.tokenise.tokenizer import GenomeTokenizer

log = logging.getLogger(__name__)

# Model types whose positions start after the pad id (RoBERTa-style): pad_id + 1 slots reserved.
OFFSET_POSITIONS = {"longformer", "roberta", "xlm-roberta", "camembert", "esm"}
# Config attributes --dropout sets, where a checkpoint's config has them.
DROPOUTS = (
    "dropout",
    "attention_dropout",
    "seq_classif_dropout",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "classifier_dropout",
    "embedding_dropout",
    "mlp_dropout",
)
MODEL_TOKENISER = "tokeniser"  # where a genomeflow model folder keeps its tokeniser
CNN_MODEL_TYPE = "genomeflow-cnn"  # genomeflow.models.cnn.CnnConfig.model_type


@dataclass(frozen=True)
class Checkpoint:
    """A local checkpoint folder and its transformers config.

    Attributes:
        location: as the user gave it (a folder, ``runs:/...`` or ``models:/...``).
        folder: the local folder.
        config: its ``transformers`` config.
    """

    location: str
    folder: Path
    config: Any

    @property
    def architecture(self) -> str:
        """Its model type; ``cnn`` for a genomeflow CNN."""
        model_type = self.config.model_type
        return CNN if model_type == CNN_MODEL_TYPE else model_type

    @property
    def preset(self) -> str:
        """``tiny``/``small``/``base`` when its depth and width are one of genomeflow's presets,
        else ``<layers>x<width>`` (a CNN: ``<blocks>x<channels>``)."""
        if self.architecture == CNN:
            from genomeflow.models.cnn import PRESETS as CNN_PRESETS

            shape = (self.config.channels, self.config.blocks, self.config.kernel_size)
            for name, size in CNN_PRESETS.items():
                if (size.channels, size.blocks, size.kernel_size) == shape:
                    return name
            return f"{self.config.blocks}x{self.config.channels}"
        layers = getattr(self.config, "num_hidden_layers", None)
        hidden = getattr(self.config, "hidden_size", None)
        for name, size in PRESETS.items():
            if (size.layers, size.hidden) == (layers, hidden):
                return name
        return f"{layers}x{hidden}"

    @property
    def context(self) -> int | None:
        """Tokens per window its position embeddings allow (None: not said)."""
        positions = getattr(self.config, "max_position_embeddings", None)
        if positions and self.architecture in OFFSET_POSITIONS:
            positions -= (self.config.pad_token_id or 0) + 1
        return positions

    def max_length(self, requested: int) -> int:
        """The window length: ``requested`` (at most the checkpoint's context), else its
        context (at most the architecture's default). A CNN has no positions: any
        ``requested`` length, else the windows it was trained on."""
        context = self.context
        if self.architecture == CNN:
            return requested or context or DEFAULT_CONTEXT[CNN]
        if not requested:
            fallback = context or 512
            return min(fallback, DEFAULT_CONTEXT.get(self.architecture, fallback))
        if context and requested > context:
            raise ConfigError(
                f"--max-length {requested}: the checkpoint {self.location} has positions for "
                f"{context} tokens; give at most {context}, or leave --max-length out"
            )
        return requested

    def tokenizer_folder(self) -> Path | None:
        """Its tokenizer: in the folder itself, or a genomeflow model's ``tokeniser/``."""
        from genomeflow.tokenise.tokenizer import is_hf_tokenizer

        for folder in (self.folder, self.folder / MODEL_TOKENISER):
            if folder.is_dir() and is_hf_tokenizer(folder):
                return folder
        return None

    def check_alphabet(self, alphabet: str, dataset: str) -> None:
        """Refuse a CNN checkpoint of another alphabet than the dataset's (its residue encoding
        is the alphabet's; a CNN has no tokenizer to compare).

        Raises:
            InputError: the alphabets differ.
        """
        theirs = getattr(self.config, "alphabet", None)
        if theirs != alphabet:
            raise InputError(
                f"{dataset}: --init-from {self.location}: a CNN of {theirs} sequences, the "
                f"dataset holds {alphabet}; fine-tune a CNN trained on {alphabet} sequences"
            )

    def check_vocabulary(self, tokenizer: GenomeTokenizer, dataset: str) -> None:
        """Refuse a dataset tokenised with another vocabulary than the checkpoint's.

        Raises:
            InputError: the vocabularies (or, without a tokenizer in the checkpoint, the
                embedding size) differ; the message says how to rebuild the dataset.
        """
        from genomeflow.tokenise.tokenizer import GenomeTokenizer

        own = self.tokenizer_folder()
        theirs = None
        if own is not None:
            try:
                theirs = GenomeTokenizer.load(own).vocabulary()
            except InputError as error:
                log.warning("--init-from %s: unreadable tokenizer (%s)", self.location, error)
        ours = tokenizer.vocabulary()
        size = getattr(self.config, "vocab_size", None)
        problem = None
        if theirs is not None and theirs != ours:
            same = len(set(theirs.items()) & set(ours.items()))
            problem = (
                f"its tokenizer's vocabulary ({len(theirs)} tokens) is not the dataset's "
                f"tokeniser's ({len(ours)} tokens, {same} of them the same with the same id)"
            )
        elif size is not None and len(ours) > size:
            problem = f"it embeds {size} tokens, the dataset's tokeniser has {len(ours)}"
        if problem:
            folder = own or self.folder
            raise InputError(
                f"{dataset}: --init-from {self.location}: {problem}; build the dataset with the "
                f"checkpoint's tokenizer: genomeflow dataset FASTA... -t {folder} -o DATASET"
            )
        if theirs is None:
            log.warning(
                "--init-from %s: no tokenizer in the checkpoint to compare with; only the "
                "vocabulary size (%s) was checked",
                self.location,
                size,
            )


@functools.lru_cache(maxsize=8)  # sweep trials and folds prepare the same checkpoint
def open_checkpoint(location: str, folder: Path, trust_remote_code: bool = False) -> Checkpoint:
    """The checkpoint ``location`` (as the user gave it, for messages), read from its local
    ``folder`` (genomeflow.tracking.checkpoints.local_checkpoint resolves runs:/ and models:/).

    Raises:
        InputError: not a checkpoint folder, unreadable config, or model code it ships without
            ``trust_remote_code``.
    """
    import transformers

    import genomeflow.models.cnn  # noqa: F401  (a genomeflow-cnn config.json reads as its config)

    path = folder / "config.json"
    if not path.is_file():
        raise InputError(
            f"--init-from {location}: {folder} is not a model checkpoint (no config.json); give "
            "a `genomeflow pretrain` folder or a folder written by save_pretrained"
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as error:
        raise InputError(f"{path}: not a readable model config ({error})") from error
    if raw.get("auto_map") and not trust_remote_code:
        raise InputError(
            f"--init-from {location}: the checkpoint ships its own model code (auto_map in "
            "config.json), which genomeflow runs only with --trust-remote-code; add it if you "
            "trust the checkpoint's source"
        )
    try:
        with quiet_transformers():
            config = transformers.AutoConfig.from_pretrained(
                str(folder), trust_remote_code=trust_remote_code
            )
    except (ValueError, OSError, KeyError) as error:
        reason = " ".join(str(error).split())[:200]
        raise InputError(
            f"--init-from {location}: transformers cannot read its config ({reason})"
        ) from error
    return Checkpoint(location, folder, config)


@contextmanager
def quiet_transformers() -> Any:
    """transformers' load reports and warnings off for a block (genomeflow logs its own)."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def pretrained_classifier(spec: ModelSpec, kernel: str | None, seed: int) -> Any:
    """A sequence classifier with the encoder of ``spec.checkpoint`` and a fresh head.

    The checkpoint's config is kept but for the labels and genomeflow's dropout; every weight
    outside the encoder (``base_model_prefix``) is initialised from ``seed``.

    Raises:
        InputError: most of the encoder's weights are not in the checkpoint (another
            architecture, or code that needs --trust-remote-code).
    """
    import torch
    import transformers

    trust = spec.trust_remote_code
    auto = transformers.AutoModelForSequenceClassification
    extra = {"attn_implementation": kernel} if kernel else {}
    with quiet_transformers():
        config = transformers.AutoConfig.from_pretrained(spec.checkpoint, trust_remote_code=trust)
        config.num_labels = len(spec.label_names)
        config.id2label = dict(enumerate(spec.label_names))
        config.label2id = {name: i for i, name in enumerate(spec.label_names)}
        for name in DROPOUTS:
            if hasattr(config, name):
                setattr(config, name, spec.dropout)
        if config.pad_token_id is None:
            config.pad_token_id = spec.pad_id
        torch.manual_seed(seed)
        model, info = auto.from_pretrained(
            spec.checkpoint,
            config=config,
            trust_remote_code=trust,
            output_loading_info=True,
            ignore_mismatched_sizes=True,
            **extra,
        )
        torch.manual_seed(seed)
        fresh = auto.from_config(config, trust_remote_code=trust, **extra)
    if not model.base_model_prefix:
        return model  # no encoder/head split to go by: transformers' own initialisation
    prefix = model.base_model_prefix + "."
    encoder = [name for name, _ in model.named_parameters() if name.startswith(prefix)]
    missing = [k for k in info["missing_keys"] if k.startswith(prefix) and ".pooler." not in k]
    if not encoder or len(missing) > len(encoder) // 2:
        raise InputError(
            f"--init-from {spec.checkpoint}: {len(missing)} of the {len(encoder)} encoder "
            f"weights of a {spec.architecture} classifier are not in the checkpoint; it is "
            "another architecture (model code of its own needs --trust-remote-code)"
        )
    head = {k: v for k, v in fresh.state_dict().items() if not k.startswith(prefix)}
    model.load_state_dict(head, strict=False)
    log.info(
        "encoder weights from %s (%d tensors%s); fresh classification head (%s)",
        spec.checkpoint,
        len(encoder) - len(missing),
        f", {len(missing)} initialised: {', '.join(missing[:3])}" if missing else "",
        ", ".join(sorted({k.split(".")[0] for k in head})),
    )
    return model
