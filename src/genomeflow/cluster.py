"""How genomeflow runs on Kubernetes, in one place: image, GPU scheduling, secrets.

The compiled pipelines (``pipelines/k8s.py``), the Katib trial template
(:mod:`genomeflow.sweep.katib_trial`) and the manifests all read these values, so a cluster is
configured once. Nothing here talks to a cluster or imports kfp.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from genomeflow import __version__
from genomeflow.errors import ConfigError

GIT_TIMEOUT_S = 5  # `git rev-parse` on a local checkout takes milliseconds
REVISION_LENGTH = 12  # hex digits of the commit in an image tag (git's short form is 7+)


def source_revision() -> str | None:
    """The git commit genomeflow's code comes from: $GENOMEFLOW_GIT_SHA (set in the images),
    else the checkout it runs from; None for an install without either."""
    if os.environ.get("GENOMEFLOW_GIT_SHA"):
        return os.environ["GENOMEFLOW_GIT_SHA"]
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):  # no git, or a hung file system
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def image_tag() -> str:
    """``<version>-<revision>`` (12 hex digits): a new commit is a new tag, so nodes never run a
    stale cached image under an old tag; ``<version>`` alone where no revision is known.
    $GENOMEFLOW_IMAGE_TAG overrides it."""
    if os.environ.get("GENOMEFLOW_IMAGE_TAG"):
        return os.environ["GENOMEFLOW_IMAGE_TAG"]
    revision = source_revision()
    usable = revision and revision != "unknown"
    return f"{__version__}-{revision[:REVISION_LENGTH]}" if usable else __version__


# The image built from docker/Dockerfile (CUDA torch; runs on CPU nodes too); docker/Dockerfile.cpu
# builds the same package as ``<repository>:<tag>-cpu``. `make images` builds both.
IMAGE_REPOSITORY = os.environ.get("GENOMEFLOW_IMAGE_REPOSITORY", "ghcr.io/genomeflow/genomeflow")
IMAGE_TAG = image_tag()
PROJECT_IMAGE = os.environ.get("GENOMEFLOW_IMAGE", f"{IMAGE_REPOSITORY}:{IMAGE_TAG}")
CPU_IMAGE = f"{IMAGE_REPOSITORY}:{IMAGE_TAG}-cpu"
# The version's tag alone, which the generated examples in docs/ show: they are part of a commit,
# so they cannot name that commit's own revision.
VERSION_IMAGE = f"{IMAGE_REPOSITORY}:{__version__}"


@dataclass(frozen=True)
class SecretEnv:
    """A Kubernetes Secret whose keys become environment variables of the same names.

    Attributes:
        name: the Secret's name.
        keys: keys every pod needs.
        optional_keys: keys a pod reads when the Secret has them (e.g. MLflow basic auth).
    """

    name: str
    keys: tuple[str, ...]
    optional_keys: tuple[str, ...] = ()


# Credentials reach pods only as references to these Secrets (manifests/ holds empty templates).
S3_SECRET = SecretEnv(
    "genomeflow-s3", ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL")
)
MLFLOW_SECRET = SecretEnv(
    "genomeflow-mlflow",
    ("MLFLOW_TRACKING_URI",),
    ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"),
)
SECRETS = (S3_SECRET, MLFLOW_SECRET)
# Set by a compiled pipeline on steps that launch pods of their own (the sweep's Katib trials).
CLUSTER_ENV = "GENOMEFLOW_CLUSTER"


@dataclass(frozen=True)
class GpuScheduling:
    """Where GPU work (train, sweep trials, interpret) runs.

    Attributes:
        resource: the extended resource the device plugin advertises.
        count: GPUs per pod (the limit).
        node_label: node-selector label of the GPU node pool.
        node_value: its value.
        taint_key: the taint GPU nodes carry; pods get a matching NoSchedule toleration.

    A particular GPU model is chosen with the node label, e.g. ``nvidia.com/gpu.product`` =
    ``NVIDIA-H100-80GB-HBM3`` (NVIDIA GPU feature discovery labels).
    """

    resource: str = "nvidia.com/gpu"
    count: int = 1
    node_label: str = "nvidia.com/gpu.present"
    node_value: str = "true"
    taint_key: str = "nvidia.com/gpu"


@dataclass(frozen=True)
class Resources:
    """CPU/memory requests and limits of one kind of step (Kubernetes quantities)."""

    cpu: str
    memory: str
    cpu_limit: str | None = None
    memory_limit: str | None = None


@dataclass(frozen=True)
class ClusterSettings:
    """Everything a compiled pipeline or Katib Experiment needs to know about the cluster."""

    image: str = PROJECT_IMAGE
    gpu: GpuScheduling = field(default_factory=GpuScheduling)
    light: Resources = Resources("500m", "1Gi", "2", "4Gi")  # data preparation, gating, reports
    heavy: Resources = Resources("4", "16Gi", "8", "32Gi")  # training, sweeps, interpretation
    secrets: tuple[SecretEnv, ...] = SECRETS
    retries: int = 3  # of steps that talk to MLflow/S3; the local runner gets 0 (errors repeat)
    # seconds a GPU pod (a GPU step, a Katib trial) may run before Kubernetes stops it
    # (activeDeadlineSeconds): a hung trainer frees its GPU within a day; 0 means no limit
    gpu_timeout_s: int = 24 * 3600
    # Secrets with the registry credentials every pod pulls the image with (a private registry)
    image_pull_secrets: tuple[str, ...] = ()

    def to_json(self) -> str:
        """The settings as the JSON that :meth:`from_env` reads back."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_env(cls) -> ClusterSettings:
        """The settings a compiled pipeline handed its step in ``$GENOMEFLOW_CLUSTER``, else the
        defaults. The sweep step reads them so that the Katib trial pods it launches get the image,
        GPU scheduling, resources and Secrets the pipeline was compiled with."""
        text = os.environ.get(CLUSTER_ENV)
        if not text:
            return cls()
        try:
            data = json.loads(text)
            return cls(
                image=data["image"],
                gpu=GpuScheduling(**data["gpu"]),
                light=Resources(**data["light"]),
                heavy=Resources(**data["heavy"]),
                secrets=tuple(
                    SecretEnv(s["name"], tuple(s["keys"]), tuple(s["optional_keys"]))
                    for s in data["secrets"]
                ),
                retries=int(data["retries"]),
                gpu_timeout_s=int(data["gpu_timeout_s"]),
                image_pull_secrets=tuple(data["image_pull_secrets"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ConfigError(
                f"${CLUSTER_ENV} does not hold genomeflow cluster settings ({error!r}): "
                "recompile the pipeline, or unset it to use the defaults"
            ) from None
