"""KFP component of ``genomeflow train``."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from genomeflow.cluster import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def train(
    dataset: Input[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
    sweep: Input[Artifact] = None,
    architecture: str = "distilbert",
    preset: str = "tiny",
    epochs: int = 10,
    settings: dict = {},
    experiment: str = "genomeflow",
):
    """Train a transformer or CNN (with the sweep's best hyperparameters when a sweep is given);
    the test split is evaluated once."""
    from genomeflow.components.runtime import merged, run_step

    step = merged(
        settings,
        dataset=dataset.path,
        output=model.path,
        architecture=architecture,
        preset=preset,
        epochs=epochs,
        params_file=f"{sweep.path}/best_params.json" if sweep is not None else "",
    )
    run_step("train", step, experiment, metrics)
