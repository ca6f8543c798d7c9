"""A saved transformer model folder as a classifier of raw sequences (used by predict and the
registry): windows in, aggregated class probabilities out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genomeflow.data.build import TOKENISER_FOLDER
from genomeflow.models.transformer import load_model
from genomeflow.sequence.alphabet import Alphabet
from genomeflow.storage import read_manifest
from genomeflow.tokenise.tokenizer import GenomeTokenizer
from genomeflow.train.loop import Runtime, predict_windows
from genomeflow.train.train import MANIFEST
from genomeflow.train.windows import aggregate, encode_windows


class TransformerClassifier:
    """A model folder written by ``genomeflow train``.

    Args:
        folder: the model folder.
        device: ``auto`` (cuda when present), ``cpu`` or ``cuda``.
        batch_size: windows per forward pass.
    """

    def __init__(self, folder: str | Path, device: str = "auto", batch_size: int = 64) -> None:
        folder = Path(folder)
        self.manifest = read_manifest(
            folder,
            MANIFEST,
            "genomeflow transformer model",
            "give the folder written by `genomeflow train`",
        )
        self.label_names: list[str] = self.manifest["label_names"]
        self.alphabet = Alphabet.parse(self.manifest["alphabet"])
        self.tokenizer = GenomeTokenizer.load(folder / TOKENISER_FOLDER)
        spec = self.manifest["model"]
        self.max_length, self.stride = spec["max_length"], self.manifest["window_stride"]
        self.runtime = Runtime.resolve(device, "auto")
        self.model = load_model(folder, spec["architecture"]).to(self.runtime.device)
        self.batch_size = batch_size

    def predict_proba(self, sequences: Sequence[str]) -> np.ndarray:
        """Probabilities, shape (len(sequences), classes), columns in ``label_names`` order."""
        windows = encode_windows(self.tokenizer, list(sequences), self.max_length, self.stride)
        rows = predict_windows(self.model, windows, self.batch_size, self.runtime)
        return aggregate(rows, windows, self.manifest["aggregate"])
