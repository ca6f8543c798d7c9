"""Configs of the two commands that are not stages: services and pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from genomeflow.config.base import (
    StageConfig,
    _require,
    option,
    parse_assignments,
)


@dataclass
class ServicesConfig(StageConfig):
    """Settings of ``genomeflow services``: the local MLflow server and S3 object store."""

    action: Literal["up", "down", "status"] = option(
        help="up: start or reuse; down: stop what genomeflow started; status", positional=True
    )
    home: str | None = option(
        None, help="folder of state, databases and logs", shown="$GENOMEFLOW_HOME or ~/.genomeflow"
    )
    mlflow_port: int = option(5000, help="MLflow server port on 127.0.0.1")
    object_store: bool = option(
        False, help="also start a local S3 object store (Ceph radosgw) as MLflow's artifact store"
    )
    s3_port: int = option(7480, help="S3 gateway port on 127.0.0.1")
    mon_port: int = option(3300, help="Ceph monitor port on 127.0.0.1")
    bucket: str = option("genomeflow", help="bucket created in the object store")
    timeout: float = option(120.0, help="seconds to wait for a service to become healthy")

    def __post_init__(self) -> None:
        self._check_choices()
        for name in ("mlflow_port", "s3_port", "mon_port"):
            port = getattr(self, name)
            _require(
                1024 <= port <= 65535, f"--{name.replace('_', '-')} must be 1024-65535, got {port}"
            )
        _require(self.timeout > 0, f"--timeout must be positive, got {self.timeout}")


@dataclass
class PipelineConfig(StageConfig):
    """Settings of ``genomeflow pipeline``: compile, run locally, or submit a Kubeflow pipeline."""

    action: Literal["compile", "run", "submit"] = option(
        help="compile: write the YAML; run --local: run it on the KFP local runner with the "
        "local services; submit: send it to a Kubeflow Pipelines endpoint",
        positional=True,
    )
    pipeline: Literal["training", "predict"] = option(
        "training", help="training: FASTA to a gated, registered model; predict: batch scoring"
    )
    inputs: list[str] = option(
        [], help="FASTA/FASTQ paths or s3:// URIs (one file per class for training)"
    )
    param: list[str] = option(
        [], help="pipeline parameters as NAME=VALUE (YAML values: preset=tiny sweep_trials=4)"
    )
    params_file: str | None = option(None, help="YAML/JSON mapping of pipeline parameters")
    output: str | None = option(
        None,
        help="compile: the YAML file; run --local: the pipeline root folder (artifacts)",
        shown="genomeflow-<pipeline>.yaml; out/pipeline",
        short="-o",
    )
    pretrain: bool = option(
        False,
        help="the training pipeline with a pretrain step: a masked language model on the "
        "`unlabelled` parameter's FASTA/FASTQ (or the train split when it is empty) whose "
        "weights the sweep, the transformer and crossval start from; adds the parameters "
        "unlabelled and pretrain_steps",
    )
    local: bool = option(False, help="run on the KFP local runner (the only way `run` runs)")
    host: str | None = option(
        None, help="submit: Kubeflow Pipelines API endpoint", shown="$KFP_HOST"
    )
    namespace: str | None = option(None, help="submit: Kubeflow profile namespace")
    kfp_experiment: str = option("genomeflow", help="submit: KFP experiment of the run")
    run_name: str | None = option(None, help="submit: run name", shown="pipeline and time")
    version: str | None = option(
        None,
        help="submit: upload the compiled YAML as this pipeline version (e.g. the git sha) and "
        "run that version",
    )
    wait: bool = option(False, help="submit: wait for the run to end and report its state")
    timeout: float = option(6 * 3600.0, help="submit --wait: seconds to wait")
    image: str | None = option(
        None,
        help="compile: project image of every step",
        shown="$GENOMEFLOW_IMAGE or the version's tag",
    )
    gpus: int = option(1, help="compile: GPUs per GPU step (train, sweep, crossval, interpret)")
    gpu_node_label: str = option(
        "nvidia.com/gpu.present", help="compile: node-selector label of GPU nodes"
    )
    gpu_node_value: str = option("true", help="compile: value of that label")
    gpu_taint: str = option(
        "nvidia.com/gpu", help="compile: taint key of GPU nodes (tolerated with NoSchedule)"
    )
    gpu_timeout: int = option(
        24 * 3600,
        help="compile: seconds a GPU step's pod may run before Kubernetes stops it "
        "(activeDeadlineSeconds); 0: no limit",
    )
    image_pull_secrets: list[str] = option(
        [], help="compile: Secrets holding the registry credentials pods pull the image with"
    )

    def __post_init__(self) -> None:
        self._check_choices()
        _require(
            self.action != "run" or self.local,
            "`genomeflow pipeline run` needs --local (the KFP local runner); to run on a "
            "cluster use `genomeflow pipeline submit --host URL`",
        )
        _require(self.gpus >= 0, f"--gpus must be 0 or more, got {self.gpus}")
        _require(self.gpu_timeout >= 0, f"--gpu-timeout must be 0 or more, got {self.gpu_timeout}")
        _require(
            not self.pretrain or self.pipeline == "training",
            "--pretrain applies to the training pipeline; drop it or add --pipeline training",
        )
        _require(self.timeout > 0, f"--timeout must be positive, got {self.timeout}")
        parse_assignments(self.param, "--param")  # a malformed item fails here, not mid-run
