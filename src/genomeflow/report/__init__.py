"""Report writers shared by every stage that writes one: tables, pages and figures.

- :mod:`~genomeflow.report.tables`: table cells (:func:`number`), Markdown and HTML tables;
- :mod:`~genomeflow.report.pages`: self-contained HTML pages and the PNGs embedded in them;
- :mod:`~genomeflow.report.plots`: matplotlib figures without pyplot, and their PNG bytes.

A library floor: it imports the standard library, and matplotlib and numpy inside the
functions that draw, nothing else of genomeflow.
"""

from __future__ import annotations

from genomeflow.report.pages import STYLE, html_page, png_image
from genomeflow.report.plots import DPI, colours, figure_png, new_figure
from genomeflow.report.tables import html_table, markdown_table, number

__all__ = [
    "DPI",
    "STYLE",
    "colours",
    "figure_png",
    "html_page",
    "html_table",
    "markdown_table",
    "new_figure",
    "number",
    "png_image",
]
