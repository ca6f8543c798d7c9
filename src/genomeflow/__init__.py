"""genomeflow: labelled biological sequences in; trained, evaluated, explained classifiers out."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("genomeflow")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
