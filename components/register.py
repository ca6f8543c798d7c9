"""KFP component of ``genomeflow register``: a new model version behind the champion gate."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output

from genomeflow.cluster import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def register(
    model: Input[Model],
    dataset: Input[Dataset],
    decision: Output[Artifact],
    name: str = "genomeflow",
    metric: str = "f1_macro",
    min_gain: float = 0.0,
    experiment: str = "genomeflow",
) -> NamedTuple("Gate", [("promoted", bool), ("version", int)]):
    """Register the model (alias challenger); promote it to champion only if it beats the
    champion on the same test split by more than ``min_gain``."""
    import json
    import tempfile
    from collections import namedtuple

    from genomeflow.components.runtime import copy_file, run_step

    with tempfile.TemporaryDirectory() as folder:
        report = f"{folder}/decision.json"  # register writes its decision as a .json file
        step = {
            "model": model.path,
            "dataset": dataset.path,
            "name": name,
            "metric": metric,
            "min_gain": min_gain,
            "report": report,
        }
        run_step("register", step, experiment)
        copy_file(report, decision.path)
    with open(decision.path, encoding="utf-8") as handle:
        gate = json.load(handle)
    decision.metadata.update({"promoted": gate["promoted"], "version": gate["version"]})
    return namedtuple("Gate", ["promoted", "version"])(gate["promoted"], gate["version"])
