"""Exceptions for problems the user can fix.

Anything raised as a :class:`GenomeflowError` is the user's to fix (a path, a record, a value):
the CLI prints its message as one line and exits with code 2. Every other exception is a bug and
keeps its traceback.
"""


class GenomeflowError(Exception):
    """A problem with the user's input or settings; the message says what and how to fix it."""


class InputError(GenomeflowError):
    """An input file or record is missing, unreadable or invalid."""


class ConfigError(GenomeflowError):
    """A setting has a value that cannot work."""


class AlphabetError(InputError):
    """A sequence holds a character outside its alphabet, or an operation does not fit it."""


class ServiceError(GenomeflowError):
    """A local service (MLflow, the object store) did not start, or cannot be reached."""


class StorageError(GenomeflowError):
    """An object-store operation failed: unreachable endpoint, rejected credentials, no bucket."""


class TrackingError(GenomeflowError):
    """MLflow could not record a run's results."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message (at most 300 characters), else its type's name: what
    a one-line report quotes of a library's multi-line error."""
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:300]
