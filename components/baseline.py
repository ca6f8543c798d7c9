"""KFP component of ``genomeflow baseline``."""

from kfp import dsl
from kfp.dsl import ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from genomeflow.cluster import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def baseline(
    dataset: Input[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
    classification: Output[ClassificationMetrics],
    features: str = "tfidf",
    classifier: str = "rf",
    folds: int = 5,
    settings: dict = {},
    experiment: str = "genomeflow",
):
    """A classic classifier (count/tfidf/word2vec/onehot x rf/xgb/logreg), tested once."""
    from genomeflow.components.runtime import log_classification, merged, run_step

    step = merged(
        settings,
        dataset=dataset.path,
        output=model.path,
        features=features,
        model=classifier,
        folds=folds,
    )
    run_step("baseline", step, experiment, metrics)
    log_classification(f"{model.path}/reports/test_metrics.json", classification)
