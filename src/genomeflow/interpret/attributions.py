"""Integrated Gradients attributions of a transformer classifier, batched, at token and residue
level.

Captum's Layer Integrated Gradients runs on the token embedding layer: many windows go through
one forward pass (``batch_size`` windows, ``internal_batch_size`` interpolation rows), the
target is the predicted or a chosen class, the output integrated is that class's probability,
and the baseline is the same window with every residue token replaced by ``<pad>`` or shuffled
(CLS/SEP kept). A window's attributions sum to F(window) - F(baseline) up to the convergence
delta (completeness). Sequences longer than the context are attributed window by window; a token
covered by two windows gets their mean. Token scores are spread evenly over the residues each
token covers, so residue scores keep the token total.

A cnn (no tokeniser) is attributed at residue level: the layer is its one-hot encoding (DNA/RNA;
protein: its learned embedding), so Integrated Gradients runs on the one-hot input itself; the
``pad`` baseline is the zero one-hot (pad id 0) at every residue, ``shuffle`` permutes the whole
window (no CLS/SEP to keep); every token is one residue, spanning ``(i, i + 1)``. Attributions
are of the forward strand's probability; the reported probabilities are the classifier's (both
strands averaged for a DNA/RNA cnn).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from genomeflow.errors import ConfigError
from genomeflow.models.windows import window_spans
from genomeflow.sequence.chunking import chunk_spans

BASELINES = ("pad", "shuffle")


@dataclass(frozen=True)
class SequenceAttribution:
    """The attributions of one sequence towards its target class.

    Attributes:
        id: the record id.
        sequence: the residues.
        target: the class attributed to.
        predicted: the predicted class; ``probability`` its probability.
        probabilities: every class's probability, in label order.
        tokens: the sequence's tokens (no CLS/SEP).
        token_scores: shape (tokens,): attribution of each token.
        residue_scores: shape (len(sequence),): token scores spread over their residues.
        delta: the largest absolute convergence delta of its windows (completeness error).
        zero_norm: every attribution is 0 (e.g. a collapsed model): scores are reported as 0,
            never divided into NaN.
        label: the true class when known.
        spans: per token, the character range ``[start, end)`` of ``sequence`` it covers (a
            text document's words are rebuilt from them; empty when not recorded).
    """

    id: str
    sequence: str
    target: str
    predicted: str
    probability: float
    probabilities: np.ndarray
    tokens: list[str]
    token_scores: np.ndarray
    residue_scores: np.ndarray
    delta: float
    zero_norm: bool
    label: str | None = None
    spans: tuple[tuple[int, int], ...] = ()

    def normalised(self, scores: np.ndarray) -> np.ndarray:
        """Scores over their largest magnitude, in [-1, 1] (zeros when all are zero)."""
        peak = float(np.abs(scores).max()) if len(scores) else 0.0
        return scores / peak if peak > 0 else np.zeros_like(scores)


def token_residue_spans(tokenizer: Any, sequence: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The sequence's tokens and the residue range ``[start, end)`` each covers."""
    encoding = tokenizer.hf.backend_tokenizer.encode(
        tokenizer.words(sequence), add_special_tokens=False
    )
    if tokenizer.method == "kmer":  # words are space-separated k-mers: token i is k-mer i
        parameters = tokenizer.metadata["parameters"]
        k, stride = parameters["k"], parameters["stride"]
        spans = chunk_spans(len(sequence), k, stride, min_length=k) or [(0, len(sequence))]
    else:  # the text is the sequence itself
        spans = [tuple(offset) for offset in encoding.offsets]
    return encoding.tokens, spans


def residue_scores(length: int, spans: Sequence[tuple[int, int]], scores: np.ndarray) -> np.ndarray:
    """Spread each token's score evenly over its residues; overlapping tokens add up."""
    out = np.zeros(length, dtype=np.float64)
    for (start, end), score in zip(spans, scores, strict=True):
        if end > start:
            out[start:end] += score / (end - start)
    return out


class Attributor:
    """Integrated Gradients for a loaded transformer classifier.

    Args:
        classifier: a :class:`genomeflow.models.classifier.TransformerClassifier`.
        steps: interpolation steps between baseline and input (more: smaller delta).
        baseline: ``pad`` (residue tokens -> <pad>) or ``shuffle`` (residue tokens permuted).
        batch_size: windows per attribution call.
        internal_batch_size: interpolated rows per forward pass (memory bound).
        seed: seeds the shuffled baselines.
    """

    def __init__(
        self,
        classifier: Any,
        steps: int = 50,
        baseline: str = "pad",
        batch_size: int = 16,
        internal_batch_size: int = 256,
        seed: int = 42,
    ) -> None:
        if baseline not in BASELINES:
            raise ConfigError(f"--baseline {baseline!r} is unknown: choose {', '.join(BASELINES)}")
        self.classifier = classifier
        self.steps, self.baseline, self.seed = steps, baseline, seed
        self.batch_size, self.internal_batch_size = batch_size, internal_batch_size
        self.model = classifier.model.eval()
        if classifier.tokenizer is None:  # a cnn: residue ids, pad 0, no CLS/SEP
            self.pad_id, self.cls_id, self.sep_id = self.model.config.pad_token_id, None, None
        else:
            hf = classifier.tokenizer.hf
            self.pad_id, self.cls_id, self.sep_id = (
                hf.pad_token_id,
                hf.cls_token_id,
                hf.sep_token_id,
            )
        # the residue positions of a window: inside CLS ... SEP, or all of a cnn's
        self.inner = slice(1, -1) if self.cls_id is not None else slice(None)

    def _forward(self, input_ids: Any, attention_mask: Any) -> Any:
        import torch

        from genomeflow.models.transformer import model_inputs

        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        logits = self.model(**model_inputs(self.model, batch)).logits
        return torch.softmax(logits.float(), dim=-1)

    def _reference(self, ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        reference = ids.copy()
        if self.baseline == "pad":
            reference[self.inner] = self.pad_id
        else:
            reference[self.inner] = rng.permutation(ids[self.inner])
        return reference

    def _attribute_windows(
        self, windows: list[np.ndarray], targets: list[int]
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """Token attributions (CLS/SEP dropped) and convergence deltas of windows."""
        trim = 1 if self.cls_id is not None else 0
        import torch
        from captum.attr import LayerIntegratedGradients

        device = self.classifier.runtime.device
        ig = LayerIntegratedGradients(self._forward, self.model.get_input_embeddings())
        rng = np.random.default_rng(self.seed)
        scores: list[np.ndarray] = []
        deltas: list[float] = []
        for start in range(0, len(windows), self.batch_size):
            chunk = windows[start : start + self.batch_size]
            width = max(len(w) for w in chunk)
            ids = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)
            reference = ids.clone()
            mask = torch.zeros_like(ids)
            for row, window in enumerate(chunk):
                ids[row, : len(window)] = torch.as_tensor(window, dtype=torch.long)
                reference[row, : len(window)] = torch.as_tensor(
                    self._reference(np.asarray(window), rng), dtype=torch.long
                )
                mask[row, : len(window)] = 1
            attributions, delta = ig.attribute(
                inputs=ids.to(device),
                baselines=reference.to(device),
                target=torch.as_tensor(targets[start : start + len(chunk)], device=device),
                additional_forward_args=(mask.to(device),),
                n_steps=self.steps,
                internal_batch_size=self.internal_batch_size,
                return_convergence_delta=True,
            )
            per_token = attributions.sum(dim=-1).detach().float().cpu().numpy()
            for row, window in enumerate(chunk):
                scores.append(per_token[row, trim : len(window) - trim])
            deltas += delta.detach().float().abs().cpu().tolist()
        return scores, np.asarray(deltas)

    def _windows(self, sequence: str) -> list[tuple[np.ndarray, tuple[int, int]]]:
        """A sequence's model windows and the token range ``[begin, end)`` each covers."""
        classifier = self.classifier
        if classifier.tokenizer is None:  # a cnn: residue windows, as the classifier cuts them
            from genomeflow.models.residues import encode_sequence, residue_window_spans

            residues = encode_sequence(sequence, classifier.alphabet)
            spans = residue_window_spans(len(residues), classifier.max_length, classifier.stride)
            return [(residues[begin:end], (begin, end)) for begin, end in spans]
        tokenizer = classifier.tokenizer
        encoded = tokenizer.hf.backend_tokenizer.encode(
            tokenizer.words(sequence), add_special_tokens=False
        ).ids
        return [
            (np.asarray([self.cls_id, *encoded[begin:end], self.sep_id]), (begin, end))
            for begin, end in window_spans(len(encoded), classifier.max_length, classifier.stride)
        ]

    def attribute(
        self,
        ids: Sequence[str],
        sequences: Sequence[str],
        target: str | None = None,
        labels: Sequence[str | None] | None = None,
    ) -> list[SequenceAttribution]:
        """Attribute each sequence towards ``target`` (a class name) or its predicted class."""
        classifier = self.classifier
        names = classifier.label_names
        if target is not None and target not in names:
            raise ConfigError(
                f"--target {target!r} is not a class of the model: {', '.join(names)}"
            )
        probabilities = classifier.predict_proba(list(sequences))
        tokenizer = classifier.tokenizer
        windows, owners, targets, ranges = [], [], [], []
        for index, sequence in enumerate(sequences):
            goal = names.index(target) if target is not None else int(probabilities[index].argmax())
            for window, span in self._windows(sequence):
                windows.append(window)
                owners.append(index)
                targets.append(goal)
                ranges.append(span)
        scores, deltas = self._attribute_windows(windows, targets)
        results = []
        for index, (record_id, sequence) in enumerate(zip(ids, sequences, strict=True)):
            if tokenizer is None:  # a cnn: every residue is a token
                tokens, spans = list(sequence), [(i, i + 1) for i in range(len(sequence))]
            else:
                tokens, spans = token_residue_spans(tokenizer, sequence)
            total, covered = np.zeros(len(tokens)), np.zeros(len(tokens))
            mine = [w for w, owner in enumerate(owners) if owner == index]
            for w in mine:
                begin, end = ranges[w]
                total[begin:end] += scores[w]
                covered[begin:end] += 1
            token_scores = np.divide(total, covered, out=np.zeros_like(total), where=covered > 0)
            best = int(probabilities[index].argmax())
            results.append(
                SequenceAttribution(
                    id=record_id,
                    sequence=sequence,
                    target=names[targets[mine[0]]],
                    predicted=names[best],
                    probability=float(probabilities[index, best]),
                    probabilities=probabilities[index],
                    tokens=tokens,
                    token_scores=token_scores,
                    residue_scores=residue_scores(len(sequence), spans, token_scores),
                    delta=float(deltas[mine].max()),
                    zero_norm=not np.any(token_scores),
                    label=None if labels is None else labels[index],
                    spans=tuple(spans),
                )
            )
        return results
