"""Reading the skops files of classic baselines (scikit-learn estimators and vectorisers saved
without pickle), trusting only the types genomeflow writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genomeflow.errors import InputError

TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.")  # types skops may rebuild from our files


def load_skops(path: Path) -> Any:
    """Load a skops file, trusting scikit-learn/numpy/scipy types only.

    Raises:
        InputError: the file is missing, truncated or corrupt, or holds other types.
    """
    import zipfile

    import skops.io

    if not path.is_file():
        raise InputError(f"{path}: missing; the model folder is incomplete, train it again")
    try:
        untrusted = skops.io.get_untrusted_types(file=path)
        foreign = [name for name in untrusted if not name.startswith(TRUSTED_PREFIXES)]
        if foreign:
            raise InputError(
                f"{path}: holds types genomeflow does not load ({', '.join(foreign)}); "
                "it was not written by genomeflow"
            )
        return skops.io.load(path, trusted=untrusted)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as error:
        raise corrupt_error(path, error) from error


def corrupt_error(path: Path, error: BaseException) -> InputError:
    """The one-line error for a baseline file that does not load."""
    reason = " ".join(str(error).split())[:200]
    return InputError(f"{path}: truncated or corrupt ({reason}); re-run `genomeflow baseline`")
