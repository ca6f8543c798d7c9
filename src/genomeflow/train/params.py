"""Hyperparameters of the transformer stages: from a file, a previous MLflow run, or name=value
items, checked by name and applied onto the stage config (which validates the values)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from genomeflow.config import (
    HYPERPARAMETERS,
    SettingTypeError,
    TransformerConfig,
    field_types,
    parse_assignments,
    read_settings_file,
    typed_value,
)
from genomeflow.errors import ConfigError
from genomeflow.sweep.hyperparameters import usable_names

T = TypeVar("T", bound=TransformerConfig)


def with_hyperparameters(config: T, values: Mapping[str, Any], source: str) -> T:
    """``config`` with ``values`` applied: each type-checked like a settings file's (a params
    file, an MLflow run or a sweep's best_params.json can hold ``"3"`` or ``16.5``), then
    validated by the config itself."""
    types = field_types(type(config))
    try:
        known = {
            name: typed_value(types[name], values[name], name)
            for name in usable_names(values, source)
        }
    except SettingTypeError as error:
        raise ConfigError(f"{source}: {error}") from error
    try:
        return dataclasses.replace(config, **known)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from error


def resolve_hyperparameters(config: T) -> T:
    """Apply ``params_file``, then ``params_from_run``, then ``params`` (each wins over the last).

    A sweep's ``best_params.json`` (``{"params": {...}, ...}``) is read as its params.
    """
    if config.params_file:
        document = read_settings_file(config.params_file)
        nested = document.get("params")
        config = with_hyperparameters(
            config, nested if isinstance(nested, dict) else document, config.params_file
        )
    if config.params_from_run:
        from genomeflow.tracking import run_hyperparameters

        values = run_hyperparameters(config.params_from_run, HYPERPARAMETERS)
        config = with_hyperparameters(config, values, f"run {config.params_from_run}")
    return with_hyperparameters(config, parse_assignments(config.params, "--params"), "--params")
