"""The three ``genomeflow tokens`` stages: each takes its config and returns a summary that
knows its metrics (the stage layer, genomeflow.stages, runs them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from genomeflow.config import TokensCompareConfig, TokensInspectConfig, TokensMergeConfig
from genomeflow.tokenise.qc.compare import ComparisonResult, compare_tokenisers, write_comparison
from genomeflow.tokenise.qc.inspection import InspectionResult, inspect_tokeniser, write_inspection
from genomeflow.tokenise.qc.merge import merge_tokenisers
from genomeflow.tokenise.tokenizer import GenomeTokenizer


@dataclass(frozen=True)
class TokensCompareSummary:
    """The comparison and the report files written."""

    result: ComparisonResult
    written: list[Path]

    def metrics(self) -> dict[str, float]:
        summary = self.result.summary()
        return {"tokens_in_all": summary["tokens_in_all"], "outliers": len(summary["outliers"])}


@dataclass(frozen=True)
class TokensMergeSummary:
    """The merged tokeniser folder and its vocabulary size."""

    output: Path
    vocab_size: int

    def metrics(self) -> dict[str, float]:
        return {"vocab_size": self.vocab_size}


@dataclass(frozen=True)
class TokensInspectSummary:
    """The inspection and the report files written."""

    result: InspectionResult
    written: list[Path]

    def metrics(self) -> dict[str, float]:
        return {"vocab_size": self.result.vocab_size}


def tokens_compare(config: TokensCompareConfig) -> TokensCompareSummary:
    """Compare tokenisers (vocabulary overlap, score variance, outliers) and write the report."""
    result = compare_tokenisers(config.tokenisers, config.names)
    return TokensCompareSummary(result, list(write_comparison(result, config.output)))


def tokens_merge(config: TokensMergeConfig) -> TokensMergeSummary:
    """Merge unigram tokenisers into one tokeniser folder."""
    folder = merge_tokenisers(
        config.tokenisers, config.output, config.how, config.pooling, config.names
    )
    return TokensMergeSummary(Path(folder), GenomeTokenizer.load(folder).vocab_size)


def tokens_inspect(config: TokensInspectConfig) -> TokensInspectSummary:
    """Inspect a tokeniser (and its coverage of FASTA files) and write the report."""
    result = inspect_tokeniser(config.tokeniser, config.fasta)
    return TokensInspectSummary(result, list(write_inspection(result, config.output)))
