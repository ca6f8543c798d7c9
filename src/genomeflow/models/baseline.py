"""A saved classic baseline (``genomeflow baseline``'s model folder): raw sequences in, class
probabilities out. The stage that trains it is genomeflow.train.baseline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genomeflow.data.build import TOKENISER_FOLDER
from genomeflow.features.featurisers import (
    FeatureSettings,
    load_featuriser,
)
from genomeflow.io.files import check_digests
from genomeflow.models.classic import ClassicModel
from genomeflow.sequence.alphabet import Alphabet
from genomeflow.storage import (
    read_manifest,
)
from genomeflow.tokenise.tokenizer import GenomeTokenizer

MANIFEST = "baseline.json"


class BaselineClassifier:
    """A saved baseline: raw sequences in, class probabilities out."""

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        self.manifest = read_manifest(
            folder,
            MANIFEST,
            "genomeflow baseline model",
            "give the folder written by `genomeflow baseline`",
        )
        self.label_names: list[str] = self.manifest["label_names"]
        self.alphabet = Alphabet.parse(self.manifest["alphabet"])
        check_digests(folder, self.manifest.get("files"), MANIFEST, "genomeflow baseline")
        settings = FeatureSettings.from_dict(self.manifest["features"])
        tokenizer = GenomeTokenizer.load(folder / TOKENISER_FOLDER, "genomeflow baseline")
        self.featuriser = load_featuriser(folder, settings, tokenizer, self.alphabet)
        self.model = ClassicModel.load(folder, self.manifest["model"], self.manifest["params"])

    def predict_proba(self, sequences: Sequence[str]) -> np.ndarray:
        """Probabilities, shape (len(sequences), classes), columns in ``label_names`` order."""
        return self.model.predict_proba(self.featuriser.transform(list(sequences)))
