"""KFP component of ``genomeflow evaluate``."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from genomeflow.cluster import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def evaluate(
    model: Input[Model],
    dataset: Input[Dataset],
    evaluation: Output[Artifact],
    report: Output[HTML],
    metrics: Output[Metrics],
    classification: Output[ClassificationMetrics],
    split: str = "test",
    experiment: str = "genomeflow",
):
    """Score a model on one split: metrics, ROC and confusion matrix for the UI, an HTML page."""
    from genomeflow.components.runtime import copy_file, log_classification, run_step

    step = {"model": model.path, "dataset": dataset.path, "output": evaluation.path, "split": split}
    run_step("evaluate", step, experiment, metrics)
    log_classification(f"{evaluation.path}/{split}_metrics.json", classification)
    copy_file(f"{evaluation.path}/report.html", report.path)
