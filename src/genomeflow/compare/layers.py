"""A saved model's weight matrices as weightwatcher reads them, and weightwatcher kept quiet.

:func:`load_transformer` loads a model folder written by ``genomeflow train`` (or a registered
``models:/`` version) on the CPU; :func:`weightwatcher_view` shows a genomeflow CNN's ``Conv1d``
layers to weightwatcher as ``Conv2d`` layers of kernel ``(1, k)`` holding the same weights
(see :mod:`genomeflow.compare.analysis`); :func:`import_weightwatcher` and
:func:`quiet_weightwatcher` keep weightwatcher's logging set-up, warnings and prints off the
console. weightwatcher, torch and transformers are imported inside the functions (start-up
time of the command line).
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from genomeflow.errors import InputError, first_line
from genomeflow.storage import read_manifest

log = logging.getLogger(__name__)

CNN_MODEL_TYPE = "genomeflow-cnn"  # genomeflow.models.cnn.CnnConfig.model_type
WW_LOGGER = "weightwatcher"
REGISTRY_SCHEME = "models:/"


def import_weightwatcher() -> Any:
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


def default_name(location: str | Path) -> str:
    """A model's name in tables and plots: its folder name, or ``NAME@ALIAS`` / ``NAME@vN``."""
    text = str(location)
    if text.startswith(REGISTRY_SCHEME):
        return text[len(REGISTRY_SCHEME) :].strip("/").replace("/", "@v", 1)
    return Path(text).resolve().name or text


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
    from genomeflow.models.transformer import MANIFEST

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
    # transformers and safetensors load here, not at import (start-up time)
    import transformers
    from safetensors import SafetensorError

    import genomeflow.models.cnn  # noqa: F401  (registers genomeflow-cnn with the Auto classes)

    try:
        model = transformers.AutoModelForSequenceClassification.from_pretrained(folder)
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as error:
        raise InputError(
            f"{location}: the transformer weights could not be loaded ({first_line(error)}); "
            "give an intact folder written by `genomeflow train`"
        ) from error
    return model.to("cpu").eval(), manifest


class Collect(logging.Handler):
    """Keeps weightwatcher's warnings: they explain a failed fit."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def quiet_weightwatcher() -> Iterator[Collect]:
    """Collect weightwatcher's log warnings and prints (it prints "SMALL N PL FIT") instead of
    letting them reach the console (prints go to this module's debug log)."""
    logger = logging.getLogger(WW_LOGGER)
    handler, propagate = Collect(), logger.propagate
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


def weightwatcher_view(model: Any) -> Any:
    """The model as weightwatcher should read it: a genomeflow CNN's ``Conv1d`` layers as
    ``Conv2d`` layers of kernel ``(1, k)`` with the same weights and names (see
    :mod:`genomeflow.compare.analysis`); any other model as it is."""
    if getattr(model.config, "model_type", None) != CNN_MODEL_TYPE:
        return model
    import copy

    import torch  # only for a CNN, and only here (start-up time)
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
