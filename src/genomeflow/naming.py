"""Names for the inputs a report puts side by side (tokenisers, models): short, unique, and safe
as TSV column headers and plot labels."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from genomeflow.errors import ConfigError


def display_names(
    defaults: Sequence[str], given: Sequence[str] | None, what: str, inputs: str
) -> list[str]:
    """The names to show: ``given`` (checked), else ``defaults`` with ``#1``, ``#2`` added to
    repeats.

    Args:
        defaults: a base name per input (e.g. its folder name).
        given: the user's names, one per input, or None.
        what: what one input is, for messages (``tokeniser``, ``model``).
        inputs: how messages count the inputs (``tokeniser folders``, ``models``).

    Raises:
        ConfigError: a count mismatch, or a name empty, padded, holding a tab/newline or repeated.
    """
    if given is None:
        repeated = {base for base, count in Counter(defaults).items() if count > 1}
        seen: Counter[str] = Counter()
        names = []
        for base in defaults:
            if base in repeated:
                seen[base] += 1
                base = f"{base}#{seen[base]}"
            names.append(base)
        return names
    if len(given) != len(defaults):
        raise ConfigError(
            f"got {len(given)} names for {len(defaults)} {inputs}; give one name per {what}, "
            "or none to use the folder names"
        )
    for name in given:
        if not name or name != name.strip() or any(c in name for c in "\t\r\n"):
            raise ConfigError(
                f"{what} name {name!r} is empty, padded or holds a tab/newline; give short "
                "plain names"
            )
    repeated_names = [name for name, count in Counter(given).items() if count > 1]
    if repeated_names:
        raise ConfigError(
            f"{what} name {repeated_names[0]!r} is given twice; give every {what} its own name"
        )
    return list(given)
