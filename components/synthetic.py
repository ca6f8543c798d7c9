"""KFP component of ``genomeflow synthetic``."""

from kfp import dsl
from kfp.dsl import Dataset, Metrics, Output

from genomeflow.cluster import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def synthetic(
    inputs: list,
    controls: Output[Dataset],
    metrics: Output[Metrics],
    method: str = "shuffle",
    k: int = 2,
    seed: int = 42,
    settings: dict = {},
    experiment: str = "genomeflow",
):
    """Control sequences (k-let shuffles, Markov samples, block bootstraps) as gzipped FASTA."""
    from genomeflow.components.runtime import merged, run_step

    step = merged(settings, inputs=inputs, output=controls.path, method=method, k=k, seed=seed)
    run_step("synthetic", step, experiment, metrics)
