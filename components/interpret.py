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
    motif_database: str = "",
    jaspar_release: str = "",
    motif_taxon: str = "",
    settings: dict = {},
    experiment: str = "genomeflow",
):
    """Integrated Gradients over sequences of the inputs: per-sequence pages (motif sites
    marked), attribution files, TF-MoDISco motifs named against JASPAR CORE (``jaspar_release``,
    ``motif_taxon``) or ``motif_database`` (a MEME/JASPAR file: a path or s3:// URI), and top
    k-mers per class; the summary page (motif logos beside their matches) is the UI's HTML."""
    from genomeflow.components.runtime import copy_file, merged, run_step

    step = merged(
        settings,
        model=model.path,
        output=attributions.path,
        inputs=inputs,
        limit=limit,
        steps=steps,
        motif_database=motif_database,
        jaspar_release=jaspar_release,
        motif_taxon=motif_taxon,
    )
    run_step("interpret", step, experiment, metrics)
    copy_file(f"{attributions.path}/summary.html", report.path)
