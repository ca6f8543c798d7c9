"""Configs of the stages that read sequences and make tokenisers and datasets: validate,
synthetic, tokenise, tokens compare/merge/inspect, dataset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from genomeflow.config.base import (
    ControlMethod,
    StageConfig,
    _alphabet_or_none,
    _require,
    _sequences_only,
    _text_columns,
    alphabet_option,
    duplicate_ids_option,
    label_column_option,
    option,
    text_column_option,
)
from genomeflow.sequence.alphabet import Alphabet


@dataclass
class SyntheticConfig(StageConfig):
    """Settings of ``genomeflow synthetic``: control sequences made from input sequences."""

    inputs: list[str] = option(
        help="FASTA/FASTQ files (plain or .gz) to make controls from", positional=True, role="input"
    )
    output: str = option(
        help="output FASTA file; gzip-compressed if it ends in .gz", short="-o", role="output"
    )
    method: ControlMethod = option(
        "shuffle",
        help="shuffle: exact k-let shuffle keeping every k-mer count; markov: sample an order-m "
        "Markov chain fitted to each sequence; bootstrap: concatenate randomly placed blocks",
    )
    k: int = option(2, help="k-mer size a shuffle keeps (1 = residue composition only)", short="-k")
    order: int = option(1, help="Markov chain order m (context length) for --method markov")
    block: int = option(10, help="block length in residues for --method bootstrap")
    per_sequence: int = option(1, help="controls made from each input sequence")
    seed: int = option(42, help="random seed; the same seed and inputs give the same controls")
    reverse_complement: bool = option(
        False, help="also write the reverse complement of every control (DNA/RNA only)"
    )
    alphabet: Alphabet | None = alphabet_option()
    allow_duplicate_ids: bool = duplicate_ids_option()

    def __post_init__(self) -> None:
        _require(bool(self.inputs), "give at least one input FASTA/FASTQ file")
        _require(bool(self.output), "give an output file (--output controls.fasta)")
        self._check_choices()
        _require(self.k >= 1, f"--k must be at least 1, got {self.k}")
        _require(self.order >= 0, f"--order must be 0 or more, got {self.order}")
        _require(self.block >= 1, f"--block must be at least 1, got {self.block}")
        _require(
            self.per_sequence >= 1, f"--per-sequence must be at least 1, got {self.per_sequence}"
        )
        self.alphabet = _alphabet_or_none(self.alphabet)
        _sequences_only(self, "synthetic")


@dataclass
class ValidateConfig(StageConfig):
    """Settings of ``genomeflow validate``: check sequence files and summarise them."""

    inputs: list[str] = option(
        help="FASTA/FASTQ files (plain or .gz) to check", positional=True, role="input"
    )
    alphabet: Alphabet | None = alphabet_option()
    allow_duplicate_ids: bool = duplicate_ids_option()
    json: str | None = option(None, help="also write the summary to this JSON file", role="output")

    def __post_init__(self) -> None:
        _require(bool(self.inputs), "give at least one FASTA/FASTQ file to validate")
        self.alphabet = _alphabet_or_none(self.alphabet)
        _sequences_only(self, "validate")


# benchmarks/results/tokenise_vocabulary.md: 100 kbp segments train; 1 Mbp crashes (SIGSEGV).
MAX_SEGMENT_LENGTH = 100_000

TokeniseMethod = Literal["unigram", "bpe", "char", "kmer"]


@dataclass
class TokeniseConfig(StageConfig):
    """Settings of ``genomeflow tokenise``: learn or build a tokeniser from sequences."""

    inputs: list[str] = option(
        help="FASTA/FASTQ files (plain or .gz), or a text corpus (--alphabet text): the training "
        "corpus",
        positional=True,
        role="input",
    )
    output: str = option(
        help="output folder (loadable by transformers.AutoTokenizer)", short="-o", role="output"
    )
    method: TokeniseMethod = option(
        "unigram",
        help="unigram: empirical SentencePiece-style pieces; bpe: byte-pair merges; "
        "char: one token per residue; kmer: fixed k-mers every --stride residues (text: "
        "unigram or bpe pieces of words)",
    )
    vocab_size: int = option(32000, help="target vocabulary size for unigram/bpe (tokens)")
    max_piece_length: int = option(16, help="longest unigram/bpe piece (residues)")
    min_frequency: int = option(2, help="occurrences a bpe merge needs")
    k: int = option(6, help="k-mer length for --method kmer (residues)", short="-k")
    stride: int = option(1, help="residues between k-mer starts (< k overlaps them)")
    case: Literal["upper", "lower", "keep"] = option(
        "upper",
        help="upper: fold lowercase (soft-masked) residues; keep: lowercase tokens apart; "
        "text folds to lower case unless keep",
    )
    segment_length: int = option(
        1000, help="residues per training segment: long records are cut, never one sentence"
    )
    sample_bp: int = option(
        2_000_000,
        help="residue budget of the seeded segment sample a unigram/bpe tokeniser is trained "
        "on (bounds time and memory on genomes); 0 = train on everything",
    )
    seed: int = option(42, help="random seed of the segment sample")
    alphabet: Alphabet | None = alphabet_option()
    text_column: str | None = text_column_option()
    allow_duplicate_ids: bool = duplicate_ids_option()
    example: str | None = option(None, help="print how this sequence is segmented")

    def __post_init__(self) -> None:
        _require(bool(self.inputs), "give at least one input FASTA/FASTQ file")
        _require(bool(self.output), "give an output folder (--output tokeniser/)")
        self._check_choices()
        _require(self.vocab_size >= 10, f"--vocab-size must be at least 10, got {self.vocab_size}")
        _require(
            self.max_piece_length >= 1,
            f"--max-piece-length must be at least 1, got {self.max_piece_length}",
        )
        _require(
            self.min_frequency >= 1, f"--min-frequency must be at least 1, got {self.min_frequency}"
        )
        _require(self.k >= 1, f"--k must be at least 1, got {self.k}")
        _require(
            1 <= self.stride <= self.k,
            f"--stride must be between 1 and k={self.k}, got {self.stride}",
        )
        _require(
            not (self.method == "kmer" and self.case == "keep"),
            "--case keep does not apply to k-mers (their vocabulary is upper case); drop it",
        )
        _require(
            self.segment_length <= MAX_SEGMENT_LENGTH,
            f"--segment-length {self.segment_length} is above {MAX_SEGMENT_LENGTH:,}: HF's Unigram "
            "trainer overflows a thread stack on segments near 1 Mbp; use a shorter segment",
        )
        _require(
            self.segment_length >= self.max_piece_length,
            f"--segment-length ({self.segment_length}) must be at least --max-piece-length "
            f"({self.max_piece_length})",
        )
        _require(self.sample_bp >= 0, f"--sample-bp must be 0 or more, got {self.sample_bp}")
        _text_columns(self)
        if self.alphabet is Alphabet.TEXT:
            _require(
                self.method in ("unigram", "bpe"),
                f"--method {self.method} cuts residues; a text corpus takes unigram or bpe",
            )
            self.case = "lower" if self.case == "upper" else self.case  # text folds downwards
        _require(
            self.case != "lower" or self.alphabet is Alphabet.TEXT,
            "--case lower applies to text; sequences fold to upper case (--case upper)",
        )


@dataclass
class DatasetConfig(StageConfig):
    """Settings of ``genomeflow dataset``: labelled, split, tokenised sequences."""

    inputs: list[str] = option(
        help="FASTA/FASTQ files: one per class, or any number with --label-table; or a text "
        "corpus (--alphabet text): tables with a label column, or one plain-text file per class",
        positional=True,
        role="input",
    )
    tokeniser: str = option(
        help="tokeniser folder written by genomeflow tokenise", short="-t", role="input"
    )
    output: str = option(
        help="output folder (datasets.load_from_disk loads it)", short="-o", role="output"
    )
    labels: list[str] | None = option(
        None, help="class names of the input files, in order", shown="the file names"
    )
    label_table: str | None = option(
        None, help="CSV/TSV file with id and label columns", role="input"
    )
    split: list[float] = option([0.8, 0.1, 0.1], help="train, valid and test shares of sequences")
    chunk_size: int = option(
        0, help="cut sequences into windows of this many residues (0 = keep whole)"
    )
    chunk_overlap: int = option(0, help="residues shared by neighbouring windows")
    min_chunk_length: int = option(
        0,
        help="shortest last window kept as is; a shorter tail is covered by moving the last "
        "window back (0 = half a window)",
    )
    max_length: int = option(
        512, help="tokens per row with CLS/SEP; longer rows are truncated and counted"
    )
    reverse_complement: bool | None = option(
        None,
        help="add reverse complements to the train split only",
        shown="on for DNA/RNA, off for protein",
    )
    seed: int = option(42, help="random seed of the split")
    group_by: Literal["auto", "id", "similarity"] = option(
        "auto",
        help="what never straddles splits: id = each source record (with its chunks and "
        "reverse complements); similarity = clusters of similar records (MMseqs2), so "
        "homologs and repeat copies do not leak between train and test",
        shown="auto: similarity for protein, id for DNA/RNA",
    )
    min_identity: float | None = option(
        None,
        help="--group-by similarity: records at least this identical (0-1) share a cluster",
        shown="0.3 for protein, 0.8 for DNA/RNA",
    )
    coverage: float = option(
        0.8, help="--group-by similarity: share (0-1) of both records the alignment must cover"
    )
    alphabet: Alphabet | None = alphabet_option()
    text_column: str | None = text_column_option()
    label_column: str | None = label_column_option()
    allow_duplicate_ids: bool = duplicate_ids_option()

    def __post_init__(self) -> None:
        self._check_choices()
        _require(bool(self.inputs), "give the FASTA/FASTQ files (one per class)")
        _require(bool(self.tokeniser), "give a tokeniser folder (--tokeniser tok/)")
        _require(bool(self.output), "give an output folder (--output dataset/)")
        _require(
            len(self.split) == 3 and all(share > 0 for share in self.split),
            f"--split needs three positive shares (train valid test), got {self.split}",
        )
        _require(
            abs(sum(self.split) - 1) < 1e-6,
            f"--split shares must sum to 1, got {sum(self.split):g}",
        )
        _require(self.chunk_size >= 0, f"--chunk-size must be 0 or more, got {self.chunk_size}")
        _require(
            self.chunk_overlap == 0 or 0 < self.chunk_overlap < self.chunk_size,
            f"--chunk-overlap must be below --chunk-size ({self.chunk_size}), "
            f"got {self.chunk_overlap}",
        )
        _require(
            0 <= self.min_chunk_length <= max(self.chunk_size, 0),
            f"--min-chunk-length must be between 0 and --chunk-size, got {self.min_chunk_length}",
        )
        _require(
            self.max_length >= 3, f"--max-length must be at least 3 tokens, got {self.max_length}"
        )
        _require(
            self.min_identity is None or 0 <= self.min_identity <= 1,
            f"--min-identity must be between 0 and 1, got {self.min_identity}",
        )
        _require(
            0 <= self.coverage <= 1, f"--coverage must be between 0 and 1, got {self.coverage}"
        )
        _text_columns(self)
        if self.alphabet is Alphabet.TEXT:
            _require(
                self.label_table is None,
                "--label-table labels sequence records; a text table's labels come from its "
                "--label-column, plain-text files are one class each",
            )
            _require(not self.reverse_complement, "--reverse-complement applies to DNA/RNA only")
            _require(
                self.group_by != "similarity",
                "--group-by similarity clusters sequences with MMseqs2; text is grouped by "
                "document (--group-by id)",
            )


TOKENISER_NAMES_HELP = "a label per tokeniser, in order, for columns, plots and metadata"


@dataclass
class TokensCompareConfig(StageConfig):
    """Settings of ``genomeflow tokens compare``."""

    tokenisers: list[str] = option(
        help="two or more tokeniser folders", positional=True, role="input"
    )
    output: str = option(
        help="report folder: tokens.tsv, overlap.tsv, comparison.json, scores.png",
        short="-o",
        role="output",
    )
    names: list[str] | None = option(None, help=TOKENISER_NAMES_HELP, shown="the folder names")

    def __post_init__(self) -> None:
        _require(len(self.tokenisers) >= 2, "give two or more tokeniser folders to compare")


@dataclass
class TokensMergeConfig(StageConfig):
    """Settings of ``genomeflow tokens merge``."""

    tokenisers: list[str] = option(
        help="two or more unigram tokeniser folders", positional=True, role="input"
    )
    output: str = option(
        help="merged unigram tokeniser folder (loadable by AutoTokenizer)",
        short="-o",
        role="output",
    )
    how: Literal["inner", "outer"] = option(
        "outer", help="inner: pieces in every tokeniser; outer: pieces in any"
    )
    pooling: Literal["mean", "median", "min", "max"] = option(
        "mean", help="how a piece's log-probabilities across tokenisers become its merged score"
    )
    names: list[str] | None = option(None, help=TOKENISER_NAMES_HELP, shown="the folder names")

    def __post_init__(self) -> None:
        _require(len(self.tokenisers) >= 2, "give two or more tokeniser folders to merge")


@dataclass
class TokensInspectConfig(StageConfig):
    """Settings of ``genomeflow tokens inspect``."""

    tokeniser: str = option(help="the tokeniser folder", positional=True, role="input")
    output: str = option(
        help="report folder: inspection.json, token_lengths.tsv, token_lengths.png",
        short="-o",
        role="output",
    )
    fasta: list[str] | None = option(
        None,
        help="FASTA/FASTQ files (plain or .gz) to measure coverage and compression on",
        role="input",
    )
