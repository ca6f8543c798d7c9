"""KFP component of ``genomeflow pretrain``."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from genomeflow.cluster import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def pretrain(
    tokeniser: Input[Artifact],
    model: Output[Model],
    metrics: Output[Metrics],
    inputs: list = [],
    dataset: Input[Dataset] = None,
    architecture: str = "distilbert",
    preset: str = "small",
    steps: int = 0,
    epochs: int = 1,
    settings: dict = {},
    experiment: str = "genomeflow",
    nodes: int = 1,
):
    """Pretrain a masked language model on unlabelled FASTA/FASTQ URIs, or, when ``inputs`` is
    empty, on the ``dataset``'s train split (never its valid or test sequences); ``steps`` > 0
    wins over ``epochs``. The model artifact is what train, sweep and crossval ``init_from``.
    With ``nodes`` > 1 a PyTorchJob pretrains on that many pods (the cluster's GPUs each)."""
    from genomeflow.components.runtime import merged, run_job_step, run_step, uri_of

    if not inputs and dataset is None:
        raise ValueError("pretrain: give unlabelled inputs or a dataset")
    step = merged(
        settings,
        inputs=list(inputs) or [dataset.path],
        tokeniser=tokeniser.path,
        output=model.path,
        architecture=architecture,
        preset=preset,
        steps=steps or None,
        epochs=None if steps else epochs,
    )
    if nodes > 1:
        remote = {"inputs": list(inputs) or [uri_of(dataset)], "tokeniser": uri_of(tokeniser)}
        run_job_step("pretrain", {**step, **remote}, model, nodes, experiment, metrics)
    else:
        run_step("pretrain", step, experiment, metrics)
