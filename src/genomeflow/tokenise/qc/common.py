"""What compare, merge and inspect share: loading tokeniser folders and writing reports."""

from __future__ import annotations

import csv
import io
import json
import os
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genomeflow import __version__
from genomeflow.errors import ConfigError, InputError
from genomeflow.naming import display_names
from genomeflow.storage import atomic_directory
from genomeflow.tokenise.tokenizer import SPECIAL_TOKENS, GenomeTokenizer

HOWS = ("inner", "outer")
# How the scores of one piece in several tokenisers become its merged score.
POOLINGS: dict[str, Callable[[Sequence[float]], float]] = {
    "mean": statistics.fmean,
    "median": statistics.median,
    "min": min,
    "max": max,
}
TUKEY_FENCE = 1.5  # outliers: variance above Q3 + 1.5 * IQR of the variances
_SPECIALS = frozenset(SPECIAL_TOKENS)


@dataclass(frozen=True)
class _Source:
    """One loaded tokeniser folder, as compare and merge use it."""

    name: str
    folder: Path
    tokenizer: GenomeTokenizer
    document: dict[str, Any]  # tokenizer.json
    tokens: frozenset[str]  # vocabulary without the special tokens
    scores: dict[str, float] | None  # Unigram log-probability per token; None: not Unigram

    @property
    def case(self) -> str:
        return self.tokenizer.metadata.get("parameters", {}).get("case", "upper")


def _load_source(folder: str | os.PathLike[str], name: str) -> _Source:
    tokenizer = GenomeTokenizer.load(folder)
    folder = Path(folder)
    vocabulary = tokenizer.vocabulary()
    if [vocabulary.get(token) for token in SPECIAL_TOKENS] != list(range(len(SPECIAL_TOKENS))):
        raise InputError(
            f"{folder}: special tokens are not {', '.join(SPECIAL_TOKENS)} with ids 0-4; "
            "give a folder written by `genomeflow tokenise`"
        )
    document = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    model = document.get("model", {})
    scores = None
    if model.get("type") == "Unigram":
        # Letters the corpus lacked carry a floor score, not a learned one: not compared.
        unscored = _SPECIALS | set(tokenizer.metadata.get("added_letters", []))
        scores = {piece: float(score) for piece, score in model["vocab"] if piece not in unscored}
    tokens = frozenset(vocabulary) - _SPECIALS
    return _Source(name, folder, tokenizer, document, tokens, scores)


def _load_sources(
    folders: Sequence[str | os.PathLike[str]], names: Sequence[str] | None, action: str
) -> list[_Source]:
    """Load two or more tokeniser folders under unique names (``action`` words the errors)."""
    if isinstance(folders, (str, os.PathLike)):
        folders = [folders]  # a lone path is one folder, not a sequence of characters
    if len(folders) < 2:
        given = ", ".join(map(str, folders)) or "none"
        raise InputError(
            f"{action} needs at least two tokeniser folders, got {len(folders)} ({given}); "
            "give two or more folders written by `genomeflow tokenise`"
        )
    defaults = [Path(folder).resolve().name or str(folder) for folder in folders]
    checked = display_names(defaults, names, "tokeniser", "tokeniser folders")
    return [_load_source(folder, name) for folder, name in zip(folders, checked, strict=True)]


def _choice(value: str, choices: Iterable[str], option: str) -> str:
    choices = list(choices)
    if value not in choices:
        listed = f"{', '.join(choices[:-1])} or {choices[-1]}"
        raise ConfigError(f"unknown {option} {value!r}: choose {listed}")
    return value


def _png(draw: Callable[[Any], None], width: float = 7.0, height: float = 4.5) -> bytes:
    """Render one axes to PNG bytes (``width`` and ``height`` in inches, at 120 dpi).

    The figure gets its own Agg canvas instead of ``matplotlib.use("Agg")``: no display is
    needed, and the caller's pyplot backend (e.g. a notebook's) is left alone.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    draw(figure.subplots())
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, metadata={"Software": None})
    return buffer.getvalue()


def _tsv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, delimiter="\t", lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode("utf-8")


def _json(payload: Any) -> bytes:
    return (json.dumps(payload, indent=2) + "\n").encode("utf-8")


def _number(value: float | None) -> str:
    """A TSV cell: empty for a missing value; 10 significant digits keep the 1e-6 scores."""
    return "" if value is None else f"{value:.10g}"


def _publish(out_dir: str | os.PathLike[str], files: dict[str, bytes]) -> list[Path]:
    """Publish rendered files as the folder ``out_dir`` (atomically, with genomeflow's output
    marker; an earlier folder there is replaced whole).

    Everything is rendered before the first write, so a failure in the analysis leaves no file
    behind.
    """
    folder = Path(out_dir)
    with atomic_directory(folder) as partial:
        for name, data in files.items():
            (partial / name).write_bytes(data)
    return [folder / name for name in files]


def _provenance(stage: str) -> dict[str, str]:
    return {"stage": stage, "genomeflow_version": __version__}
