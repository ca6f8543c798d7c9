"""The weightwatcher comparison as people read it: plots, Markdown and a self-contained HTML page.

Everything here draws or writes what :func:`genomeflow.compare.analysis.analyse_model` found:
:func:`alpha_histogram` and :func:`alpha_by_layer` (matplotlib figures),
:func:`markdown_report` and :func:`html_report` (side-by-side table, a plain-language reading
per model, layers not analysed, every layer, sources).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from genomeflow.compare.analysis import ALPHA_HIGH, ALPHA_LOW, SMALL_SPECTRUM, ModelAnalysis
from genomeflow.report.pages import html_page, png_image
from genomeflow.report.plots import colours, new_figure
from genomeflow.report.tables import html_table, markdown_table, number

REFERENCES = (
    "C. H. Martin and M. W. Mahoney (2021), Implicit self-regularization in deep neural "
    "networks: evidence from random matrix theory and implications for learning. JMLR 22(165). "
    "https://jmlr.org/papers/v22/20-410.html",
    "C. H. Martin, T. S. Peng and M. W. Mahoney (2021), Predicting trends in the quality of "
    "state-of-the-art neural networks without access to training or testing data. Nature "
    "Communications 12, 4122. https://doi.org/10.1038/s41467-021-24025-8",
    "weightwatcher documentation: https://github.com/CalculatedContent/WeightWatcher and "
    "https://weightwatcher.ai",
)


def alpha_histogram(analyses: Sequence[ModelAnalysis]) -> Any:
    """Histograms of the layers' alpha, one per model overlaid, the 2-6 band shaded."""
    import numpy as np  # numpy and matplotlib load when a report is drawn (start-up time)
    from matplotlib.ticker import MaxNLocator

    figure = new_figure(7.0, 4.4)
    axes = figure.subplots()
    values = [a.layers["alpha"].astype(float).to_numpy() for a in analyses]
    every = np.concatenate(values)
    low, high = min(every.min(), ALPHA_LOW) - 0.25, max(every.max(), ALPHA_HIGH) + 0.25
    bins = np.linspace(low, high, 25)
    axes.axvspan(ALPHA_LOW, ALPHA_HIGH, color="#2ca02c", alpha=0.08, label="2 ≤ alpha ≤ 6")
    for analysis, alpha, colour in zip(analyses, values, colours(len(analyses)), strict=True):
        axes.hist(
            alpha,
            bins=bins,
            alpha=0.45,
            color=colour,
            edgecolor=colour,
            label=f"{analysis.name} (mean {alpha.mean():.2f}, {len(alpha)} layers)",
        )
    axes.set(xlabel="alpha (power-law exponent of the layer's eigenvalue tail)", ylabel="layers")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title("weightwatcher alpha per layer")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return figure


def alpha_by_layer(analyses: Sequence[ModelAnalysis]) -> Any:
    """Alpha against the layer's position in the model, a line per model, the band shaded."""
    count = max(int(a.layers["layer_index"].max()) + 1 for a in analyses)
    figure = new_figure(max(7.0, 0.32 * count + 2.5), 4.6)
    axes = figure.subplots()
    axes.axhspan(ALPHA_LOW, ALPHA_HIGH, color="#2ca02c", alpha=0.08, label="2 ≤ alpha ≤ 6")
    for analysis, colour in zip(analyses, colours(len(analyses)), strict=True):
        table = analysis.layers
        axes.plot(
            table["layer_index"],
            table["alpha"].astype(float),
            marker="o",
            ms=4,
            lw=1.2,
            color=colour,
            label=analysis.name,
        )
    shared = _shared_layer_names(analyses)
    if shared is not None:
        axes.set_xticks(list(shared), [shared[i] for i in shared], rotation=90, fontsize=7)
    axes.set(xlabel="layer (position in the model)", ylabel="alpha")
    axes.set_title("weightwatcher alpha by layer")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return figure


def _shared_layer_names(analyses: Sequence[ModelAnalysis]) -> dict[int, str] | None:
    """Index -> short module name when every model names its layers alike (one architecture)."""
    mappings = [dict(zip(a.layers["layer_index"], a.layers["name"], strict=True)) for a in analyses]
    merged: dict[int, str] = {}
    for mapping in mappings:
        for index, name in mapping.items():
            if merged.setdefault(int(index), name) != name:
                return None
    return {index: _short_layer(name) for index, name in sorted(merged.items())}


def _short_layer(name: str) -> str:
    """``distilbert.transformer.layer.0.attention.q_lin`` -> ``0.attention.q_lin``."""
    parts = name.split(".")
    for position, part in enumerate(parts):
        if part.isdigit():
            return ".".join(parts[position:])
    return parts[-1]


def reading(analysis: ModelAnalysis, analyses: Sequence[ModelAnalysis]) -> list[str]:
    """Plain-language sentences about one model's alpha values."""
    summary = analysis.summary
    total, inside = summary["analysed"], summary["alpha_in_band"]
    high, low = summary["alpha_above_6"], summary["alpha_below_2"]
    lead = (
        f"Most layers ({inside} of {total})"
        if inside * 2 > total
        else f"Only {inside} of {total} layers"
    )
    sentences = [
        f"{lead} have alpha in the 2-6 band, which the weightwatcher authors associate with "
        "well-trained layers."
    ]
    if high:
        sentences.append(
            f"{_layers(high)} alpha above 6, which suggests under-trained layers: their weights "
            "still look close to random (more epochs or more data may help)."
        )
    if low:
        sentences.append(
            f"{_layers(low)} alpha below 2, which suggests over-fitted / over-trained layers."
        )
    mean = summary["alpha_mean"]
    text = f"Mean alpha is {mean:.2f}"
    if len(analyses) > 1:
        means = sorted(a.summary["alpha_mean"] for a in analyses)
        if mean == means[0]:
            text += f", the lowest of the {len(analyses)} models"
        elif mean == means[-1]:
            text += f", the highest of the {len(analyses)} models"
    sentences.append(
        text + "; within one architecture, a lower mean alpha inside the band has tracked "
        "better test accuracy in the weightwatcher studies."
    )
    if summary["failed"]:
        sentences.append(f"{_layers(summary['failed'], 'could')} not be analysed (listed below).")
    if summary["smallest_spectrum"] < SMALL_SPECTRUM:
        sentences.append(
            f"Its smallest analysed matrices have only {summary['smallest_spectrum']} "
            "eigenvalues: power-law fits on so few are noisy, so read single layers with care "
            "and compare models of the same size."
        )
    return sentences


def _layers(count: int, verb: str = "have") -> str:
    """``1 layer has`` / ``3 layers have`` (``could`` stays ``could``)."""
    if count == 1:
        return f"1 layer {'has' if verb == 'have' else verb}"
    return f"{count} layers {verb}"


SIDE_BY_SIDE = (
    ("architecture", "architecture"),
    ("preset", "preset"),
    ("parameters", "parameters"),
    ("layers analysed", "analysed"),
    ("layers failed", "failed"),
    ("layers skipped", "skipped"),
    ("mean alpha", "alpha_mean"),
    ("median alpha", "alpha_median"),
    ("mean alpha_weighted", "alpha_weighted_mean"),
    ("mean log_norm", "log_norm_mean"),
    ("mean log_spectral_norm", "log_spectral_norm_mean"),
    ("mean stable_rank", "stable_rank_mean"),
    ("layers with 2 ≤ alpha ≤ 6", "alpha_in_band"),
    ("share with 2 ≤ alpha ≤ 6", "alpha_in_band_share"),
    ("layers with alpha < 2", "alpha_below_2"),
    ("layers with alpha > 6", "alpha_above_6"),
)
INTRODUCTION = (
    "weightwatcher fits a power law to the tail of each weight matrix's eigenvalue spectrum "
    "(the eigenvalues of W^T W); its exponent alpha needs no data. The weightwatcher authors "
    "associate 2 ≤ alpha ≤ 6 with well-trained layers (best layers of the best models come "
    "close to 2; a narrow band of about 2-5 across layers tends to mean a well-trained "
    "model), alpha > 6 with under-trained layers and alpha < 2 with over-fitted / "
    "over-trained ones. These are heuristics from studies of large vision and language "
    "models (sources below), not guarantees: use them to compare models of one architecture, "
    "next to their test metrics."
)


def _side_by_side(analyses: Sequence[ModelAnalysis]) -> tuple[list[str], list[list[str]]]:
    header = ["", *(a.name for a in analyses)]
    rows = [
        [label, *(_cell(key, a.summary.get(key)) for a in analyses)] for label, key in SIDE_BY_SIDE
    ]
    return header, rows


def _cell(key: str, value: Any) -> str:
    if key == "alpha_in_band_share" and value is not None:
        return f"{100 * value:.0f}%"
    if key == "parameters" and value is not None:
        return f"{value:,}"
    return number(value)


def _problem_rows(analyses: Sequence[ModelAnalysis]) -> list[list[str]]:
    return [
        [a.name, kind, problem.name, problem.reason]
        for a in analyses
        for kind, problems in (("failed", a.failures), ("skipped", a.skipped))
        for problem in problems
    ]


def _layer_rows(analyses: Sequence[ModelAnalysis]) -> tuple[list[str], list[list[str]]]:
    header = ["model", "layer", "name", "shape", "alpha", "alpha_weighted", "stable_rank"]
    header.append("reading")
    rows = [
        [
            row["model"],
            str(row["layer_index"]),
            row["name"],
            row["shape"] or "-",
            number(row["alpha"], 2),
            number(row["alpha_weighted"], 2),
            number(row["stable_rank"], 1),
            row["reading"],
        ]
        for a in analyses
        for row in a.layers.to_dict("records")
    ]
    return header, rows


def markdown_report(analyses: Sequence[ModelAnalysis]) -> str:
    """The comparison as Markdown (plots referenced as the PNG files beside it)."""
    header, rows = _side_by_side(analyses)
    parts = [
        "# weightwatcher comparison\n",
        INTRODUCTION + "\n",
        "## Side by side\n",
        markdown_table(header, rows),
        "## Reading\n",
    ]
    for analysis in analyses:
        parts.append(f"**{analysis.name}**: " + " ".join(reading(analysis, analyses)) + "\n")
    parts += [
        "## Plots\n",
        "![alpha histogram](alpha_histogram.png)\n",
        "![alpha by layer](alpha_by_layer.png)\n",
        "## Layers not analysed\n",
    ]
    problems = _problem_rows(analyses)
    parts.append(
        markdown_table(["model", "kind", "layer", "reason"], problems) if problems else "None.\n"
    )
    layer_header, layer_rows = _layer_rows(analyses)
    parts += ["## Layers\n", markdown_table(layer_header, layer_rows), "## Sources\n"]
    parts += [f"- {reference}" for reference in REFERENCES]
    return "\n".join(parts) + "\n"


def html_report(analyses: Sequence[ModelAnalysis], plots: dict[str, bytes]) -> str:
    """The comparison as one self-contained HTML page (plots embedded as base64 PNG)."""
    header, rows = _side_by_side(analyses)
    names = ", ".join(html.escape(a.name) for a in analyses)
    parts = [
        "<h1>weightwatcher comparison</h1>",
        f"<p>Models: {names}.</p>",
        f"<p>{html.escape(INTRODUCTION)}</p>",
        "<h2>Side by side</h2>",
        html_table(header, rows),
        "<h2>Reading</h2>",
    ]
    for analysis in analyses:
        text = html.escape(" ".join(reading(analysis, analyses)))
        parts.append(f"<p><strong>{html.escape(analysis.name)}</strong>: {text}</p>")
    parts.append("<h2>Plots</h2>")
    for file_name, png in plots.items():
        parts.append(f"<p>{png_image(png, file_name.removesuffix('.png').replace('_', ' '))}</p>")
    parts.append("<h2>Layers not analysed</h2>")
    problems = _problem_rows(analyses)
    parts.append(
        html_table(["model", "kind", "layer", "reason"], problems) if problems else "<p>None.</p>"
    )
    layer_header, layer_rows = _layer_rows(analyses)
    parts += ["<h2>Layers</h2>", html_table(layer_header, layer_rows), "<h2>Sources</h2>", "<ul>"]
    parts += [f"<li>{html.escape(reference)}</li>" for reference in REFERENCES]
    parts.append("</ul>")
    return html_page("weightwatcher comparison", "\n".join(parts))
