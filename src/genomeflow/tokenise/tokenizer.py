"""GenomeTokenizer: a saved HF tokenizer plus what genomeflow needs to use it on raw sequences.

A tokeniser folder holds what ``transformers.AutoTokenizer.from_pretrained(folder)`` loads
(tokenizer.json, tokenizer_config.json, ...) and ``genomeflow.json``: the method, its
parameters, the alphabet, the input digests and the seed. k-mer tokenisers work on text of
space-separated k-mers (HF tokenizers cannot emit overlapping tokens); :meth:`words` makes that
text from a raw sequence, so every genomeflow stage goes through this class.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genomeflow.errors import InputError
from genomeflow.sequence.alphabet import Alphabet
from genomeflow.sequence.chunking import chunk_spans
from genomeflow.storage.local import read_manifest

METADATA_FILE = "genomeflow.json"
# RoBERTa-style special tokens, as the reference toolkit used; ids 0-4 in this order.
CLS, PAD, SEP, UNK, MASK = "<s>", "<pad>", "</s>", "<unk>", "<mask>"
SPECIAL_TOKENS = [CLS, PAD, SEP, UNK, MASK]


def kmer_words(sequence: str, k: int, stride: int) -> str:
    """Space-separated k-mers every ``stride`` residues; the last one ends at the sequence end.

    A sequence shorter than k stays one (unknown) word.
    """
    spans = chunk_spans(len(sequence), k, stride, min_length=k)
    if not spans:
        return sequence
    return " ".join(sequence[start:end] for start, end in spans)


def wrap_backend(backend: Any) -> Any:
    """A ``transformers.PreTrainedTokenizerFast`` around a ``tokenizers.Tokenizer``, with
    genomeflow's special tokens (``<s>``/``</s>`` doubling as CLS/SEP)."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=CLS,
        eos_token=SEP,
        cls_token=CLS,
        sep_token=SEP,
        unk_token=UNK,
        pad_token=PAD,
        mask_token=MASK,
    )


class GenomeTokenizer:
    """A fast HF tokenizer and its genomeflow metadata.

    Attributes:
        hf: the ``transformers.PreTrainedTokenizerFast``.
        metadata: the content of genomeflow.json.
    """

    def __init__(self, hf: Any, metadata: dict[str, Any]) -> None:
        self.hf = hf
        self.metadata = metadata
        self._backends: dict[int | None, Any] = {}  # max_length -> configured backend copy

    @property
    def method(self) -> str:
        return self.metadata["method"]

    @property
    def alphabet(self) -> Alphabet:
        return Alphabet.parse(self.metadata["alphabet"])

    @property
    def vocab_size(self) -> int:
        return len(self.hf)

    def vocabulary(self) -> dict[str, int]:
        """Token -> id, specials included."""
        return self.hf.get_vocab()

    def words(self, sequence: str) -> str:
        """The text the HF tokenizer takes for a raw sequence (k-mer words for ``kmer``)."""
        if self.method == "kmer":
            parameters = self.metadata["parameters"]
            return kmer_words(sequence.upper(), parameters["k"], parameters["stride"])
        return sequence

    def tokens(self, sequence: str) -> list[str]:
        """The segmentation of a sequence, without special tokens."""
        encoding = self.hf.backend_tokenizer.encode(self.words(sequence), add_special_tokens=False)
        return encoding.tokens

    def segment(self, sequences: Sequence[str]) -> list[list[str]]:
        """The segmentations of many sequences (one batched call), without special tokens."""
        encodings = self.hf.backend_tokenizer.encode_batch(
            [self.words(s) for s in sequences], add_special_tokens=False
        )
        return [encoding.tokens for encoding in encodings]

    def encode(self, sequences: Sequence[str], max_length: int | None = None) -> dict[str, list]:
        """Encode sequences with CLS/SEP, cut to ``max_length`` tokens when given.

        Returns:
            ``input_ids`` and ``attention_mask`` (lists of int lists), and ``truncated``
            (one bool per sequence: tokens were cut off).
        """
        backend = self._backends.get(max_length)
        if backend is None:
            from tokenizers import Tokenizer

            # A private copy, so the truncation setting never leaks into self.hf.
            backend = Tokenizer.from_str(self.hf.backend_tokenizer.to_str())
            backend.no_padding()
            if max_length is None:
                backend.no_truncation()
            else:
                backend.enable_truncation(max_length)
            self._backends[max_length] = backend
        encodings = backend.encode_batch([self.words(s) for s in sequences])
        return {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "truncated": [bool(e.overflowing) for e in encodings],
        }

    def save(self, folder: str | os.PathLike[str]) -> None:
        """Write the HF files and genomeflow.json into an existing folder."""
        folder = Path(folder)
        self.hf.save_pretrained(folder)
        text = json.dumps(self.metadata, indent=2, sort_keys=True) + "\n"
        (folder / METADATA_FILE).write_text(text, encoding="utf-8")

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> GenomeTokenizer:
        """Load a tokeniser folder written by ``genomeflow tokenise``."""
        from transformers import AutoTokenizer

        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(f"{folder}: no such tokeniser folder; run `genomeflow tokenise` first")
        remedy = "give the folder written by `genomeflow tokenise`"
        metadata = read_manifest(folder, METADATA_FILE, "genomeflow tokeniser", remedy)
        if not (folder / "tokenizer.json").is_file():
            raise InputError(f"{folder}: not a genomeflow tokeniser (no tokenizer.json); {remedy}")
        return cls(AutoTokenizer.from_pretrained(str(folder)), metadata)
