"""The MLflow model registry: ``models:/`` URIs, the champion, registered models downloaded.

``genomeflow predict models:/NAME@champion ...`` (and compare, interpret, evaluate) reach a
registered version through :func:`resolve_model`. Registering and the gate are the ``register``
stage's (:mod:`genomeflow.stages.register`, :mod:`genomeflow.tracking.gate`); the pyfunc wrapper
is :mod:`genomeflow.tracking.pyfunc`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any

import mlflow

from genomeflow.errors import InputError, TrackingError
from genomeflow.tracking.pyfunc import MODEL_ARTIFACT
from genomeflow.tracking.pyfunc import SequenceClassifierModel as SequenceClassifierModel
from genomeflow.tracking.runs import active_run, recording, resolve_tracking_uri

log = logging.getLogger(__name__)

# SequenceClassifierModel is re-exported: the entry code of versions registered before
# genomeflow.tracking.pyfunc existed imports it from here.

CHAMPION, CHALLENGER = "champion", "challenger"
REGISTRY_SCHEME = "models:/"
_URI = re.compile(r"models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>\d+))/?")


def parse_model_uri(uri: str) -> tuple[str, str | None, int | None]:
    """``models:/NAME@ALIAS`` -> (NAME, ALIAS, None); ``models:/NAME/3`` -> (NAME, None, 3).

    Raises:
        InputError: any other form.
    """
    match = _URI.fullmatch(uri.strip())
    if match is None:
        raise InputError(
            f"{uri}: not a registered model URI; write models:/NAME@ALIAS (e.g. "
            "models:/promoters@champion) or models:/NAME/VERSION"
        )
    version = match["version"]
    return match["name"], match["alias"], None if version is None else int(version)


def _registry_uri() -> str:
    uri = active_run().uri or resolve_tracking_uri()
    if uri is None:
        raise TrackingError(
            "models:/ URIs are read from the MLflow registry, and none is set: start it with "
            "`genomeflow services up`, or set MLFLOW_TRACKING_URI / pass --tracking-uri URI"
        )
    return uri


def _resolve_version(
    client: Any, server: str, uri: str, name: str, alias: str | None, version: int | None
) -> tuple[int, int]:
    """The version number ``uri`` names (aliases looked up now), and when its registered model
    was created (ms): numbers restart when a model is deleted and registered again, or the
    tracking database is new, so the number alone does not name one version for ever."""
    from mlflow.exceptions import MlflowException

    try:
        registered = client.get_registered_model(name)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise InputError(
                f"{uri}: no registered model named {name!r} in MLflow at {server}; "
                "check the name, or register one with `genomeflow register`"
            ) from error
        raise
    if alias is not None:
        if alias not in registered.aliases:
            known = ", ".join(sorted(registered.aliases)) or "none"
            raise InputError(
                f"{uri}: the model {name!r} has no alias {alias!r} (its aliases: {known}); "
                "use one of those, or a version: models:/NAME/VERSION"
            )
        return int(registered.aliases[alias]), registered.creation_timestamp
    assert version is not None
    try:
        client.get_model_version(name, str(version))
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise InputError(
                f"{uri}: the model {name!r} has no version {version}; check the number"
            ) from error
        raise
    return version, registered.creation_timestamp


def champion_uri(name: str) -> str | None:
    """``models:/NAME@champion`` when the registered model ``name`` has a champion, else None."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    server = _registry_uri()
    with recording(server, f"look up the registered model {name!r}"):
        try:
            aliases = MlflowClient(server).get_registered_model(name).aliases
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
    return f"{REGISTRY_SCHEME}{name}@{CHAMPION}" if CHAMPION in aliases else None


def comparable_champion(name: str, model: str | Path) -> str | None:
    """``models:/NAME@champion`` when ``name`` has a champion of the model folder's classes and
    alphabet; None when it has none, or one of other classes or another alphabet (said on the
    log: comparing weights across tasks means nothing, and register would refuse it anyway)."""
    from mlflow import MlflowClient

    from genomeflow.models.loading import load_classifier

    uri = champion_uri(name)
    if uri is None:
        return None
    classifier = load_classifier(model)
    server = _registry_uri()
    with recording(server, f"read the champion of {name!r}"):
        champion = MlflowClient(server).get_model_version_by_alias(name, CHAMPION)
    tags = champion.tags or {}
    theirs = json.loads(tags.get("genomeflow.label_names", "null"))  # null: not recorded
    ours = list(classifier.label_names)
    why = None
    if theirs is not None and theirs != ours:
        why = f"its classes {theirs} differ from the model's {ours}"
    elif tags.get("genomeflow.alphabet", classifier.alphabet.value) != classifier.alphabet.value:
        why = f"it reads {tags['genomeflow.alphabet']}, the model {classifier.alphabet.value}"
    if why is not None:
        log.warning(
            "not comparing with the champion of %s (version %s): %s; the model is analysed alone",
            name,
            champion.version,
            why,
        )
        return None
    return uri


def download_registered(uri: str, destination: str | Path | None = None) -> Path:
    """The genomeflow model folder of a registered version, downloaded (once) and local.

    Versions never change, so a version is downloaded once into
    ``<genomeflow home>/registry/<server>/<name>/<version>-<model created, ms>`` (or
    ``destination``) and reused; an alias is looked up on every call.

    Args:
        uri: ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``.
        destination: folder to download into, instead of the cache.

    Returns:
        The genomeflow model folder inside the downloaded MLflow model.

    Raises:
        InputError: bad URI, unknown name/alias/version, or not a genomeflow model.
        TrackingError: no registry set, or MLflow failed.
    """
    from mlflow import MlflowClient
    from mlflow.models import Model

    from genomeflow.storage import atomic_directory
    from genomeflow.storage.home import genomeflow_home

    name, alias, version = parse_model_uri(uri)
    server = _registry_uri()
    client = MlflowClient(server, registry_uri=server)
    with recording(server, f"look up {uri}"):
        version, created = _resolve_version(client, server, uri, name, alias, version)
    if destination is None:
        key = hashlib.sha256(server.encode()).hexdigest()[:12]
        destination = genomeflow_home() / "registry" / key / name / f"{version}-{created}"
    destination = Path(destination)
    if not (destination / "MLmodel").is_file():
        destination.parent.mkdir(parents=True, exist_ok=True)
        log.info("downloading %s (version %d) to %s", uri, version, destination)
        with (
            recording(server, f"download {uri}"),
            atomic_directory(destination) as partial,
        ):
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"{REGISTRY_SCHEME}{name}/{version}",
                dst_path=str(partial),
                tracking_uri=server,
                registry_uri=server,
            )
            if not (partial / "MLmodel").is_file():  # MLflow downloads nothing without a word
                raise InputError(
                    f"{uri}: version {version} of {name!r} has no files in the artifact store "
                    f"of {server} (they were deleted, or went with a store that kept them in "
                    "memory); register the model again, or point the alias at another version"
                )
    flavor = Model.load(str(destination / "MLmodel")).flavors.get("python_function", {})
    artifact = flavor.get("artifacts", {}).get(MODEL_ARTIFACT)
    if artifact is None:
        raise InputError(
            f"{uri}: version {version} of {name!r} is not a genomeflow model (no '{MODEL_ARTIFACT}'"
            " artifact); register genomeflow models with `genomeflow register`"
        )
    return destination / artifact["path"]


def resolve_model(location: str | Path) -> Path:
    """The local model folder of ``location``: the folder itself, or a registered version
    (``models:/NAME@ALIAS``, ``models:/NAME/VERSION``) downloaded once from the MLflow registry."""
    if str(location).startswith("models:/"):
        return download_registered(str(location))
    return Path(location)
