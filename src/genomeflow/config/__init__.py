"""Stage configurations: one dataclass per stage, loadable from YAML/JSON, validated on creation.

The CLI flags and the pipeline component parameters come from these classes, so a setting has one
name, one default and one help text everywhere. ``base`` holds the shared machinery; the other
modules group the stages.
"""

from __future__ import annotations

from genomeflow.config.base import (
    ControlMethod,
    SettingTypeError,
    StageConfig,
    alphabet_option,
    duplicate_ids_option,
    field_types,
    load_document,
    option,
    parse_assignments,
    read_settings_file,
    typed_value,
)
from genomeflow.config.baseline import (
    BaselineConfig,
)
from genomeflow.config.operations import (
    PipelineConfig,
    ServicesConfig,
)
from genomeflow.config.pretraining import PretrainConfig
from genomeflow.config.results import (
    REGISTERED_NAME,
    CompareConfig,
    EvaluateConfig,
    InterpretConfig,
    PredictConfig,
    RegisterConfig,
    SummariseConfig,
)
from genomeflow.config.sequences import (
    MAX_SEGMENT_LENGTH,
    TOKENISER_NAMES_HELP,
    DatasetConfig,
    SyntheticConfig,
    TokeniseConfig,
    TokeniseMethod,
    TokensCompareConfig,
    TokensInspectConfig,
    TokensMergeConfig,
    ValidateConfig,
)
from genomeflow.config.training import (
    HYPERPARAMETERS,
    IGNORED_REFERENCE_PARAMETERS,
    REMOTE_CHECKPOINTS,
    TRANSFORMER_ARCHITECTURES_HELP,
    TRANSFORMER_PRESETS_HELP,
    CrossvalConfig,
    SweepConfig,
    TrainConfig,
    TransformerConfig,
    shared_option,
)

__all__ = [
    "HYPERPARAMETERS",
    "IGNORED_REFERENCE_PARAMETERS",
    "MAX_SEGMENT_LENGTH",
    "REGISTERED_NAME",
    "REMOTE_CHECKPOINTS",
    "TOKENISER_NAMES_HELP",
    "TRANSFORMER_ARCHITECTURES_HELP",
    "TRANSFORMER_PRESETS_HELP",
    "BaselineConfig",
    "CompareConfig",
    "ControlMethod",
    "CrossvalConfig",
    "DatasetConfig",
    "EvaluateConfig",
    "InterpretConfig",
    "PipelineConfig",
    "PredictConfig",
    "PretrainConfig",
    "RegisterConfig",
    "ServicesConfig",
    "SettingTypeError",
    "StageConfig",
    "SummariseConfig",
    "SweepConfig",
    "SyntheticConfig",
    "TokeniseConfig",
    "TokeniseMethod",
    "TokensCompareConfig",
    "TokensInspectConfig",
    "TokensMergeConfig",
    "TrainConfig",
    "TransformerConfig",
    "ValidateConfig",
    "alphabet_option",
    "duplicate_ids_option",
    "field_types",
    "load_document",
    "option",
    "parse_assignments",
    "read_settings_file",
    "shared_option",
    "typed_value",
]
