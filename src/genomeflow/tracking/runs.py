"""Tracker and Run: MLflow runs with genomeflow's params, tags, inputs and clear failures."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from genomeflow.errors import TrackingError, first_line
from genomeflow.tracking.lineage import SOURCE_NAME, provenance_tags, source_name

# MLflow waits 120 s for each answer and retries a failed request up to 7 times with backoff
# factor 2: many minutes on a silent server. genomeflow's defaults give up after about 25 s (8 s
# per attempt, 3 attempts, 0 s then 2 s apart). Variables the user set win (slow networks,
# large model uploads through a proxying server).
RETRY_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "8",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}
# MLflow writes "View run ... at: URL" to stdout as a run ends; stdout carries only a command's
# result, so the link goes to the log (stderr) instead (Tracker.run).
OUTPUT_DEFAULTS = {"MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
NO_TRACKING = ("", "none", "off")

log = logging.getLogger(__name__)


class _QuietRetries(logging.Filter):
    """Drops urllib3's "Retrying (Retry(total=...))" warnings: the failure, if it comes, is one
    TrackingError. They stay with --verbose (debug logging)."""

    def filter(self, record: logging.LogRecord) -> bool:
        retrying = str(record.msg).startswith("Retrying (")
        return not retrying or logging.getLogger().isEnabledFor(logging.DEBUG)


def apply_mlflow_settings() -> None:
    """Set genomeflow's MLflow defaults where the user has not: network limits
    (:data:`RETRY_DEFAULTS`) and no run links on stdout (:data:`OUTPUT_DEFAULTS`); silence
    urllib3's retry warnings.

    MLflow reads these variables on every request, so this works as long as it runs before the
    first one; it runs when this module is imported (every genomeflow path to MLflow imports
    it) and again for each :class:`Tracker`.
    """
    for variable, value in {**RETRY_DEFAULTS, **OUTPUT_DEFAULTS}.items():
        os.environ.setdefault(variable, value)
    pool = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(item, _QuietRetries) for item in pool.filters):
        pool.addFilter(_QuietRetries())


apply_mlflow_settings()


def resolve_tracking_uri(uri: str | None = None, home: str | None = None) -> str | None:
    """The tracking URI: ``uri``, else $MLFLOW_TRACKING_URI, else `genomeflow services`' server.

    ``none``/``off`` (or nothing found) means no tracking.
    """
    chosen = uri if uri is not None else os.environ.get("MLFLOW_TRACKING_URI")
    if chosen is None:
        from genomeflow.storage.home import read_state

        chosen = read_state(home).get("mlflow", {}).get("uri")
    return None if chosen is None or chosen.strip().lower() in NO_TRACKING else chosen


@contextmanager
def recording(uri: str, what: str) -> Iterator[None]:
    """Turn any failure to talk to MLflow into one TrackingError."""
    from mlflow.exceptions import MlflowException
    from requests.exceptions import RequestException

    try:
        yield
    except (MlflowException, RequestException, OSError) as error:
        raise TrackingError(failure_message(uri, what, error)) from error


# What a tracking store's database says when two writers insert the same unique row: SQLite,
# PostgreSQL, MySQL.
DUPLICATE_ROW_SIGNS = ("UNIQUE constraint failed", "duplicate key value", "Duplicate entry")


def lost_insert_race(error: Exception) -> bool:
    """Did the store refuse a row because another writer inserted the same one first?"""
    return any(sign in str(error) for sign in DUPLICATE_ROW_SIGNS)


TIMEOUT_SIGNS = ("timed out", "timeout", "TimeoutError")
UNREACHABLE_SIGNS = (
    "Connection refused",
    "Failed to establish a new connection",
    "NewConnectionError",
    "Name or service not known",
    "nodename nor servname",
    "Temporary failure in name resolution",
    "Connection aborted",
    "RemoteDisconnected",
    "Connection reset",
)


def _chain_text(error: BaseException) -> str:
    """The messages of an exception and of the exceptions it came from."""
    texts, seen = [], set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return "\n".join(texts)


def failure_message(uri: str, what: str, error: BaseException) -> str:
    """One line for a failed MLflow request: what failed, at which server, what to check.

    A server that did not answer in time and one that cannot be reached get their own words
    (with the limits in force); any other failure keeps the first line of MLflow's message.
    """
    text = _chain_text(error)
    no_tracking = "or pass --tracking-uri none to run without tracking"
    if (
        "API request to" in text
        or isinstance(error, OSError)
        or "requests" in type(error).__module__
    ):
        retries = os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "")
        attempts = 1 + int(retries) if retries.strip().isdigit() else "several"
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        if any(sign.lower() in text.lower() for sign in TIMEOUT_SIGNS):
            timeout = os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", "?")
            return (
                f"MLflow at {uri} could not {what}: no answer within {timeout} s ({tries}); "
                "check that the server runs and answers at that address (MLFLOW_TRACKING_URI, "
                "--tracking-uri), raise MLFLOW_HTTP_REQUEST_TIMEOUT on a slow network, "
                f"{no_tracking}"
            )
        if any(sign in text for sign in UNREACHABLE_SIGNS):
            return (
                f"MLflow at {uri} could not {what}: cannot connect ({tries}); start it with "
                "`genomeflow services up` or check MLFLOW_TRACKING_URI / --tracking-uri, "
                f"{no_tracking}"
            )
    return (
        f"MLflow at {uri} could not {what} ({first_line(error)}); start it with "
        f"`genomeflow services up`, {no_tracking}"
    )


RUN_END_STATES = ("FINISHED", "FAILED", "KILLED")


class Run:
    """One MLflow run (or a no-op when tracking is off).

    Attributes:
        uri: the tracking URI, None when tracking is off.
        run_id: the MLflow run id, None when tracking is off.
        status: how :meth:`child` ends this run when its block succeeds: FINISHED (default),
            or KILLED / FAILED set by the caller (e.g. a pruned sweep trial is KILLED).
    """

    def __init__(self, uri: str | None, run_id: str | None) -> None:
        self.uri = uri
        self.run_id = run_id
        self.status = "FINISHED"

    @property
    def active(self) -> bool:
        return self.run_id is not None

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record params (lists and None as JSON text; MLflow keeps strings)."""
        if not self.active:
            return
        import mlflow

        flat = {
            name: json.dumps(value) if isinstance(value, (list, dict)) or value is None else value
            for name, value in params.items()
        }
        with recording(self.uri, "record the params"):
            mlflow.log_params(flat, run_id=self.run_id)

    def log_metrics(
        self,
        metrics: Mapping[str, float],
        step: int | None = None,
        model_id: str | None = None,
        dataset: Any = None,
    ) -> None:
        """Record metrics; with ``model_id`` (and ``dataset``, an ``mlflow.data`` dataset) they
        are the logged model's scores on that data. Without, they belong to the run only (the
        client API: MLflow's fluent API would link them to a model logged in the run)."""
        if not self.active or not metrics:
            return
        import time

        from mlflow import MlflowClient
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)  # ms, MLflow's unit
        linked = {"model_id": model_id}
        if dataset is not None:
            linked |= {"dataset_name": dataset.name, "dataset_digest": dataset.digest}
        rows = [Metric(k, float(v), stamp, step or 0, **linked) for k, v in metrics.items()]
        with recording(self.uri, "record the metrics"):
            MlflowClient(self.uri).log_batch(self.run_id, metrics=rows)

    def log_artifact(self, path: str | os.PathLike[str], folder: str | None = None) -> None:
        """Upload a file or a whole folder as run artifacts (under ``folder``)."""
        if not self.active:
            return
        from mlflow import MlflowClient

        path = Path(path)
        with recording(self.uri, f"store the artifact {path.name}"):
            client = MlflowClient(self.uri)
            if path.is_dir():
                client.log_artifacts(self.run_id, str(path), folder)
            else:
                client.log_artifact(self.run_id, str(path), folder)

    def log_datasets(self, datasets: Sequence[tuple[Any, str]]) -> None:
        """Record ``(mlflow.data dataset, context)`` pairs as the run's inputs
        (:func:`genomeflow.tracking.lineage.stage_datasets` makes them)."""
        if not self.active or not datasets:
            return
        from mlflow import MlflowClient
        from mlflow.entities import DatasetInput, InputTag
        from mlflow.exceptions import MlflowException

        inputs = [
            DatasetInput(dataset._to_mlflow_entity(), [InputTag("mlflow.data.context", context)])
            for dataset, context in datasets
        ]
        client = MlflowClient(self.uri)
        with recording(self.uri, "record the inputs"):
            try:
                client.log_inputs(self.run_id, datasets=inputs)
            except MlflowException as error:
                if not lost_insert_race(error):
                    raise
                # Steps of one pipeline run that read the same dataset at the same moment (its
                # baselines) race in the store: each looks the dataset up, finds none and
                # inserts it, and the loser breaks the unique key. The row is there now, so a
                # second try only links it to this run.
                client.log_inputs(self.run_id, datasets=inputs)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        if not self.active:
            return
        from mlflow import MlflowClient

        with recording(self.uri, "record the tags"):
            client = MlflowClient(self.uri)
            for key, value in tags.items():
                if value is not None:
                    client.set_tag(self.run_id, key, str(value))

    @contextmanager
    def child(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> Iterator[Run]:
        """Open a child run of this run, in its experiment, named ``name``.

        It uses the MLflow client only (no fluent active-run state), so worker threads may
        open children at once (parallel sweep trials). The child ends FINISHED when the block
        succeeds, or with the ``status`` the caller set on it (KILLED for a pruned trial);
        FAILED when the block raises, unless the caller set KILLED first.

        Args:
            name: the child's run name, also its ``genomeflow.stage`` tag (``trial-3``).
            params: params to record on the child.
            tags: extra tags for the child (values None are left out).

        Yields:
            The child Run; an inactive Run when this run is inactive.
        """
        if not self.active:
            yield Run(None, None)
            return
        from mlflow import MlflowClient

        assert self.uri is not None
        client = MlflowClient(self.uri)
        with recording(self.uri, f"open the run {name!r}"):
            parent = client.get_run(self.run_id)
            experiment_id = parent.info.experiment_id
            # A trial or fold ran from its parent's command.
            source = parent.data.tags.get(SOURCE_NAME)
            extra = {**provenance_tags(source), **(tags or {})}
            handle = client.create_run(
                experiment_id=experiment_id,
                run_name=name,
                tags={
                    "mlflow.parentRunId": self.run_id,
                    "genomeflow.stage": name,
                    **{key: str(value) for key, value in extra.items() if value is not None},
                },
            )
        run = Run(self.uri, handle.info.run_id)
        try:
            run.log_params(params or {})
            yield run
        except BaseException:
            status = run.status if run.status in ("FAILED", "KILLED") else "FAILED"
            with recording(self.uri, f"close the failed run {name!r}"):
                client.set_terminated(run.run_id, status=status)
            raise
        if run.status not in RUN_END_STATES:
            raise ValueError(f"run status {run.status!r}: choose one of {RUN_END_STATES}")
        with recording(self.uri, f"close the run {name!r}"):
            client.set_terminated(run.run_id, status=run.status)


def active_run() -> Run:
    """The MLflow run active in this thread (``mlflow.start_run``), or an inactive Run.

    Stages use it to hang child runs (sweep trials, folds) under the run they are recorded in.
    """
    import mlflow

    handle = mlflow.active_run()
    if handle is None:
        return Run(None, None)
    return Run(mlflow.get_tracking_uri(), handle.info.run_id)


class Tracker:
    """Opens MLflow runs in one experiment; does nothing when ``uri`` is None.

    Args:
        uri: the tracking URI (see :func:`resolve_tracking_uri`), None for no tracking.
        experiment: experiment name, one per project or dataset; created when missing.
    """

    def __init__(self, uri: str | None, experiment: str = "genomeflow") -> None:
        self.uri = uri
        self.experiment = experiment
        apply_mlflow_settings()

    @contextmanager
    def run(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        system_metrics: bool = False,
        title: str | None = None,
    ) -> Iterator[Run]:
        """Open a run of stage ``name``, nested under the active run if there is one.

        Args:
            name: the stage (``tokenise``) or the pipeline: the ``genomeflow.stage`` tag and
                the source (``mlflow.source.name`` ``genomeflow tokenise``).
            params: a stage config as a mapping (``config.to_dict()``).
            system_metrics: sample CPU/memory (and GPU when pynvml is present) during the run.
            title: the run name, when it says more than ``name`` (``baseline onehot+rf``).

        The run ends FINISHED when the block succeeds and FAILED when it raises; a top-level
        run that succeeded logs its link (stderr), never prints it on stdout. A dry run
        (``params`` with ``dry_run`` true, as ``sweep --backend katib --dry-run``) creates
        nothing, so it records nothing either: the block gets an inactive Run.
        """
        if self.uri is None or (params or {}).get("dry_run") is True:
            yield Run(None, None)
            return
        import mlflow

        # Its start/stop/"skip GPU" and "Creating a new experiment" INFO lines are noise to a
        # user, and would stand before a stage's one-line error on stderr.
        for noisy in ("mlflow.system_metrics", "mlflow.tracking.fluent"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        from genomeflow.tracking.pipeline import pipeline_parent

        with recording(self.uri, f"open the run {name!r}"):
            mlflow.set_tracking_uri(self.uri)
            mlflow.set_experiment(self.experiment)
            active = mlflow.active_run()
            # In a pipeline's task, the stage run hangs under the pipeline's parent run.
            parent = None if active is not None else pipeline_parent(self)
            # Tags given here win over MLflow's own guesses (the launcher script as source).
            tags = {"genomeflow.stage": name, **provenance_tags(source_name(name))}
            handle = mlflow.start_run(
                run_name=title or name,
                nested=active is not None,
                parent_run_id=parent,
                tags={key: str(value) for key, value in tags.items() if value is not None},
                log_system_metrics=system_metrics,
            )
        run = Run(self.uri, handle.info.run_id)
        try:
            run.log_params(params or {})
            yield run
        except BaseException:
            with recording(self.uri, f"close the failed run {name!r}"):
                mlflow.end_run(status="FAILED")
            raise
        with recording(self.uri, f"close the run {name!r}"):
            mlflow.end_run(status="FINISHED")
        if active is None and self.uri.startswith(("http://", "https://")):
            experiment_url = f"{self.uri.rstrip('/')}/#/experiments/{handle.info.experiment_id}"
            log.info("View run %s at: %s/runs/%s", title or name, experiment_url, run.run_id)
