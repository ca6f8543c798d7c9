"""The pipeline's first and exit tasks: open and close the MLflow parent run of a KFP run."""

from kfp import dsl

from genomeflow.cluster import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def open_run(pipeline: str, experiment: str = "genomeflow", settings: dict = {}) -> str:
    """Open the MLflow parent run of this KFP run (found again if the task is retried)."""
    from genomeflow.tracking import Tracker, resolve_tracking_uri
    from genomeflow.tracking.pipeline import open_pipeline_run, require_kfp_run_id

    tracker = Tracker(resolve_tracking_uri(), experiment)
    return open_pipeline_run(tracker, pipeline, require_kfp_run_id(), settings)


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def close_run(status: dsl.PipelineTaskFinalStatus, experiment: str = "genomeflow") -> None:
    """End the parent run with the pipeline's final state (FINISHED, FAILED or KILLED)."""
    from genomeflow.tracking import Tracker, resolve_tracking_uri
    from genomeflow.tracking.pipeline import close_pipeline_run, require_kfp_run_id

    tracker = Tracker(resolve_tracking_uri(), experiment)
    close_pipeline_run(tracker, require_kfp_run_id(), status.state)
