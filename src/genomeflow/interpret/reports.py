"""Attribution reports: one HTML page and one PNG track per sequence, an index page, and the
attributions as Parquet (per residue) and NPZ (per token) for downstream use. A text document's
page shows its words instead, coloured by their scores (no track), and its Parquet file holds
one row per word."""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genomeflow.interpret.attributions import SequenceAttribution
from genomeflow.interpret.discovery import Occurrence
from genomeflow.interpret.words import Word
from genomeflow.report import html_page, html_table, png_image
from genomeflow.tracking.stage import REPORTS_FOLDER

PAGES = REPORTS_FOLDER  # per-sequence pages and tracks: a stage's reports/ go to MLflow whole

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; }
td, th { padding: 0.25em 0.6em; border-bottom: 1px solid #ddd; }
th { cursor: pointer; text-align: left; background: #f4f4f4; }
.tokens span { font-family: monospace; padding: 0.1em 0.15em; margin: 0.05em;
  display: inline-block; }
.legend span { font-family: monospace; padding: 0.1em 0.5em; }
.sites { font-family: monospace; word-wrap: break-word; }
.words { line-height: 1.9; max-width: 60em; }
.words span { padding: 0.1em 0.05em; border-radius: 0.2em; }
.sites mark { background: #ffd54f; border-bottom: 2px solid #b26a00; }
"""
SORTER = """
for (const th of document.querySelectorAll('th')) th.addEventListener('click', () => {
  const table = th.closest('table'), body = table.tBodies[0], i = th.cellIndex;
  const up = th.dataset.up = th.dataset.up === '1' ? '0' : '1';
  const key = r => {
    const t = r.cells[i].innerText, n = parseFloat(t);
    return isNaN(n) ? t : n;
  };
  [...body.rows].sort((a, b) => (key(a) > key(b) ? 1 : -1) * (up === '1' ? 1 : -1))
    .forEach(r => body.appendChild(r));
});
"""


SUMMARY_ROWS = 10  # motif-table rows shown on the summary page


def safe_name(record_id: str, taken: set[str]) -> str:
    """A file name from a record id: letters, digits, ``._-`` only, unique among ``taken``."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", record_id).strip("._") or "sequence"
    name, number = base[:80], 1
    while name in taken:
        number += 1
        name = f"{base[:76]}_{number}"
    taken.add(name)
    return name


def write_class_table(
    folder: Path,
    stem: str,
    table: Any,
    taken: set[str],
    plot: Callable[[Any, Path, str], None],
    title: str,
) -> None:
    """A per-class table (``<stem>.tsv``, tab-separated) and its ``plot`` (``<stem>.png``),
    named uniquely among ``taken``."""
    name = safe_name(stem, taken)
    table.to_csv(folder / f"{name}.tsv", sep="\t", index=False, float_format="%.6g")
    plot(table, folder / f"{name}.png", title)


def colour(score: float) -> str:
    """Green towards the target class, red away from it; ``score`` in [-1, 1]."""
    alpha = min(1.0, abs(score))
    rgb = "0, 140, 60" if score >= 0 else "200, 30, 30"
    return f"rgba({rgb}, {alpha:.3f})"


def _page(title: str, body: str, script: str = "") -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>'
        f"{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n"
        f"{f'<script>{script}</script>' if script else ''}</body></html>\n"
    )


Sites = Sequence[tuple[str, Occurrence]]  # (motif name, where) in one sequence


def site_block(sequence: str, sites: Sites, verdicts: dict[str, str]) -> str:
    """The residues with every motif site highlighted (hover: which motif), and a table of the
    sites; "" when the sequence has none."""
    if not sites:
        return ""
    covering: list[list[str]] = [[] for _ in sequence]
    for name, place in sites:
        for position in range(place.start, place.end):
            covering[position].append(name)
    marked = []
    for residue, names in zip(sequence, covering, strict=True):
        text = html.escape(residue)
        marked.append(
            f'<mark title="{html.escape(", ".join(names))}">{text}</mark>' if names else text
        )
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{place.start + 1}-{place.end}</td>"
        f"<td>{place.strand}</td><td><code>{html.escape(sequence[place.start : place.end])}"
        f"</code></td><td>{html.escape(verdicts.get(name, ''))}</td></tr>"
        for name, place in sorted(sites, key=lambda site: site[1].start)
    )
    return (
        "<h2>Motif sites</h2><p>TF-MoDISco seqlets of the discovered motifs (motifs.html), "
        f'highlighted:</p><p class="sites">{"".join(marked)}</p><table><thead><tr><th>motif</th>'
        "<th>residues</th><th>strand</th><th>site</th><th>match</th></tr></thead><tbody>"
        f"{rows}</tbody></table>"
    )


def page_header(item: SequenceAttribution) -> str:
    """The top of a sequence's or document's page: its facts, and the colour legend."""
    facts = [
        ("record", item.id),
        ("true label", item.label or "unknown"),
        ("predicted", f"{item.predicted} (p = {item.probability:.3f})"),
        ("attributed to", item.target),
        ("convergence delta", f"{item.delta:.3g}"),
        ("attribution sum", f"{item.token_scores.sum():+.4g}"),
    ]
    note = (
        "<p><strong>All attributions are zero</strong> (the model output does not change "
        "between baseline and input): nothing to show, reported as zero rather than NaN.</p>"
        if item.zero_norm
        else ""
    )
    rows = "".join(f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts)
    legend = (
        '<p class="legend"><span style="background:rgba(0,140,60,0.8)">towards '
        f'{html.escape(item.target)}</span> <span style="background:rgba(200,30,30,0.8)">away '
        f"from {html.escape(item.target)}</span> (colour strength: share of the largest "
        "magnitude)</p>"
    )
    return f"<h1>{html.escape(item.id)}</h1><table>{rows}</table>{note}{legend}"


def sequence_page(
    item: SequenceAttribution, track: str, sites: Sites = (), verdicts: dict[str, str] | None = None
) -> str:
    """The HTML page of one sequence: facts, coloured tokens with a legend, its track plot, and
    its motif sites (with their database matches) when it has any."""
    scores = item.normalised(item.token_scores)
    spans = "".join(
        f'<span style="background:{colour(s)}" title="{html.escape(t)}: '
        f'{raw:+.4g}">{html.escape(t)}</span>'
        for t, s, raw in zip(item.tokens, scores, item.token_scores, strict=True)
    )
    body = (
        f'{page_header(item)}<div class="tokens">{spans}</div><p><img src="{html.escape(track)}" '
        'alt="attribution track" width="900"></p>'
        f"{site_block(item.sequence, sites, verdicts or {})}"
        '<p><a href="index.html">all sequences</a></p>'
    )
    return _page(item.id, body)


def word_page(item: SequenceAttribution, words: Sequence[Word]) -> str:
    """The HTML page of one document: facts, and its text with each word coloured by the sum
    of its tokens' scores (hover: the score and the tokens)."""
    scores = item.normalised(np.asarray([word.score for word in words], dtype=np.float64))
    parts, end = [], 0
    for word, score in zip(words, scores, strict=True):
        pieces = " + ".join(word.tokens)
        parts.append(
            f'{html.escape(item.sequence[end : word.start])}<span style="background:'
            f'{colour(score)}" title="{html.escape(word.text)}: {word.score:+.4g} '
            f'({html.escape(pieces)})">'
            f"{html.escape(word.text)}</span>"
        )
        end = word.end
    body = (
        f'{page_header(item)}<p class="words">{"".join(parts)}'
        f"{html.escape(item.sequence[end:])}</p>"
        '<p><a href="index.html">all documents</a></p>'
    )
    return _page(item.id, body)


def plot_track(item: SequenceAttribution, path: Path) -> None:
    """Residue-level attribution as a bar track (green positive, red negative)."""
    from matplotlib.figure import Figure

    width = min(16.0, max(6.0, len(item.sequence) / 12))
    figure = Figure(figsize=(width, 2.6), layout="constrained")
    axes = figure.subplots()
    scores = item.residue_scores
    axes.bar(
        np.arange(1, len(scores) + 1),
        scores,
        width=1.0,
        color=np.where(scores >= 0, "#008c3c", "#c81e1e"),
    )
    axes.axhline(0, color="#555555", linewidth=0.6)
    axes.set(xlabel="residue", ylabel="attribution", xlim=(0.5, len(scores) + 0.5))
    axes.set_title(
        f"{item.id}: towards {item.target} (p({item.predicted}) = {item.probability:.3f})",
        fontsize=9,
    )
    if len(scores) <= 120:
        axes.set_xticks(np.arange(1, len(scores) + 1))
        axes.set_xticklabels(list(item.sequence), fontsize=6, family="monospace")
    figure.savefig(path, dpi=110)


def paged(items: Sequence[SequenceAttribution], limit: int) -> set[int]:
    """The indices of at most ``limit`` items to give a page: each attributed class in turn,
    in input order within a class, so every class is shown however the inputs are ordered."""
    by_class: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        by_class.setdefault(item.target, []).append(index)
    turns = itertools.chain.from_iterable(itertools.zip_longest(*by_class.values()))
    return set(itertools.islice((i for i in turns if i is not None), limit))


def write_reports(
    items: Sequence[SequenceAttribution],
    folder: Path,
    sites: dict[int, list[tuple[str, Occurrence]]] | None = None,
    verdicts: dict[str, str] | None = None,
    pages: int | None = None,
    words: Sequence[Sequence[Word]] | None = None,
) -> list[str]:
    """Write the index, the attribution files and a page with a track for ``pages`` items
    (all when None, see :func:`paged`); returns the page names. ``sites``: per item index, its
    motif sites; ``verdicts``: per motif, its match in words. ``words`` (text documents): per
    item, its words; pages show them, without a track, and word_attributions.parquet replaces
    residue_attributions.parquet."""
    noun = "sequences" if words is None else "documents"
    scores_file = "residue_attributions.parquet" if words is None else "word_attributions.parquet"

    folder_pages = folder / PAGES
    folder_pages.mkdir(parents=True, exist_ok=True)
    shown = paged(items, len(items) if pages is None else pages)
    taken: set[str] = {"index"}
    names, rows = [], []
    for index, item in enumerate(items):
        record = html.escape(item.id)
        if index in shown:
            name = safe_name(item.id, taken)
            if words is None:
                plot_track(item, folder_pages / f"{name}.png")
                mine = (sites or {}).get(index, [])
                page = sequence_page(item, f"{name}.png", mine, verdicts)
            else:
                page = word_page(item, words[index])
            page = page.replace('href="index.html"', 'href="../index.html"')
            (folder_pages / f"{name}.html").write_text(page, encoding="utf-8")
            names.append(name)
            record = f'<a href="{PAGES}/{name}.html">{record}</a>'
        rows.append(
            "<tr>"
            f"<td>{record}</td>"
            f"<td>{html.escape(item.label or '-')}</td><td>{html.escape(item.predicted)}</td>"
            f"<td>{item.probability:.3f}</td><td>{html.escape(item.target)}</td>"
            f"<td>{item.token_scores.sum():+.4g}</td><td>{item.delta:.3g}</td>"
            f"<td>{len(item.sequence)}</td><td>{'yes' if item.zero_norm else ''}</td></tr>"
        )
    header = "".join(
        f"<th>{h}</th>"
        for h in ("record", "true", "predicted", "p", "target", "sum", "delta", "length", "zero")
    )
    unpaged = (
        f" The {len(items) - len(shown)} records without a link have no page of their own "
        f"(--pages): their scores are in {scores_file}."
        if len(shown) < len(items)
        else ""
    )
    index = (
        f"<h1>Integrated Gradients: {len(items)} {noun}</h1><p>Click a column to sort."
        f"{unpaged}</p>"
        f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    (folder / "index.html").write_text(_page("attributions", index, SORTER), encoding="utf-8")
    _score_table(items, words).to_parquet(folder / scores_file, index=False)
    np.savez_compressed(
        folder / "token_attributions.npz",
        ids=np.asarray([item.id for item in items]),
        **{f"tokens_{i}": np.asarray(item.tokens) for i, item in enumerate(items)},
        **{f"scores_{i}": item.token_scores for i, item in enumerate(items)},
    )
    return names


def _score_table(
    items: Sequence[SequenceAttribution], words: Sequence[Sequence[Word]] | None
) -> Any:
    """One row per residue (position 1-based), or per word of a text document (``start`` and
    ``end``: its 0-based character range)."""
    import pandas as pd

    if words is not None:
        return pd.DataFrame(
            [
                {
                    "id": item.id,
                    "position": i + 1,
                    "word": word.text,
                    "start": word.start,
                    "end": word.end,
                    "score": word.score,
                    "target": item.target,
                }
                for item, found in zip(items, words, strict=True)
                for i, word in enumerate(found)
            ]
        )
    return pd.DataFrame(
        [
            {
                "id": item.id,
                "position": i + 1,
                "residue": residue,
                "score": float(score),
                "target": item.target,
            }
            for item in items
            for i, (residue, score) in enumerate(
                zip(item.sequence, item.residue_scores, strict=True)
            )
        ]
    )


def summary_page(
    folder: Path,
    sequences: int,
    top: dict[str, str],
    motifs: str = "",
    unit: str = "k-mer",
    noun: str = "sequences",
) -> str:
    """One self-contained page (plots embedded) of the motif summary written into ``folder``:
    what an HTML viewer that shows a single file (the Kubeflow UI) can display. ``motifs``: the
    discovered motifs' section (logos embedded), shown first. ``unit``: what the tables rank,
    ``k-mer`` (motifs_*.tsv) or ``word`` (a text model's words_*.tsv)."""
    import pandas as pd

    parts = [f"<h1>Integrated Gradients: {sequences} {noun}</h1>", motifs]
    parts.append(f"<h2>{unit.capitalize()} summary</h2>")
    for target, kmer in top.items():
        parts.append(f"<p>top {unit} towards <b>{html.escape(target)}</b>: {html.escape(kmer)}</p>")
    prefix = "words" if unit == "word" else "motifs"
    for table_path in sorted(folder.glob(f"{prefix}_*.tsv")):
        table = pd.read_csv(table_path, sep="\t").head(SUMMARY_ROWS)
        parts.append(f"<h2>{html.escape(table_path.stem)}</h2>")
        parts.append(png_image(table_path.with_suffix(".png").read_bytes(), table_path.stem))
        parts.append(html_table(list(table.columns), table.astype(str).values.tolist()))
    parts.append(f"<p>Per-{noun.removesuffix('s')} pages: index.html in the report folder.</p>")
    return html_page("attributions summary", "\n".join(parts))
