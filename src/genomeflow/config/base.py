"""The machinery every stage config shares: fields with CLI metadata, loading from
YAML/JSON/mappings, type checks from the type hints, s3:// staging."""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import numbers
import os
import re
import types
import typing
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from genomeflow.errors import ConfigError
from genomeflow.sequence.alphabet import Alphabet

C = TypeVar("C", bound="StageConfig")


def option(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    positional: bool = False,
    short: str | None = None,
    shown: str | None = None,
    role: Literal["input", "output"] | None = None,
) -> Any:
    """A config field with its help text.

    Args:
        default: the default value; none makes the setting required.
        help: what the setting does, with its unit.
        positional: a positional CLI argument rather than a flag.
        short: a one-letter CLI flag besides the long one (e.g. ``-o``).
        shown: how to show the default in help, when the value itself would mislead.
        role: ``input`` or ``output`` for a path that may also be an ``s3://`` URI.
    """
    metadata = {
        "help": help,
        "positional": positional,
        "short": short,
        "shown": shown,
        "role": role,
    }
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def alphabet_option() -> Any:
    """The ``alphabet`` setting every stage that reads sequences has."""
    return option(
        None,
        help="dna, rna or protein; or text: a human-language corpus (tables with --text-column "
        "and --label-column, or one plain-text file per class, one document per line)",
        shown="detect dna/rna/protein; text is declared, never detected",
    )


def text_column_option() -> Any:
    """The column of a text corpus table that holds the documents."""
    return option(
        None,
        help="a text corpus table's (CSV/TSV/JSONL/Parquet) column of documents; implies "
        "--alphabet text",
        shown="text, when the alphabet is text",
    )


def label_column_option() -> Any:
    """The column of a text corpus table that holds the labels."""
    return option(
        None,
        help="a text corpus table's column of labels",
        shown="label, when the alphabet is text",
    )


def duplicate_ids_option() -> Any:
    """The ``allow_duplicate_ids`` setting every stage that reads sequences has."""
    return option(False, help="accept input records that repeat an id")


class StageConfig:
    """Loading and export shared by every stage configuration dataclass."""

    @classmethod
    def from_mapping(cls: type[C], values: Mapping[str, Any], source: str = "settings") -> C:
        """Build the config from a mapping; unknown or missing keys are errors naming ``source``."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(
                f"{source}: unknown setting(s) {', '.join(unknown)}; "
                f"valid settings: {', '.join(sorted(names))}"
            )
        missing = [
            f.name
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
            and f.name not in values
        ]
        if missing:
            raise ConfigError(f"{source}: missing required setting(s) {', '.join(missing)}")
        hints = field_types(cls)
        checked = {}
        for name, value in values.items():
            try:
                checked[name] = typed_value(hints[name], value, name)
            except SettingTypeError as error:
                raise ConfigError(f"{source}: {error}") from None
        return cls(**checked)

    def _check_choices(self) -> None:
        """Refuse a ``Literal`` field holding none of its choices: what :meth:`from_mapping`
        checks, for configs built directly or by ``dataclasses.replace`` (hyperparameter files)."""
        for name, annotation in field_types(type(self)).items():
            if typing.get_origin(annotation) is Literal:
                try:
                    typed_value(annotation, getattr(self, name), name)
                except SettingTypeError as error:
                    raise ConfigError(str(error)) from None

    @classmethod
    def from_file(cls: type[C], path: str | Path, overrides: Mapping[str, Any] = ()) -> C:
        """Load the config from a YAML or JSON file; ``overrides`` win over the file."""
        return cls.from_mapping({**read_settings_file(path), **dict(overrides)}, str(path))

    @contextmanager
    def localised(self: C) -> Iterator[C]:
        """A copy whose ``s3://`` inputs are local downloads and outputs local folders/files
        that are uploaded when the block succeeds (genomeflow.storage)."""
        from genomeflow import storage

        with ExitStack() as stack:
            changes: dict[str, Any] = {}
            for item in dataclasses.fields(self):  # type: ignore[arg-type]
                role, value = item.metadata.get("role"), getattr(self, item.name)
                if role is None or value is None:
                    continue
                opener = storage.local_copy if role == "input" else storage.publish
                values = value if isinstance(value, list) else [value]
                local = [str(stack.enter_context(opener(v))) for v in values]
                changes[item.name] = local if isinstance(value, list) else local[0]
            yield dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (enums as their values)."""
        return {
            name: value.value if isinstance(value, enum.Enum) else value
            for name, value in dataclasses.asdict(self).items()  # type: ignore[call-overload]
        }


class SettingTypeError(ValueError):
    """A setting's value does not fit its field's type (the message names key, value, types)."""


@functools.cache
def field_types(config_class: type) -> dict[str, Any]:
    """Field name -> its resolved type hint (the module's annotations are strings)."""
    hints = typing.get_type_hints(config_class)
    return {item.name: hints[item.name] for item in dataclasses.fields(config_class)}


_PLURALS = {int: "integers", float: "numbers", str: "strings", bool: "true/false values"}


def _shown(value: Any) -> str:
    """A value as a settings file spells it: ``null``, ``true``, ``'4'``, ``4.7``."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    """What a value is, with its article: ``a str``, ``an int``, ``a mapping``."""
    if value is None:
        return "null"
    name = "mapping" if isinstance(value, Mapping) else type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _choices(annotation: Any) -> list[Any] | None:
    """The allowed values of a ``Literal`` or an enum (its values); None for other types."""
    if typing.get_origin(annotation) is Literal:
        return list(typing.get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [member.value for member in annotation]
    return None


def _expected(annotation: Any) -> str:
    """A type as the error message names it: ``an integer``, ``a list of numbers``."""
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    choices = _choices(annotation)
    if choices is not None:
        return "one of " + ", ".join(map(str, choices))
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _expected(a) for a in arguments)
    if origin in (list, tuple) or annotation in (list, tuple):
        item = arguments[0] if arguments else Any
        return f"a list of {_PLURALS.get(item, 'values')}"
    if origin is dict or annotation is dict:
        return "a mapping"
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def typed_value(annotation: Any, value: Any, key: str) -> Any:
    """``value`` checked against a config field's type hint and given that type.

    An int field takes an int or a whole float (``4.0`` -> ``4``: KFP passes every number in
    ``settings`` as a float); a float field an int or a float; neither takes a bool, nor a str
    field anything but a str (or a path). ``Literal`` and enum fields take one of their values
    (an enum's case-insensitively, as the member); a list field takes a list, or a lone item as a
    one-item list (as its CLI flag does), each item checked; a mapping field a mapping.

    Raises:
        SettingTypeError: naming ``key``, the value, its type and the expected type.
    """
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    refused = SettingTypeError(
        f"{key} is null, expected {_expected(annotation)}"
        if value is None
        else f"{key} = {_shown(value)} is {_kind(value)}, expected {_expected(annotation)}"
    )
    choices = _choices(annotation)
    if annotation is Any:
        return value
    if choices is not None:
        if isinstance(annotation, type) and isinstance(value, annotation):
            return value
        for choice in choices:  # by type too: True == 1, but true is not the choice 1
            spelled = value.strip().lower() if isinstance(value, str) and origin is None else value
            if type(choice) is type(value) and choice == spelled:
                return choice if origin is Literal else annotation(choice)
        raise SettingTypeError(
            f"unknown {key} {_shown(value)} ({_kind(value)}), expected {_expected(annotation)}"
        )
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in arguments:
            return None
        options = [a for a in arguments if a is not type(None)]
        if len(options) == 1:  # X | None: X's own message (a list's item by item)
            return typed_value(options[0], value, key)
        for option in options:
            try:
                return typed_value(option, value, key)
            except SettingTypeError:
                continue
        raise refused
    if value is None:
        raise refused
    if annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif annotation is float:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
    elif annotation is str:
        if isinstance(value, (str, os.PathLike)):
            return os.fspath(value)
    elif origin in (list, tuple) or annotation in (list, tuple):
        if isinstance(value, Mapping):
            raise refused
        if not isinstance(value, (list, tuple)):
            return [typed_value(arguments[0] if arguments else Any, value, key)]
        if origin is tuple and arguments and arguments[-1] is not Ellipsis:
            if len(value) != len(arguments):
                raise refused
            return tuple(
                typed_value(a, v, f"{key}[{i}]")
                for i, (a, v) in enumerate(zip(arguments, value, strict=True))
            )
        item = arguments[0] if arguments else Any
        items = [typed_value(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or annotation is tuple else items
    elif origin is dict or annotation is dict:
        if isinstance(value, Mapping):
            keys, values = arguments or (Any, Any)
            return {
                typed_value(keys, k, f"{key} key"): typed_value(values, v, f"{key}[{k!r}]")
                for k, v in value.items()
            }
    elif isinstance(annotation, type):
        if isinstance(value, annotation):
            return value
    else:
        return value  # a typing construct this project does not use: left to __post_init__
    raise refused


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader reading ``1e-5`` as a float (YAML 1.2, JSON), not as a string."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def load_document(text: str, source: str = "sweep") -> Any:
    """Parse a JSON or YAML document.

    ``yaml.safe_load`` alone reads JSON's ``1e-5`` as the string ``"1e-5"`` (YAML 1.1 floats
    need a dot), so a ``.json`` source goes through :mod:`json` and anything else through a YAML
    loader that knows exponents (and reads JSON too).

    Raises:
        ConfigError: the syntax error with its line number.
    """
    if source.lower().endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(
                f"{source}: not valid JSON at line {error.lineno} ({error.msg}); fix the syntax"
            ) from error
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: builds plain data only
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(error, "problem", None)
        detail = f" ({problem})" if problem else ""
        raise ConfigError(f"{source}: not valid YAML{line}{detail}; fix the syntax") from error


def read_settings_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON mapping of settings."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such settings file; check the path")
    values = load_document(path.read_text(encoding="utf-8"), str(path))
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(
            f"{path}: must hold a mapping of setting: value, not {type(values).__name__}"
        )
    return values


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _alphabet_or_none(value: Alphabet | str | None) -> Alphabet | None:
    return None if value in (None, "", "auto") else Alphabet.parse(value)


def _sequences_only(config: Any, what: str) -> None:
    """Refuse ``--alphabet text`` for a stage that reads sequences only."""
    _require(
        config.alphabet is not Alphabet.TEXT,
        f"{what} reads FASTA/FASTQ sequences; a text corpus goes to tokenise, dataset and pretrain",
    )


def _text_columns(config: Any) -> None:
    """Resolve ``alphabet``, ``text_column`` and ``label_column`` together: a text column
    declares text; text takes the columns ``text`` and ``label`` unless named."""
    config.alphabet = _alphabet_or_none(config.alphabet)
    named = config.text_column is not None or getattr(config, "label_column", None) is not None
    if named and config.alphabet is None:
        config.alphabet = Alphabet.TEXT
    _require(
        not named or config.alphabet is Alphabet.TEXT,
        f"--text-column/--label-column name a text corpus's columns, but --alphabet is "
        f"{getattr(config.alphabet, 'value', None)}; drop one of them",
    )
    if config.alphabet is Alphabet.TEXT:
        config.text_column = config.text_column or "text"
        if hasattr(config, "label_column"):
            config.label_column = config.label_column or "label"


ControlMethod = Literal["shuffle", "markov", "bootstrap"]


def parse_assignments(items: list[str], what: str) -> dict[str, Any]:
    """``name=value`` items -> a mapping, values read as YAML (``300`` int, ``0.1`` float)."""
    parsed = {}
    for item in items:
        name, equals, text = item.partition("=")
        _require(
            bool(equals and name.strip()), f"{what}: {item!r} is not name=value (e.g. max_depth=8)"
        )
        parsed[name.strip()] = load_document(text, f"{what} {item!r}") if text.strip() else None
    return parsed
