"""The MLflow parent run around a pipeline's steps: opened first, closed by an exit handler."""

from collections.abc import Iterator
from contextlib import contextmanager

from kfp import dsl

from genomeflow.cluster import ClusterSettings
from genomeflow.components.bookkeeping import close_run, open_run
from genomeflow.pipelines.k8s import configure


@contextmanager
def mlflow_parent_run(
    pipeline: str, experiment: str, cluster: ClusterSettings
) -> Iterator[dsl.PipelineTask]:
    """Inside a pipeline function: yields the task that opens the parent run (steps go
    ``.after`` it); the exit task closes the run with the pipeline's final state."""
    closing = configure(close_run(experiment=experiment), cluster)
    with dsl.ExitHandler(closing, name="mlflow-run"):
        yield configure(open_run(pipeline=pipeline, experiment=experiment), cluster)
