"""Figures for reports: matplotlib figures with their own canvas, colours, and PNG bytes.

Every figure is a :class:`matplotlib.figure.Figure` with its own Agg canvas rather than pyplot:
no global backend is set, no figure registry fills up. matplotlib and numpy are imported inside
the functions (start-up time of the command line).
"""

from __future__ import annotations

import io
from typing import Any

DPI = 120  # as genomeflow.evaluate.plots


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


def figure_png(figure: Any) -> bytes:
    """PNG bytes of a figure at :data:`DPI`, without a time stamp (equal figures, equal bytes)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
