"""KFP component of ``genomeflow crossval``."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from genomeflow.cluster import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def crossval(
    dataset: Input[Dataset],
    sweep: Input[Artifact],
    result: Output[Artifact],
    metrics: Output[Metrics],
    folds: int = 5,
    architecture: str = "distilbert",
    preset: str = "small",
    epochs: int = 10,
    settings: dict = {},
    experiment: str = "genomeflow",
    init_from: Input[Model] = None,
):
    """Cross-validate the recipe (sweep's best hyperparameters): a fresh model per fold (from
    ``init_from``'s weights when given)."""
    from genomeflow.components.runtime import merged, path_of, run_step

    step = merged(
        settings,
        dataset=dataset.path,
        output=result.path,
        folds=folds,
        architecture=architecture,
        preset=preset,
        epochs=epochs,
        params_file=f"{sweep.path}/best_params.json",
        init_from=path_of(init_from),
    )
    run_step("crossval", step, experiment, metrics)
