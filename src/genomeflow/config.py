"""Stage configurations: one dataclass per stage, loadable from YAML/JSON, validated on creation.

The CLI flags (and later the pipeline component parameters) are generated from these classes, so
a setting has one name, one default and one help text everywhere.
"""

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from genomeflow.errors import ConfigError
from genomeflow.metric_names import canonical_metric, metric_choice
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
        help="dna, rna or protein; detected from the first records when not given",
        shown="detect",
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


ControlMethod = Literal["shuffle", "markov", "bootstrap"]


@dataclass
class SyntheticConfig(StageConfig):
    """Settings of ``genomeflow synthetic``: control sequences made from input sequences."""

    inputs: list[str] = option(
        help="FASTA/FASTQ files (plain or .gz) to make controls from", positional=True, role="input"
    )
    output: str = option(
        help="output FASTA file; gzip-compressed if it ends in .gz", short="-o", role="output"
    )
    method: ControlMethod = option(
        "shuffle",
        help="shuffle: exact k-let shuffle keeping every k-mer count; markov: sample an order-m "
        "Markov chain fitted to each sequence; bootstrap: concatenate randomly placed blocks",
    )
    k: int = option(2, help="k-mer size a shuffle keeps (1 = residue composition only)", short="-k")
    order: int = option(1, help="Markov chain order m (context length) for --method markov")
    block: int = option(10, help="block length in residues for --method bootstrap")
    per_sequence: int = option(1, help="controls made from each input sequence")
    seed: int = option(42, help="random seed; the same seed and inputs give the same controls")
    reverse_complement: bool = option(
        False, help="also write the reverse complement of every control (DNA/RNA only)"
    )
    alphabet: Alphabet | None = alphabet_option()
    allow_duplicate_ids: bool = duplicate_ids_option()

    def __post_init__(self) -> None:
        _require(bool(self.inputs), "give at least one input FASTA/FASTQ file")
        _require(bool(self.output), "give an output file (--output controls.fasta)")
        self._check_choices()
        _require(self.k >= 1, f"--k must be at least 1, got {self.k}")
        _require(self.order >= 0, f"--order must be 0 or more, got {self.order}")
        _require(self.block >= 1, f"--block must be at least 1, got {self.block}")
        _require(
            self.per_sequence >= 1, f"--per-sequence must be at least 1, got {self.per_sequence}"
        )
        self.alphabet = _alphabet_or_none(self.alphabet)


@dataclass
class ValidateConfig(StageConfig):
    """Settings of ``genomeflow validate``: check sequence files and summarise them."""

    inputs: list[str] = option(
        help="FASTA/FASTQ files (plain or .gz) to check", positional=True, role="input"
    )
    alphabet: Alphabet | None = alphabet_option()
    allow_duplicate_ids: bool = duplicate_ids_option()
    json: str | None = option(None, help="also write the summary to this JSON file", role="output")

    def __post_init__(self) -> None:
        _require(bool(self.inputs), "give at least one FASTA/FASTQ file to validate")
        self.alphabet = _alphabet_or_none(self.alphabet)


# benchmarks/results/tokenise_vocabulary.md: 100 kbp segments train; 1 Mbp crashes (SIGSEGV).
MAX_SEGMENT_LENGTH = 100_000

TokeniseMethod = Literal["unigram", "bpe", "char", "kmer"]


@dataclass
class TokeniseConfig(StageConfig):
    """Settings of ``genomeflow tokenise``: learn or build a tokeniser from sequences."""

    inputs: list[str] = option(
        help="FASTA/FASTQ files (plain or .gz): the training corpus", positional=True, role="input"
    )
    output: str = option(
        help="output folder (loadable by transformers.AutoTokenizer)", short="-o", role="output"
    )
    method: TokeniseMethod = option(
        "unigram",
        help="unigram: empirical SentencePiece-style pieces; bpe: byte-pair merges; "
        "char: one token per residue; kmer: fixed k-mers every --stride residues",
    )
    vocab_size: int = option(32000, help="target vocabulary size for unigram/bpe (tokens)")
    max_piece_length: int = option(16, help="longest unigram/bpe piece (residues)")
    min_frequency: int = option(2, help="occurrences a bpe merge needs")
    k: int = option(6, help="k-mer length for --method kmer (residues)", short="-k")
    stride: int = option(1, help="residues between k-mer starts (< k overlaps them)")
    case: Literal["upper", "keep"] = option(
        "upper", help="upper: fold lowercase (soft-masked) residues; keep: lowercase tokens apart"
    )
    segment_length: int = option(
        1000, help="residues per training segment: long records are cut, never one sentence"
    )
    sample_bp: int = option(
        2_000_000,
        help="residue budget of the seeded segment sample a unigram/bpe tokeniser is trained "
        "on (bounds time and memory on genomes); 0 = train on everything",
    )
    seed: int = option(42, help="random seed of the segment sample")
    alphabet: Alphabet | None = alphabet_option()
    allow_duplicate_ids: bool = duplicate_ids_option()
    example: str | None = option(None, help="print how this sequence is segmented")

    def __post_init__(self) -> None:
        _require(bool(self.inputs), "give at least one input FASTA/FASTQ file")
        _require(bool(self.output), "give an output folder (--output tokeniser/)")
        self._check_choices()
        _require(self.vocab_size >= 10, f"--vocab-size must be at least 10, got {self.vocab_size}")
        _require(
            self.max_piece_length >= 1,
            f"--max-piece-length must be at least 1, got {self.max_piece_length}",
        )
        _require(
            self.min_frequency >= 1, f"--min-frequency must be at least 1, got {self.min_frequency}"
        )
        _require(self.k >= 1, f"--k must be at least 1, got {self.k}")
        _require(
            1 <= self.stride <= self.k,
            f"--stride must be between 1 and k={self.k}, got {self.stride}",
        )
        _require(
            not (self.method == "kmer" and self.case == "keep"),
            "--case keep does not apply to k-mers (their vocabulary is upper case); drop it",
        )
        _require(
            self.segment_length <= MAX_SEGMENT_LENGTH,
            f"--segment-length {self.segment_length} is above {MAX_SEGMENT_LENGTH:,}: HF's Unigram "
            "trainer overflows a thread stack on segments near 1 Mbp; use a shorter segment",
        )
        _require(
            self.segment_length >= self.max_piece_length,
            f"--segment-length ({self.segment_length}) must be at least --max-piece-length "
            f"({self.max_piece_length})",
        )
        _require(self.sample_bp >= 0, f"--sample-bp must be 0 or more, got {self.sample_bp}")
        self.alphabet = _alphabet_or_none(self.alphabet)


@dataclass
class DatasetConfig(StageConfig):
    """Settings of ``genomeflow dataset``: labelled, split, tokenised sequences."""

    inputs: list[str] = option(
        help="FASTA/FASTQ files: one per class, or any number with --label-table",
        positional=True,
        role="input",
    )
    tokeniser: str = option(
        help="tokeniser folder written by genomeflow tokenise", short="-t", role="input"
    )
    output: str = option(
        help="output folder (datasets.load_from_disk loads it)", short="-o", role="output"
    )
    labels: list[str] | None = option(
        None, help="class names of the input files, in order", shown="the file names"
    )
    label_table: str | None = option(
        None, help="CSV/TSV file with id and label columns", role="input"
    )
    split: list[float] = option([0.8, 0.1, 0.1], help="train, valid and test shares of sequences")
    chunk_size: int = option(
        0, help="cut sequences into windows of this many residues (0 = keep whole)"
    )
    chunk_overlap: int = option(0, help="residues shared by neighbouring windows")
    min_chunk_length: int = option(
        0,
        help="shortest last window kept as is; a shorter tail is covered by moving the last "
        "window back (0 = half a window)",
    )
    max_length: int = option(
        512, help="tokens per row with CLS/SEP; longer rows are truncated and counted"
    )
    reverse_complement: bool | None = option(
        None,
        help="add reverse complements to the train split only",
        shown="on for DNA/RNA, off for protein",
    )
    seed: int = option(42, help="random seed of the split")
    group_by: Literal["auto", "id", "similarity"] = option(
        "auto",
        help="what never straddles splits: id = each source record (with its chunks and "
        "reverse complements); similarity = clusters of similar records (MMseqs2), so "
        "homologs and repeat copies do not leak between train and test",
        shown="auto: similarity for protein, id for DNA/RNA",
    )
    min_identity: float | None = option(
        None,
        help="--group-by similarity: records at least this identical (0-1) share a cluster",
        shown="0.3 for protein, 0.8 for DNA/RNA",
    )
    coverage: float = option(
        0.8, help="--group-by similarity: share (0-1) of both records the alignment must cover"
    )
    alphabet: Alphabet | None = alphabet_option()
    allow_duplicate_ids: bool = duplicate_ids_option()

    def __post_init__(self) -> None:
        self._check_choices()
        _require(bool(self.inputs), "give the FASTA/FASTQ files (one per class)")
        _require(bool(self.tokeniser), "give a tokeniser folder (--tokeniser tok/)")
        _require(bool(self.output), "give an output folder (--output dataset/)")
        _require(
            len(self.split) == 3 and all(share > 0 for share in self.split),
            f"--split needs three positive shares (train valid test), got {self.split}",
        )
        _require(
            abs(sum(self.split) - 1) < 1e-6,
            f"--split shares must sum to 1, got {sum(self.split):g}",
        )
        _require(self.chunk_size >= 0, f"--chunk-size must be 0 or more, got {self.chunk_size}")
        _require(
            self.chunk_overlap == 0 or 0 < self.chunk_overlap < self.chunk_size,
            f"--chunk-overlap must be below --chunk-size ({self.chunk_size}), "
            f"got {self.chunk_overlap}",
        )
        _require(
            0 <= self.min_chunk_length <= max(self.chunk_size, 0),
            f"--min-chunk-length must be between 0 and --chunk-size, got {self.min_chunk_length}",
        )
        _require(
            self.max_length >= 3, f"--max-length must be at least 3 tokens, got {self.max_length}"
        )
        _require(
            self.min_identity is None or 0 <= self.min_identity <= 1,
            f"--min-identity must be between 0 and 1, got {self.min_identity}",
        )
        _require(
            0 <= self.coverage <= 1, f"--coverage must be between 0 and 1, got {self.coverage}"
        )
        self.alphabet = _alphabet_or_none(self.alphabet)


TOKENISER_NAMES_HELP = "a label per tokeniser, in order, for columns, plots and metadata"


@dataclass
class TokensCompareConfig(StageConfig):
    """Settings of ``genomeflow tokens compare``."""

    tokenisers: list[str] = option(
        help="two or more tokeniser folders", positional=True, role="input"
    )
    output: str = option(
        help="report folder: tokens.tsv, overlap.tsv, comparison.json, scores.png",
        short="-o",
        role="output",
    )
    names: list[str] | None = option(None, help=TOKENISER_NAMES_HELP, shown="the folder names")

    def __post_init__(self) -> None:
        _require(len(self.tokenisers) >= 2, "give two or more tokeniser folders to compare")


@dataclass
class TokensMergeConfig(StageConfig):
    """Settings of ``genomeflow tokens merge``."""

    tokenisers: list[str] = option(
        help="two or more unigram tokeniser folders", positional=True, role="input"
    )
    output: str = option(
        help="merged unigram tokeniser folder (loadable by AutoTokenizer)",
        short="-o",
        role="output",
    )
    how: Literal["inner", "outer"] = option(
        "outer", help="inner: pieces in every tokeniser; outer: pieces in any"
    )
    pooling: Literal["mean", "median", "min", "max"] = option(
        "mean", help="how a piece's log-probabilities across tokenisers become its merged score"
    )
    names: list[str] | None = option(None, help=TOKENISER_NAMES_HELP, shown="the folder names")

    def __post_init__(self) -> None:
        _require(len(self.tokenisers) >= 2, "give two or more tokeniser folders to merge")


@dataclass
class TokensInspectConfig(StageConfig):
    """Settings of ``genomeflow tokens inspect``."""

    tokeniser: str = option(help="the tokeniser folder", positional=True, role="input")
    output: str = option(
        help="report folder: inspection.json, token_lengths.tsv, token_lengths.png",
        short="-o",
        role="output",
    )
    fasta: list[str] | None = option(
        None,
        help="FASTA/FASTQ files (plain or .gz) to measure coverage and compression on",
        role="input",
    )


@dataclass
class ServicesConfig(StageConfig):
    """Settings of ``genomeflow services``: the local MLflow server and S3 object store."""

    action: Literal["up", "down", "status"] = option(
        help="up: start or reuse; down: stop what genomeflow started; status", positional=True
    )
    home: str | None = option(
        None, help="folder of state, databases and logs", shown="$GENOMEFLOW_HOME or ~/.genomeflow"
    )
    mlflow_port: int = option(5000, help="MLflow server port on 127.0.0.1")
    object_store: bool = option(
        False, help="also start a local S3 object store (Ceph radosgw) as MLflow's artifact store"
    )
    s3_port: int = option(7480, help="S3 gateway port on 127.0.0.1")
    mon_port: int = option(3300, help="Ceph monitor port on 127.0.0.1")
    bucket: str = option("genomeflow", help="bucket created in the object store")
    timeout: float = option(120.0, help="seconds to wait for a service to become healthy")

    def __post_init__(self) -> None:
        self._check_choices()
        for name in ("mlflow_port", "s3_port", "mon_port"):
            port = getattr(self, name)
            _require(
                1024 <= port <= 65535, f"--{name.replace('_', '-')} must be 1024-65535, got {port}"
            )
        _require(self.timeout > 0, f"--timeout must be positive, got {self.timeout}")


@dataclass
class PipelineConfig(StageConfig):
    """Settings of ``genomeflow pipeline``: compile, run locally, or submit a Kubeflow pipeline."""

    action: Literal["compile", "run", "submit"] = option(
        help="compile: write the YAML; run --local: run it on the KFP local runner with the "
        "local services; submit: send it to a Kubeflow Pipelines endpoint",
        positional=True,
    )
    pipeline: Literal["training", "predict"] = option(
        "training", help="training: FASTA to a gated, registered model; predict: batch scoring"
    )
    inputs: list[str] = option(
        [], help="FASTA/FASTQ paths or s3:// URIs (one file per class for training)"
    )
    param: list[str] = option(
        [], help="pipeline parameters as NAME=VALUE (YAML values: preset=tiny sweep_trials=4)"
    )
    params_file: str | None = option(None, help="YAML/JSON mapping of pipeline parameters")
    output: str | None = option(
        None,
        help="compile: the YAML file; run --local: the pipeline root folder (artifacts)",
        shown="genomeflow-<pipeline>.yaml; out/pipeline",
        short="-o",
    )
    pretrain: bool = option(
        False,
        help="the training pipeline with a pretrain step: a masked language model on the "
        "`unlabelled` parameter's FASTA/FASTQ (or the train split when it is empty) whose "
        "weights the sweep, the transformer and crossval start from; adds the parameters "
        "unlabelled and pretrain_steps",
    )
    local: bool = option(False, help="run on the KFP local runner (the only way `run` runs)")
    host: str | None = option(
        None, help="submit: Kubeflow Pipelines API endpoint", shown="$KFP_HOST"
    )
    namespace: str | None = option(None, help="submit: Kubeflow profile namespace")
    kfp_experiment: str = option("genomeflow", help="submit: KFP experiment of the run")
    run_name: str | None = option(None, help="submit: run name", shown="pipeline and time")
    version: str | None = option(
        None,
        help="submit: upload the compiled YAML as this pipeline version (e.g. the git sha) and "
        "run that version",
    )
    wait: bool = option(False, help="submit: wait for the run to end and report its state")
    timeout: float = option(6 * 3600.0, help="submit --wait: seconds to wait")
    image: str | None = option(
        None,
        help="compile: project image of every step",
        shown="$GENOMEFLOW_IMAGE or the version's tag",
    )
    gpus: int = option(1, help="compile: GPUs per GPU step (train, sweep, crossval, interpret)")
    gpu_node_label: str = option(
        "nvidia.com/gpu.present", help="compile: node-selector label of GPU nodes"
    )
    gpu_node_value: str = option("true", help="compile: value of that label")
    gpu_taint: str = option(
        "nvidia.com/gpu", help="compile: taint key of GPU nodes (tolerated with NoSchedule)"
    )

    def __post_init__(self) -> None:
        self._check_choices()
        _require(
            self.action != "run" or self.local,
            "`genomeflow pipeline run` needs --local (the KFP local runner); to run on a "
            "cluster use `genomeflow pipeline submit --host URL`",
        )
        _require(self.gpus >= 0, f"--gpus must be 0 or more, got {self.gpus}")
        _require(
            not self.pretrain or self.pipeline == "training",
            "--pretrain applies to the training pipeline; drop it or add --pipeline training",
        )
        _require(self.timeout > 0, f"--timeout must be positive, got {self.timeout}")
        parse_assignments(self.param, "--param")  # a malformed item fails here, not mid-run


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


@dataclass
class BaselineConfig(StageConfig):
    """Settings of ``genomeflow baseline``: a classic classifier on sequence features."""

    dataset: str = option(
        help="dataset folder written by genomeflow dataset", positional=True, role="input"
    )
    output: str = option(
        help="model folder: model, featuriser, tokeniser, baseline.json, reports/",
        short="-o",
        role="output",
    )
    features: Literal["count", "tfidf", "word2vec", "onehot"] = option(
        "tfidf",
        help="count/tfidf: sparse token n-gram counts; word2vec: pooled [mean, max] vectors "
        "of a word2vec trained on the train split; onehot: residue x position (fixed length)",
    )
    model: Literal["rf", "xgb", "logreg"] = option(
        "rf", help="rf: random forest; xgb: XGBoost (hist); logreg: logistic regression"
    )
    ngram: list[int] = option([1, 1], help="smallest and largest token n-gram for count/tfidf")
    max_features: int = option(0, help="most frequent n-grams kept by count/tfidf (0 = all)")
    vector_size: int = option(100, help="word2vec dimensions (features are twice this)")
    window: int = option(5, help="word2vec context window (tokens)")
    word2vec_epochs: int = option(10, help="word2vec passes over the training tokens")
    params: list[str] = option(
        [], help="model hyperparameters as name=value, e.g. n_estimators=800 max_depth=12"
    )
    params_file: str | None = option(
        None, help="YAML/JSON mapping of model hyperparameters (--params win)", role="input"
    )
    sweep: str | None = option(
        None,
        help="sweep spec (wandb-style JSON/YAML): tune the hyperparameters on the valid split",
        role="input",
    )
    trials: int | None = option(
        None, help="sweep trials", shown="the spec's run_cap, the grid size, else 20"
    )
    parallel: int = option(1, help="sweep trials run at once (threads; >1 is not reproducible)")
    folds: int = option(
        5, help="stratified grouped cross-validation folds on train+valid (0 = none)"
    )
    importance_top: int = option(
        30, help="features whose permutation importance is measured (top by model importance)"
    )
    permutation_repeats: int = option(5, help="shuffles per feature for permutation importance")
    device: Literal["cpu", "cuda"] = option("cpu", help="XGBoost device")
    threads: int = option(0, help="threads per model (0 = all cores)")
    seed: int = option(42, help="random seed of features, models, sweep and folds")

    def __post_init__(self) -> None:
        _require(bool(self.dataset), "give a dataset folder (genomeflow dataset ... -o DATASET)")
        _require(bool(self.output), "give an output folder (--output model/)")
        self._check_choices()
        _require(
            len(self.ngram) == 2 and 1 <= self.ngram[0] <= self.ngram[1],
            f"--ngram needs two sizes, smallest first (e.g. 1 3), got {self.ngram}",
        )
        for name in ("vector_size", "window", "word2vec_epochs", "parallel", "permutation_repeats"):
            _require(getattr(self, name) >= 1, f"--{name.replace('_', '-')} must be at least 1")
        for name in ("max_features", "importance_top", "threads"):
            _require(getattr(self, name) >= 0, f"--{name.replace('_', '-')} must be 0 or more")
        _require(self.trials is None or self.trials >= 1, "--trials must be at least 1")
        _require(
            self.folds == 0 or self.folds >= 2, f"--folds must be 0 or at least 2, got {self.folds}"
        )
        parse_assignments(self.params, "--params")  # fail early on a malformed item

    def model_params(self) -> dict[str, Any]:
        """Hyperparameters: ``params_file`` overridden by ``params``."""
        from_file = read_settings_file(self.params_file) if self.params_file else {}
        return {**from_file, **parse_assignments(self.params, "--params")}


# The transformer families (pretrain builds these; train, crossval and sweep the cnn too).
TRANSFORMER_ARCHITECTURES_HELP = (
    "distilbert (the reference's); bert; longformer (windowed attention, >= 4096 tokens); "
    "modernbert (rotary, local/global attention, 8192 tokens)"
)
TRANSFORMER_PRESETS_HELP = (
    "size: tiny 2 x 64 (minutes on a laptop CPU), small 4 x 256, base 6 x 768 (the reference's "
    "DistilBERT)"
)
# What a sweep spec or --params may set on a transformer stage (and --params-from-run copies).
HYPERPARAMETERS = (
    "architecture",
    "preset",
    "max_length",
    "window_stride",
    "epochs",
    "batch_size",
    "learning_rate",
    "weight_decay",
    "warmup_ratio",
    "dropout",
    "gradient_clip",
    "patience",
)
# Parameters the reference toolkit's sweep files sample but never applied to the model.
IGNORED_REFERENCE_PARAMETERS = ("decay", "momentum")


@dataclass
class TransformerConfig(StageConfig):
    """Settings shared by ``genomeflow train``, ``crossval`` and ``sweep``."""

    dataset: str = option(
        help="dataset folder written by genomeflow dataset", positional=True, role="input"
    )
    output: str = option(help="output folder", short="-o", role="output")
    architecture: Literal["distilbert", "bert", "longformer", "modernbert", "cnn"] = option(
        "distilbert",
        help=TRANSFORMER_ARCHITECTURES_HELP + "; cnn (residual dilated convolutions on one-hot "
        "residues, no tokeniser: the dataset's is ignored)",
    )
    preset: Literal["tiny", "small", "base"] = option(
        "small",
        help=TRANSFORMER_PRESETS_HELP + "; cnn: tiny 64 channels x 3 blocks (65-residue "
        "receptive field, 0.12M parameters), small 128 x 5 (257, 0.78M), base 256 x 8 (2049, 4.9M)",
    )
    max_length: int = option(
        0,
        help="tokens per window with CLS/SEP (cnn: residues per window); longer sequences are "
        "cut into sliding windows whose probabilities are averaged",
        shown="512; longformer 4096; modernbert 8192; cnn 1024",
    )
    window_stride: int = option(
        0,
        help="tokens (cnn: residues) between window starts (< window overlaps)",
        shown="half a window",
    )
    aggregate: Literal["mean", "max"] = option(
        "mean", help="how window probabilities make a sequence's: mean, or per-class max"
    )
    epochs: int = option(10, help="most passes over the train split")
    batch_size: int = option(32, help="windows per optimiser step")
    learning_rate: float | None = option(
        None,
        help="AdamW peak learning rate (linear warmup/decay); when not given, the "
        "architecture's default, recorded as used.learning_rate",
        shown="5e-4; cnn 1e-2",
    )
    weight_decay: float = option(0.01, help="AdamW decoupled weight decay")
    warmup_ratio: float = option(0.1, help="share of steps spent warming the learning rate up")
    dropout: float = option(
        0.1,
        help="dropout of embeddings, attention and the classifier (cnn: after every "
        "convolution and in the head)",
    )
    gradient_clip: float = option(1.0, help="largest gradient norm (0 = no clipping)")
    patience: int = option(
        3, help="epochs without a better validation metric before stopping (0 = never stop)"
    )
    metric: str = option(
        "f1_macro", help="validation metric for early stopping and checkpoint choice"
    )
    params: list[str] = option(
        [], help="hyperparameters as name=value, winning over --params-file/--params-from-run"
    )
    params_file: str | None = option(
        None,
        help="YAML/JSON mapping of hyperparameters, or a sweep's best_params.json",
        role="input",
    )
    params_from_run: str | None = option(
        None, help="MLflow run id whose hyperparameters (or sweep's best params) to reuse"
    )
    device: Literal["auto", "cpu", "cuda"] = option("auto", help="auto: cuda when present")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = option(
        "auto", help="autocast precision; auto: bf16 on a GPU that has it, else fp32"
    )
    attention: Literal["auto", "sdpa", "eager", "flash_attention_2"] = option(
        "auto",
        help="attention kernel; auto: sdpa (fused/flash on GPU), eager for longformer, none "
        "for cnn",
    )
    strand_average: bool = option(
        True,
        help="cnn on DNA/RNA: score every window and its reverse complement and average the "
        "two strands' probabilities (validation, test, evaluate, predict, register); "
        "--no-strand-average for strand-specific signals; transformers and protein: no effect",
    )
    compile: bool = option(False, help="torch.compile the model (slow start, faster steps)")
    padding: Literal["dynamic", "max_length"] = option(
        "dynamic",
        help="dynamic: pad each length-bucketed batch to its longest window; max_length: "
        "pad every window to --max-length (the reference's way, slower)",
    )
    workers: int = option(0, help="data-loader worker processes")
    seed: int = option(42, help="seed of initialisation, data order, dropout and folds")
    init_from: str | None = option(
        None,
        help="fine-tune a pretrained checkpoint: a `genomeflow pretrain` folder, a local "
        "Hugging Face masked-LM folder (BERT, DistilBERT, ModernBERT...), an s3:// folder, "
        "runs:/RUN_ID/PATH or models:/NAME@ALIAS; its encoder weights, architecture and size "
        "are used with a fresh classification head (build the dataset with -t CHECKPOINT); "
        "--architecture cnn: a genomeflow cnn model folder (its convolutions, a fresh head)",
        shown="none: a randomly initialised model",
        role="input",
    )
    trust_remote_code: bool = option(
        False,
        help="with --init-from: run the model code a checkpoint ships (e.g. DNABERT-2); only "
        "for checkpoints you trust",
    )

    def __post_init__(self) -> None:
        _require(bool(self.dataset), "give a dataset folder (genomeflow dataset ... -o DATASET)")
        _require(bool(self.output), "give an output folder (--output FOLDER)")
        _require(
            self.init_from is None or bool(str(self.init_from).strip()),
            "--init-from: give a checkpoint folder, runs:/RUN_ID/PATH or models:/NAME@ALIAS",
        )
        # --init-from with --architecture cnn: a genomeflow cnn folder; any other checkpoint is
        # refused once it is opened (genomeflow.train.train.prepare), in one line
        _require(
            not self.trust_remote_code or bool(self.init_from),
            "--trust-remote-code applies to --init-from checkpoints only; drop it or add "
            "--init-from CHECKPOINT",
        )
        self._check_choices()  # a sweep's backend and katib_algorithm too
        _require(
            self.max_length == 0 or self.max_length >= 8,
            f"--max-length must be 0 (the architecture's default) or at least 8, got "
            f"{self.max_length}",
        )
        _require(self.window_stride >= 0, "--window-stride must be 0 (half a window) or more")
        for name in ("epochs", "batch_size"):
            _require(getattr(self, name) >= 1, f"--{name.replace('_', '-')} must be at least 1")
        _require(
            self.learning_rate is None or self.learning_rate > 0,
            f"--learning-rate must be positive, got {self.learning_rate}",
        )
        for name in ("weight_decay", "gradient_clip", "patience", "workers"):
            _require(getattr(self, name) >= 0, f"--{name.replace('_', '-')} must be 0 or more")
        for name in ("warmup_ratio", "dropout"):
            value = getattr(self, name)
            _require(0 <= value < 1, f"--{name.replace('_', '-')} must be in [0, 1), got {value}")
        self.metric = canonical_metric(self.metric)
        parse_assignments(self.params, "--params")  # fail early on a malformed item


@dataclass
class TrainConfig(TransformerConfig):
    """Settings of ``genomeflow train``: a transformer classifier from a dataset folder."""

    checkpoints: str | None = option(
        None,
        help="folder of per-epoch checkpoints, kept until the model folder is written",
        shown="OUTPUT.checkpoints",
    )
    resume: bool = option(False, help="continue from the last checkpoint of a stopped run")


def shared_option(name: str, **changes: Any) -> Any:
    """A copy of a :class:`TransformerConfig` setting (default, help...) for another stage;
    ``changes`` replace its default or any :func:`option` argument."""
    item = {f.name: f for f in dataclasses.fields(TransformerConfig)}[name]
    settings = {**item.metadata, **changes}
    default = settings.pop("default", item.default)
    return option(default, **settings)


@dataclass
class PretrainConfig(StageConfig):
    """Settings of ``genomeflow pretrain``: a masked language model on unlabelled sequences."""

    inputs: list[str] = option(
        help="FASTA/FASTQ files (plain or .gz), or one dataset folder (its train split only)",
        positional=True,
        role="input",
    )
    output: str = option(
        help="model folder: AutoModelForMaskedLM and AutoTokenizer load it; pretrain.json",
        short="-o",
        role="output",
    )
    tokeniser: str | None = option(
        None,
        help="tokeniser folder (genomeflow tokenise, or a Hugging Face tokenizer folder)",
        short="-t",
        shown="a dataset input's own",
        role="input",
    )
    architecture: Literal["distilbert", "bert", "longformer", "modernbert"] = shared_option(
        "architecture", help=TRANSFORMER_ARCHITECTURES_HELP
    )
    preset: Literal["tiny", "small", "base"] = shared_option(
        "preset", help=TRANSFORMER_PRESETS_HELP
    )
    max_length: int = shared_option(
        "max_length",
        help="tokens per window with CLS/SEP; records are cut into windows",
        shown="512; longformer 4096; modernbert 8192",
    )
    mask_probability: float = option(
        0.15, help="share of tokens masked: 8 in 10 become <mask>, 1 a random token, 1 stays"
    )
    steps: int | None = option(
        None, help="optimiser steps; the corpus repeats as needed", shown="--epochs"
    )
    epochs: int | None = option(None, help="passes over the corpus", shown="1 without --steps")
    batch_size: int = shared_option("batch_size")
    learning_rate: float = shared_option(
        "learning_rate",
        default=5e-4,
        help="AdamW peak learning rate (linear warmup/decay)",
        shown=None,
    )
    weight_decay: float = shared_option("weight_decay")
    warmup_ratio: float = shared_option("warmup_ratio")
    dropout: float = shared_option(
        "dropout", help="dropout of embeddings, attention and the classifier"
    )
    gradient_clip: float = shared_option("gradient_clip")
    log_every: int = option(50, help="steps between logged loss, masked accuracy, perplexity")
    checkpoint_every: int = option(500, help="steps between checkpoints (and one at the end)")
    shuffle_buffer: int = option(
        10_000, help="windows in the seeded shuffle buffer (memory stays flat)"
    )
    checkpoints: str | None = option(
        None,
        help="folder of the resumable state, kept after the run: --resume with a larger --steps "
        "extends it",
        shown="OUTPUT.checkpoints",
    )
    resume: bool = option(
        False, help="continue from the last checkpoint of a run with the same settings"
    )
    device: Literal["auto", "cpu", "cuda"] = shared_option("device")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = shared_option("precision")
    attention: Literal["auto", "sdpa", "eager", "flash_attention_2"] = shared_option(
        "attention",
        help="attention kernel; auto: sdpa (fused/flash on GPU), eager for longformer",
    )
    seed: int = shared_option("seed", help="seed of initialisation, shuffling, masking, dropout")
    alphabet: Alphabet | None = alphabet_option()
    allow_duplicate_ids: bool = duplicate_ids_option()

    def __post_init__(self) -> None:
        _require(bool(self.inputs), "give FASTA/FASTQ files or a dataset folder to pretrain on")
        _require(bool(self.output), "give an output folder (--output pretrained/)")
        self._check_choices()
        _require(
            self.max_length == 0 or self.max_length >= 8,
            f"--max-length must be 0 (the architecture's default) or at least 8, got "
            f"{self.max_length}",
        )
        _require(
            0 < self.mask_probability < 1,
            f"--mask-probability must be between 0 and 1, got {self.mask_probability}",
        )
        _require(
            self.steps is None or self.epochs is None,
            "give --steps or --epochs, not both",
        )
        for name in ("steps", "epochs"):
            value = getattr(self, name)
            _require(value is None or value >= 1, f"--{name} must be at least 1, got {value}")
        for name in ("batch_size", "log_every", "checkpoint_every", "shuffle_buffer"):
            _require(getattr(self, name) >= 1, f"--{name.replace('_', '-')} must be at least 1")
        _require(
            self.learning_rate > 0, f"--learning-rate must be positive, got {self.learning_rate}"
        )
        for name in ("weight_decay", "gradient_clip"):
            _require(getattr(self, name) >= 0, f"--{name.replace('_', '-')} must be 0 or more")
        for name in ("warmup_ratio", "dropout"):
            value = getattr(self, name)
            _require(0 <= value < 1, f"--{name.replace('_', '-')} must be in [0, 1), got {value}")
        self.alphabet = _alphabet_or_none(self.alphabet)


@dataclass
class CrossvalConfig(TransformerConfig):
    """Settings of ``genomeflow crossval``: k-fold CV with a fresh model per fold."""

    folds: int = option(5, help="stratified folds grouped by source sequence, on train+valid")

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.folds >= 2, f"--folds must be at least 2, got {self.folds}")


REMOTE_CHECKPOINTS = ("s3://", "runs:/", "models:/")  # --init-from a trial pod can read


@dataclass
class SweepConfig(TransformerConfig):
    """Settings of ``genomeflow sweep``: tune a transformer on the valid split."""

    spec: str = option("", help="sweep spec (wandb-style JSON/YAML)", role="input")
    trials: int | None = option(
        None,
        help="sweep trials",
        shown="the spec's run_cap, the grid size, katib hyperband's schedule, else 20",
    )
    parallel: int | None = option(
        None,
        help="trials run at once (local: threads, >1 is not reproducible; katib: trial pods)",
        shown="local 1; katib 3, hyperband its first bracket",
    )
    backend: Literal["local", "katib"] = option(
        "local",
        help="local: Optuna on this machine; katib: a Katib Experiment whose trials are "
        "`genomeflow train` pods (DATASET and --output must be s3:// URIs)",
    )
    dry_run: bool = option(
        False, help="with --backend katib: print the Experiment YAML and create nothing"
    )
    namespace: str | None = option(
        None,
        help="Kubernetes namespace of the Katib Experiment, its trials and Secrets",
        shown="the pod's namespace, else the kubeconfig context's, else kubeflow",
    )
    katib_algorithm: Literal["spec", "hyperband"] = option(
        "spec",
        help="spec: the spec's method (random, grid, bayes as tpe) with medianstop early "
        "stopping when it has early_terminate; hyperband: Katib's hyperband over epochs (eta, "
        "max_iter from early_terminate)",
    )
    timeout: float = option(86400.0, help="seconds to wait for the Katib Experiment to finish")

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(bool(self.spec), "give a sweep spec (--spec sweep.yaml)")
        _require(self.trials is None or self.trials >= 1, "--trials must be at least 1")
        _require(self.parallel is None or self.parallel >= 1, "--parallel must be at least 1")
        katib_only = {"dry_run": self.dry_run, "katib_algorithm": self.katib_algorithm != "spec"}
        for name, given in katib_only.items():
            flag = "--" + name.replace("_", "-")
            _require(
                self.backend == "katib" or not given,
                f"{flag} applies to --backend katib only; add --backend katib or drop {flag}",
            )
        _require(self.timeout > 0, f"--timeout must be positive, got {self.timeout}")
        if self.backend == "katib" and not self.dry_run:
            for name, value in (("DATASET", self.dataset), ("--output", self.output)):
                _require(
                    str(value).startswith("s3://"),
                    f"--backend katib: {name} {value} must be an s3:// URI: trial pods read the "
                    "dataset from and write their models to the object store; give s3:// URIs, "
                    "or add --dry-run to only print the Experiment",
                )
            _require(
                not self.init_from or str(self.init_from).startswith(REMOTE_CHECKPOINTS),
                f"--backend katib: --init-from {self.init_from} must be an s3:// folder, "
                "runs:/ or models:/ URI: trial pods cannot read this machine's files",
            )
        if self.parallel is None and self.backend == "local":
            self.parallel = 1  # Katib's default depends on the algorithm: the compiler sets it

    @contextmanager
    def localised(self) -> Iterator[SweepConfig]:
        """Locally as every stage. On Katib the trial pods read the dataset and write under the
        output themselves, so both stay URIs; only the spec and params file are fetched."""
        if self.backend == "local":
            with super().localised() as local:
                yield local
            return
        from genomeflow import storage

        with ExitStack() as stack:
            fetched = {
                name: str(stack.enter_context(storage.local_copy(getattr(self, name))))
                for name in ("spec", "params_file")
                if getattr(self, name)
            }
            yield dataclasses.replace(self, **fetched)


@dataclass
class PredictConfig(StageConfig):
    """Settings of ``genomeflow predict``: class probabilities for new sequences."""

    model: str = option(
        help="model folder (genomeflow baseline or train), or models:/NAME@ALIAS",
        positional=True,
        role="input",
    )
    inputs: list[str] = option(
        help="FASTA/FASTQ files (plain or .gz) to score", positional=True, role="input"
    )
    output: str = option(
        help="predictions table: .csv, .tsv or .parquet (id, file, label, probability per class)",
        short="-o",
        role="output",
    )
    batch_size: int = option(1024, help="sequences scored per batch")
    reverse_complement: bool = option(
        False, help="average each sequence's probabilities with its reverse complement's"
    )
    alphabet: Alphabet | None = alphabet_option()
    allow_duplicate_ids: bool = duplicate_ids_option()

    def __post_init__(self) -> None:
        _require(bool(self.inputs), "give the FASTA/FASTQ files to score")
        _require(
            Path(self.output).suffix.lower() in (".csv", ".tsv", ".parquet"),
            f"--output {self.output}: end the name in .csv, .tsv or .parquet",
        )
        _require(self.batch_size >= 1, f"--batch-size must be at least 1, got {self.batch_size}")
        self.alphabet = _alphabet_or_none(self.alphabet)


# A registered model name genomeflow accepts. MLflow forbids '/' and ':' (and path tricks such as
# '..'); '@' would break `models:/NAME@alias` and spaces break command lines: a plain subset.
REGISTERED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,249}")


@dataclass
class RegisterConfig(StageConfig):
    """Settings of ``genomeflow register``: a new MLflow model version and the champion gate."""

    models: list[str] = option(
        help="model folders of one run, every one a candidate (genomeflow baseline or train): the "
        "best on the dataset's VALID split is the challenger",
        positional=True,
        role="input",
    )
    name: str = option(
        help="registered model name: letters, digits, '_', '.', '-' (e.g. promoters)", short="-n"
    )
    dataset: str = option(
        help="dataset folder whose test split scores challenger and champion (the challenger's "
        "dataset, or one with the same classes)",
        role="input",
    )
    metric: str = option(
        "f1_macro",
        help="the gate's metric (f1_macro, mcc, roc_auc, log_loss...; eval/f1 style accepted); "
        "lower-is-better metrics such as log_loss count a drop as a gain",
    )
    min_gain: float = option(
        0.0,
        help="the challenger becomes champion only if it beats the champion by more than this "
        "(0: strictly better; a tie keeps the champion)",
    )
    ensemble_top: int = option(
        3,
        help="also make the mean-probability ensemble of the K best candidates (on valid) a "
        "candidate; 0 or 1: no ensemble",
    )
    report: str | None = option(
        None, help="also write the gate decision to this JSON file", role="output"
    )

    def __post_init__(self) -> None:
        _require(bool(self.models), "give the model folder(s) to register")
        _require(
            self.ensemble_top >= 0, f"--ensemble-top must be 0 or more, got {self.ensemble_top}"
        )
        _require(
            isinstance(self.name, str) and REGISTERED_NAME.fullmatch(self.name) is not None,
            f"--name {self.name!r}: use letters, digits, '_', '.' and '-' only (no '/', ':', '@' "
            "or spaces), starting with a letter or digit, at most 250 characters",
        )
        _require(
            bool(self.dataset),
            "give --dataset: the dataset folder whose test split the gate scores",
        )
        self.metric = canonical_metric(self.metric)
        _require(
            self.min_gain >= 0 and self.min_gain != float("inf"),
            f"--min-gain must be a finite number >= 0, got {self.min_gain}",
        )
        _require(
            self.report is None or Path(self.report).suffix.lower() == ".json",
            f"--report {self.report}: end the file name in .json",
        )


@dataclass
class InterpretConfig(StageConfig):
    """Settings of ``genomeflow interpret``: Integrated Gradients reports and motif summaries."""

    model: str = option(
        help="transformer model folder (genomeflow train), or models:/NAME@ALIAS",
        positional=True,
        role="input",
    )
    output: str = option(
        help="report folder: index.html, sequences/, attributions, motif tables",
        short="-o",
        role="output",
    )
    inputs: list[str] = option([], help="FASTA/FASTQ files to explain", role="input")
    sequences: list[str] = option([], help="literal sequences to explain (ids seq1, seq2...)")
    labels: list[str] = option(
        [], help="the true class of each input file, in order (shown in the reports)"
    )
    limit: int = option(500, help="most records read from the input files, in file order")
    target: str | None = option(
        None, help="class to attribute to", shown="each sequence's predicted class"
    )
    steps: int = option(50, help="Integrated Gradients interpolation steps")
    baseline: Literal["pad", "shuffle"] = option(
        "pad", help="reference input: residue tokens as <pad>, or the same tokens shuffled"
    )
    batch_size: int = option(16, help="windows attributed per call (many sequences at once)")
    internal_batch_size: int = option(
        256, help="interpolated windows per forward pass (lower it if memory runs out)"
    )
    motif_k: int = option(0, help="k-mer length of the motif summary", shown="6; protein 3")
    motif_top: int = option(20, help="k-mers listed per class in the motif summary")
    seed: int = option(42, help="seed of shuffled baselines and control shuffles")
    alphabet: Alphabet | None = alphabet_option()

    def __post_init__(self) -> None:
        _require(bool(self.inputs or self.sequences), "give FASTA files and/or --sequences")
        _require(
            not self.labels or len(self.labels) == len(self.inputs),
            f"--labels: give one class per input file ({len(self.inputs)}), got {len(self.labels)}",
        )
        self._check_choices()
        for name in ("limit", "steps", "batch_size", "internal_batch_size", "motif_top"):
            _require(getattr(self, name) >= 1, f"--{name.replace('_', '-')} must be at least 1")
        _require(self.motif_k >= 0, "--motif-k must be 0 (automatic) or more")
        self.alphabet = _alphabet_or_none(self.alphabet)


@dataclass
class CompareConfig(StageConfig):
    """Settings of ``genomeflow compare``: weightwatcher analysis of transformer models."""

    models: list[str] = option(
        help="transformer model folders (genomeflow train) or models:/NAME@ALIAS",
        positional=True,
        role="input",
    )
    output: str = option(
        help="report folder: layers.tsv, summary.tsv, alpha_histogram.png, alpha_by_layer.png, "
        "report.md, report.html",
        short="-o",
        role="output",
    )
    names: list[str] | None = option(
        None, help="a name per model, in order, for tables and plots", shown="the folder names"
    )

    def __post_init__(self) -> None:
        _require(
            bool(self.models), "give one or more model folders (or models:/NAME@ALIAS) to compare"
        )
        _require(bool(self.output), "give a report folder (--output compare/)")
        _require(
            self.names is None or len(self.names) == len(self.models),
            f"--names: give one name per model ({len(self.models)}), got {len(self.names or [])}",
        )


@dataclass
class EvaluateConfig(StageConfig):
    """Settings of ``genomeflow evaluate``: score a saved model on one split of a dataset."""

    model: str = option(
        help="model folder (genomeflow baseline or train) or models:/NAME@ALIAS",
        positional=True,
        role="input",
    )
    dataset: str = option(help="dataset folder with the model's classes", role="input")
    output: str = option(
        help="report folder: <split>_metrics.json, ROC/PR/confusion/calibration plots, report.html",
        short="-o",
        role="output",
    )
    split: Literal["train", "valid", "test"] = option("test", help="the split to score")

    def __post_init__(self) -> None:
        _require(bool(self.model), "give the model folder (or models:/NAME@ALIAS) to evaluate")
        _require(bool(self.dataset), "give the dataset to score it on (--dataset DATASET)")
        _require(bool(self.output), "give a report folder (--output evaluation/)")


@dataclass
class SummariseConfig(StageConfig):
    """Settings of ``genomeflow summarise``: one metric across runs and result folders."""

    output: str = option(
        help="report folder: runs.tsv, summary.tsv and METRIC.png (violin + box plot)",
        short="-o",
        role="output",
    )
    folders: list[str] = option(
        [],
        help="result folders: model folders (genomeflow train or baseline) and crossval folders",
        positional=True,
        shown="none",
        role="input",
    )
    from_experiment: str | None = option(
        None,
        help="MLflow experiment whose finished runs to summarise (train, baseline, crossval "
        "folds, sweep trials), read from the server of --tracking-uri, $MLFLOW_TRACKING_URI "
        "or `genomeflow services up`",
    )
    metric: str = option(
        "f1_macro",
        help="metric to compare (f1_macro, mcc, roc_auc, auc...); a prefix keeps one split: "
        "test_, cv_/held_ (cross-validation folds), valid_/eval/ (validation, sweep trials)",
        shown="f1_macro: test values, cv folds and sweep trials",
    )
    group_by: str = option(
        "stage",
        help="stage: the method each run trained (distilbert-tiny, tfidf+rf); name: the run "
        "or folder name; else a hyperparameter whose values are the groups (learning_rate)",
    )

    def __post_init__(self) -> None:
        _require(
            bool(self.folders) or bool(self.from_experiment),
            "give result folders and/or --from-experiment NAME to summarise",
        )
        _require(bool(self.output), "give a report folder (--output summary/)")
        _require(bool(self.group_by), "--group-by: give stage, name or a hyperparameter name")
        metric_choice(self.metric)  # fail early on a metric genomeflow does not compute
