"""Transformer sequence classifiers built from configs (no hub downloads), saved and loaded.

Four architectures, each in three sizes (:data:`PRESETS`), with the tokeniser's vocabulary and
special-token ids and the dataset's label names. Every one classifies from the first token
(``<s>``, the CLS position): DistilBERT through its pre-classifier, BERT through its pooler,
Longformer through its head (with global attention on that token), ModernBERT with
``classifier_pooling="cls"``. A fifth family, ``cnn`` (:mod:`genomeflow.models.cnn`), is built,
saved and loaded through the same functions: residues in, no tokeniser, its own presets (on
text, the tokeniser's tokens).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from genomeflow.errors import ConfigError, InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Size:
    """Width and depth of a preset."""

    layers: int
    hidden: int  # model width (features per token)
    heads: int
    intermediate: int  # feed-forward width
    local_window: int  # tokens a Longformer/ModernBERT local attention layer sees


PRESETS = {
    "tiny": Size(layers=2, hidden=64, heads=2, intermediate=256, local_window=64),
    "small": Size(layers=4, hidden=256, heads=4, intermediate=1024, local_window=256),
    "base": Size(layers=6, hidden=768, heads=12, intermediate=3072, local_window=512),
}
CNN = "cnn"  # the convolutional family (genomeflow.models.cnn): residues, not tokens
# Context of a window in tokens, CLS/SEP included: Longformer and ModernBERT are the long ones;
# the CNN's in residues (genomeflow.models.cnn.DEFAULT_CONTEXT, not imported: torch-free here).
DEFAULT_CONTEXT = {
    "distilbert": 512,
    "bert": 512,
    "longformer": 4096,
    "modernbert": 8192,
    CNN: 1024,
}
# AdamW peak learning rate when --learning-rate is not given. The transformers' fine-tuning rate
# learns a CNN slowly (batch-normed convolutions from scratch need more). 3e-3 for the CNN: on
# the quality benchmark's planted-JASPAR set (3,000 x 200 bp, 4 classes) 1e-2 stayed at chance
# while 1e-3 and 3e-3 reached the same plateau (valid macro F1 0.74 after 6-8 epochs, 3e-3
# faster at first); on the tests' tiny planted set 3e-3 finds the motif in 8 epochs.
DEFAULT_LEARNING_RATE = 5e-4
LEARNING_RATES = {CNN: 3e-3}
MANIFEST = "transformer.json"  # what `genomeflow train` writes beside the weights
WEIGHTS = "model.safetensors"  # what save_pretrained writes
# Longformer computes its own windowed attention; SDPA kernels do not apply to it.
EAGER_ONLY = {"longformer"}
OWN_KERNEL = "the model's own"  # the attention of a checkpoint's architecture, as logged


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build a model from nothing; stored in the model folder's manifest.

    Attributes:
        architecture: distilbert, bert, longformer, modernbert or cnn.
        preset: tiny, small or base (:data:`PRESETS`; cnn: ``genomeflow.models.cnn.PRESETS``).
        vocab_size: the tokeniser's vocabulary, special tokens included (cnn: the residue
            vocabulary of the alphabet).
        label_names: class names in label-index order.
        max_length: tokens per window, CLS/SEP included (cnn: residues per window).
        dropout: dropout of embeddings, attention and classifier.
        pad_id, cls_id, sep_id: the tokeniser's special-token ids (cnn: pad 0, no CLS/SEP).
        checkpoint: a local pretrained checkpoint folder the encoder comes from (``--init-from``);
            then ``architecture`` is its model type and ``preset`` its size.
        trust_remote_code: run the model code the checkpoint ships.
        alphabet: the sequences' alphabet (dna, rna, protein): the cnn's input encoding.
        position_bins: cnn: stretches of a window pooled apart as well (0: position-free).
    """

    architecture: str
    preset: str
    vocab_size: int
    label_names: tuple[str, ...]
    max_length: int
    dropout: float
    pad_id: int
    cls_id: int | None
    sep_id: int | None
    checkpoint: str | None = None
    trust_remote_code: bool = False
    alphabet: str | None = None
    position_bins: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label_names": list(self.label_names)}


def context_length(architecture: str, requested: int) -> int:
    """Tokens per window: ``requested``, or the architecture's default when 0."""
    return requested or DEFAULT_CONTEXT[architecture]


def learning_rate(architecture: str, requested: float | None) -> float:
    """The AdamW peak learning rate: ``requested``, or the architecture's default when None
    (--learning-rate not given): :data:`LEARNING_RATES`, else :data:`DEFAULT_LEARNING_RATE`."""
    if requested is not None:
        return requested
    return LEARNING_RATES.get(architecture, DEFAULT_LEARNING_RATE)


def attention_kernel(architecture: str, requested: str) -> str | None:
    """The attention implementation: SDPA unless asked otherwise; eager for Longformer; for a
    checkpoint's architecture genomeflow does not build (None), the model's own default; for
    the CNN None (it has no attention: transformers refuses ``sdpa`` for it)."""
    if architecture == CNN:
        if requested not in ("auto", "eager"):
            raise ConfigError(
                f"--attention {requested}: cnn has no attention layers; use --attention auto"
            )
        return None
    if architecture not in DEFAULT_CONTEXT:
        return None if requested == "auto" else requested
    if architecture in EAGER_ONLY:
        if requested not in ("auto", "eager"):
            raise ConfigError(
                f"--attention {requested}: {architecture} has its own windowed attention; "
                "use --attention auto"
            )
        return "eager"
    return "sdpa" if requested == "auto" else requested


def hf_config(spec: ModelSpec) -> Any:
    """The transformers config of a spec (a fresh, randomly initialised model's)."""
    import transformers

    size = PRESETS[spec.preset]
    labels = {
        "num_labels": len(spec.label_names),
        "id2label": dict(enumerate(spec.label_names)),
        "label2id": {name: i for i, name in enumerate(spec.label_names)},
    }
    tokens = {"vocab_size": spec.vocab_size, "pad_token_id": spec.pad_id}
    p = spec.dropout
    if spec.architecture == "distilbert":
        return transformers.DistilBertConfig(
            n_layers=size.layers,
            dim=size.hidden,
            n_heads=size.heads,
            hidden_dim=size.intermediate,
            max_position_embeddings=spec.max_length,
            dropout=p,
            attention_dropout=p,
            seq_classif_dropout=p,
            **tokens,
            **labels,
        )
    bert_like = {
        "num_hidden_layers": size.layers,
        "hidden_size": size.hidden,
        "num_attention_heads": size.heads,
        "intermediate_size": size.intermediate,
        "hidden_dropout_prob": p,
        "attention_probs_dropout_prob": p,
        "classifier_dropout": p,
    }
    if spec.architecture == "bert":
        return transformers.BertConfig(
            max_position_embeddings=spec.max_length, **bert_like, **tokens, **labels
        )
    if spec.architecture == "longformer":
        # RoBERTa-style positions start after the pad id, hence the extra slots.
        return transformers.LongformerConfig(
            max_position_embeddings=spec.max_length + spec.pad_id + 1,
            attention_window=[min(size.local_window, _even(spec.max_length))] * size.layers,
            bos_token_id=spec.cls_id,
            eos_token_id=spec.sep_id,
            sep_token_id=spec.sep_id,
            **bert_like,
            **tokens,
            **labels,
        )
    if spec.architecture == "modernbert":
        return transformers.ModernBertConfig(
            num_hidden_layers=size.layers,
            hidden_size=size.hidden,
            num_attention_heads=size.heads,
            intermediate_size=size.intermediate,
            max_position_embeddings=spec.max_length,
            local_attention=min(size.local_window, _even(spec.max_length)),
            embedding_dropout=p,
            attention_dropout=p,
            mlp_dropout=p,
            classifier_dropout=p,
            classifier_pooling="cls",
            cls_token_id=spec.cls_id,
            sep_token_id=spec.sep_id,
            bos_token_id=spec.cls_id,
            eos_token_id=spec.sep_id,
            **tokens,
            **labels,
        )
    raise ConfigError(f"unknown architecture {spec.architecture!r}")


def _build_cnn(spec: ModelSpec, masked_lm: bool, seed: int) -> Any:
    """A CNN classifier: fresh (``build_cnn``), or a saved CNN's convolutions with a fresh head."""
    from genomeflow.models import cnn

    if masked_lm:
        raise ConfigError("cnn is a classifier only: pretrain a transformer architecture")
    if spec.alphabet is None:
        raise ConfigError("a cnn model spec needs the alphabet of its sequences")
    settings = {
        "alphabet": spec.alphabet,
        "label_names": spec.label_names,
        "max_length": spec.max_length,
        "dropout": spec.dropout,
        "seed": seed,
        "position_bins": spec.position_bins,
        "vocab_size": spec.vocab_size,  # text: the tokeniser's (other alphabets: fixed)
        "pad_id": spec.pad_id,
    }
    if spec.checkpoint:
        return cnn.fine_tunable_cnn(spec.checkpoint, **settings)
    return cnn.build_cnn(preset=spec.preset, **settings)


def _even(tokens: int) -> int:
    return max(2, tokens - tokens % 2)  # local attention windows must be even


def build_model(
    spec: ModelSpec, attention: str = "auto", seed: int = 42, masked_lm: bool = False
) -> Any:
    """A classifier for ``spec`` (the same seed gives the same weights): randomly initialised,
    or with the encoder of ``spec.checkpoint`` and a fresh head; ``masked_lm``: a randomly
    initialised masked language model of the same configuration instead (``pretrain``)."""
    import torch
    import transformers

    torch.manual_seed(seed)
    kernel = attention_kernel(spec.architecture, attention)
    if spec.architecture == CNN:
        model = _build_cnn(spec, masked_lm, seed)
    elif spec.checkpoint and not masked_lm:
        from genomeflow.models.checkpoint import pretrained_classifier

        model = pretrained_classifier(spec, kernel, seed)
    else:
        head = "MaskedLM" if masked_lm else "SequenceClassification"
        auto = getattr(transformers, f"AutoModelFor{head}")
        model = auto.from_config(hf_config(spec), attn_implementation=kernel)
    log.info(
        "built %s-%s%s: %.2fM parameters, %s, %d-%s windows",
        spec.architecture,
        spec.preset,
        f" from {spec.checkpoint}" if spec.checkpoint and not masked_lm else "",
        count_parameters(model) / 1e6,
        "convolutions" if spec.architecture == CNN else f"{kernel or OWN_KERNEL} attention",
        spec.max_length,
        "residue" if spec.architecture == CNN and spec.alphabet != "text" else "token",
    )
    return model


def load_model(
    folder: Any,
    architecture: str,
    attention: str = "auto",
    producer: str = "genomeflow train",
    trust_remote_code: bool = False,
) -> Any:
    """A saved classifier (config.json + model.safetensors written by ``save_pretrained``).

    Args:
        producer: the command that wrote the folder, named in the fix of an error.
        trust_remote_code: run the model code saved with it (a ``--trust-remote-code`` model).

    Raises:
        InputError: the weights are missing, truncated or corrupt, or config.json is not a
            model config.
    """
    import transformers

    import genomeflow.models.cnn  # noqa: F401  (registers genomeflow-cnn with the Auto classes)

    folder = Path(folder)
    check_weights(folder / WEIGHTS, producer)
    try:
        return transformers.AutoModelForSequenceClassification.from_pretrained(
            str(folder),
            attn_implementation=attention_kernel(architecture, attention),
            trust_remote_code=trust_remote_code,
        )
    except (OSError, ValueError) as error:  # config.json missing, not JSON, or not a model's
        raise InputError(
            f"{folder / 'config.json'}: the model cannot be built from it "
            f"({_reason(error)}); re-run `{producer}`"
        ) from error


def check_weights(path: Path, producer: str = "genomeflow train") -> None:
    """Refuse a safetensors file that is missing, truncated or corrupt (its header read back
    and checked against the file's size), before anything is built from it.

    Raises:
        InputError: naming the file, the fault and the command to re-run.
    """
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise InputError(f"{path}: missing; the model folder is incomplete; re-run `{producer}`")
    try:
        with safe_open(str(path), framework="pt"):
            pass
    except (SafetensorError, OSError) as error:
        raise InputError(
            f"{path}: truncated or corrupt ({_reason(error)}); re-run `{producer}`"
        ) from error


def _reason(error: BaseException) -> str:
    return " ".join(str(error).split())[:200]


def model_inputs(model: Any, batch: dict[str, Any]) -> dict[str, Any]:
    """The forward arguments of a batch (input_ids, attention_mask; Longformer: global CLS)."""
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    if model.config.model_type == "longformer":
        import torch

        global_mask = torch.zeros_like(batch["input_ids"])
        global_mask[:, 0] = 1  # the CLS token attends everywhere
        inputs["global_attention_mask"] = global_mask
    return inputs


def count_parameters(model: Any) -> int:
    """Trainable and frozen parameters of a model."""
    return sum(p.numel() for p in model.parameters())
