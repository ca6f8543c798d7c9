"""A pretrained checkpoint as a local folder: ``--init-from`` a folder as it is, a
``models:/NAME@ALIAS`` version or a ``runs:/RUN_ID/PATH`` artifact downloaded once (run
artifacts and versions never change) into the genomeflow home."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from genomeflow.errors import TrackingError
from genomeflow.storage import atomic_directory
from genomeflow.storage.home import genomeflow_home
from genomeflow.tracking.registry import download_registered
from genomeflow.tracking.runs import recording, resolve_tracking_uri

log = logging.getLogger(__name__)


def local_checkpoint(location: str) -> Path:
    """A local folder of the checkpoint: the folder itself, or a (cached) download."""
    if location.startswith("models:/"):
        return download_registered(location)
    if not location.startswith("runs:/"):
        return Path(location).expanduser()
    import mlflow

    uri = resolve_tracking_uri()
    if uri is None:
        raise TrackingError(
            f"--init-from {location}: no MLflow server is known; start `genomeflow services up`, "
            "set MLFLOW_TRACKING_URI or give --tracking-uri"
        )
    key = hashlib.sha256(f"{uri} {location}".encode()).hexdigest()[:16]
    destination = genomeflow_home() / "checkpoints" / key  # run artifacts do not change
    if not destination.is_dir():
        destination.parent.mkdir(parents=True, exist_ok=True)
        log.info("downloading %s to %s", location, destination)
        with recording(uri, f"download {location}"), atomic_directory(destination) as partial:
            mlflow.artifacts.download_artifacts(
                artifact_uri=location, dst_path=str(partial), tracking_uri=uri
            )
    found = [p.parent for p in sorted(destination.rglob("config.json"))]
    return found[0] if found else destination
