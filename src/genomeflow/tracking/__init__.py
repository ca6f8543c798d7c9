"""MLflow tracking: the only module that imports mlflow.

A :class:`Tracker` opens runs (a run opened inside another is its child: one parent run per
pipeline run, one child per stage), records params from stage configs, metrics with steps,
artifacts, input digests (``mlflow.log_input``) and provenance tags. Without a tracking URI it
records nothing (pure library use). When the server cannot be reached, MLflow's own retries
(with backoff) run first; then one TrackingError says so: a run that cannot record its results
does not pretend to succeed.
"""

from genomeflow.tracking.query import run_hyperparameters
from genomeflow.tracking.runs import Run, Tracker, active_run, resolve_tracking_uri

__all__ = ["Run", "Tracker", "active_run", "resolve_tracking_uri", "run_hyperparameters"]
