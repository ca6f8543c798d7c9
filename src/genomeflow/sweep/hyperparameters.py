"""Which names of a sweep spec or params file a transformer stage can set (shared by the local
and Katib engines and by ``--params-file``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from genomeflow.config import HYPERPARAMETERS, IGNORED_REFERENCE_PARAMETERS
from genomeflow.errors import ConfigError

log = logging.getLogger(__name__)


def usable_names(names: Iterable[str], source: str) -> list[str]:
    """The names a transformer stage can set; the reference's unused ones dropped with a warning.

    Raises:
        ConfigError: a name is neither a hyperparameter nor one the reference ignored.
    """
    names = list(names)
    ignored = [n for n in names if n in IGNORED_REFERENCE_PARAMETERS]
    if ignored:
        log.warning(
            "%s: %s ignored: the reference toolkit sampled them but never applied them, and "
            "AdamW has no such settings",
            source,
            ", ".join(ignored),
        )
    unknown = sorted(set(names) - set(HYPERPARAMETERS) - set(IGNORED_REFERENCE_PARAMETERS))
    if unknown:
        raise ConfigError(
            f"{source}: {', '.join(unknown)} not transformer hyperparameter(s); valid names: "
            f"{', '.join(HYPERPARAMETERS)}"
        )
    return [n for n in names if n not in IGNORED_REFERENCE_PARAMETERS]
