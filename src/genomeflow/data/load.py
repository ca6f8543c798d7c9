"""Reading a dataset folder written by ``genomeflow dataset`` back for training stages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genomeflow.data.build import MANIFEST, TOKENISER_FOLDER
from genomeflow.data.split import SPLITS
from genomeflow.errors import InputError
from genomeflow.io.files import check_digests
from genomeflow.storage import file_digest, read_manifest
from genomeflow.tokenise.tokenizer import GenomeTokenizer

COLUMNS = ["id", "group", "sequence", "label", "strand"]  # what classic models need
PRODUCER = "genomeflow dataset"  # the command that writes a dataset folder, for messages


@dataclass
class LabelledDataset:
    """The splits of a dataset folder as pandas frames (``COLUMNS``; ``label`` is the class index).

    Attributes:
        folder: the dataset folder.
        manifest: its manifest.json.
        splits: split name -> DataFrame.
    """

    folder: Path
    manifest: dict[str, Any]
    splits: dict[str, Any]

    @property
    def label_names(self) -> list[str]:
        return list(self.manifest["label_names"])

    @property
    def alphabet(self) -> str:
        return self.manifest["alphabet"]

    @property
    def both_strands(self) -> bool:
        """Whether the train split carries reverse complements (the strand was declared
        arbitrary when the dataset was built)."""
        return bool((self.splits["train"]["strand"] == "-").any())

    def rows(self, split: str, source: str | Path | None = None) -> Any:
        """One split's rows; an empty split is an InputError naming ``source`` (the dataset as
        the user gave it; default its folder)."""
        rows = self.splits[split]
        if rows.empty:
            raise InputError(
                f"{source or self.folder}: the {split} split is empty; rebuild the dataset"
            )
        return rows

    def provenance(self, given: str | Path) -> dict[str, Any]:
        """A model manifest's ``dataset`` entry: the dataset as the user gave it, its manifest's
        digest, how its split was grouped, and (text) the columns its table was read from, which
        predict and interpret then read new tables by."""
        entry = {
            "path": str(given),
            "digest": file_digest(self.folder / MANIFEST),
            "grouping": self.manifest.get("grouping", {"method": "id"}),  # older: by id
        }
        if self.alphabet == "text":
            config = self.manifest.get("config", {})
            entry["text_columns"] = {
                "text": config.get("text_column") or "text",
                "label": config.get("label_column") or "label",
            }
        return entry

    def tokeniser(self) -> GenomeTokenizer:
        """The dataset's own copy of its tokeniser (older folders: the recorded path)."""
        copy = self.folder / TOKENISER_FOLDER
        if copy.is_dir():
            return GenomeTokenizer.load(copy, "genomeflow dataset")
        return GenomeTokenizer.load(self.manifest["tokeniser"]["path"])


def load_dataset(folder: str | Path) -> LabelledDataset:
    """Load the Parquet splits and manifest of a ``genomeflow dataset`` folder.

    Raises:
        InputError: the folder is missing or is not a genomeflow dataset, or a split file is
            missing, truncated or corrupt (its digest differs from the manifest's).
    """
    import pandas as pd
    import pyarrow

    folder = Path(folder)
    manifest = read_manifest(
        folder,
        MANIFEST,
        "genomeflow dataset",
        "build one with `genomeflow dataset FASTA... -t TOKENISER -o DATASET`",
    )
    check_digests(folder, manifest.get("files"), MANIFEST, PRODUCER)
    splits = {}
    for split in SPLITS:
        path = folder / "parquet" / f"{split}.parquet"
        if not path.is_file():
            raise InputError(f"{folder}: split file {path.name} is missing; rebuild the dataset")
        try:
            splits[split] = pd.read_parquet(path, columns=COLUMNS)
        except (pyarrow.ArrowException, OSError, ValueError) as error:
            reason = " ".join(str(error).split())[:200]
            raise InputError(
                f"{path}: truncated or corrupt ({reason}); re-run `{PRODUCER}`"
            ) from error
    return LabelledDataset(folder, manifest, splits)
