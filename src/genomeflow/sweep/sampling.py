"""A sweep spec in Optuna's terms: each wandb distribution drawn through ``trial.suggest_*``,
the method as a sampler and hyperband as a pruner (the local engine's half that knows Optuna's
search API)."""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from genomeflow.sweep.spec import HELPER_SUFFIX, NORMAL_KINDS, SweepSpec

if TYPE_CHECKING:
    import optuna

QUANTILE_EDGE = 1e-6  # normal quantiles are sampled in [edge, 1 - edge]: finite values (+-4.75 sd)


def sample_params(trial: optuna.trial.Trial, spec: SweepSpec) -> dict[str, Any]:
    """Draw one value per parameter through ``trial.suggest_*``; returns transformed values.

    A grid sweep suggests every parameter as a categorical over its grid values (the
    GridSampler hands them out). Otherwise each kind uses the matching Optuna distribution,
    in log space for log kinds, so TPE models what wandb samples.
    """
    params: dict[str, Any] = {}
    for name, parameter in spec.parameters.items():
        kind = parameter.kind
        if kind == "constant":
            params[name] = parameter.value
            continue
        if kind == "categorical" or spec.method == "grid":
            params[name] = trial.suggest_categorical(name, parameter.grid_values())
            continue
        if kind in NORMAL_KINDS:
            # TPE cannot model an unbounded normal: sample its quantile, map it through the CDF
            quantile = trial.suggest_float(name + HELPER_SUFFIX, QUANTILE_EDGE, 1 - QUANTILE_EDGE)
            normal = NormalDist(float(parameter.mu or 0.0), float(parameter.sigma or 1.0))
            drawn = normal.inv_cdf(quantile)
            drawn = math.exp(drawn) if parameter.is_log else drawn
        else:
            low, high = float(parameter.min or 0.0), float(parameter.max or 0.0)
            if kind == "int_uniform":
                params[name] = trial.suggest_int(name, int(low), int(high))
                continue
            if kind == "q_uniform":
                low, high = parameter.quantised_range()
                drawn = trial.suggest_float(name, low, high, step=parameter.q)
            elif kind == "log_uniform":
                # exp(U(min, max)) is log-uniform on [e^min, e^max]: sample that, keep the value
                drawn = trial.suggest_float(name, math.exp(low), math.exp(high), log=True)
            else:  # uniform, log_uniform_values, q_log_uniform_values
                drawn = trial.suggest_float(name, low, high, log=parameter.is_log)
        params[name] = parameter.quantise(drawn) if parameter.q is not None else drawn
    return params


def sampler(spec: SweepSpec, seed: int) -> optuna.samplers.BaseSampler:
    """wandb's method as an Optuna sampler: grid -> GridSampler, bayes -> TPE, random."""
    import optuna

    if spec.method == "grid":
        space = {name: p.grid_values() for name, p in spec.searched.items()}
        return optuna.samplers.GridSampler(space, seed=seed)
    if spec.method == "bayes":
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    """wandb's hyperband early termination as Optuna's HyperbandPruner (else none)."""
    import optuna

    hyperband = spec.early_terminate
    if hyperband is None:
        return optuna.pruners.NopPruner()
    return optuna.pruners.HyperbandPruner(
        min_resource=hyperband.min_resource,
        max_resource=hyperband.max_iter,
        reduction_factor=hyperband.eta,
    )
