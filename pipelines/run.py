"""`genomeflow pipeline compile|run|submit`: the pipelines as YAML, on the local runner, or on
a Kubeflow Pipelines endpoint."""

import contextlib
import dataclasses
import io
import logging
import os
import re
import sys
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from genomeflow.cluster import ClusterSettings, GpuScheduling
from genomeflow.config import PipelineConfig, parse_assignments, read_settings_file
from genomeflow.errors import ConfigError, GenomeflowError, InputError
from genomeflow.pipelines import scoring, training
from genomeflow.sweep.spec import SweepSpec

PIPELINES: dict[str, Callable[..., Any]] = {
    "training": training.build,
    "predict": scoring.build,
}
LOCAL_ROOT = "out/pipeline"
COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # the local runner's terminal colours
TASK_EVENT = re.compile(r"(Executing task|Task) '([\w-]+)'(?: finished with status (\w+))?")


class PipelineError(GenomeflowError):
    """A pipeline failed or could not be sent."""


class ProgressLog(io.TextIOBase):
    """Stands in for stdout while the local runner works: every line goes to the log file,
    and one line per task start and end reaches the terminal."""

    def __init__(self, log: TextIO, terminal: TextIO) -> None:
        self.log, self.terminal, self.pending = log, terminal, ""
        self.started: dict[str, float] = {}

    def write(self, text: str) -> int:
        self.log.write(text)
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self._progress(COLOUR.sub("", line))
        return len(text)

    def _progress(self, line: str) -> None:
        event = TASK_EVENT.search(line)
        if event is None or (event.group(1) == "Task" and event.group(3) is None):
            return
        task, state, now = event.group(2), event.group(3), time.monotonic()
        clock = time.strftime("%H:%M:%S")
        if state is None:
            self.started[task] = now
            print(f"{clock}  {task:<12} started", file=self.terminal, flush=True)
        else:
            took = now - self.started.get(task, now)
            print(
                f"{clock}  {task:<12} {state.lower()} ({took:.0f} s)",
                file=self.terminal,
                flush=True,
            )

    def flush(self) -> None:
        self.log.flush()


def cluster_settings(config: PipelineConfig) -> ClusterSettings:
    """The compile-time Kubernetes settings the flags ask for."""
    gpu = GpuScheduling(
        count=config.gpus,
        node_label=config.gpu_node_label,
        node_value=config.gpu_node_value,
        taint_key=config.gpu_taint,
    )
    defaults = ClusterSettings()
    return dataclasses.replace(
        defaults,
        image=config.image or defaults.image,
        gpu=gpu,
        gpu_timeout_s=config.gpu_timeout,
        image_pull_secrets=tuple(config.image_pull_secrets),
    )


def pipeline_function(config: PipelineConfig, retries: bool = True) -> Any:
    """The pipeline of ``config.pipeline`` built for the cluster the flags describe (without
    retries for the local runner, where a failure is not transient)."""
    settings = cluster_settings(config)
    shape = {"pretrain": True} if config.pretrain else {}  # the training pipeline's other shape
    return PIPELINES[config.pipeline](
        settings if retries else dataclasses.replace(settings, retries=0), **shape
    )


def arguments(config: PipelineConfig, pipeline: Any) -> dict[str, Any]:
    """Pipeline arguments: --params-file < --param < --inputs; names checked, local paths made
    absolute (local tasks run in other folders)."""
    given: dict[str, Any] = {}
    if config.params_file:
        given |= read_settings_file(config.params_file)
    given |= parse_assignments(config.param, "--param")
    if config.inputs:
        given["inputs"] = config.inputs
    known = pipeline.component_spec.inputs or {}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ConfigError(
            f"{config.pipeline} pipeline has no parameter {unknown[0]!r}; its parameters: "
            f"{', '.join(known)}"
        )
    if not given.get("inputs"):
        raise ConfigError(
            f"give the {config.pipeline} pipeline its sequences: --inputs FASTA... (paths or "
            "s3:// URIs; one file per class for training), or inputs: in --params-file"
        )
    for name in ("inputs", "unlabelled"):  # sequence files: local paths made absolute
        if given.get(name):
            given[name] = [_absolute(str(item)) for item in given[name]]
    for name in ("label_table", "motif_database"):  # a labels table, a motif file: the same
        if given.get(name):
            given[name] = _absolute(str(given[name]))
    if "sweep_spec" in given:  # fail now, not after tokenising and splitting
        SweepSpec.from_mapping(given["sweep_spec"], "--param sweep_spec")
    return given


def _absolute(location: str) -> str:
    return location if "://" in location else str(Path(location).resolve())


def compile_pipeline(config: PipelineConfig) -> Path:
    """Write the pipeline's YAML (``config.output``, default ``genomeflow-<pipeline>.yaml``).

    Raises:
        ConfigError: ``-o`` names a folder rather than the YAML file.
        InputError: the YAML's folder cannot be made or written to.
    """
    from kfp import compiler

    name = f"genomeflow-{config.pipeline}.yaml"
    path = Path(config.output or name)
    if path.is_dir() or str(config.output or "").endswith(("/", os.sep)):
        raise ConfigError(
            f"-o {config.output}: names a folder; give the YAML file to write, e.g. "
            f"-o {path / name}"
        )
    if path.parent.is_file():
        raise InputError(
            f"{path}: cannot be written: {path.parent} is a file, not a folder; choose a YAML "
            "file in a folder"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        compiler.Compiler().compile(pipeline_function(config), str(path))
    except OSError as error:  # the folder is a file, read-only, or not a real folder (/proc)
        raise InputError(
            f"{path}: cannot write the pipeline YAML there ({error.strerror or error}); choose "
            "a file in a folder you can write to"
        ) from error
    return path


def check_inputs(values: dict[str, Any]) -> None:
    """Check, before the first step, that every input the pipeline will read is there: the
    sequence files, the label table and the motif file (local files, or ``s3://`` objects), and
    a local model folder (a ``models:/`` name is looked up by its step).

    Raises:
        InputError: one line naming every input that is missing.
    """
    from genomeflow import storage

    wanted = [str(item) for name in ("inputs", "unlabelled") for item in values.get(name) or []]
    for name in ("label_table", "motif_database"):
        if values.get(name):
            wanted.append(str(values[name]))
    model = str(values.get("model") or "")
    missing = []
    for location in wanted:
        if storage.is_remote(location):
            if not storage.exists(location):
                missing.append(f"{location} (no such object)")
        elif not Path(location).is_file():
            why = "a folder, not a file" if Path(location).is_dir() else "no such file"
            missing.append(f"{location} ({why})")
    if model and "://" not in model and not model.startswith("models:/"):
        if not Path(model).is_dir():
            missing.append(f"{model} (no such model folder)")
    elif model.startswith("s3://") and not storage.exists(model):
        missing.append(f"{model} (no such object)")
    if missing:
        raise InputError(
            f"pipeline input(s) missing: {', '.join(missing)}; fix the paths or URIs (no step "
            "was started)"
        )


def run_local(config: PipelineConfig) -> tuple[str, str]:
    """Run the pipeline on the KFP local runner (every task a subprocess of this Python).

    Returns:
        The KFP run id the tasks saw (``KFP_RUN_ID``, the tag of the MLflow parent run) and the
        MLflow experiment.
    """
    from kfp import local

    from genomeflow.storage.guard import OUTPUT_MARKER, check_outputs, write_marker
    from genomeflow.tracking import resolve_tracking_uri

    pipeline = pipeline_function(config, retries=False)
    values = arguments(config, pipeline)
    check_inputs(values)  # a missing file fails here, not in a step's log
    uri = resolve_tracking_uri()
    if uri is None:
        raise ConfigError(
            "the pipeline records to MLflow: start the local services with `genomeflow services "
            "up --object-store` or set MLFLOW_TRACKING_URI"
        )
    # Each run adds its own run-named artifacts and log to the root and replaces nothing: a
    # root genomeflow made (marked) is reused, an empty folder filled, any other refused.
    inputs = [*config.inputs, *([config.params_file] if config.params_file else [])]
    check_outputs(inputs, [config.output or LOCAL_ROOT], overwrite=True)
    run_id = f"local-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    # Tasks inherit this environment: the run id ties their MLflow runs to the parent run, and
    # `python3` in the task command must be this interpreter (with genomeflow installed).
    os.environ.update({"KFP_RUN_ID": run_id, "MLFLOW_TRACKING_URI": uri})
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    root = Path(config.output or LOCAL_ROOT).resolve()
    root.mkdir(parents=True, exist_ok=True)
    if not (root / OUTPUT_MARKER).is_file():
        write_marker(root, "pipeline")
    log_path = root / f"{run_id}.log"
    print(f"running the {config.pipeline} pipeline on the KFP local runner (task logs: {log_path})")
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    # It warns, per task, that cluster settings (resources, GPUs, image) do nothing locally.
    warnings.filterwarnings("ignore", module=r"kfp\.local\.")
    with log_path.open("w", encoding="utf-8") as log:
        progress = ProgressLog(log, sys.stdout)
        root_logger, handlers = logging.getLogger(), logging.getLogger().handlers[:]
        root_logger.handlers = [logging.StreamHandler(progress)]  # the runner's own messages too
        try:
            with contextlib.redirect_stdout(progress):
                pipeline(**values)
        except RuntimeError as error:  # the local runner's "pipeline failed"
            raise PipelineError(
                f"the {config.pipeline} pipeline failed: {COLOUR.sub('', str(error))} See the "
                f"failing task's log in {log_path}; its MLflow runs are tagged kfp.run_id={run_id}"
            ) from error
        finally:
            root_logger.handlers = handlers
    return run_id, values.get("experiment", pipeline.component_spec.inputs["experiment"].default)


def submit(config: PipelineConfig) -> dict[str, Any]:
    """Compile and send the pipeline to a Kubeflow Pipelines endpoint; optionally wait.

    With ``config.version`` the YAML is uploaded as that version of the pipeline (the pipeline
    is created on first upload) and the run uses it; otherwise the package is run directly.

    Returns:
        ``run_id``, ``url``, the MLflow ``experiment`` and, with --wait, ``state``.
    """
    import kfp

    host = config.host or os.environ.get("KFP_HOST")
    if not host:
        raise ConfigError("give the Kubeflow Pipelines endpoint: --host URL (or set KFP_HOST)")
    pipeline = pipeline_function(config)
    values = arguments(config, pipeline)
    package = compile_pipeline(
        dataclasses.replace(config, output=config.output or f"genomeflow-{config.pipeline}.yaml")
    )
    name = pipeline.name
    run_name = config.run_name or f"{name} {time.strftime('%Y-%m-%d %H:%M:%S')}"
    # KFP_TOKEN: a bearer token for clusters behind authentication (e.g. from CI)
    client = kfp.Client(
        host=host, namespace=config.namespace, existing_token=os.environ.get("KFP_TOKEN")
    )
    if config.version:
        pipeline_id = (
            client.get_pipeline_id(name)
            or client.upload_pipeline(str(package), pipeline_name=name).pipeline_id
        )
        version = client.upload_pipeline_version(
            str(package), pipeline_version_name=config.version, pipeline_id=pipeline_id
        )
        experiment = client.create_experiment(config.kfp_experiment, namespace=config.namespace)
        run = client.run_pipeline(
            experiment_id=experiment.experiment_id,
            job_name=run_name,
            params=values,
            pipeline_id=pipeline_id,
            version_id=version.pipeline_version_id,
        )
    else:
        run = client.create_run_from_pipeline_package(
            str(package),
            arguments=values,
            run_name=run_name,
            experiment_name=config.kfp_experiment,
            namespace=config.namespace,
        )
    result = {
        "run_id": run.run_id,
        "url": f"{host.rstrip('/')}/#/runs/details/{run.run_id}",
        "experiment": values.get(
            "experiment", pipeline.component_spec.inputs["experiment"].default
        ),
    }
    if config.wait:
        finished = client.wait_for_run_completion(run.run_id, timeout=int(config.timeout))
        result["state"] = str(finished.state)
    return result
