"""The cluster sweep engine: ``genomeflow sweep --backend katib`` as a Katib v1beta1 Experiment
whose trials are ``genomeflow train`` pods.

The sweep stage (:func:`genomeflow.train.sweep.sweep_model`) calls :func:`katib_sweep` to compile
its settings into an Experiment (:mod:`.katib_compile`) and :func:`run_katib_sweep` to create it,
wait for it (:mod:`.katib_client`) and write ``best_params.json`` as the local engine does.

- namespace: as kubectl chooses (:func:`~genomeflow.sweep.katib_client.default_namespace`): the
  pod's, the kubeconfig context's, else ``kubeflow``; the Secrets must exist there.
- inside a pipeline step (``KFP_RUN_ID`` set) the trial pods get the same run id, so their
  MLflow runs nest under the pipeline's parent run.
- trials read the dataset and write their models under ``<output>/trials/<trial name>``; the
  sweep's train settings that differ from ``genomeflow train``'s defaults are every trial's.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubeflow.katib import V1beta1Experiment

from genomeflow.config import SweepConfig, TrainConfig
from genomeflow.kube.pods import KFP_RUN_ID
from genomeflow.storage import OUTPUT_MARKER, is_remote, write_bytes
from genomeflow.storage.local import marker_bytes
from genomeflow.sweep.katib_client import (
    DEFAULT_TIMEOUT_S,
    POLL_S,
    KatibResult,
    default_namespace,
    run_experiment,
)
from genomeflow.sweep.katib_compile import (
    KatibSettings,
    compile_experiment,
    experiment_name,
    experiment_yaml,
    usable_spec,
)
from genomeflow.sweep.katib_trial import NOT_TRIAL_FLAGS
from genomeflow.sweep.spec import SweepSpec

if TYPE_CHECKING:
    from kubeflow.katib import KatibClient

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KatibSweep:
    """A compiled sweep: the spec as compiled (ignored names dropped) and its Experiment."""

    spec: SweepSpec
    experiment: V1beta1Experiment

    @property
    def namespace(self) -> str:
        return self.experiment.metadata.namespace

    def to_yaml(self) -> str:
        return experiment_yaml(self.experiment)


def trial_flags(config: SweepConfig) -> dict[str, Any]:
    """The sweep's ``genomeflow train`` settings that differ from train's defaults."""
    shared = {
        item.name: item.default
        for item in dataclasses.fields(TrainConfig)
        if item.name not in NOT_TRIAL_FLAGS and item.default is not dataclasses.MISSING
    }
    return {
        name: getattr(config, name)
        for name, default in shared.items()
        if getattr(config, name) != default
    }


def katib_sweep(config: SweepConfig, name: str | None = None) -> KatibSweep:
    """Compile ``genomeflow sweep --backend katib``'s settings into an Experiment.

    Trials read ``config.dataset`` and write their models under ``<config.output>/trials/``.

    Args:
        config: the sweep stage's settings, ``--params-file``/``--params-from-run``/``--params``
            already applied (:func:`genomeflow.train.params.resolve_hyperparameters`): their
            values become shared train flags.
        name: the Experiment's name; default the spec's name with a random suffix.
    """
    spec = usable_spec(SweepSpec.from_file(config.spec))
    for what, value in (("DATASET", config.dataset), ("--output", config.output)):
        if not str(value).startswith("s3://"):
            logger.warning(
                "%s %s is not an s3:// URI: trial pods could not read or write it", what, value
            )
    settings = KatibSettings(
        dataset=config.dataset,
        output=f"{config.output.rstrip('/')}/trials",
        name=name or experiment_name(spec.name),
        namespace=config.namespace or default_namespace(),
        train_flags=trial_flags(config),
        max_trials=config.trials,
        parallel_trials=config.parallel,
        algorithm=config.katib_algorithm,
        mlflow_experiment=os.environ.get("GENOMEFLOW_EXPERIMENT", "genomeflow"),
        kfp_run_id=os.environ.get(KFP_RUN_ID),  # set in a pipeline step's pod (pipelines/k8s.py)
        nodes=config.nodes,
    )
    return KatibSweep(spec, compile_experiment(spec, settings))


def run_katib_sweep(
    sweep: KatibSweep,
    output: str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    client: KatibClient | None = None,
    polling_interval: float = POLL_S,
) -> KatibResult:
    """Run a compiled sweep and write ``<output>/best_params.json`` as the local engine does
    (``genomeflow train --params-file`` reads it); constants are included in the params.

    Raises:
        KatibError: see :func:`~genomeflow.sweep.katib_client.run_experiment`.
    """
    if not is_remote(output):
        Path(output).mkdir(parents=True, exist_ok=True)
    # the trials write under the output from the start: marked as genomeflow's, a retry may
    # replace it (--overwrite)
    write_bytes(f"{output.rstrip('/')}/{OUTPUT_MARKER}", marker_bytes("sweep"))
    result = run_experiment(sweep.experiment, sweep.namespace, timeout_s, client, polling_interval)
    constants = {n: p.value for n, p in sweep.spec.parameters.items() if not p.searched}
    found = {**result.params, **constants}
    # in spec order, as the local engine's; hyperband's epochs (if not in the spec) last
    params = {n: found[n] for n in sweep.spec.parameters if n in found}
    params |= {n: value for n, value in found.items() if n not in params}
    result = dataclasses.replace(result, params=params)
    summary = {
        "metric": sweep.spec.metric.name,
        "goal": sweep.spec.metric.goal,
        "best_value": result.best_value,
        "best_trial": result.best_trial,
        "params": result.params,
        "katib_experiment": result.experiment,
    }
    text = json.dumps(summary, indent=2) + "\n"
    write_bytes(f"{output.rstrip('/')}/best_params.json", text.encode("utf-8"))
    return result
