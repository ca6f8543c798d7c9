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
FOREIGN = "foreign"  # the method of a Hugging Face tokenizer folder genomeflow did not write
# Any of these makes a folder without genomeflow.json a Hugging Face tokenizer folder.
HF_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json")
# RoBERTa-style special tokens, as the reference toolkit used; ids 0-4 in this order.
CLS, PAD, SEP, UNK, MASK = "<s>", "<pad>", "</s>", "<unk>", "<mask>"
SPECIAL_TOKENS = [CLS, PAD, SEP, UNK, MASK]


WORD_START = "\u2581"  # the Metaspace mark a text tokeniser puts before each word's first piece


def visible(token: str) -> str:
    """A token's characters without word-start marks: what its length counts."""
    return token.replace(WORD_START, "")


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
        if self.metadata.get("alphabet") is None:
            raise InputError(
                f"{self.metadata.get('source')}: this tokenizer's vocabulary does not show which "
                "alphabet it reads; build a dataset with it first (`genomeflow dataset ... -t`), "
                "which records the alphabet of its sequences"
            )
        return Alphabet.parse(self.metadata["alphabet"])

    @property
    def known_alphabet(self) -> Alphabet | None:
        """The alphabet, or None for a foreign tokenizer whose vocabulary does not show it."""
        value = self.metadata.get("alphabet")
        return None if value is None else Alphabet.parse(value)

    @property
    def foreign(self) -> bool:
        """A Hugging Face tokenizer genomeflow did not write: raw sequences go to it as they are."""
        return self.method == FOREIGN

    @property
    def cls_id(self) -> int:
        """The id that opens a window: CLS, else BOS (``<cls>``-less tokenizers)."""
        hf = self.hf
        return hf.cls_token_id if hf.cls_token_id is not None else hf.bos_token_id

    @property
    def sep_id(self) -> int:
        """The id that closes a window: SEP, else EOS."""
        hf = self.hf
        return hf.sep_token_id if hf.sep_token_id is not None else hf.eos_token_id

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

    @classmethod
    def load_foreign(cls, folder: Path) -> GenomeTokenizer:
        """A Hugging Face tokenizer folder without genomeflow.json (a pretrained checkpoint's, e.g.
        DNABERT-2's); genomeflow gives it raw sequences as they are.

        Raises:
            InputError: transformers cannot load it, it is a slow (Python) tokenizer, or it lacks a
                pad token or window-framing tokens (CLS/BOS, SEP/EOS).
        """
        from transformers import AutoTokenizer

        try:
            hf = AutoTokenizer.from_pretrained(str(folder))
        except Exception as error:
            if isinstance(error, (KeyboardInterrupt, MemoryError)):
                raise
            reason = " ".join(str(error).split())[:200]
            raise InputError(
                f"{folder}: transformers cannot load this tokenizer ({reason}); give a folder "
                "written by `genomeflow tokenise`, or a Hugging Face tokenizer folder "
                "(tokenizer.json or vocab.txt with tokenizer_config.json)"
            ) from error
        if not hf.is_fast:
            raise InputError(
                f"{folder}: {type(hf).__name__} is a slow (Python) tokenizer; genomeflow needs a "
                "fast one (tokenizer.json): convert it where transformers can "
                "(AutoTokenizer.from_pretrained(..., use_fast=True).save_pretrained(DIR))"
            )
        framing = {
            "pad": hf.pad_token_id,
            "CLS or BOS": hf.cls_token_id if hf.cls_token_id is not None else hf.bos_token_id,
            "SEP or EOS": hf.sep_token_id if hf.sep_token_id is not None else hf.eos_token_id,
        }
        missing = [name for name, value in framing.items() if value is None]
        if missing:
            raise InputError(
                f"{folder}: the tokenizer has no {' / '.join(missing)} token, which genomeflow "
                "needs to pad and frame windows; add it to its special tokens"
            )
        metadata = {
            "method": FOREIGN,
            "source": str(folder),
            "class": type(hf).__name__,
            "alphabet": vocabulary_alphabet(hf),
            "parameters": {},
        }
        return cls(hf, metadata)

    def save(self, folder: str | os.PathLike[str]) -> None:
        """Write the HF files and genomeflow.json into an existing folder."""
        folder = Path(folder)
        self.hf.save_pretrained(folder)
        text = json.dumps(self.metadata, indent=2, sort_keys=True) + "\n"
        (folder / METADATA_FILE).write_text(text, encoding="utf-8")

    @classmethod
    def load(
        cls, folder: str | os.PathLike[str], producer: str = "genomeflow tokenise"
    ) -> GenomeTokenizer:
        """Load a tokeniser folder written by ``genomeflow tokenise`` (or the copy a dataset or
        model folder holds: ``producer`` names the command that wrote it, for messages).

        Raises:
            InputError: the folder, genomeflow.json or tokenizer.json is missing, or
                tokenizer.json is not a tokenizer (truncated or corrupt).
        """
        from transformers import AutoTokenizer

        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(f"{folder}: no such tokeniser folder; run `{producer}` first")
        if not (folder / METADATA_FILE).is_file() and is_hf_tokenizer(folder):
            return cls.load_foreign(folder)
        remedy = f"give the folder written by `{producer}`"
        metadata = read_manifest(folder, METADATA_FILE, "genomeflow tokeniser", remedy)
        path = folder / "tokenizer.json"
        if not path.is_file():
            raise InputError(f"{folder}: not a genomeflow tokeniser (no tokenizer.json); {remedy}")
        try:
            json.loads(path.read_text(encoding="utf-8"))
            hf = AutoTokenizer.from_pretrained(str(folder))
        except (ValueError, OSError) as error:  # JSON and UTF-8 errors are ValueErrors
            raise _corrupt(path, error, producer) from error
        except Exception as error:
            # The tokenizers library raises bare Exceptions, and JSON of the wrong shape
            # KeyError/TypeError; anything else is not about the file.
            if type(error).__module__ != "builtins":
                raise
            raise _corrupt(path, error, producer) from error
        return cls(hf, metadata)


def _corrupt(path: Path, error: BaseException, producer: str) -> InputError:
    reason = " ".join(str(error).split())[:200]
    return InputError(f"{path}: truncated or corrupt ({reason}); re-run `{producer}`")


def is_hf_tokenizer(folder: Path) -> bool:
    """Does ``folder`` hold a Hugging Face tokenizer's files?"""
    return any((folder / name).is_file() for name in HF_TOKENIZER_FILES)


def vocabulary_alphabet(hf: Any) -> str | None:
    """The alphabet a foreign tokenizer's vocabulary is written in: ``dna`` when every letter of
    its ordinary tokens is a DNA letter (IUPAC), else ``rna``, else ``protein``; None when other
    characters occur (a text vocabulary)."""
    specials = set(hf.all_special_tokens)
    letters: set[str] = set()
    for token in hf.get_vocab():
        if token in specials or token[:1] + token[-1:] in ("[]", "<>"):
            continue
        letters.update(token.removeprefix("##").lstrip("\u2581\u0120").upper())
    for alphabet in Alphabet:
        if letters and letters <= set(alphabet.letters):
            return alphabet.value
    return None
