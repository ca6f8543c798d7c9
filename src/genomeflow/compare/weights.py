"""Data-free model comparison with weightwatcher: spectral metrics of every weight matrix.

weightwatcher (Martin & Mahoney's heavy-tailed self-regularisation theory) takes each layer's
weight matrix ``W`` (``N x M``, ``N >= M``), computes the ``M`` eigenvalues of ``W^T W`` (its
empirical spectral density, ESD) and fits a power law to their tail. The exponent ``alpha`` of
that fit is the headline number: the weightwatcher authors associate ``2 <= alpha <= 6`` with
well-trained layers, ``alpha > 6`` with under-trained (still nearly random) ones and
``alpha < 2`` with over-fitted / over-trained ones. No data is needed, so models trained on
different datasets or tokenisers can be compared by their weights alone.

:func:`analyse_model` analyses one transformer model (a folder written by ``genomeflow train``
or ``models:/NAME@ALIAS``) layer by layer, so a layer whose fit fails is recorded and left out
rather than ending the analysis; :func:`compare_models` writes a comparison report folder.

Size thresholds (weightwatcher 0.7.7 skips matrices outside them): a layer is analysed when it
has at least :data:`MIN_EVALS` eigenvalues (its smaller dimension). weightwatcher's own
default (8) would fit power laws to 8-19 eigenvalues, where it switches to a "small N" fit; we
ask for 20, which still analyses the 64 x 64 matrices of the ``tiny`` preset (64 eigenvalues)
and leaves out only classifier heads such as a 2 x 64 output layer (2 eigenvalues). The upper
limits stay weightwatcher's (:data:`MAX_EVALS`, :data:`MAX_N`). Skipped layers are listed in
the report with the reason. Eigenvalues come from SciPy's float64 SVD on every machine
(:data:`SVD_METHOD`), so a GPU machine reports the same numbers as a laptop.

A genomeflow CNN (``--architecture cnn``) is analysed through a stand-in: weightwatcher 0.7.7
reads a ``Conv1d`` weight (out x in x kernel) as one matrix whose smaller dimension is the
kernel size, so each ``Conv1d`` becomes a ``Conv2d`` of kernel ``(1, k)`` holding the same
weights, which weightwatcher slices into ``k`` (out x in) matrices, one per kernel tap, and
pools their eigenvalues. A convolution is analysed when one slice has :data:`MIN_EVALS`
eigenvalues (the 4-channel one-hot stem, 4 per slice, is skipped however many taps it has); its
dense head layers are read as in a transformer.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import re
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genomeflow import __version__
from genomeflow.compare.report import (
    colours,
    html_page,
    html_table,
    markdown_table,
    new_figure,
    number,
    png_image,
)
from genomeflow.errors import ConfigError, InputError
from genomeflow.naming import display_names
from genomeflow.storage import read_manifest

log = logging.getLogger(__name__)

CNN_MODEL_TYPE = "genomeflow-cnn"  # genomeflow.models.cnn.CnnConfig.model_type
MIN_EVALS = 20  # fewest eigenvalues for a power-law fit (see the module docstring)
MAX_EVALS = 15_000  # weightwatcher's default: larger spectra are skipped
MAX_N = 50_000  # weightwatcher's default: matrices with a larger dimension are skipped
# weightwatcher.constants OVER_TRAINED_THRESH / UNDER_TRAINED_THRESH (0.7.7): its own
# "over-trained" / "under-trained" layer warnings use exactly these bounds.
ALPHA_LOW, ALPHA_HIGH = 2.0, 6.0
SMALL_SPECTRUM = 100  # fewer eigenvalues than this: fits are noisy, the report says so
# weightwatcher's "fast" SVD runs on the GPU in float32 when CUDA is present (and falls back to
# SciPy on CPU): "accurate" (SciPy, float64) gives the same numbers on every machine.
SVD_METHOD = "accurate"
WW_LOGGER = "weightwatcher"
REGISTRY_SCHEME = "models:/"

LAYER_COLUMNS = (
    "model",
    "layer_index",  # position among the model's weight matrices (lines up across one architecture)
    "layer_id",  # weightwatcher's id of the module
    "name",  # the module's full path (distilbert.transformer.layer.0.attention.q_lin)
    "layer_type",
    "shape",  # the weight tensor's shape as stored (out x in; vocabulary x width)
    "M",  # smaller dimension: the number of eigenvalues
    "N",  # larger dimension
    "num_evals",
    "alpha",  # power-law exponent of the ESD tail
    "alpha_weighted",  # alpha * log10(lambda_max)
    "log_norm",  # log10 of the squared Frobenius norm
    "log_spectral_norm",  # log10 of the largest eigenvalue
    "log_alpha_norm",
    "stable_rank",  # squared Frobenius norm / largest eigenvalue
    "spectral_norm",
    "D",  # Kolmogorov-Smirnov distance of the power-law fit (lower: better fit)
    "sigma",  # standard error of alpha
    "xmin",
    "xmax",
    "num_pl_spikes",  # eigenvalues in the fitted tail
    "reading",  # in band / under-trained (alpha > 6) / over-trained (alpha < 2)
)
SUMMARY_METRICS = (
    "alpha_mean",
    "alpha_median",
    "alpha_weighted_mean",
    "log_norm_mean",
    "log_spectral_norm_mean",
    "stable_rank_mean",
    "alpha_in_band_share",
)
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


@dataclass(frozen=True)
class LayerProblem:
    """A weight matrix that was not analysed: skipped by size, or its analysis failed."""

    layer_index: int
    layer_id: int
    name: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer_index": self.layer_index,
            "layer_id": self.layer_id,
            "name": self.name,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ModelAnalysis:
    """weightwatcher's analysis of one model.

    Attributes:
        name: the model's name in tables and plots.
        location: the folder or ``models:/`` URI it was loaded from.
        layers: a DataFrame, one row per analysed weight matrix, :data:`LAYER_COLUMNS`.
        summary: per-model numbers (counts of layers, means of the layer metrics, the share
            and counts of layers inside/below/above the 2-6 alpha band, architecture, preset).
        failures: matrices whose analysis failed (weightwatcher raised, or gave no alpha).
        skipped: matrices too small (or too large) for a power-law fit, left out by design.
    """

    name: str
    location: str
    layers: Any
    summary: dict[str, Any]
    failures: list[LayerProblem] = field(default_factory=list)
    skipped: list[LayerProblem] = field(default_factory=list)


@dataclass(frozen=True)
class CompareSummary:
    """What :func:`compare_models` wrote."""

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


# --- loading ---------------------------------------------------------------------------------


def _weightwatcher() -> Any:
    """Import weightwatcher without its side effects on logging.

    At import, weightwatcher 0.7.7 calls ``logging.basicConfig(level=INFO)`` (which would set
    up the root logger of a library user) and warns which SVD backend it chose; a NullHandler on
    an unconfigured root logger makes that basicConfig a no-op, and its warnings are silenced.
    """
    if "weightwatcher" in sys.modules:
        return sys.modules["weightwatcher"]
    root = logging.getLogger()
    guard = logging.NullHandler() if not root.handlers else None
    if guard is not None:
        root.addHandler(guard)
    logging.getLogger(WW_LOGGER).setLevel(logging.ERROR)
    try:
        import weightwatcher
    finally:
        if guard is not None:
            root.removeHandler(guard)
    logging.getLogger(WW_LOGGER).setLevel(logging.WARNING)
    return weightwatcher


def model_folder(location: str | Path) -> Path:
    """The local folder of a model: the path itself, or a registered version downloaded."""
    if str(location).startswith(REGISTRY_SCHEME):
        from genomeflow.tracking.registry import download_registered

        return download_registered(str(location))
    return Path(location)


def load_transformer(location: str | Path) -> tuple[Any, dict[str, Any]]:
    """The transformers model saved at ``location`` (eval mode, CPU) and its manifest.

    Args:
        location: a folder written by ``genomeflow train`` (any folder with a transformers
            ``config.json`` and weights works), or ``models:/NAME@ALIAS`` / ``models:/NAME/N``.

    Returns:
        ``(model, manifest)``: the manifest is ``transformer.json`` ({} when absent).

    Raises:
        InputError: no such folder, a classic baseline folder, or weights that do not load.
    """
    from genomeflow.models.baseline import MANIFEST as BASELINE_MANIFEST
    from genomeflow.train.train import MANIFEST

    folder = model_folder(location)
    if not folder.is_dir():
        raise InputError(
            f"{location}: no such model folder; give a folder written by `genomeflow train` or "
            "models:/NAME@ALIAS"
        )
    if (folder / BASELINE_MANIFEST).is_file():
        raise InputError(
            f"{location}: a classic baseline model has no neural-network weight matrices for "
            "weightwatcher; give transformer folders written by `genomeflow train`"
        )
    if not (folder / "config.json").is_file():
        raise InputError(
            f"{location}: not a transformer model folder (no config.json); give a folder "
            "written by `genomeflow train`"
        )
    manifest = (
        read_manifest(
            folder,
            MANIFEST,
            "genomeflow transformer model",
            "give an intact folder written by `genomeflow train`",
        )
        if (folder / MANIFEST).is_file()
        else {}
    )
    import transformers
    from safetensors import SafetensorError

    import genomeflow.models.cnn  # noqa: F401  (registers genomeflow-cnn with the Auto classes)

    try:
        model = transformers.AutoModelForSequenceClassification.from_pretrained(folder)
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as error:
        raise InputError(
            f"{location}: the transformer weights could not be loaded ({_first_line(error)}); "
            "give an intact folder written by `genomeflow train`"
        ) from error
    return model.to("cpu").eval(), manifest


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:300]


# --- analysis --------------------------------------------------------------------------------


class _Collect(logging.Handler):
    """Keeps weightwatcher's warnings: they explain a failed fit."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _quiet_weightwatcher() -> Iterator[_Collect]:
    """Collect weightwatcher's log warnings and prints (it prints "SMALL N PL FIT") instead of
    letting them reach the console (prints go to this module's debug log)."""
    logger = logging.getLogger(WW_LOGGER)
    handler, propagate = _Collect(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), warnings.catch_warnings():
            # numpy's divide-by-zero on degenerate matrices (their failure is reported), and
            # pandas' deprecation of DataFrame.from_records(dict) that weightwatcher 0.7.7 uses
            warnings.filterwarnings("ignore", module=r"weightwatcher\.")
            yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
        for line in printed.getvalue().splitlines():
            log.debug("weightwatcher printed: %s", line)


def _weightwatcher_view(model: Any) -> Any:
    """The model as weightwatcher should read it: a genomeflow CNN's ``Conv1d`` layers as
    ``Conv2d`` layers of kernel ``(1, k)`` with the same weights and names (see the module
    docstring); any other model as it is."""
    if getattr(model.config, "model_type", None) != CNN_MODEL_TYPE:
        return model
    import copy

    import torch
    from torch import nn

    view = copy.deepcopy(model)
    for name, module in list(view.named_modules()):
        if isinstance(module, nn.Conv1d):
            conv = nn.Conv2d(
                module.in_channels,
                module.out_channels,
                (1, module.kernel_size[0]),
                bias=module.bias is not None,
            )
            with torch.no_grad():
                conv.weight.copy_(module.weight[:, :, None, :])
                if module.bias is not None:
                    conv.bias.copy_(module.bias)
            view.set_submodule(name, conv)
    return view


def _size_problem(row: Any) -> str | None:
    """Why a described matrix is too small or too large to fit, or None. A convolution's
    slices (``rf`` of them, pooled) must each have :data:`MIN_EVALS` eigenvalues."""
    evals, larger = int(row["num_evals"]), int(row["N"])
    slices, smaller = int(_float(row.get("rf")) or 1), int(row["M"])
    if slices > 1 and smaller < MIN_EVALS:
        return (
            f"{slices} kernel slices of {smaller} eigenvalue(s) each (its smaller dimension); a "
            f"power-law fit needs at least {MIN_EVALS} per slice"
        )
    if evals < MIN_EVALS:
        return (
            f"only {evals} eigenvalue(s) (its smaller dimension); a power-law fit needs at "
            f"least {MIN_EVALS}"
        )
    if evals > MAX_EVALS:
        return f"{evals} eigenvalues, above weightwatcher's limit of {MAX_EVALS}"
    if larger > MAX_N:
        return f"dimension {larger}, above weightwatcher's limit of {MAX_N}"
    return None


def _fit_problem(row: Any, messages: Sequence[str]) -> str | None:
    """Why weightwatcher's row for a layer is not a usable fit, or None.

    weightwatcher marks a failed power-law fit with ``status`` "failed" and ``alpha`` -1 (and
    then labels the layer "over-trained", which it is not); NaN metrics mean the same.
    """
    alpha = _float(row.get("alpha"))
    needed = [_float(row.get(name)) for name in ("alpha", "log_norm", "stable_rank")]
    if (
        str(row.get("status", "success")) == "success"
        and alpha is not None
        and alpha > 0
        and all(value is not None for value in needed)
    ):
        return None
    if _float(row.get("norm")) == 0 or _float(row.get("lambda_max")) == 0:
        cause = "the weight matrix is all zeros (a pruned or dead layer)"
    elif _float(row.get("matrix_rank")) is not None and _float(row.get("matrix_rank")) <= 1:
        cause = "the weight matrix has rank 1 (every row alike)"
    else:
        cause = f"weightwatcher gave alpha={number(alpha)} (status {row.get('status')})"
    said = "; ".join(dict.fromkeys(message.strip() for message in messages if message.strip()))
    return f"power-law fit failed: {cause}" + (f" ({said[:300]})" if said else "")


def _float(value: Any) -> float | None:
    """A finite float, or None for missing/NaN/inf values."""
    try:
        number_ = float(value)
    except (TypeError, ValueError):
        return None
    return number_ if math.isfinite(number_) else None


def _reading(alpha: float) -> str:
    if alpha < ALPHA_LOW:
        return f"over-trained (alpha < {ALPHA_LOW:g})"
    if alpha > ALPHA_HIGH:
        return f"under-trained (alpha > {ALPHA_HIGH:g})"
    return "in band"


def _shape(model: Any, name: str) -> str | None:
    try:
        weight = model.get_submodule(name).weight
    except AttributeError:
        return None
    return "x".join(str(size) for size in weight.shape)


def _default_name(location: str | Path) -> str:
    text = str(location)
    if text.startswith(REGISTRY_SCHEME):
        return text[len(REGISTRY_SCHEME) :].strip("/").replace("/", "@v", 1)
    return Path(text).resolve().name or text


def analyse_model(location: str | Path, name: str | None = None) -> ModelAnalysis:
    """Run weightwatcher on every weight matrix of one transformer model, one layer at a time.

    Args:
        location: a model folder written by ``genomeflow train``, or ``models:/NAME@ALIAS``.
        name: the model's name in tables and plots (default: the folder name).

    Returns:
        The per-layer table, the model's summary, and the layers skipped or failed.

    Raises:
        InputError: the model does not load, weightwatcher cannot read it, or no layer at
            all could be analysed (the message names the model).
    """
    import pandas as pd

    name = name or _default_name(location)
    model, manifest = load_transformer(location)
    ww = _weightwatcher()
    watcher = ww.WeightWatcher(model=_weightwatcher_view(model))
    with _quiet_weightwatcher():
        try:
            described = watcher.describe(min_evals=0, max_evals=0, max_N=sys.maxsize)
        except Exception as error:  # weightwatcher cannot read this model at all
            raise InputError(
                f"{name} ({location}): weightwatcher could not read the model's layers "
                f"({type(error).__name__}: {_first_line(error)}); give a transformer folder "
                "written by `genomeflow train`"
            ) from error
    if described is None or len(described) == 0:
        raise InputError(
            f"{name} ({location}): weightwatcher found no weight matrices (dense, embedding "
            "or convolution layers) in the model; give a transformer folder written by "
            "`genomeflow train`"
        )
    rows, failures, skipped = [], [], []
    for index, layer in enumerate(described.to_dict("records")):
        layer_id, layer_name = int(layer["layer_id"]), str(layer.get("longname") or layer["name"])
        problem = _size_problem(layer)
        if problem is not None:
            skipped.append(LayerProblem(index, layer_id, layer_name, problem))
            continue
        with _quiet_weightwatcher() as heard:
            try:
                result = watcher.analyze(
                    layers=[layer_id],
                    min_evals=MIN_EVALS,
                    max_evals=MAX_EVALS,
                    max_N=MAX_N,
                    vectors=False,  # eigenvector localisation metrics: not reported, slow
                    plot=False,
                    svd_method=SVD_METHOD,
                )
                fitted = result.to_dict("records")[0] if len(result) else None
            except Exception as error:  # one layer's fit must not end the model's analysis
                reason = f"weightwatcher raised {type(error).__name__}: {_first_line(error)}"
                fitted = None
            else:
                reason = (
                    "weightwatcher returned no row for it"
                    if fitted is None
                    else _fit_problem(fitted, heard.messages)
                )
        if reason is not None:
            log.warning("%s: layer %s not analysed: %s", name, layer_name, reason)
            failures.append(LayerProblem(index, layer_id, layer_name, reason))
            continue
        assert fitted is not None
        row = {column: fitted.get(column) for column in LAYER_COLUMNS}
        row |= {
            "model": name,
            "layer_index": index,
            "layer_id": layer_id,
            "name": layer_name,
            "layer_type": str(fitted.get("layer_type", "")).removeprefix("LAYER_TYPE."),
            "shape": _shape(model, layer_name),
            "reading": _reading(float(fitted["alpha"])),
        }
        rows.append(row)
    if not rows:
        reasons = "; ".join(f"{p.name}: {p.reason}" for p in (failures + skipped)[:3])
        raise InputError(
            f"{name} ({location}): weightwatcher could analyse none of its {len(described)} "
            f"weight matrices ({reasons}); check that the folder holds a trained model"
        )
    layers = pd.DataFrame(rows, columns=list(LAYER_COLUMNS))
    summary = _summary(name, str(location), layers, manifest, model, failures, skipped)
    return ModelAnalysis(name, str(location), layers, summary, failures, skipped)


def _summary(
    name: str,
    location: str,
    layers: Any,
    manifest: dict[str, Any],
    model: Any,
    failures: list[LayerProblem],
    skipped: list[LayerProblem],
) -> dict[str, Any]:
    """The model's row of summary.tsv."""
    alpha = layers["alpha"].astype(float)
    described = manifest.get("model", {})
    in_band = int(alpha.between(ALPHA_LOW, ALPHA_HIGH).sum())
    return {
        "model": name,
        "location": location,
        "architecture": described.get("architecture") or model.config.model_type,
        "preset": described.get("preset"),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "layers": len(layers) + len(failures) + len(skipped),
        "analysed": len(layers),
        "failed": len(failures),
        "skipped": len(skipped),
        "alpha_mean": float(alpha.mean()),
        "alpha_median": float(alpha.median()),
        "alpha_weighted_mean": float(layers["alpha_weighted"].astype(float).mean()),
        "log_norm_mean": float(layers["log_norm"].astype(float).mean()),
        "log_spectral_norm_mean": float(layers["log_spectral_norm"].astype(float).mean()),
        "stable_rank_mean": float(layers["stable_rank"].astype(float).mean()),
        "alpha_in_band": in_band,
        "alpha_in_band_share": in_band / len(layers),
        "alpha_below_2": int((alpha < ALPHA_LOW).sum()),
        "alpha_above_6": int((alpha > ALPHA_HIGH).sum()),
        "smallest_spectrum": int(layers["num_evals"].astype(int).min()),
    }


# --- the comparison report -------------------------------------------------------------------


def _names(locations: Sequence[str], names: Sequence[str] | None) -> list[str]:
    """Unique model names: given, or the folder names (``#1``, ``#2`` added to repeats)."""
    return display_names(
        [_default_name(location) for location in locations], names, "model", "models"
    )


def compare_models(
    locations: Sequence[str], output: str | Path, names: Sequence[str] | None = None
) -> CompareSummary:
    """Analyse models with weightwatcher and write a comparison report folder.

    ``output`` receives (atomically: all or nothing): ``layers.tsv`` (every analysed layer of
    every model, a ``model`` column first), ``summary.tsv`` (one row per model),
    ``alpha_histogram.png`` (alpha histograms overlaid), ``alpha_by_layer.png`` (alpha per
    layer index, one line per model, the 2-6 band shaded), ``report.md`` and a self-contained
    ``report.html`` (tables, plots embedded, a plain-language reading per model, layers that
    failed or were skipped), and ``compare.json`` (provenance and settings).

    Args:
        locations: model folders written by ``genomeflow train`` or ``models:/`` URIs.
        output: the report folder (replaced if it exists).
        names: a name per model for tables and plots (default: the folder names).

    Raises:
        InputError: a model does not load or cannot be analysed at all.
        ConfigError: no model, or names that do not fit the models.
    """
    import pandas as pd

    from genomeflow.evaluate import figure_png
    from genomeflow.storage import atomic_directory, write_json

    if isinstance(locations, (str, Path)):
        locations = [str(locations)]  # a lone path is one model, not a sequence of characters
    if not locations:
        raise ConfigError("give at least one model folder (or models:/NAME@ALIAS) to analyse")
    chosen = _names([str(location) for location in locations], names)
    analyses = [
        analyse_model(location, name) for location, name in zip(locations, chosen, strict=True)
    ]
    layers = pd.concat([a.layers for a in analyses], ignore_index=True)
    summary = pd.DataFrame([a.summary for a in analyses])
    ww = _weightwatcher()
    plots = {
        "alpha_histogram.png": figure_png(alpha_histogram(analyses)),
        "alpha_by_layer.png": figure_png(alpha_by_layer(analyses)),
    }
    with atomic_directory(output) as folder:
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
    return CompareSummary(str(output), chosen, analyses, files)


def alpha_histogram(analyses: Sequence[ModelAnalysis]) -> Any:
    """Histograms of the layers' alpha, one per model overlaid, the 2-6 band shaded."""
    import numpy as np
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
    import html

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
