"""KFP component of ``genomeflow register``: the run's best candidate, behind the champion gate."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output

from genomeflow.cluster import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def register(
    model: Input[Model],
    dataset: Input[Dataset],
    decision: Output[Artifact],
    baselines: Input[list[Model]] = None,
    cnn: Input[Model] = None,
    name: str = "genomeflow",
    metric: str = "f1_macro",
    min_gain: float = 0.0,
    ensemble_top: int = 3,
    experiment: str = "genomeflow",
) -> NamedTuple("Gate", [("promoted", bool), ("version", int)]):
    """Choose the challenger among every candidate of the run (the baselines, the CNN, the
    transformer ``model``, and their ensemble) on VALID; register it (alias challenger); promote
    it to champion only if it beats the champion on the same test split by more than
    ``min_gain``."""
    import json
    import tempfile
    from collections import namedtuple

    from genomeflow.components.runtime import copy_file, run_step

    with tempfile.TemporaryDirectory() as folder:
        report = f"{folder}/decision.json"  # register writes its decision as a .json file
        step = {
            "models": [item.path for item in baselines or []]
            + [item.path for item in (cnn, model) if item is not None],
            "dataset": dataset.path,
            "name": name,
            "metric": metric,
            "min_gain": min_gain,
            "ensemble_top": ensemble_top,
            "report": report,
        }
        run_step("register", step, experiment)
        copy_file(report, decision.path)
    with open(decision.path, encoding="utf-8") as handle:
        gate = json.load(handle)
    decision.metadata.update({"promoted": gate["promoted"], "version": gate["version"]})
    return namedtuple("Gate", ["promoted", "version"])(gate["promoted"], gate["version"])
