"""Command-line arguments generated from a stage config dataclass, and the config built back
from them (dataclass defaults < ``--config`` file < flags given)."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import types
import typing
from typing import Any

from genomeflow.config import StageConfig, read_settings_file


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _unwrap_optional(annotation: Any) -> Any:
    """``X | None`` -> ``X``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def _show(value: Any) -> str:
    """A default as the user would type it: ``0.8 0.1 0.1``, ``dna``, ``none``."""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, list):
        return " ".join(map(str, value))
    return "none" if value is None else str(value)


def add_config_arguments(parser: argparse.ArgumentParser, config_class: type) -> None:
    """Add one argument per field of a config dataclass, help text showing its default.

    Options the user does not give are left out of the namespace (argparse.SUPPRESS), so a
    ``--config`` file can supply them.
    """
    hints = typing.get_type_hints(config_class)
    for item in dataclasses.fields(config_class):
        annotation = _unwrap_optional(hints[item.name])
        required = (
            item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING
        )
        default = (
            item.default_factory()
            if item.default_factory is not dataclasses.MISSING
            else item.default
        )
        text = item.metadata["help"]
        if not required:
            text += f" (default: {item.metadata['shown'] or _show(default)})"
        else:
            text += " (required)"
        kwargs: dict[str, Any] = {"help": text, "default": argparse.SUPPRESS}
        origin = typing.get_origin(annotation)
        if annotation is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif origin is list:
            kwargs["nargs"] = "*" if item.metadata["positional"] else "+"
            kwargs["type"] = typing.get_args(annotation)[0]
        elif origin is typing.Literal:
            kwargs["choices"] = list(typing.get_args(annotation))
        elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            kwargs["choices"] = [member.value for member in annotation]
        else:
            kwargs["type"] = annotation
        if item.metadata["positional"]:
            parser.add_argument(item.name, metavar=item.name.upper(), **kwargs)
        else:
            flags = [item.metadata["short"], _flag(item.name)]
            parser.add_argument(*filter(None, flags), dest=item.name, **kwargs)


def config_from_args(config_class: type[StageConfig], args: argparse.Namespace) -> Any:
    """Merge dataclass defaults < ``--config`` file < flags given, and build the config."""
    names = {item.name for item in dataclasses.fields(config_class)}  # type: ignore[arg-type]
    given = {name: value for name, value in vars(args).items() if name in names}
    if given.get("inputs") == []:  # an empty positional list means "not given"
        given.pop("inputs")
    if args.config:
        return config_class.from_mapping(
            {**read_settings_file(args.config), **given}, source=args.config
        )
    return config_class.from_mapping(given, source="command line")
