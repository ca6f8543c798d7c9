"""``genomeflow compare``: weightwatcher analysis of models and their comparison report folder.

:func:`compare_models` takes a :class:`~genomeflow.config.CompareConfig`, analyses each model
(:mod:`genomeflow.compare.analysis`), writes the tables, plots and reports
(:mod:`genomeflow.compare.weights_report`) and returns a :class:`CompareSummary`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from genomeflow import __version__
from genomeflow.compare.analysis import (
    ALPHA_HIGH,
    ALPHA_LOW,
    MAX_EVALS,
    MAX_N,
    MIN_EVALS,
    SUMMARY_METRICS,
    SVD_METHOD,
    ModelAnalysis,
    analyse_model,
)
from genomeflow.compare.layers import default_name, import_weightwatcher
from genomeflow.compare.weights_report import (
    alpha_by_layer,
    alpha_histogram,
    html_report,
    markdown_report,
)
from genomeflow.config import CompareConfig
from genomeflow.naming import display_names
from genomeflow.report.plots import figure_png
from genomeflow.storage import atomic_directory, write_json


@dataclass(frozen=True)
class CompareSummary:
    """What :func:`compare_models` wrote.

    Attributes:
        output: the report folder.
        names: the models' names in tables and plots, in the order given.
        analyses: each model's analysis.
        files: the files written.
    """

    output: str
    names: list[str]
    analyses: list[ModelAnalysis]
    files: list[str]

    def metrics(self) -> dict[str, float]:
        """Per-model headline numbers with MLflow-safe names (``<model>.alpha_mean``...)."""
        metrics: dict[str, float] = {
            "models": len(self.analyses),
            "layers_failed": sum(len(a.failures) for a in self.analyses),
        }
        for analysis in self.analyses:
            key = re.sub(r"[^\w\-./: ]", "_", analysis.name)
            for name in SUMMARY_METRICS:
                value = analysis.summary.get(name)
                if value is not None and math.isfinite(value):
                    metrics[f"{key}.{name}"] = float(value)
        return metrics


def model_names(locations: Sequence[str], names: Sequence[str] | None) -> list[str]:
    """Unique model names: given, or the folder names (``#1``, ``#2`` added to repeats)."""
    return display_names(
        [default_name(location) for location in locations], names, "model", "models"
    )


def compare_models(config: CompareConfig) -> CompareSummary:
    """Analyse ``config.models`` with weightwatcher and write a comparison report folder.

    ``config.output`` receives (atomically: all or nothing): ``layers.tsv`` (every analysed
    layer of every model, a ``model`` column first), ``summary.tsv`` (one row per model),
    ``alpha_histogram.png`` (alpha histograms overlaid), ``alpha_by_layer.png`` (alpha per
    layer index, one line per model, the 2-6 band shaded), ``report.md`` and a self-contained
    ``report.html`` (tables, plots embedded, a plain-language reading per model, layers that
    failed or were skipped), and ``compare.json`` (provenance and settings).

    ``config.models`` are model folders written by ``genomeflow train`` or ``models:/`` URIs;
    ``config.names`` a name per model for tables and plots (default: the folder names).

    Raises:
        InputError: a model does not load or cannot be analysed at all.
        ConfigError: names that do not fit the models.
    """
    import pandas as pd  # pandas loads when the stage runs (start-up time)

    locations = [str(location) for location in config.models]
    chosen = model_names(locations, config.names)
    analyses = [
        analyse_model(location, name) for location, name in zip(locations, chosen, strict=True)
    ]
    layers = pd.concat([a.layers for a in analyses], ignore_index=True)
    summary = pd.DataFrame([a.summary for a in analyses])
    ww = import_weightwatcher()
    plots = {
        "alpha_histogram.png": figure_png(alpha_histogram(analyses)),
        "alpha_by_layer.png": figure_png(alpha_by_layer(analyses)),
    }
    with atomic_directory(config.output) as folder:
        layers.to_csv(folder / "layers.tsv", sep="\t", index=False, float_format="%.6g")
        summary.to_csv(folder / "summary.tsv", sep="\t", index=False, float_format="%.6g")
        for file_name, png in plots.items():
            (folder / file_name).write_bytes(png)
        (folder / "report.md").write_text(markdown_report(analyses), encoding="utf-8")
        (folder / "report.html").write_text(html_report(analyses, plots), encoding="utf-8")
        write_json(
            folder / "compare.json",
            {
                "stage": "compare",
                "genomeflow_version": __version__,
                "weightwatcher_version": ww.__version__,
                "settings": {
                    "svd_method": SVD_METHOD,
                    "min_evals": MIN_EVALS,
                    "max_evals": MAX_EVALS,
                    "max_N": MAX_N,
                    "alpha_band": [ALPHA_LOW, ALPHA_HIGH],
                },
                "models": [
                    {
                        "name": a.name,
                        "location": a.location,
                        "failures": [p.to_dict() for p in a.failures],
                        "skipped": [p.to_dict() for p in a.skipped],
                    }
                    for a in analyses
                ],
            },
        )
        files = sorted(path.name for path in folder.iterdir())
    return CompareSummary(str(config.output), chosen, analyses, files)
