"""Compare tokenisers: vocabulary overlap and per-token score statistics."""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from genomeflow.storage import file_digest
from genomeflow.tokenise.qc.common import (
    TUKEY_FENCE,
    _json,
    _load_sources,
    _number,
    _png,
    _provenance,
    _publish,
    _tsv,
)


@dataclass(frozen=True)
class ComparedTokeniser:
    """One tokeniser of a comparison.

    Attributes:
        name: its label in tables and plots.
        folder: the tokeniser folder.
        method: unigram, bpe, char or kmer.
        alphabet: dna, rna or protein.
        vocab_size: tokens, the five special tokens included.
        scored: True when it carries Unigram log-probabilities (see the module docstring).
        digest: SHA-256 of its tokenizer.json.
    """

    name: str
    folder: str
    method: str
    alphabet: str
    vocab_size: int
    scored: bool
    digest: str


@dataclass(frozen=True)
class TokenStats:
    """One token of the union of the compared vocabularies (special tokens excluded).

    Attributes:
        token: the token text.
        present_in: names of the tokenisers whose vocabulary holds it.
        scores: one entry per compared tokeniser, in order: its log-probability, or None where
            the tokeniser lacks the token or carries no scores.
        mean: mean of the scores given; None when no tokeniser scores it.
        variance: sample variance (n - 1 denominator) of the scores given; None when fewer than
            two tokenisers score it.
        outlier: variance above the comparison's ``variance_threshold``.
    """

    token: str
    present_in: tuple[str, ...]
    scores: tuple[float | None, ...]
    mean: float | None
    variance: float | None
    outlier: bool

    @property
    def length(self) -> int:
        """Residues in the token."""
        return len(self.token)


@dataclass(frozen=True)
class ComparisonResult:
    """What :func:`compare_tokenisers` found.

    Attributes:
        tokenisers: the compared tokenisers, in the order given.
        shared: ``shared[i][j]`` = tokens in both i and j (special tokens excluded); the
            diagonal holds each vocabulary's size without specials.
        union: ``union[i][j]`` = tokens in i or j.
        tokens: one row per token of the union, most widely shared first, then by token.
        variance_threshold: Q3 + 1.5 * IQR of the defined variances (Tukey's upper fence);
            None when no token is scored by two tokenisers.
        notes: caveats, e.g. tokenisers left out of score statistics.
    """

    tokenisers: list[ComparedTokeniser]
    shared: list[list[int]]
    union: list[list[int]]
    tokens: list[TokenStats]
    variance_threshold: float | None
    notes: list[str]

    @property
    def names(self) -> list[str]:
        return [tokeniser.name for tokeniser in self.tokenisers]

    @property
    def jaccard_pct(self) -> list[list[float]]:
        """``100 * |A ∩ B| / |A ∪ B|`` for every pair (symmetric; 100 on the diagonal)."""
        return [
            [100.0 * s / u if u else 100.0 for s, u in zip(shared, union, strict=True)]
            for shared, union in zip(self.shared, self.union, strict=True)
        ]

    @property
    def contained_pct(self) -> list[list[float]]:
        """``100 * |A ∩ B| / |A|`` with A the row: the share of A's tokens that B also has."""
        return [
            [100.0 * s / row[i] if row[i] else 100.0 for s in row]
            for i, row in enumerate(self.shared)
        ]

    @property
    def outliers(self) -> list[TokenStats]:
        return [row for row in self.tokens if row.outlier]

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary: tokenisers, overlap matrices, threshold, counts and notes."""
        everywhere = len(self.tokenisers)
        return {
            **_provenance("tokens-compare"),
            "tokenisers": [asdict(tokeniser) for tokeniser in self.tokenisers],
            "names": self.names,
            "shared_tokens": self.shared,
            "union_tokens": self.union,
            "jaccard_pct": self.jaccard_pct,
            "contained_pct": self.contained_pct,
            "tokens_in_union": len(self.tokens),
            "tokens_in_all": sum(len(row.present_in) == everywhere for row in self.tokens),
            "tokens_with_variance": sum(row.variance is not None for row in self.tokens),
            "variance_threshold": self.variance_threshold,
            "outliers": [row.token for row in self.outliers],
            "notes": self.notes,
        }


def _upper_fence(values: Sequence[float]) -> float | None:
    """Tukey's upper fence Q3 + 1.5 * IQR (quartiles by linear interpolation, numpy's default)."""
    if not values:
        return None
    import numpy

    q1, q3 = numpy.percentile(values, [25, 75])
    return float(q3 + TUKEY_FENCE * (q3 - q1))


def compare_tokenisers(
    folders: Sequence[str | os.PathLike[str]], names: Sequence[str] | None = None
) -> ComparisonResult:
    """Compare the vocabularies and Unigram scores of two or more tokeniser folders.

    Special tokens are left out of every count. Per token, the scores of the tokenisers that
    hold it are summarised by mean and sample variance; a token whose variance lies above
    Q3 + 1.5 * IQR of all defined variances is an outlier (its probability differs most
    between tokenisers). Only Unigram tokenisers carry scores; the others count in the overlap
    only (see the module docstring).

    Args:
        folders: two or more folders written by ``genomeflow tokenise`` (or a merge).
        names: a unique label per folder; default: the folder names (``#1``, ``#2`` added to a
            repeated name).

    Returns:
        The comparison; write it with :func:`write_comparison`.

    Raises:
        InputError: fewer than two folders, a missing folder or one that is not a tokeniser.
        ConfigError: names that do not match the folders one to one, or repeat.
    """
    sources = _load_sources(folders, names, "comparing")
    sets = [source.tokens for source in sources]
    shared = [[len(a & b) for b in sets] for a in sets]
    union = [[len(a | b) for b in sets] for a in sets]

    rows = []
    for token in frozenset().union(*sets):
        present = tuple(source.name for source in sources if token in source.tokens)
        scores = tuple(
            None if source.scores is None else source.scores.get(token) for source in sources
        )
        given = [score for score in scores if score is not None]
        mean = statistics.fmean(given) if given else None
        # statistics.variance sums exactly, so equal scores give exactly 0 (no 1e-32 noise
        # that the fence could flag).
        variance = statistics.variance(given) if len(given) >= 2 else None
        rows.append((token, present, scores, mean, variance))
    threshold = _upper_fence([row[4] for row in rows if row[4] is not None])
    tokens = [
        TokenStats(
            token,
            present,
            scores,
            mean,
            variance,
            outlier=variance is not None and threshold is not None and variance > threshold,
        )
        for token, present, scores, mean, variance in sorted(
            rows, key=lambda row: (-len(row[1]), row[0])
        )
    ]

    notes = []
    unscored = [source for source in sources if source.scores is None]
    if unscored:
        listed = ", ".join(f"{s.name} ({s.tokenizer.method})" for s in unscored)
        notes.append(
            f"{listed}: no Unigram scores; counted in the vocabulary overlap only, "
            "left out of the score statistics"
        )
    if len(sources) - len(unscored) < 2:
        notes.append("fewer than two tokenisers carry scores: no score variance or outliers")
    alphabets = {source.tokenizer.alphabet.value for source in sources}
    if len(alphabets) > 1:
        notes.append(f"the tokenisers hold different alphabets ({', '.join(sorted(alphabets))})")

    tokenisers = [
        ComparedTokeniser(
            name=source.name,
            folder=str(source.folder),
            method=source.tokenizer.method,
            alphabet=source.tokenizer.alphabet.value,
            vocab_size=source.tokenizer.vocab_size,
            scored=source.scores is not None,
            digest=file_digest(source.folder / "tokenizer.json"),
        )
        for source in sources
    ]
    return ComparisonResult(tokenisers, shared, union, tokens, threshold, notes)


def _draw_scores(result: ComparisonResult) -> Callable[[Any], None]:
    """Box plot of each scored tokeniser's token scores (all its tokens, not only shared ones)."""
    columns = [
        (tokeniser.name, [row.scores[i] for row in result.tokens if row.scores[i] is not None])
        for i, tokeniser in enumerate(result.tokenisers)
        if tokeniser.scored
    ]

    def draw(axes: Any) -> None:
        if not columns:
            axes.text(0.5, 0.5, "no tokeniser carries Unigram scores", ha="center", va="center")
            axes.set_axis_off()
            return
        axes.boxplot([scores for _, scores in columns])
        axes.set_xticks(range(1, len(columns) + 1), [name for name, _ in columns])
        axes.set_xlabel("tokeniser")
        axes.set_ylabel("token score (natural-log probability)")
        axes.set_title("Unigram token scores per tokeniser")

    return draw


def write_comparison(result: ComparisonResult, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write a comparison report into ``out_dir`` (created if missing; files replaced atomically).

    Files:
        tokens.tsv: one row per token: token, length, present_in (count), tokenisers (names),
            ``score_<name>`` per tokeniser (empty: absent or unscored), mean, variance, outlier.
        overlap.tsv: one row per ordered pair: tokeniser, other, their sizes (specials
            excluded), shared, union, jaccard_pct, contained_pct (share of ``tokeniser``'s tokens
            that ``other`` has).
        comparison.json: :meth:`ComparisonResult.summary` (the overlap matrices included).
        scores.png: box plot of the token scores of each Unigram tokeniser.

    Returns:
        The paths written.
    """
    names = result.names
    token_rows = (
        [
            row.token,
            row.length,
            len(row.present_in),
            ",".join(row.present_in),
            *map(_number, row.scores),
            _number(row.mean),
            _number(row.variance),
            str(row.outlier).lower(),
        ]
        for row in result.tokens
    )
    token_header = ["token", "length", "present_in", "tokenisers"]
    token_header += [f"score_{name}" for name in names] + ["mean", "variance", "outlier"]
    jaccard, contained = result.jaccard_pct, result.contained_pct
    overlap_rows = (
        [
            a,
            b,
            result.shared[i][i],
            result.shared[j][j],
            result.shared[i][j],
            result.union[i][j],
            f"{jaccard[i][j]:.4f}",
            f"{contained[i][j]:.4f}",
        ]
        for i, a in enumerate(names)
        for j, b in enumerate(names)
    )
    overlap_header = ["tokeniser", "other", "tokens", "other_tokens", "shared", "union"]
    overlap_header += ["jaccard_pct", "contained_pct"]
    files = {
        "tokens.tsv": _tsv(token_header, token_rows),
        "overlap.tsv": _tsv(overlap_header, overlap_rows),
        "comparison.json": _json(result.summary()),
        "scores.png": _png(_draw_scores(result), width=max(5.0, 1.2 * len(names) + 3)),
    }
    return _publish(out_dir, files)
