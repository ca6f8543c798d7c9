"""KFP component of ``genomeflow compare``."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Markdown, Metrics, Model, Output

from genomeflow.cluster import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def compare(
    model: Input[Model],
    result: Output[Artifact],
    report: Output[Markdown],
    metrics: Output[Metrics],
    name: str = "",
    experiment: str = "genomeflow",
):
    """Data-free weightwatcher comparison of the new model with the registry's champion of
    ``name`` (register's registered model, when one of the same classes exists; else the new
    model alone)."""
    from genomeflow.components.runtime import copy_file, run_step
    from genomeflow.tracking.registry import comparable_champion

    champion = comparable_champion(name, model.path) if name else None
    models, names = [model.path], ["challenger"]
    if champion:
        models, names = [*models, champion], [*names, "champion"]
    step = {"models": models, "names": names, "output": result.path}
    run_step("compare", step, experiment, metrics)
    copy_file(f"{result.path}/report.md", report.path)
