"""KFP component of ``genomeflow pretrain``."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Metrics, Model, Output

from genomeflow.cluster import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def pretrain(
    inputs: list,
    tokeniser: Input[Artifact],
    model: Output[Model],
    metrics: Output[Metrics],
    architecture: str = "distilbert",
    preset: str = "tiny",
    steps: int = 0,
    epochs: int = 1,
    settings: dict = {},
    experiment: str = "genomeflow",
):
    """Pretrain a masked language model on FASTA/FASTQ URIs (or one dataset folder's train
    split); ``steps`` > 0 wins over ``epochs``. The model artifact is a ``train --init-from``."""
    from genomeflow.components.runtime import merged, run_step

    step = merged(
        settings,
        inputs=inputs,
        tokeniser=tokeniser.path,
        output=model.path,
        architecture=architecture,
        preset=preset,
        steps=steps or None,
        epochs=None if steps else epochs,
    )
    run_step("pretrain", step, experiment, metrics)
