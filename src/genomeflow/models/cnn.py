"""Convolutional sequence classifiers (``--architecture cnn``) on residues, no tokeniser; on
text, on the tokeniser's token ids.

Each residue is one position: DNA/RNA through a fixed one-hot table (IUPAC codes as fractions
of A, C, G, T/U; gaps and padding all zeros), protein through a learned embedding. Text has no
fixed letters: each token of the dataset's tokeniser is a position, through a learned embedding
over its vocabulary (the tokeniser's pad id as padding), in the transformers' token windows. A stem
convolution, residual dilated convolution blocks (dilation doubling per block) and global max +
mean pooling over the unpadded positions (with ``position_bins``, also the mean of each of that
many equal stretches, for aligned inputs) feed a small MLP head. The model is a transformers
``PreTrainedModel`` (``model_type`` ``genomeflow-cnn``, registered with the Auto classes on
import), so the training loop, ``save_pretrained``/``from_pretrained``, windows and Integrated
Gradients on ``get_input_embeddings()`` treat it like the transformers. Padded positions are
zeroed after every layer and left out of batch-norm statistics and pooling, so a sequence's
logits do not depend on how much padding its batch needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import transformers
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from genomeflow.errors import ConfigError, InputError
from genomeflow.models.residues import PAD_ID, one_hot_table, residue_vocabulary
from genomeflow.sequence.alphabet import Alphabet

DEFAULT_CONTEXT = 1024  # residues per window (DeepSEA/Basset-like 0.6-1 kb inputs)


@dataclass(frozen=True)
class CnnSize:
    """Width and depth of a preset."""

    channels: int  # feature maps per position in every convolution
    blocks: int  # residual dilated blocks after the stem
    kernel_size: int  # residues (text: tokens) one (undilated) convolution sees; odd
    embedding_size: int  # protein and text only: learned features per residue or token


# Receptive field = kernel + (kernel - 1) * (2**blocks - 1) residues with doubling dilation:
# tiny 65 bp (a TF site with flanks; ~0.12M parameters, seconds per epoch on a CPU), small
# 257 bp (a promoter or enhancer core; ~0.78M), base 2049 bp (a whole 1-2 kb window; ~4.9M,
# a GPU model). 64-256 channels match DeepBind/Basset-scale first layers.
PRESETS = {
    "tiny": CnnSize(channels=64, blocks=3, kernel_size=9, embedding_size=32),
    "small": CnnSize(channels=128, blocks=5, kernel_size=9, embedding_size=32),
    "base": CnnSize(channels=256, blocks=8, kernel_size=9, embedding_size=32),
}


class CnnConfig(transformers.PretrainedConfig):
    """Settings of a :class:`CnnForSequenceClassification` (see :data:`PRESETS`)."""

    model_type = "genomeflow-cnn"

    def __init__(
        self,
        alphabet: str = "dna",
        channels: int = 64,
        blocks: int = 3,
        kernel_size: int = 9,
        dilations: list[int] | None = None,
        embedding_size: int = 32,
        dropout: float = 0.1,
        max_position_embeddings: int = DEFAULT_CONTEXT,
        position_bins: int = 0,
        **kwargs: Any,
    ) -> None:
        self.alphabet = Alphabet.parse(alphabet).value
        if Alphabet.parse(alphabet).is_text:  # token ids: the tokeniser's vocabulary and pad
            if kwargs.get("vocab_size") is None or kwargs.get("pad_token_id") is None:
                raise ConfigError("a text CNN needs its tokeniser's vocab_size and pad_token_id")
            self.vocab_size = kwargs.pop("vocab_size")
        else:
            self.vocab_size = len(residue_vocabulary(self.alphabet))
            kwargs.pop("vocab_size", None)  # always the alphabet's
            kwargs["pad_token_id"] = PAD_ID
        if kernel_size % 2 == 0:
            raise ConfigError(f"CNN kernel_size must be odd, got {kernel_size}")
        self.channels, self.blocks, self.kernel_size = channels, blocks, kernel_size
        self.dilations = list(dilations or [2**i for i in range(blocks)])
        if len(self.dilations) != blocks:
            raise ConfigError(f"{blocks} blocks need {blocks} dilations, got {self.dilations}")
        self.embedding_size, self.dropout = embedding_size, dropout
        self.max_position_embeddings = max_position_embeddings  # window: residues (text: tokens)
        if position_bins < 0:
            raise ConfigError(f"CNN position_bins must be 0 or more, got {position_bins}")
        self.position_bins = position_bins  # 0: pooling ignores where a feature is
        super().__init__(**kwargs)


class OneHotEncoding(nn.Module):
    """Fixed residue id -> one-hot rows (a buffer, never trained)."""

    def __init__(self, alphabet: str) -> None:
        super().__init__()
        self.register_buffer("table", torch.from_numpy(one_hot_table(alphabet)))

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return nn.functional.embedding(input_ids, self.table)


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """Batch norm whose training statistics come from unpadded positions only."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if not self.training:
            return super().forward(x) * mask
        x32 = x.float()
        count = mask.sum().clamp(min=2)
        mean = (x32 * mask).sum(dim=(0, 2)) / count
        var = ((x32 - mean[:, None]) ** 2 * mask).sum(dim=(0, 2)) / count
        with torch.no_grad():
            self.num_batches_tracked += 1
            weight = self.momentum or 1 / float(self.num_batches_tracked)  # None: plain mean
            self.running_mean.lerp_(mean, weight)
            self.running_var.lerp_(var * count / (count - 1), weight)
        y = (x32 - mean[:, None]) * torch.rsqrt(var[:, None] + self.eps)
        return ((y * self.weight[:, None] + self.bias[:, None]) * mask).to(x.dtype)


class ConvLayer(nn.Module):
    """Conv1d ('same' length, dilated) -> masked batch norm -> GELU -> dropout."""

    def __init__(self, inputs: int, outputs: int, kernel: int, dilation: int, p: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(inputs, outputs, kernel, dilation=dilation,
                              padding=dilation * (kernel // 2), bias=False)  # fmt: skip
        self.norm = MaskedBatchNorm1d(outputs)
        self.drop = nn.Dropout(p)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.drop(nn.functional.gelu(self.norm(self.conv(x), mask)))


class CnnForSequenceClassification(transformers.PreTrainedModel):
    """Stem conv, residual dilated conv blocks, masked max + mean pooling, MLP head."""

    config_class = CnnConfig
    base_model_prefix = "cnn"
    main_input_name = "input_ids"

    def __init__(self, config: CnnConfig) -> None:
        super().__init__(config)
        nucleic = Alphabet.parse(config.alphabet).is_nucleic
        if nucleic:
            self.embed: nn.Module = OneHotEncoding(config.alphabet)
        else:
            self.embed = nn.Embedding(config.vocab_size, config.embedding_size, config.pad_token_id)
        width, k, p = config.channels, config.kernel_size, config.dropout
        self.stem = ConvLayer(4 if nucleic else config.embedding_size, width, k, 1, p)
        self.blocks = nn.ModuleList(ConvLayer(width, width, k, d, p) for d in config.dilations)
        pooled = (2 + config.position_bins) * width
        self.head = nn.Sequential(nn.Dropout(p), nn.Linear(pooled, width), nn.GELU(),
                                  nn.Dropout(p), nn.Linear(width, config.num_labels))  # fmt: skip
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if module is self.head[-1]:  # small logits at the start: loss ~ log(classes)
            nn.init.normal_(module.weight, std=0.01)
            nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.Conv1d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm1d):  # torch.nn.init: guarded against loaded ones
            for tensor in (module.bias, module.running_mean, module.num_batches_tracked):
                nn.init.zeros_(tensor)
            nn.init.ones_(module.weight)
            nn.init.ones_(module.running_var)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight)
            with torch.no_grad():
                module.weight[self.config.pad_token_id].zero_()
        elif isinstance(module, OneHotEncoding):  # fixed: rebuilding it changes nothing
            with torch.no_grad():
                module.table.copy_(torch.from_numpy(one_hot_table(self.config.alphabet)))

    def get_input_embeddings(self) -> nn.Module:
        return self.embed

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.embed = value

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> SequenceClassifierOutput:
        """Logits (batch, classes) of residue (text: token) ids or of per-position inputs
        (batch, length, 4 or embedding_size); ``attention_mask`` 1 on residues or tokens, 0 on
        padding (default: ids != the config's pad id)."""
        if inputs_embeds is None:
            inputs_embeds = self.embed(input_ids)
        if attention_mask is None:  # residues are the non-pad ids, or every position
            ones = inputs_embeds.new_ones(inputs_embeds.shape[:2])
            attention_mask = ones if input_ids is None else input_ids != self.config.pad_token_id
        mask = attention_mask[:, None, :].to(inputs_embeds.dtype)
        x = self.stem(inputs_embeds.transpose(1, 2) * mask, mask)
        for block in self.blocks:
            x = x + block(x, mask)
        count = mask.sum(dim=-1)
        mean = x.sum(dim=-1) / count.clamp(min=1)
        peak = x.masked_fill(mask == 0, torch.finfo(x.dtype).min).amax(dim=-1)
        pooled = [torch.where(count > 0, peak, 0), mean]
        if self.config.position_bins:
            pooled.append(_bin_means(x, mask, self.config.position_bins))
        pooled = torch.cat(pooled, dim=-1)
        logits = self.head(pooled)
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.float(), labels.view(-1))
        return SequenceClassifierOutput(loss=loss, logits=logits)


def _bin_means(x: torch.Tensor, mask: torch.Tensor, bins: int) -> torch.Tensor:
    """(batch, channels * bins): the mean of each of ``bins`` equal stretches of every row's
    unpadded positions, so the head can weigh where a feature sits (a promoter's -35 and -10
    boxes at fixed distances from its start site) and not only whether it is there."""
    mask = mask[:, 0, :]  # (batch, length)
    lengths = mask.sum(dim=-1, keepdim=True).clamp(min=1)
    position = torch.arange(mask.shape[-1], device=x.device, dtype=lengths.dtype)
    index = (position * bins / lengths).floor().clamp(max=bins - 1).long()
    member = nn.functional.one_hot(index, bins).to(x.dtype) * mask[..., None]
    sums = torch.einsum("bcl,blk->bck", x, member)
    return (sums / member.sum(dim=1)[:, None, :].clamp(min=1)).flatten(1)


def build_cnn(
    alphabet: Alphabet | str,
    preset: str,
    label_names: Sequence[str],
    max_length: int = DEFAULT_CONTEXT,
    dropout: float = 0.1,
    seed: int = 42,
    position_bins: int = 0,
    vocab_size: int | None = None,
    pad_id: int | None = None,
) -> CnnForSequenceClassification:
    """A randomly initialised ``preset`` CNN for ``alphabet`` and the dataset's label names,
    taking windows of ``max_length`` residues (the same seed gives the same weights), pooling
    ``position_bins`` stretches of each window apart as well (:func:`_bin_means`). Text: token
    windows of the tokeniser with ``vocab_size`` tokens and pad id ``pad_id`` (other alphabets
    ignore both: their residue vocabulary is fixed)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown CNN preset {preset!r}: choose {', '.join(PRESETS)}")
    config = CnnConfig(
        alphabet=Alphabet.parse(alphabet).value,
        **asdict(PRESETS[preset]),
        dropout=dropout,
        max_position_embeddings=max_length,
        position_bins=position_bins,
        vocab_size=vocab_size,
        pad_token_id=pad_id,
        num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        label2id={name: i for i, name in enumerate(label_names)},
    )
    torch.manual_seed(seed)
    return CnnForSequenceClassification(config)


def fine_tunable_cnn(
    folder: str | Path,
    alphabet: Alphabet | str,
    label_names: Sequence[str],
    max_length: int = DEFAULT_CONTEXT,
    dropout: float = 0.1,
    seed: int = 42,
    position_bins: int = 0,
    vocab_size: int | None = None,
    pad_id: int | None = None,
) -> CnnForSequenceClassification:
    """A classifier with the residue (text: token) encoding, convolutions and batch-norm
    statistics of the CNN saved in ``folder`` (``save_pretrained``: a ``genomeflow train
    --architecture cnn`` model folder) and a fresh head for ``label_names`` pooling
    ``position_bins`` stretches apart, initialised from ``seed``. Text: its token embedding
    must be of the dataset's tokeniser (``vocab_size`` tokens, pad id ``pad_id``).

    Raises:
        InputError: the folder holds no CNN of ``alphabet`` (text: of this vocabulary), or its
            weights do not fit its config.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    try:
        config = CnnConfig.from_pretrained(str(folder))
        saved = load_file(str(folder / "model.safetensors"))
    except (OSError, ValueError, SafetensorError) as error:
        reason = " ".join(str(error).split())[:200]
        raise InputError(
            f"--init-from {folder}: not a readable genomeflow CNN ({reason})"
        ) from error
    alphabet = Alphabet.parse(alphabet)
    if config.alphabet != alphabet.value:
        raise InputError(
            f"--init-from {folder}: a CNN of {config.alphabet} sequences, the dataset holds "
            f"{alphabet.value}; fine-tune a CNN trained on {alphabet.value}"
        )
    if alphabet.is_text and (config.vocab_size, config.pad_token_id) != (vocab_size, pad_id):
        raise InputError(
            f"--init-from {folder}: a text CNN of {config.vocab_size} tokens (pad id "
            f"{config.pad_token_id}), the dataset's tokeniser has {vocab_size} (pad id {pad_id}); "
            "build the dataset with that CNN's tokeniser/ folder as -t"
        )
    config.num_labels = len(label_names)
    config.id2label = dict(enumerate(label_names))
    config.label2id = {name: i for i, name in enumerate(label_names)}
    config.dropout, config.max_position_embeddings = dropout, max_length
    config.position_bins = position_bins  # the head is new: it may pool differently
    torch.manual_seed(seed)
    model = CnnForSequenceClassification(config)
    kept = {name: tensor for name, tensor in saved.items() if not name.startswith("head.")}
    missing, unexpected = model.load_state_dict(kept, strict=False)
    missing = [name for name in missing if not name.startswith("head.")]
    if missing or unexpected:
        names = ", ".join((missing + unexpected)[:3])
        raise InputError(
            f"--init-from {folder}: its weights do not fit its config ({names}); give an intact "
            "folder written by `genomeflow train --architecture cnn`"
        )
    return model


transformers.AutoConfig.register(CnnConfig.model_type, CnnConfig, exist_ok=True)
transformers.AutoModelForSequenceClassification.register(
    CnnConfig, CnnForSequenceClassification, exist_ok=True
)
