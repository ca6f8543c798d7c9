"""weightwatcher analysis of one model: spectral metrics of every weight matrix, and a summary.

weightwatcher (Martin & Mahoney's heavy-tailed self-regularisation theory) takes each layer's
weight matrix ``W`` (``N x M``, ``N >= M``), computes the ``M`` eigenvalues of ``W^T W`` (its
empirical spectral density, ESD) and fits a power law to their tail. The exponent ``alpha`` of
that fit is the headline number: the weightwatcher authors associate ``2 <= alpha <= 6`` with
well-trained layers, ``alpha > 6`` with under-trained (still nearly random) ones and
``alpha < 2`` with over-fitted / over-trained ones. No data is needed, so models trained on
different datasets or tokenisers can be compared by their weights alone.

:func:`analyse_model` analyses one transformer model (a folder written by ``genomeflow train``
or ``models:/NAME@ALIAS``) layer by layer, so a layer whose fit fails is recorded and left out
rather than ending the analysis. The comparison report is :mod:`genomeflow.compare.weights_report`,
the ``genomeflow compare`` stage :mod:`genomeflow.compare.stage`.

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

import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genomeflow.compare.layers import (
    default_name,
    import_weightwatcher,
    load_transformer,
    quiet_weightwatcher,
    weightwatcher_view,
)
from genomeflow.errors import InputError, first_line
from genomeflow.report.tables import number

log = logging.getLogger(__name__)

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

    name = name or default_name(location)
    model, manifest = load_transformer(location)
    ww = import_weightwatcher()
    watcher = ww.WeightWatcher(model=weightwatcher_view(model))
    with quiet_weightwatcher():
        try:
            described = watcher.describe(min_evals=0, max_evals=0, max_N=sys.maxsize)
        except Exception as error:  # weightwatcher cannot read this model at all
            raise InputError(
                f"{name} ({location}): weightwatcher could not read the model's layers "
                f"({type(error).__name__}: {first_line(error)}); give a transformer folder "
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
        with quiet_weightwatcher() as heard:
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
                reason = f"weightwatcher raised {type(error).__name__}: {first_line(error)}"
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
