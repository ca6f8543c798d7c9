"""A saved transformer model folder as a classifier of raw sequences (used by predict and the
registry): windows in, aggregated class probabilities out.

A cnn folder (``model.architecture`` ``cnn``) of DNA, RNA or protein has no tokeniser:
sequences become residue windows (a text cnn keeps its tokeniser and reads token windows, as a
transformer does); with ``strand_average`` in its manifest (a DNA/RNA cnn) every window set is also
scored on its reverse complement and the two strands' aggregated probabilities are averaged,
so a sequence and its reverse complement get the same probabilities. Folders without the key
(older ones) score one strand.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genomeflow.data.build import TOKENISER_FOLDER
from genomeflow.io.files import check_digests
from genomeflow.models.inference import Runtime, sequence_probabilities
from genomeflow.models.residues import reads_residues
from genomeflow.models.transformer import MANIFEST, load_model
from genomeflow.models.windows import Windows, encode_windows
from genomeflow.sequence.alphabet import Alphabet
from genomeflow.storage import read_manifest
from genomeflow.tokenise.tokenizer import GenomeTokenizer

PRODUCER = "genomeflow train"  # the command that writes the folder, named in errors' fixes
# Tokens per forward pass when scoring: 64 windows of 512 tokens, the batch that bounded the
# memory of scoring before (attention grows with windows x length^2 = tokens x length), and
# 200-odd 150 bp cnn windows, which run ~1.7x faster a sequence than 64 on 2 CPU cores.
MAX_TOKENS = 64 * 512


class TransformerClassifier:
    """A model folder written by ``genomeflow train`` (a transformer or a cnn).

    Args:
        folder: the model folder.
        device: ``auto`` (cuda when present), ``cpu`` or ``cuda``.
        batch_size: windows per forward pass, at most.
        max_tokens: tokens (residues for a cnn) per forward pass, padding included, at most:
            the default takes 64 windows of 512 tokens, as many short ones as fit.

    Attributes:
        tokenizer: the model's tokeniser; None for a residue cnn (not text: residue windows).
        strand_average: both strands are scored and averaged (a DNA/RNA cnn).
    """

    def __init__(
        self,
        folder: str | Path,
        device: str = "auto",
        batch_size: int = 1024,
        max_tokens: int = MAX_TOKENS,
    ) -> None:
        folder = Path(folder)
        self.manifest = read_manifest(
            folder,
            MANIFEST,
            "genomeflow transformer model",
            "give the folder written by `genomeflow train`",
        )
        self.label_names: list[str] = self.manifest["label_names"]
        self.alphabet = Alphabet.parse(self.manifest["alphabet"])
        check_digests(folder, self.manifest.get("files"), MANIFEST, PRODUCER)
        spec = self.manifest["model"]
        self.architecture: str = spec["architecture"]
        self.tokenizer: GenomeTokenizer | None = None
        if not reads_residues(self.architecture, self.alphabet):
            self.tokenizer = GenomeTokenizer.load(folder / TOKENISER_FOLDER, PRODUCER)
        self.strand_average = bool(self.manifest.get("strand_average", False))
        self.max_length, self.stride = spec["max_length"], self.manifest["window_stride"]
        self.runtime = Runtime.resolve(device, "auto")
        model = load_model(
            folder,
            spec["architecture"],
            producer=PRODUCER,
            trust_remote_code=spec.get("trust_remote_code", False),
        )
        self.model = model.to(self.runtime.device)
        self.batch_size, self.max_tokens = batch_size, max_tokens

    def windows(self, sequences: Sequence[str]) -> Windows:
        """The sequences (text: documents) as the model's windows: token windows, or a residue
        cnn's residue windows."""
        if self.tokenizer is None:
            from genomeflow.models.residues import residue_windows

            return residue_windows(list(sequences), self.alphabet, self.max_length, self.stride)
        return encode_windows(self.tokenizer, list(sequences), self.max_length, self.stride)

    def predict_proba(self, sequences: Sequence[str]) -> np.ndarray:
        """Probabilities, shape (len(sequences), classes), columns in ``label_names`` order."""
        windows = self.windows(sequences)
        reverse: Any = None
        if self.strand_average:
            from genomeflow.models.residues import reverse_windows

            reverse = reverse_windows(windows, self.alphabet)
        return sequence_probabilities(
            self.model,
            windows,
            self.batch_size,
            self.runtime,
            self.manifest["aggregate"],
            reverse,
            self.max_tokens,
        )
