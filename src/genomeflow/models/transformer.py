"""Transformer sequence classifiers built from configs (no hub downloads), saved and loaded.

Four architectures, each in three sizes (:data:`PRESETS`), with the tokeniser's vocabulary and
special-token ids and the dataset's label names. Every one classifies from the first token
(``<s>``, the CLS position): DistilBERT through its pre-classifier, BERT through its pooler,
Longformer through its head (with global attention on that token), ModernBERT with
``classifier_pooling="cls"``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from genomeflow.errors import ConfigError

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
# Context of a window in tokens, CLS/SEP included: Longformer and ModernBERT are the long ones.
DEFAULT_CONTEXT = {"distilbert": 512, "bert": 512, "longformer": 4096, "modernbert": 8192}
# Longformer computes its own windowed attention; SDPA kernels do not apply to it.
EAGER_ONLY = {"longformer"}


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build a model from nothing; stored in the model folder's manifest.

    Attributes:
        architecture: distilbert, bert, longformer or modernbert.
        preset: tiny, small or base (:data:`PRESETS`).
        vocab_size: the tokeniser's vocabulary, special tokens included.
        label_names: class names in label-index order.
        max_length: tokens per window, CLS/SEP included.
        dropout: dropout of embeddings, attention and classifier.
        pad_id, cls_id, sep_id: the tokeniser's special-token ids.
    """

    architecture: str
    preset: str
    vocab_size: int
    label_names: tuple[str, ...]
    max_length: int
    dropout: float
    pad_id: int
    cls_id: int
    sep_id: int

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label_names": list(self.label_names)}


def context_length(architecture: str, requested: int) -> int:
    """Tokens per window: ``requested``, or the architecture's default when 0."""
    return requested or DEFAULT_CONTEXT[architecture]


def attention_kernel(architecture: str, requested: str) -> str:
    """The attention implementation: SDPA unless asked otherwise; eager for Longformer."""
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


def _even(tokens: int) -> int:
    return max(2, tokens - tokens % 2)  # local attention windows must be even


def build_model(spec: ModelSpec, attention: str = "auto", seed: int = 42) -> Any:
    """A randomly initialised classifier for ``spec`` (the same seed gives the same weights)."""
    import torch
    import transformers

    torch.manual_seed(seed)
    kernel = attention_kernel(spec.architecture, attention)
    model = transformers.AutoModelForSequenceClassification.from_config(
        hf_config(spec), attn_implementation=kernel
    )
    log.info(
        "built %s-%s: %.2fM parameters, %s attention, %d-token windows",
        spec.architecture,
        spec.preset,
        count_parameters(model) / 1e6,
        kernel,
        spec.max_length,
    )
    return model


def load_model(folder: Any, architecture: str, attention: str = "auto") -> Any:
    """A saved classifier (config.json + model.safetensors written by ``save_pretrained``)."""
    import transformers

    return transformers.AutoModelForSequenceClassification.from_pretrained(
        str(folder), attn_implementation=attention_kernel(architecture, attention)
    )


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
