"""KFP component of ``genomeflow dataset``."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Output

from genomeflow.cluster import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def dataset(
    inputs: list,
    tokeniser: Input[Artifact],
    dataset: Output[Dataset],
    metrics: Output[Metrics],
    label_table: str = "",
    split: list = [0.8, 0.1, 0.1],
    seed: int = 42,
    settings: dict = {},
    experiment: str = "genomeflow",
):
    """Grouped, stratified train/valid/test splits of the inputs (one file per class, or one
    file and an id,label table), tokenised."""
    from genomeflow.components.runtime import merged, run_step

    step = merged(
        settings,
        inputs=inputs,
        tokeniser=tokeniser.path,
        output=dataset.path,
        label_table=label_table,
        split=split,
        seed=seed,
    )
    run_step("dataset", step, experiment, metrics)
