"""The ``tokenise`` stage: learn (unigram, bpe) or build (char, kmer) a tokeniser folder."""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from genomeflow import __version__
from genomeflow.config import TokeniseConfig
from genomeflow.errors import ConfigError
from genomeflow.io.sequences import SequenceFile, read_sequences
from genomeflow.io.text import TextColumns
from genomeflow.sequence.alphabet import GAPS, Alphabet
from genomeflow.storage import atomic_directory, file_digest
from genomeflow.tokenise.corpus import Corpus, build_corpus
from genomeflow.tokenise.tokenizer import (
    CLS,
    MASK,
    PAD,
    SEP,
    SPECIAL_TOKENS,
    UNK,
    GenomeTokenizer,
    wrap_backend,
)

log = logging.getLogger(__name__)

HEARTBEAT_S = 15.0  # seconds between "still training" lines in a log (no terminal to draw on)

# Above this a k-mer vocabulary (|alphabet|^k) is too large to be useful or to hold.
MAX_KMER_VOCABULARY = 2_000_000


@dataclass(frozen=True)
class TokeniseSummary:
    """What :func:`train_tokeniser` wrote."""

    output: str
    method: str
    vocab_size: int
    alphabet: str
    corpus_records: int
    corpus_residues: int
    trained_on_residues: int

    def metrics(self) -> dict[str, float]:
        return {
            "vocab_size": self.vocab_size,
            "corpus_residues": self.corpus_residues,
            "trained_on_residues": self.trained_on_residues,
        }


def residue_letters(alphabet: Alphabet, case: str) -> list[str]:
    """Residue characters a tokeniser must know (IUPAC codes included, gaps left out)."""
    letters = [c for c in alphabet.letters if c not in GAPS]
    if case == "keep":
        letters += [c.lower() for c in letters if c.lower() != c]  # '*' has no lower case
    return letters


def _backend(config: TokeniseConfig, alphabet: Alphabet, corpus: Corpus) -> tuple[Any, list[str]]:
    """The HF ``tokenizers.Tokenizer`` for the configured method, trained where it learns.

    Also returns the residue letters added to a Unigram vocabulary because the corpus lacks
    them (they carry a floor score, not a learned one).
    """
    from tokenizers import (
        Regex,
        Tokenizer,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )

    letters = residue_letters(alphabet, config.case)
    show = False  # the corpus progress bar has run; trainers print raw lines into logs
    if config.method == "unigram":
        backend = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(
            vocab_size=config.vocab_size,
            special_tokens=SPECIAL_TOKENS,
            unk_token=UNK,
            max_piece_length=config.max_piece_length,
            show_progress=show,
        )
    elif config.method == "bpe":
        backend = Tokenizer(models.BPE(unk_token=UNK))
        trainer = trainers.BpeTrainer(
            vocab_size=config.vocab_size,
            min_frequency=config.min_frequency,
            special_tokens=SPECIAL_TOKENS,
            initial_alphabet=letters,
            max_token_length=config.max_piece_length,
            show_progress=show,
        )
    elif config.method == "char":
        vocabulary = {token: i for i, token in enumerate(SPECIAL_TOKENS + letters)}
        backend = Tokenizer(models.WordLevel(vocabulary, unk_token=UNK))
        backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
        trainer = None
    else:
        canonical = sorted(alphabet.canonical)
        size = len(canonical) ** config.k
        if size > MAX_KMER_VOCABULARY:
            raise ConfigError(
                f"k={config.k} over {alphabet.value} gives {size:,} k-mers; lower k "
                f"(at most {MAX_KMER_VOCABULARY:,} k-mers)"
            )
        kmers = ("".join(p) for p in itertools.product(canonical, repeat=config.k))
        vocabulary = {token: i for i, token in enumerate(itertools.chain(SPECIAL_TOKENS, kmers))}
        backend = Tokenizer(models.WordLevel(vocabulary, unk_token=UNK))
        backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        trainer = None
    if alphabet.is_text:
        _words(backend, config.case)
    elif config.case == "upper":
        lower = [c for c in letters if c.lower() != c]
        backend.normalizer = normalizers.Sequence(
            [normalizers.Replace(c.lower(), c) for c in lower]
        )
    if trainer is not None:
        with _still_training(f"training the {config.method} vocabulary ({config.vocab_size})"):
            backend.train_from_iterator(
                corpus.segments, trainer=trainer, length=len(corpus.segments)
            )
    added: list[str] = []
    if config.method == "unigram":
        backend, added = _canonical_unigram(backend, letters)
    backend.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A {SEP}",
        pair=f"{CLS} $A {SEP} $B {SEP}",
        special_tokens=[(CLS, backend.token_to_id(CLS)), (SEP, backend.token_to_id(SEP))],
    )
    return backend, added


def _words(backend: Any, case: str) -> None:
    """Text's usual pipeline: NFKC (compatibility forms such as ligatures and full-width
    letters read as the plain ones), lower case unless ``keep``; words split at whitespace with
    SentencePiece's word-start mark (Metaspace, so pieces never span two words and decoding
    restores the spaces), punctuation split off as pieces of its own."""
    from tokenizers import decoders, normalizers, pre_tokenizers

    steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if case == "lower" else [])
    backend.normalizer = normalizers.Sequence(steps)
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation()]
    )
    backend.decoder = decoders.Metaspace()


@contextmanager
def _still_training(what: str) -> Iterator[None]:
    """Signs of life while a tokenizers trainer runs (Unigram: 30-80 s on the E. coli set,
    with no progress of its own in a log): on a terminal an elapsed-time bar, in a log one line
    every :data:`HEARTBEAT_S` seconds; a line with the time taken at the end."""
    from tqdm.auto import tqdm

    done = threading.Event()
    started = time.monotonic()
    with tqdm(desc=what, unit="s", bar_format="{desc}: {elapsed}", disable=None) as bar:

        def beat() -> None:
            last = started
            while not done.wait(1.0):
                bar.refresh()  # redraws the elapsed time
                if bar.disable and time.monotonic() - last >= HEARTBEAT_S:
                    last = time.monotonic()
                    log.info("%s: %.0f s so far", what, last - started)

        thread = threading.Thread(target=beat, name="tokenise-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
    log.info("%s: done in %.1f s", what, time.monotonic() - started)


SCORE_DECIMALS = 6  # Unigram log-probabilities are rounded to 1e-6 (see _canonical_unigram)


def ordered_pieces(
    scored: Iterable[tuple[str, float]], letters: Sequence[str]
) -> tuple[list[tuple[str, float]], list[str]]:
    """Unigram pieces in canonical order, every residue letter included.

    Scores are rounded to SCORE_DECIMALS; letters missing from ``scored`` are appended with a
    floor score (one below the lowest), so they are tokens rather than <unk>; pieces are ordered
    by (-score, piece). Returns the pieces and the letters that were added.
    """
    pieces = [(piece, round(score, SCORE_DECIMALS)) for piece, score in scored]
    known = {piece for piece, _ in pieces}
    floor = round(min((score for _, score in pieces), default=0.0) - 1.0, SCORE_DECIMALS)
    added = [letter for letter in letters if letter not in known]
    pieces += [(letter, floor) for letter in added]
    pieces.sort(key=lambda item: (-item[1], item[0]))
    return pieces, added


def _canonical_unigram(backend: Any, letters: list[str]) -> tuple[Any, list[str]]:
    """Make a trained Unigram model reproducible and complete.

    HF's Unigram trainer sums its EM statistics in hash-map order, so two runs on the same
    corpus give the same pieces with scores that differ by ~1e-14 and ties in another order.
    Rounding the scores to 1e-6 (log-probabilities; far below any difference that changes a
    segmentation) and ordering pieces by (score, piece) makes the files byte-identical unless
    a score lies within ~1e-14 of a rounding boundary.
    """
    from tokenizers import Tokenizer

    document = json.loads(backend.to_str())
    vocabulary = document["model"]["vocab"]
    special = vocabulary[: len(SPECIAL_TOKENS)]
    pieces, added = ordered_pieces(vocabulary[len(SPECIAL_TOKENS) :], letters)
    document["model"]["vocab"] = special + [list(item) for item in pieces]
    return Tokenizer.from_str(json.dumps(document)), added


def train_tokeniser(config: TokeniseConfig) -> TokeniseSummary:
    """Read the inputs, learn or build the tokeniser, and publish its folder atomically."""
    alphabet = SequenceFile(config.inputs[0], config.alphabet).alphabet
    columns = TextColumns(config.text_column or "text")
    records = read_sequences(config.inputs, config.alphabet, config.allow_duplicate_ids, columns)
    learns = config.method in ("unigram", "bpe")
    corpus = build_corpus(
        records,
        config.segment_length,
        config.sample_bp if learns else 1,  # fixed vocabularies only need the inputs checked
        config.seed,
        uppercase=config.case == "upper",
        at_spaces=alphabet.is_text,
    )
    backend, added_letters = _backend(config, alphabet, corpus)
    hf = wrap_backend(backend)
    parameters = {
        name: value
        for name, value in config.to_dict().items()
        if name not in ("inputs", "output", "example", "alphabet", "allow_duplicate_ids")
        and not (name == "text_column" and value is None)
    }
    metadata = {
        "stage": "tokenise",
        "method": config.method,
        "parameters": parameters,
        "alphabet": alphabet.value,
        "special_tokens": {"cls": CLS, "sep": SEP, "unk": UNK, "pad": PAD, "mask": MASK},
        "added_letters": added_letters,  # residue letters not learned, given a floor score
        "inputs": [{"path": str(path), "digest": file_digest(path)} for path in config.inputs],
        "corpus": {
            "records": corpus.records,
            "residues": corpus.residues,
            "segments": corpus.segments_seen,
            "trained_on_segments": len(corpus.segments) if learns else 0,
            "trained_on_residues": corpus.sampled_residues if learns else 0,
        },
        "seed": config.seed,
        "genomeflow_version": __version__,
    }
    tokenizer = GenomeTokenizer(hf, metadata)
    with atomic_directory(config.output) as folder:
        tokenizer.save(folder)
    return TokeniseSummary(
        output=str(config.output),
        method=config.method,
        vocab_size=tokenizer.vocab_size,
        alphabet=alphabet.value,
        corpus_records=corpus.records,
        corpus_residues=corpus.residues,
        trained_on_residues=metadata["corpus"]["trained_on_residues"],
    )
