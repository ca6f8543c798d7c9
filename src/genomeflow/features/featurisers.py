"""The four featurisers of the classic baselines.

- ``count`` / ``tfidf``: bag of tokeniser tokens (and token n-grams) as a sparse matrix. The
  analyser splits on whitespace only, so 1-residue tokens are kept (scikit-learn's default
  pattern drops 1-character words, which lost every single-base token in the reference toolkit).
- ``word2vec``: a gensim Word2Vec model trained on the training sequences' tokens (a list of
  token lists: re-iterable, so every epoch really trains; the reference passed a one-shot
  generator and never trained), pooled per sequence as [mean, max] of its token vectors.
- ``onehot``: positional one-hot of fixed-length sequences (canonical residues; ambiguous
  codes are all-zero rows).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from genomeflow.errors import InputError
from genomeflow.io.skops import load_skops
from genomeflow.sequence.alphabet import Alphabet
from genomeflow.tokenise.tokenizer import GenomeTokenizer

FeatureKind = Literal["count", "tfidf", "word2vec", "onehot"]
FEATURE_KINDS: tuple[str, ...] = ("count", "tfidf", "word2vec", "onehot")
VECTORISER_FILE = "featuriser.skops"
WORD2VEC_FILE = "word2vec.bin"  # word2vec C binary format: vectors only, no pickle
WORD2VEC_MIN_COUNT = 2  # tokens seen once get near-random vectors; they are skipped
TOKENISE_BATCH = 4096  # sequences per tokeniser call


@dataclass(frozen=True)
class FeatureSettings:
    """How features are made; saved in the model manifest so prediction rebuilds them."""

    kind: FeatureKind
    ngram: tuple[int, int] = (1, 1)  # token n-gram range of count/tfidf
    max_features: int = 0  # most frequent n-grams kept by count/tfidf; 0 = all
    vector_size: int = 100  # word2vec dimensions (features = 2 x this: mean and max)
    window: int = 5  # word2vec context window (tokens)
    epochs: int = 10  # word2vec passes over the training tokens
    seed: int = 42
    length: int = 0  # onehot: the fixed sequence length, learned by fit

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FeatureSettings:
        return cls(**{**values, "ngram": tuple(values["ngram"])})


class Featuriser(Protocol):
    """Sequences -> a feature matrix (rows = sequences)."""

    settings: FeatureSettings

    def fit(self, sequences: Sequence[str]) -> Featuriser: ...

    def transform(self, sequences: Sequence[str]) -> Any: ...

    def feature_names(self) -> list[str]: ...

    def save(self, folder: Path) -> None: ...


def token_texts(tokenizer: GenomeTokenizer, sequences: Sequence[str]) -> list[list[str]]:
    """Tokeniser segmentations of many sequences, batched."""
    tokens: list[list[str]] = []
    for start in range(0, len(sequences), TOKENISE_BATCH):
        tokens += tokenizer.segment(sequences[start : start + TOKENISE_BATCH])
    return tokens


class TokenCounts:
    """``count`` or ``tfidf``: sparse bag of token n-grams (scikit-learn vectorisers)."""

    def __init__(
        self, settings: FeatureSettings, tokenizer: GenomeTokenizer, vectoriser: Any = None
    ) -> None:
        from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

        self.settings = settings
        self.tokenizer = tokenizer
        vectoriser_class = TfidfVectorizer if settings.kind == "tfidf" else CountVectorizer
        self.vectoriser = vectoriser or vectoriser_class(
            token_pattern=r"\S+",  # whitespace analyser: 1-residue tokens stay
            lowercase=False,  # soft-masked (lowercase) tokens are tokens of their own
            ngram_range=settings.ngram,
            max_features=settings.max_features or None,
            dtype=np.float32,
        )

    def _texts(self, sequences: Sequence[str]) -> list[str]:
        return [" ".join(tokens) for tokens in token_texts(self.tokenizer, sequences)]

    def fit(self, sequences: Sequence[str]) -> TokenCounts:
        self.vectoriser.fit(self._texts(sequences))
        return self

    def transform(self, sequences: Sequence[str]) -> Any:
        return self.vectoriser.transform(self._texts(sequences))

    def feature_names(self) -> list[str]:
        return list(self.vectoriser.get_feature_names_out())

    def save(self, folder: Path) -> None:
        import skops.io

        skops.io.dump(self.vectoriser, folder / VECTORISER_FILE)


def stable_hash(text: str) -> int:
    """A hash that does not change between interpreter runs (Python's str hash is salted), so
    gensim's initial vectors, and so the features, depend on the seed only."""
    return zlib.crc32(text.encode("utf-8"))


class Word2VecPooled:
    """``word2vec``: per-sequence [mean, max] of token vectors from a trained Word2Vec."""

    def __init__(
        self, settings: FeatureSettings, tokenizer: GenomeTokenizer, vectors: Any = None
    ) -> None:
        self.settings = settings
        self.tokenizer = tokenizer
        self.vectors = vectors  # gensim KeyedVectors

    def fit(self, sequences: Sequence[str]) -> Word2VecPooled:
        from gensim.models import Word2Vec

        corpus = token_texts(self.tokenizer, sequences)
        model = Word2Vec(
            sentences=corpus,
            vector_size=self.settings.vector_size,
            window=self.settings.window,
            min_count=WORD2VEC_MIN_COUNT,
            epochs=self.settings.epochs,
            seed=self.settings.seed,
            workers=1,  # more threads make the vectors depend on scheduling
            hashfxn=stable_hash,
        )
        if len(model.wv) == 0:
            raise InputError(
                f"word2vec found no token seen {WORD2VEC_MIN_COUNT}+ times in the training "
                "sequences; use a smaller-vocabulary tokeniser or more sequences"
            )
        self.vectors = model.wv
        return self

    def transform(self, sequences: Sequence[str]) -> np.ndarray:
        size = self.settings.vector_size
        features = np.zeros((len(sequences), 2 * size), dtype=np.float32)
        index = self.vectors.key_to_index
        for row, tokens in enumerate(token_texts(self.tokenizer, sequences)):
            known = [index[token] for token in tokens if token in index]
            if known:  # a sequence of unseen tokens only keeps zeros
                matrix = self.vectors.vectors[known]
                features[row, :size] = matrix.mean(axis=0)
                features[row, size:] = matrix.max(axis=0)
        return features

    def feature_names(self) -> list[str]:
        size = self.settings.vector_size
        return [f"mean_{i}" for i in range(size)] + [f"max_{i}" for i in range(size)]

    def save(self, folder: Path) -> None:
        self.vectors.save_word2vec_format(str(folder / WORD2VEC_FILE), binary=True)


class OneHot:
    """``onehot``: residue x position indicators of fixed-length sequences."""

    def __init__(self, settings: FeatureSettings, alphabet: Alphabet) -> None:
        self.settings = settings
        self.letters = alphabet.canonical
        self._codes = np.full(256, -1, dtype=np.int64)  # byte -> residue column, -1 = none
        for column, letter in enumerate(self.letters):
            self._codes[ord(letter)] = self._codes[ord(letter.lower())] = column

    def fit(self, sequences: Sequence[str]) -> OneHot:
        lengths = {len(s) for s in sequences}
        if len(lengths) != 1:
            raise InputError(
                f"onehot features need sequences of one length, found lengths "
                f"{min(lengths)}-{max(lengths)}; cut them to windows (genomeflow dataset "
                "--chunk-size) or use count/tfidf/word2vec features"
            )
        self.settings = FeatureSettings(**{**self.settings.to_dict(), "length": lengths.pop()})
        return self

    def transform(self, sequences: Sequence[str]) -> np.ndarray:
        length, width = self.settings.length, len(self.letters)
        features = np.zeros((len(sequences), length * width), dtype=np.float32)
        for row, sequence in enumerate(sequences):
            if len(sequence) != length:
                raise InputError(
                    f"sequence #{row + 1} has {len(sequence)} residues but this onehot model "
                    f"takes exactly {length}; cut the sequences to {length}-residue windows"
                )
            columns = self._codes[np.frombuffer(sequence.encode("ascii", "replace"), np.uint8)]
            known = columns >= 0
            features[row, np.flatnonzero(known) * width + columns[known]] = 1.0
        return features

    def feature_names(self) -> list[str]:
        return [
            f"pos{p + 1}_{letter}" for p in range(self.settings.length) for letter in self.letters
        ]

    def save(self, folder: Path) -> None:
        """Nothing beyond the settings (the fixed length), which the manifest holds."""


def make_featuriser(
    settings: FeatureSettings, tokenizer: GenomeTokenizer, alphabet: Alphabet
) -> Featuriser:
    """An unfitted featuriser of ``settings.kind``.

    Raises:
        InputError: one-hot features of text (they encode residue positions).
    """
    if settings.kind == "onehot":
        if alphabet.is_text:
            raise InputError(
                "onehot features encode a residue at each position; a text dataset takes "
                "count, tfidf or word2vec features of its tokens"
            )
        return OneHot(settings, alphabet)
    if settings.kind == "word2vec":
        return Word2VecPooled(settings, tokenizer)
    return TokenCounts(settings, tokenizer)


def load_featuriser(
    folder: Path, settings: FeatureSettings, tokenizer: GenomeTokenizer, alphabet: Alphabet
) -> Featuriser:
    """The fitted featuriser saved in a model folder."""
    if settings.kind == "onehot":
        return OneHot(settings, alphabet)
    if settings.kind == "word2vec":
        from gensim.models import KeyedVectors

        vectors = KeyedVectors.load_word2vec_format(str(folder / WORD2VEC_FILE), binary=True)
        return Word2VecPooled(settings, tokenizer, vectors)
    return TokenCounts(settings, tokenizer, load_skops(folder / VECTORISER_FILE))
