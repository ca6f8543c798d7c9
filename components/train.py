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
    preset: str = "small",
    epochs: int = 10,
    settings: dict = {},
    experiment: str = "genomeflow",
    init_from: Input[Model] = None,
    nodes: int = 1,
):
    """Train a transformer or CNN (with the sweep's best hyperparameters when a sweep is given,
    from a pretrained checkpoint when ``init_from`` is); the test split is evaluated once. With
    ``nodes`` > 1 a PyTorchJob trains on that many pods (the cluster's GPUs each)."""
    from genomeflow.components.runtime import merged, path_of, run_job_step, run_step, uri_of

    step = merged(
        settings,
        dataset=dataset.path,
        output=model.path,
        architecture=architecture,
        preset=preset,
        epochs=epochs,
        params_file=f"{sweep.path}/best_params.json" if sweep is not None else "",
        init_from=path_of(init_from),
    )
    if nodes > 1:
        remote = merged(step, dataset=uri_of(dataset), init_from=uri_of(init_from))
        run_job_step("train", remote, model, nodes, experiment, metrics)
    else:
        run_step("train", step, experiment, metrics)
