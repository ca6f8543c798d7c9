"""Inspect one tokeniser: vocabulary, token lengths and coverage of sequences."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from genomeflow.sequence.chunking import chunk_spans
from genomeflow.tokenise.qc.common import (
    _SPECIALS,
    _json,
    _png,
    _provenance,
    _publish,
    _tsv,
)
from genomeflow.tokenise.tokenizer import UNK, GenomeTokenizer, visible


@dataclass(frozen=True)
class Coverage:
    """How a tokeniser segments the records of some FASTA/FASTQ files.

    Attributes:
        files: the files read.
        records: records read.
        residues: residues read.
        covered_residues: residues inside at least one token that is not ``<unk>``. For k-mer
            tokenisers the k-mer windows (every ``stride`` residues, the last one ending at the
            sequence end) are laid over the sequence: with stride < k a residue is covered when
            any known k-mer overlapping it is, so an N leaves uncovered only the residues that
            no N-free window reaches. A sequence shorter than k is one ``<unk>``.
        tokens: tokens produced, special tokens excluded.
        unknown_tokens: of those, ``<unk>`` tokens (Unigram fuses a run of unknown characters
            into one).
    """

    files: list[str]
    records: int
    residues: int
    covered_residues: int
    tokens: int
    unknown_tokens: int

    @property
    def residue_coverage(self) -> float:
        """Share of residues covered by known tokens (0-1)."""
        return self.covered_residues / self.residues if self.residues else 0.0

    @property
    def unknown_share(self) -> float:
        """Share of tokens that are ``<unk>`` (0-1)."""
        return self.unknown_tokens / self.tokens if self.tokens else 0.0

    @property
    def tokens_per_sequence(self) -> float:
        return self.tokens / self.records if self.records else 0.0

    @property
    def residues_per_token(self) -> float:
        """Compression: residues per token (about ``stride`` for overlapping k-mers)."""
        return self.residues / self.tokens if self.tokens else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "residue_coverage": self.residue_coverage,
            "unknown_share": self.unknown_share,
            "tokens_per_sequence": self.tokens_per_sequence,
            "residues_per_token": self.residues_per_token,
        }


@dataclass(frozen=True)
class InspectionResult:
    """What :func:`inspect_tokeniser` found.

    Attributes:
        folder: the tokeniser folder.
        method: unigram, bpe, char or kmer.
        alphabet: dna, rna or protein.
        vocab_size: tokens, the five special tokens included.
        length_counts: token length (residues) -> number of tokens, special tokens excluded,
            by increasing length.
        coverage: segmentation of the given sequence files; None when none were given.
    """

    folder: str
    method: str
    alphabet: str
    vocab_size: int
    length_counts: dict[int, int]
    coverage: Coverage | None

    @property
    def mean_token_length(self) -> float:
        """Mean residues per vocabulary token (special tokens excluded)."""
        count = sum(self.length_counts.values())
        total = sum(length * n for length, n in self.length_counts.items())
        return total / count if count else 0.0

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (JSON keys are strings: lengths become "1", "2", ...)."""
        return {
            **_provenance("tokens-inspect"),
            "folder": self.folder,
            "method": self.method,
            "alphabet": self.alphabet,
            "vocab_size": self.vocab_size,
            "mean_token_length": self.mean_token_length,
            "length_counts": {str(length): n for length, n in self.length_counts.items()},
            "coverage": None if self.coverage is None else self.coverage.summary(),
        }


def _kmer_covered(tokens: Sequence[str], length: int, k: int, stride: int) -> int:
    """Residues of one sequence inside at least one known k-mer window (see Coverage)."""
    spans = chunk_spans(length, k, stride, min_length=k)  # the windows GenomeTokenizer uses
    if not spans:
        return 0  # shorter than k: one <unk> word
    covered = reach = 0
    for (start, end), token in zip(spans, tokens, strict=True):
        if token != UNK:
            covered += max(0, end - max(start, reach))  # starts never decrease
            reach = max(reach, end)
    return covered


def _coverage(tokenizer: GenomeTokenizer, paths: Sequence[str | os.PathLike[str]]) -> Coverage:
    from tqdm import tqdm

    from genomeflow.io.sequences import read_sequences

    if tokenizer.method == "kmer":
        k, stride = (tokenizer.metadata["parameters"][key] for key in ("k", "stride"))

        def covered_by(tokens: list[str], length: int) -> int:
            return _kmer_covered(tokens, length, k, stride)
    else:

        def covered_by(tokens: list[str], length: int) -> int:
            # Unigram, BPE and char tokens are the residues they cover, side by side (text:
            # the characters, word-start marks left out).
            return sum(len(visible(token)) for token in tokens if token != UNK)

    records = residues = covered = tokens = unknown = 0
    # Duplicate ids do not matter here: every record is measured on its own.
    stream = read_sequences(paths, tokenizer.alphabet, allow_duplicate_ids=True)
    with tqdm(desc="tokenising", unit="bp", unit_scale=True, disable=None) as progress:
        for record in stream:
            pieces = tokenizer.tokens(record.sequence)
            # Text is measured in characters other than the spaces between words (the reader
            # leaves one between each), which tokens carry as word-start marks.
            length = len(record.sequence) - record.sequence.count(" ")
            records += 1
            residues += length
            covered += min(length, covered_by(pieces, length))  # NFKC may lengthen text
            tokens += len(pieces)
            unknown += pieces.count(UNK)
            progress.update(length)
    return Coverage([str(path) for path in paths], records, residues, covered, tokens, unknown)


def inspect_tokeniser(
    folder: str | os.PathLike[str], fasta: Sequence[str | os.PathLike[str]] | None = None
) -> InspectionResult:
    """Describe a tokeniser's vocabulary and, given sequence files, how it segments them.

    Args:
        folder: a folder written by ``genomeflow tokenise`` (or a merge).
        fasta: FASTA/FASTQ files (plain or .gz) in the tokeniser's alphabet, streamed record
            by record; None or empty skips the coverage.

    Returns:
        The inspection; write it with :func:`write_inspection`.

    Raises:
        InputError: a missing or non-tokeniser folder; a missing or invalid sequence file.
    """
    tokenizer = GenomeTokenizer.load(folder)
    vocabulary = tokenizer.vocabulary()
    lengths = Counter(len(visible(token)) for token in vocabulary if token not in _SPECIALS)
    if isinstance(fasta, (str, os.PathLike)):
        fasta = [fasta]  # a lone path is one file, not a sequence of characters
    return InspectionResult(
        folder=str(folder),
        method=tokenizer.method,
        alphabet=tokenizer.alphabet.value,
        vocab_size=tokenizer.vocab_size,
        length_counts=dict(sorted(lengths.items())),
        coverage=_coverage(tokenizer, fasta) if fasta else None,
    )


def write_inspection(result: InspectionResult, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write an inspection report into ``out_dir`` (created if missing; files replaced atomically).

    Files:
        inspection.json: :meth:`InspectionResult.summary` (coverage included when measured).
        token_lengths.tsv: length (residues), tokens.
        token_lengths.png: histogram of vocabulary token lengths.

    Returns:
        The paths written.
    """
    lengths = result.length_counts

    def draw(axes: Any) -> None:
        axes.bar(list(lengths), list(lengths.values()), width=0.8)
        axes.set_xticks(list(lengths))
        axes.set_xlabel("token length (residues)")
        axes.set_ylabel("tokens in the vocabulary")
        axes.set_title(f"{Path(result.folder).name}: {result.method}, {result.vocab_size} tokens")

    files = {
        "inspection.json": _json(result.summary()),
        "token_lengths.tsv": _tsv(["length", "tokens"], lengths.items()),
        "token_lengths.png": _png(draw),
    }
    return _publish(out_dir, files)
