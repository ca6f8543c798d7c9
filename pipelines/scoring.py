"""The batch-scoring pipeline: FASTA/FASTQ URIs scored by a registered model."""

from typing import Any

from kfp import dsl

from genomeflow.cluster import ClusterSettings
from genomeflow.components.predict import predict
from genomeflow.pipelines.k8s import configure
from genomeflow.pipelines.tracking import mlflow_parent_run

NAME = "genomeflow-predict"


def build(cluster: ClusterSettings | None = None) -> Any:
    """The batch-scoring pipeline, with ``cluster``'s Kubernetes settings on its tasks."""
    cluster = cluster or ClusterSettings()

    @dsl.pipeline(name=NAME, description=__doc__.splitlines()[0])
    def scoring(
        inputs: list = [],
        model: str = "models:/genomeflow@champion",
        experiment: str = "genomeflow",
        settings: dict = {},
    ):
        with mlflow_parent_run(NAME, experiment, cluster) as opened:
            configure(
                predict(model=model, inputs=inputs, settings=settings, experiment=experiment),
                cluster,
                gpu=False,
            ).after(opened)

    return scoring
