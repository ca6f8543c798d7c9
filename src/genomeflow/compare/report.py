"""Small report writers shared by ``compare`` and ``summarise``: Markdown/HTML tables, pages."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from typing import Any

DPI = 120  # as genomeflow.evaluate.plots
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222;
       line-height: 1.45; padding: 0 1em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
th { background: #f2f2f2; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
.note { color: #555; font-size: 0.92em; }
"""


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure with its own Agg canvas (no pyplot state), sizes in inches."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def colours(count: int) -> list[Any]:
    """``count`` distinguishable colours: matplotlib's cycle, or a colormap beyond ten."""
    import numpy as np
    from matplotlib import colormaps

    if count <= 10:
        return [f"C{i}" for i in range(count)]
    return list(colormaps["turbo"](np.linspace(0.05, 0.95, count)))


def number(value: Any, digits: int = 3) -> str:
    """A table cell: floats rounded to ``digits`` decimals, None/NaN as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table (``|`` in cells escaped)."""

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(map(cell, header)) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def html_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table; cells are escaped, numbers right-aligned."""

    def cell(value: Any) -> str:
        text = str(value)
        numeric = text.replace(".", "", 1).replace("-", "", 1).replace("%", "").isdigit()
        kind = ' class="number"' if numeric else ""
        return f"<td{kind}>{html.escape(text)}</td>"

    head = "".join(f"<th>{html.escape(str(name))}</th>" for name in header)
    body = "\n".join("<tr>" + "".join(cell(value) for value in row) + "</tr>" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>\n"


def png_image(png: bytes, alt: str) -> str:
    """An ``<img>`` carrying the PNG itself (base64 data URI): the page needs no other file."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def html_page(title: str, body: str) -> str:
    """A complete, self-contained HTML document."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"{body}\n</body>\n</html>\n"
    )
