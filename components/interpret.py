"""KFP component of ``genomeflow interpret``."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Input, Metrics, Model, Output

from genomeflow.cluster import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def interpret(
    model: Input[Model],
    inputs: list,
    attributions: Output[Artifact],
    report: Output[HTML],
    metrics: Output[Metrics],
    limit: int = 500,
    steps: int = 50,
    settings: dict = {},
    experiment: str = "genomeflow",
):
    """Integrated Gradients over sequences of the inputs: per-sequence pages, attribution
    files and top k-mers per class; the motif summary page is the UI's HTML."""
    from genomeflow.components.runtime import copy_file, merged, run_step

    step = merged(
        settings,
        model=model.path,
        output=attributions.path,
        inputs=inputs,
        limit=limit,
        steps=steps,
    )
    run_step("interpret", step, experiment, metrics)
    copy_file(f"{attributions.path}/summary.html", report.path)
