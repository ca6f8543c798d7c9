"""Write the example Katib Experiments of this folder from examples/sweeps/dna_promoter.yaml.

From the repository root::

    .venv/bin/python docs/examples/katib/generate.py

tests/test_katib.py checks that the files here equal a fresh generation
(:func:`example_documents`), so regenerate them whenever the compiler or the spec changes.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from genomeflow.cluster import VERSION_IMAGE, ClusterSettings
from genomeflow.sweep.katib_compile import (
    DEFAULT_NAMESPACE,
    KatibAlgorithm,
    KatibSettings,
    compile_experiment,
    experiment_name,
    experiment_yaml,
)
from genomeflow.sweep.spec import SweepSpec

FOLDER = Path(__file__).resolve().parent
REPO = FOLDER.parents[2]
SPEC = REPO / "examples" / "sweeps" / "dna_promoter.yaml"
ALGORITHMS: dict[str, KatibAlgorithm] = {
    "dna_promoter.yaml": "spec",
    "dna_promoter_hyperband.yaml": "hyperband",
}
HEADER = (
    "# Generated from examples/sweeps/dna_promoter.yaml by\n"
    "#   python docs/examples/katib/generate.py\n"
    "# Do not edit: tests/test_katib.py checks it equals a fresh generation.\n"
)


def example_documents(spec: SweepSpec) -> dict[str, str]:
    """The example Experiments (file name -> YAML) of a spec, with fixed settings."""
    documents = {}
    for file_name, algorithm in ALGORITHMS.items():
        settings = KatibSettings(
            dataset="s3://genomeflow/datasets/ecoli-promoters",
            output="s3://genomeflow/sweeps/dna-promoter/trials",
            name=experiment_name(Path(file_name).stem, unique=False),
            namespace=DEFAULT_NAMESPACE,
            train_flags={"architecture": "distilbert", "preset": "small"},
            algorithm=algorithm,
            cluster=ClusterSettings(image=VERSION_IMAGE),
        )
        documents[file_name] = HEADER + experiment_yaml(compile_experiment(spec, settings))
    return documents


def write_examples(folder: str | os.PathLike[str], spec_path: str | os.PathLike[str]) -> list[Path]:
    """Write :func:`example_documents` of a spec file into ``folder``; returns the files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, text in example_documents(SweepSpec.from_file(spec_path)).items():
        (folder / file_name).write_text(text, encoding="utf-8")
        written.append(folder / file_name)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python docs/examples/katib/generate.py",
        description="Write the example Katib Experiments.",
    )
    parser.add_argument("--output", default=str(FOLDER), help="folder (default: %(default)s)")
    parser.add_argument("--spec", default=str(SPEC), help="sweep spec (default: %(default)s)")
    args = parser.parse_args(argv)
    for path in write_examples(args.output, args.spec):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
