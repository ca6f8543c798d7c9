"""KFP component of ``genomeflow tokenise``."""

from kfp import dsl
from kfp.dsl import Artifact, Metrics, Output

from genomeflow.cluster import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def tokenise(
    inputs: list,
    tokeniser: Output[Artifact],
    metrics: Output[Metrics],
    method: str = "unigram",
    vocab_size: int = 32000,
    settings: dict = {},
    experiment: str = "genomeflow",
):
    """Learn a tokeniser from FASTA/FASTQ URIs (local paths or s3://)."""
    from genomeflow.components.runtime import merged, run_step

    step = merged(
        settings, inputs=inputs, output=tokeniser.path, method=method, vocab_size=vocab_size
    )
    run_step("tokenise", step, experiment, metrics)
