"""Attributions of a text model on the words of each document, and per class the words that
carry it.

A text tokeniser (genomeflow.tokenise.build) splits at whitespace, with the word-start mark ``▁``
(Metaspace), and sets punctuation marks apart; its pieces map back to character ranges of the
original document. So the words here are cut the same way from the original text: runs of
characters that are neither whitespace nor punctuation, and single punctuation marks. Every token
belongs to the word holding its first non-space character; a token of whitespace only (a bare
``▁``, which marks the start of the next word) belongs to the next word. A word's score is the sum
of its tokens' scores, so a document's word scores keep its attribution total (completeness).

Per class, :func:`word_table` ranks the words by their mean score over the documents attributed
to that class (and, when the true label is known, of that class): the words whose presence
moves the model towards it. A word must occur in ``min_support`` documents to be listed, so a
word seen once, whose mean is one noisy score, does not top the table. Words are compared in
the tokeniser's normal form (NFKC, lower case unless it keeps case): ``The`` and ``the`` are one
word, as they are one token to the model. Punctuation marks stay on the pages but not in the
tables, which name vocabulary.
"""

from __future__ import annotations

import bisect
import string
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genomeflow.interpret.attributions import SequenceAttribution

# The tokenizers library's Punctuation pre-tokeniser splits off ASCII punctuation (symbols such
# as + and $ included) and every Unicode punctuation character (categories P*).
ASCII_PUNCTUATION = frozenset(string.punctuation)
WORD_COLUMNS = ["word", "documents", "occurrences", "mean_attribution", "total_attribution"]


def is_punctuation(char: str) -> bool:
    return char in ASCII_PUNCTUATION or unicodedata.category(char).startswith("P")


def word_spans(text: str) -> list[tuple[int, int]]:
    """The character ranges ``[start, end)`` of the words and punctuation marks of ``text``."""
    spans: list[tuple[int, int]] = []
    start = None  # where the word being read began
    for position, char in enumerate(text):
        if char.isspace() or is_punctuation(char):
            if start is not None:
                spans.append((start, position))
                start = None
            if not char.isspace():
                spans.append((position, position + 1))
        elif start is None:
            start = position
    if start is not None:
        spans.append((start, len(text)))
    return spans


@dataclass(frozen=True)
class Word:
    """One word of a document: its text as written, where, and its tokens' summed score."""

    text: str
    start: int
    end: int
    score: float
    tokens: tuple[str, ...]

    @property
    def is_punctuation(self) -> bool:
        return not any(char.isalnum() for char in self.text)


def document_words(item: SequenceAttribution) -> list[Word]:
    """The words of an attributed document, each scored by the sum of its tokens' scores."""
    text = item.sequence
    spans = word_spans(text)
    if not spans:
        return []
    starts = [start for start, _ in spans]
    scores = [0.0] * len(spans)
    tokens: list[list[str]] = [[] for _ in spans]
    for token, (begin, end), score in zip(item.tokens, item.spans, item.token_scores, strict=True):
        inside = next((p for p in range(begin, end) if not text[p].isspace()), None)
        if inside is None:  # whitespace only: the word-start mark of the next word
            owner = min(bisect.bisect_left(starts, end), len(spans) - 1)
        else:  # every non-space character lies in a word
            owner = bisect.bisect_right(starts, inside) - 1
        scores[owner] += float(score)
        tokens[owner].append(token)
    return [
        Word(text[start:end], start, end, score, tuple(pieces))
        for (start, end), score, pieces in zip(spans, scores, tokens, strict=True)
    ]


def class_documents(items: Sequence[SequenceAttribution]) -> dict[str, list[int]]:
    """Per attributed class, the indices of the documents attributed to it whose true label,
    when known, is that class too (a misclassified document explains the model's mistake, not
    the class)."""
    classes: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        if item.label is None or item.label == item.target:
            classes.setdefault(item.target, []).append(index)
    return dict(sorted(classes.items()))


def word_table(
    words: Sequence[Sequence[Word]],
    normalise: Callable[[str], str],
    top: int = 20,
    min_support: int = 5,
) -> Any:
    """The ``top`` words by mean score among those in at least ``min_support`` documents.

    Args:
        words: the words of each document of one class (attributed towards it).
        normalise: a word's normal form, the unit compared (the tokeniser's normaliser).

    Returns:
        DataFrame: word (normal form), documents (holding it), occurrences, mean_attribution
        (per occurrence; units: probability of the class, as the attributions), and
        total_attribution.
    """
    import numpy as np
    import pandas as pd

    scores: dict[str, list[float]] = defaultdict(list)
    support: dict[str, set[int]] = defaultdict(set)
    for document, found in enumerate(words):
        for word in found:
            if not word.is_punctuation:
                key = normalise(word.text)
                scores[key].append(word.score)
                support[key].add(document)
    rows = [
        [key, len(support[key]), len(values), float(np.mean(values)), float(np.sum(values))]
        for key, values in scores.items()
        if len(support[key]) >= min_support
    ]
    table = pd.DataFrame(rows, columns=WORD_COLUMNS)
    table = table.sort_values(["mean_attribution", "word"], ascending=[False, True])
    return table.head(top).reset_index(drop=True)


def plot_words(table: Any, path: Path, title: str) -> None:
    """Horizontal bars of each word's mean attribution, annotated with its document count."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 0.3 * len(table) + 1.5), layout="constrained")
    axes = figure.subplots()
    order = table.iloc[::-1]
    values = order["mean_attribution"]
    axes.barh(range(len(order)), values, color=["#008c3c" if v >= 0 else "#c81e1e" for v in values])
    for y, (value, count) in enumerate(zip(values, order["documents"], strict=True)):
        axes.text(value, y, f"  {count} documents", va="center", fontsize=7)
    axes.set_yticks(range(len(order)))
    axes.set_yticklabels(order["word"])
    axes.set(xlabel="mean attribution per occurrence (probability of the class)", title=title)
    figure.savefig(path, dpi=120)
