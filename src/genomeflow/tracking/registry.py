"""The MLflow model registry: genomeflow models as pyfunc models, versions, aliases and a gate.

:func:`register_model` logs a genomeflow model folder (baseline or transformer: anything
:func:`genomeflow.models.loading.load_classifier` loads) as an MLflow pyfunc model in the active
run,
registers it as a new version of a registered model, points the alias ``challenger`` at it and
runs the gate: the challenger becomes ``champion`` when there is no champion yet, or when it
beats the champion on the test split of a dataset by MORE than ``min_gain`` (``gain >
min_gain``: with the default 0 it must be strictly better; a tie keeps the champion). Lower-is-
better metrics (log_loss, brier, ece) count a drop as a gain. Models with other classes (or
another alphabet) than the champion are refused, never compared.

Registrations of one name that run at once take the gate in turn, in version order: a version
waits until every lower version that genomeflow is still registering has recorded its decision
(the ``gate.decision`` tag, written last), then reads the champion, compares and moves the
aliases. MLflow numbers versions atomically, so the outcome is that of the same registrations
made one after another; a registration that died is waited for no longer than its run lives
(or :data:`GATE_WAIT_S` after it registered).

Registered versions are served with ``mlflow.pyfunc.load_model("models:/NAME@champion")`` or
``mlflow models serve -m models:/NAME@champion``: a DataFrame with a ``sequence`` column in, a
DataFrame of ``label``, ``probability`` and ``p_<class>`` out. The model carries the genomeflow
package as code (``code_paths``) and pinned requirements, so it loads where genomeflow is not
installed. ``genomeflow predict models:/NAME@champion ...`` uses :func:`download_registered`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from genomeflow import __version__
from genomeflow.errors import GenomeflowError, InputError, TrackingError
from genomeflow.sequence.alphabet import check_characters
from genomeflow.tracking.runs import Run, active_run, recording, resolve_tracking_uri

if TYPE_CHECKING:
    from genomeflow.config import RegisterConfig

log = logging.getLogger(__name__)

MODEL_ARTIFACT = "model"  # the pyfunc artifact holding the genomeflow model folder
CHAMPION, CHALLENGER = "champion", "challenger"
LEADERBOARD = "leaderboard.md"  # the run's candidates, ranked on valid (an MLflow artifact)
REGISTRY_SCHEME = "models:/"
# MLflow "models from code": the model is this script, run at load time (genomeflow comes from
# the model's code_paths copy), rather than a cloudpickled object.
ENTRY_FILE = "genomeflow_pyfunc.py"
ENTRY_CODE = """# The MLflow pyfunc entry point of a registered genomeflow model.
import mlflow

from genomeflow.tracking.registry import SequenceClassifierModel

mlflow.models.set_model(SequenceClassifierModel())
"""
_URI = re.compile(r"models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>\d+))/?")
GATE_WAIT_S = 900.0  # the longest a version waits for a lower version's gate decision
GATE_POLL_S = 1.0  # how often it looks
DECISION_TAG = "gate.decision"  # written last: a version without it is still in its gate
TAG_VALUE_LIMIT = 8000  # MLflow's run tag limit; registry tags allow more, config JSON rarely does
# Distributions a genomeflow model needs to load and predict (those installed are pinned), on
# top of genomeflow's own declared dependencies.
RUNTIME_PACKAGES = (
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "numpy",
    "pandas",
    "scikit-learn",
    "xgboost-cpu",
    "xgboost",
    "skops",
    "gensim",
    "biopython",
    "pyyaml",
    "mlflow",
)


# --- the pyfunc model --------------------------------------------------------------------------


def sequences_of(model_input: Any) -> list[str]:
    """The sequences of a pyfunc input: a DataFrame's ``sequence`` column, a Series, a list.

    Raises:
        InputError: no ``sequence`` column, or an entry that is not a non-empty string.
    """
    if isinstance(model_input, pd.DataFrame):
        if "sequence" not in model_input.columns:
            columns = ", ".join(map(str, model_input.columns)) or "none"
            raise InputError(
                f"the input has no 'sequence' column (columns: {columns}); give a table with "
                "one sequence per row in a column named 'sequence'"
            )
        values = model_input["sequence"].tolist()
    elif isinstance(model_input, str):
        values = [model_input]
    elif isinstance(model_input, (pd.Series, np.ndarray)):
        values = list(model_input.tolist())
    else:
        values = list(model_input)
    for index, value in enumerate(values):
        if not isinstance(value, str) or not value:
            raise InputError(
                f"sequence #{index + 1} is {value!r}, not a sequence of residues; give every "
                "row a non-empty string"
            )
    return values


def prediction_frame(probabilities: np.ndarray, label_names: Sequence[str]) -> pd.DataFrame:
    """``label``, ``probability`` (of that label) and ``p_<class>`` per class, one row per input.

    Args:
        probabilities: shape (sequences, classes), columns in ``label_names`` order.
        label_names: the class names.
    """
    best = probabilities.argmax(axis=1)
    frame = pd.DataFrame(
        {
            "label": [label_names[i] for i in best],
            "probability": probabilities[np.arange(len(best)), best].astype(float),
        }
    )
    for column, name in enumerate(label_names):
        frame[f"p_{name}"] = probabilities[:, column].astype(float)
    return frame


class ModelInputError(MlflowException, InputError):
    """Input a served genomeflow model cannot score: an MlflowException with the error code
    INVALID_PARAMETER_VALUE, so MLflow's scoring server answers HTTP 400 with genomeflow's
    one-line message (and no stack trace); an InputError to genomeflow's own callers.
    """

    def __init__(self, message: str) -> None:
        self._line = message
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)

    @property
    def message(self) -> str:  # type: ignore[override]
        return self._line

    @message.setter
    def message(self, value: str) -> None:
        # MLflow's scoring server prefixes "Failed to predict data '<the whole input frame>'"
        # to the message it answers with; the served line stays genomeflow's own.
        pass


class SequenceClassifierModel(mlflow.pyfunc.PythonModel):
    """A genomeflow classifier behind MLflow's pyfunc interface.

    The genomeflow model folder is the pyfunc artifact ``model``; any folder that
    :func:`genomeflow.models.loading.load_classifier` loads works (the classifier handles case).
    """

    def load_context(self, context: Any) -> None:
        from genomeflow.models.loading import load_classifier

        self.classifier = load_classifier(context.artifacts[MODEL_ARTIFACT])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Class probabilities of each sequence.

        Args:
            context: the pyfunc context (unused; the classifier was loaded in load_context).
            model_input: a DataFrame with a ``sequence`` column (a list or Series of strings
                also works).
            params: unused.

        Returns:
            DataFrame: ``label``, ``probability``, ``p_<class>`` (label_names order), one row
            per input sequence.

        Raises:
            ModelInputError: (an MlflowException and an InputError) no sequences column, an
                empty or non-string entry, a character outside the model's alphabet, or any
                other input the classifier refuses; its message is the one line to show.
        """
        try:
            sequences = sequences_of(model_input)
            check_characters(sequences, self.classifier.alphabet)
            probabilities = np.asarray(self.classifier.predict_proba(sequences), dtype=float)
        except GenomeflowError as error:
            raise ModelInputError(" ".join(str(error).split())) from None
        return prediction_frame(probabilities, self.classifier.label_names)


def pinned_requirements() -> list[str]:
    """``name==version`` of each installed runtime dependency of a genomeflow model.

    genomeflow itself travels as code; local version labels (``+cpu``) are dropped so pip can
    resolve the pins from an index.
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    try:
        requires = metadata.requires("genomeflow") or []
    except metadata.PackageNotFoundError:  # run from a source tree: the runtime list alone
        requires = []
    declared = [Requirement(text) for text in requires]
    names = list(RUNTIME_PACKAGES) + [r.name for r in declared if r.marker is None]  # no extras
    pins: dict[str, str] = {}
    for name in names:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        pins[canonicalize_name(name)] = f"{name}=={version.split('+')[0]}"
    return sorted(pins.values())


def log_pyfunc(
    folder: str | Path,
    run: Run,
    example_sequences: Sequence[str],
    classifier: Any | None = None,
) -> Any:
    """Log a genomeflow model folder as the MLflow pyfunc model ``model`` of ``run``.

    Args:
        folder: the genomeflow model folder.
        run: the run to log into; it must be the active MLflow run (``Tracker.run``).
        example_sequences: a few real sequences: the input example and signature.
        classifier: the folder's loaded classifier, when the caller has it already.

    Returns:
        mlflow.models.model.ModelInfo: ``model_uri`` is ``models:/<model_id>`` (MLflow 3
        logged models live beside the run, not in its artifacts).

    Raises:
        TrackingError: ``run`` is not the active run, or MLflow failed.
    """
    from mlflow.models import infer_signature

    import genomeflow
    from genomeflow.models.loading import load_classifier

    handle = mlflow.active_run()
    if not run.active or handle is None or handle.info.run_id != run.run_id:
        raise TrackingError(
            "log_pyfunc logs into the active MLflow run; call it inside `Tracker(uri).run(...)`"
        )
    classifier = classifier or load_classifier(folder)
    example = pd.DataFrame({"sequence": list(example_sequences)})
    output = prediction_frame(
        np.asarray(classifier.predict_proba(example["sequence"].tolist()), dtype=float),
        classifier.label_names,
    )
    with tempfile.TemporaryDirectory(prefix="genomeflow-pyfunc-") as scratch:
        entry = Path(scratch) / ENTRY_FILE
        entry.write_text(ENTRY_CODE, encoding="utf-8")
        with recording(run.uri, "store the model"):
            return mlflow.pyfunc.log_model(
                name=MODEL_ARTIFACT,
                python_model=str(entry),  # models from code: no pickled Python object
                artifacts={MODEL_ARTIFACT: str(Path(folder).resolve())},
                signature=infer_signature(example, output),
                input_example=example,
                pip_requirements=pinned_requirements(),
                code_paths=[str(Path(genomeflow.__file__).parent)],
            )


# --- registering and the gate ------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterSummary:
    """What :func:`register_model` registered and decided.

    Attributes:
        name: the registered model.
        version: the new version (the challenger).
        promoted: whether the challenger is now the champion.
        reason: why (one line).
        challenger_score: the challenger's ``metric`` on the gate's test split (None when
            undefined there).
        champion_score: the previous champion's score; None when there was none or it was not
            compared.
        champion_version: the previous champion's version; None when there was none.
        metric: the gate's metric (canonical name).
        candidate: the challenger's name among the run's candidates.
        candidates: every candidate's ``(name, valid score)``, best first.
    """

    name: str
    version: int
    promoted: bool
    reason: str
    challenger_score: float | None
    champion_score: float | None
    champion_version: int | None
    metric: str = "f1_macro"
    candidate: str = ""
    candidates: list[tuple[str, float | None]] = field(default_factory=list)

    @property
    def aliases(self) -> list[str]:
        """The aliases of the new version after the gate."""
        return [CHALLENGER, CHAMPION] if self.promoted else [CHALLENGER]

    def metrics(self) -> dict[str, float]:
        """Nothing more: :func:`register_model` records the version and the gate's scores on
        its run itself."""
        return {}


def _gate(
    challenger_score: float | None,
    classifier: Any,
    champion: Any | None,
    test: pd.DataFrame,
    metric: str,
    min_gain: float,
) -> tuple[bool, str, float | None]:
    """``(promoted, reason, champion_score)`` of a challenger scoring ``challenger_score``.

    The champion is scored on the same ``test`` rows; it is replaced when the challenger's gain
    (its score minus the champion's, negated for lower-is-better metrics) is above ``min_gain``.
    """
    from genomeflow.metric_names import HIGHER_IS_BETTER

    if champion is None:
        return True, "no champion yet", None
    label_names = list(classifier.label_names)
    if list(champion.label_names) != label_names:
        return (
            False,
            f"the champion's classes {list(champion.label_names)} differ from the "
            f"challenger's {label_names}; register it under another name",
            None,
        )
    if champion.alphabet != classifier.alphabet:
        return (
            False,
            f"the champion scores {champion.alphabet.value} but the challenger "
            f"{classifier.alphabet.value}; register it under another name",
            None,
        )
    from genomeflow.models.candidates import score

    champion_score = score(champion, test, label_names, metric)
    if challenger_score is None or champion_score is None:
        return False, f"{metric} is undefined on this test split; choose another --metric", None
    gain = challenger_score - champion_score
    if not HIGHER_IS_BETTER[metric]:
        gain = -gain
    verdict = "beats" if gain > min_gain else "does not beat"
    return (
        gain > min_gain,
        f"challenger {metric} {challenger_score:.4f} {verdict} champion {champion_score:.4f} "
        f"by more than {min_gain:g} (gain {gain:+.4f})",
        champion_score,
    )


def _truncate(text: str, limit: int = TAG_VALUE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _version_tags(classifier: Any, dataset: Any, run: Run) -> dict[str, str]:
    """Provenance of a new version: data digests, the model's config, versions, run ids."""
    from genomeflow.data.build import MANIFEST as DATASET_MANIFEST
    from genomeflow.storage import file_digest

    manifest = classifier.manifest
    trained_on = manifest.get("dataset") or {}
    tags = {
        "genomeflow.version": __version__,
        "genomeflow.model_kind": manifest.get("kind") or manifest.get("stage"),
        "genomeflow.label_names": json.dumps(list(classifier.label_names)),
        "genomeflow.alphabet": classifier.alphabet.value,
        "genomeflow.config": _truncate(json.dumps(manifest.get("config", {}), sort_keys=True)),
        "genomeflow.training_run_id": manifest.get("run_id"),
        "genomeflow.register_run_id": run.run_id,
        "data.model_dataset_digest": trained_on.get("digest"),
        "data.model_dataset_path": trained_on.get("path"),
        "data.gate_dataset_digest": file_digest(dataset.folder / DATASET_MANIFEST),
        "data.gate_dataset_path": str(dataset.folder),
    }
    return {key: str(value) for key, value in tags.items() if value is not None}


def _score_text(score: float | None) -> str:
    return "none" if score is None else f"{score:.6g}"


def register_model(config: RegisterConfig) -> RegisterSummary:
    """Choose the run's challenger among its candidates, register it, run the gate.

    Every model folder given is a candidate; with ``ensemble_top`` >= 2 the mean-probability
    ensemble of the best candidates is one too. The challenger is the candidate with the best
    VALID score on the gate's metric; only it is scored on test, against the champion on the
    same test rows. Runs inside the active MLflow run (the CLI's ``register`` run): the pyfunc
    model is logged there, the gate's scores are its metrics, the leaderboard is its artifact
    (and its pipeline parent's, and the version's description), and the version's tags record
    provenance and the decision (``gate.decision``, ``gate.metric``, ``gate.challenger``,
    ``gate.champion``, ``gate.reason``). See the module docstring for the gate's rule.

    Args:
        config: a :class:`genomeflow.config.RegisterConfig`.

    Returns:
        RegisterSummary.

    Raises:
        TrackingError: tracking is off (no active run) or MLflow failed.
        InputError: a model or the dataset folder is not usable, or their classes differ.
    """
    from genomeflow.data import load_dataset
    from genomeflow.models.candidates import add_ensemble, leaderboard, rank, score
    from genomeflow.models.loading import load_classifier

    # Inputs first: a bad model or dataset is reported before MLflow is needed.
    dataset = load_dataset(config.dataset)
    entries = [(Path(folder), load_classifier(folder)) for folder in config.models]
    if dataset.label_names != list(entries[0][1].label_names):
        raise InputError(
            f"{config.dataset}: its classes {dataset.label_names} differ from the model's "
            f"{list(entries[0][1].label_names)}; use a dataset with the model's classes, in order"
        )
    valid = dataset.rows("valid", config.dataset)
    test = dataset.rows("test", config.dataset)
    run = active_run()
    if not run.active:
        raise TrackingError(
            "registering a model needs MLflow: start the server with `genomeflow services up` "
            "or pass --tracking-uri URI (not none); from Python, call register_model inside "
            "`Tracker(uri).run('register')`"
        )
    label_names = dataset.label_names
    with tempfile.TemporaryDirectory(prefix="genomeflow-candidates-") as workspace:
        board = rank(entries, valid, label_names, config.metric)
        board = add_ensemble(
            board, config.ensemble_top, valid, label_names, config.metric, Path(workspace)
        )
        chosen = board[0]
        if len(board) > 1:
            log.info(
                "challenger: %s (valid %s %s) of %d candidates",
                chosen.name,
                config.metric,
                _score_text(chosen.valid_score),
                len(board),
            )
        # Scored before anything is registered: a model that cannot be scored is not registered.
        challenger_score = score(chosen.classifier, test, label_names, config.metric)
        version = _register_version(config, run, chosen.folder, chosen.classifier, dataset)
    with _gate_turn(run, config.name, version):
        champion_version = _take_challenger(run, config.name, version)
        champion, champion_score = None, None
        try:
            if champion_version is not None:
                uri = f"{REGISTRY_SCHEME}{config.name}/{champion_version}"
                champion = load_classifier(download_registered(uri))
        except InputError as error:  # e.g. not a genomeflow model: refuse, do not crash
            promoted = False
            reason = f"the champion (version {champion_version}) could not be loaded: {error}"
        else:
            promoted, reason, champion_score = _gate(
                challenger_score, chosen.classifier, champion, test, config.metric, config.min_gain
            )
        summary = RegisterSummary(
            config.name,
            version,
            promoted,
            reason,
            challenger_score,
            champion_score,
            champion_version,
            config.metric,
            chosen.name,
            [(c.name, c.valid_score) for c in board],
        )
        board_text = leaderboard(board, config.metric, challenger_score, _decision_text(summary))
        _decide(run, summary, config.min_gain, board_text)
    _record(run, summary, config, board_text)
    return summary


def _decision_text(summary: RegisterSummary) -> str:
    verdict = "promoted to champion" if summary.promoted else "not promoted"
    return (
        f"{summary.candidate} registered as version {summary.version}, {verdict}: {summary.reason}"
    )


def _register_version(
    config: RegisterConfig, run: Run, folder: Path, classifier: Any, dataset: Any
) -> int:
    """Log and register the model (its provenance tags mark it as in its gate); the version."""
    test = dataset.splits["test"]
    info = log_pyfunc(folder, run, test["sequence"].head(2).tolist(), classifier)
    with recording(str(run.uri), f"register the model {config.name!r}"):
        registered = mlflow.register_model(
            info.model_uri, config.name, tags=_version_tags(classifier, dataset, run)
        )
    return int(registered.version)


def _take_challenger(run: Run, name: str, version: int) -> int | None:
    """Alias ``version`` challenger (in its gate turn); the champion's version, None if none."""
    from mlflow import MlflowClient

    client = MlflowClient(run.uri)
    with recording(str(run.uri), f"read the aliases of {name!r}"):
        client.set_registered_model_alias(name, CHALLENGER, str(version))
        aliases = client.get_registered_model(name).aliases
    return int(aliases[CHAMPION]) if CHAMPION in aliases else None


def _waiting_for(client: Any, name: str, version: int, now_ms: float) -> list[Any]:
    """The lower versions of ``name`` still in a genomeflow gate: registered by genomeflow (a
    register run id tag), no decision yet, their register run still running, registered less
    than :data:`GATE_WAIT_S` ago."""
    from mlflow.exceptions import MlflowException

    pending = []
    for found in client.search_model_versions(f"name='{name}'"):
        tags = found.tags or {}
        run_id = tags.get("genomeflow.register_run_id")
        if (
            int(found.version) >= version
            or run_id is None
            or DECISION_TAG in tags
            or now_ms - (found.creation_timestamp or 0) > GATE_WAIT_S * 1000
        ):
            continue
        try:
            running = client.get_run(run_id).info.status == "RUNNING"
        except MlflowException:  # its run is gone: so is the registration
            running = False
        if running:
            pending.append(found)
    return pending


@contextmanager
def _gate_turn(run: Run, name: str, version: int) -> Iterator[None]:
    """Wait for this version's turn at the gate of ``name``: until no lower version is still in
    its gate (see the module docstring). The block decides; if it fails, the decision tag says
    so, and the next version does not wait for it."""
    import time

    from mlflow import MlflowClient

    client = MlflowClient(run.uri)
    told = False
    while True:
        with recording(str(run.uri), f"read the versions of {name!r}"):
            pending = _waiting_for(client, name, version, time.time() * 1000)
        if not pending:
            break
        if not told:
            versions = ", ".join(sorted((str(item.version) for item in pending), key=int))
            log.info(
                "version %d of %s waits for the gate of version(s) %s", version, name, versions
            )
            told = True
        time.sleep(GATE_POLL_S)
    try:
        yield
    except BaseException as error:
        try:
            with recording(str(run.uri), f"record the failed gate of {name!r}"):
                for key, value in (
                    ("gate.reason", _truncate(f"the gate failed: {error}")),
                    (DECISION_TAG, "failed"),
                ):
                    client.set_model_version_tag(name, str(version), key, value)
        except TrackingError:  # the first failure is the one to report
            log.debug("could not record the failed gate of %s version %d", name, version)
        raise


def _decide(run: Run, summary: RegisterSummary, min_gain: float, board: str) -> None:
    """Move the champion alias if promoted; the leaderboard as the version's description; the
    decision as version tags, the decision itself last (it ends the version's gate turn)."""
    from mlflow import MlflowClient

    client = MlflowClient(run.uri)
    version = str(summary.version)
    with recording(str(run.uri), f"record the gate decision of {summary.name!r}"):
        client.update_model_version(summary.name, version, description=board)
        if summary.promoted:
            client.set_registered_model_alias(summary.name, CHAMPION, version)
        champion = summary.champion_version
        decision = {
            "gate.metric": summary.metric,
            "gate.min_gain": f"{min_gain:g}",
            "gate.challenger": _score_text(summary.challenger_score),
            "gate.champion": _score_text(summary.champion_score),
            "gate.champion_version": "none" if champion is None else str(champion),
            "gate.reason": _truncate(summary.reason),
            "gate.candidate": _truncate(summary.candidate),
            DECISION_TAG: "promoted" if summary.promoted else "refused",
        }
        for key, value in decision.items():
            client.set_model_version_tag(summary.name, version, key, value)


def _record(run: Run, summary: RegisterSummary, config: RegisterConfig, board: str) -> None:
    """The decision as run metrics and tags, the leaderboard as an artifact of this run and of
    its pipeline's parent run, and the optional JSON report."""
    from genomeflow.storage import write_json

    _log_leaderboard(run, board)
    metrics = {
        "registered_version": summary.version,
        "gate_promoted": int(summary.promoted),
        "gate_challenger_score": summary.challenger_score,
        "gate_champion_score": summary.champion_score,
    }
    if summary.challenger_score is not None and summary.champion_score is not None:
        metrics["gate_gain"] = summary.challenger_score - summary.champion_score
    run.log_metrics({k: v for k, v in metrics.items() if v is not None and math.isfinite(v)})
    run.set_tags(
        {
            "genomeflow.registered_model": summary.name,
            "genomeflow.registered_version": summary.version,
            "gate.decision": "promoted" if summary.promoted else "refused",
        }
    )
    if config.report:
        payload = {
            **asdict(summary),
            "aliases": summary.aliases,
            "min_gain": config.min_gain,
            "models": [str(model) for model in config.models],
            "dataset": str(config.dataset),
            "model_uri": f"{REGISTRY_SCHEME}{summary.name}/{summary.version}",
            "run_id": run.run_id,
        }
        write_json(config.report, payload)


def _log_leaderboard(run: Run, board: str) -> None:
    """``leaderboard.md`` on the register run and, inside a pipeline, on its parent run (where
    a reader of the pipeline's run looks first)."""
    from mlflow import MlflowClient

    client = MlflowClient(run.uri)
    with recording(str(run.uri), "log the candidates' leaderboard"):
        client.log_text(run.run_id, board, LEADERBOARD)
        parent = client.get_run(run.run_id).data.tags.get("mlflow.parentRunId")
        if parent:
            client.log_text(parent, board, LEADERBOARD)


# --- models:/ URIs -----------------------------------------------------------------------------


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
) -> int:
    """The version number ``uri`` names (aliases looked up now)."""
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
        return int(registered.aliases[alias])
    assert version is not None
    try:
        client.get_model_version(name, str(version))
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise InputError(
                f"{uri}: the model {name!r} has no version {version}; check the number"
            ) from error
        raise
    return version


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


def download_registered(uri: str, destination: str | Path | None = None) -> Path:
    """The genomeflow model folder of a registered version, downloaded (once) and local.

    Versions never change, so a version is downloaded once into
    ``<genomeflow home>/registry/<server>/<name>/<version>`` (or ``destination``) and reused;
    an alias is looked up on every call.

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
        version = _resolve_version(client, server, uri, name, alias, version)
    if destination is None:
        key = hashlib.sha256(server.encode()).hexdigest()[:12]
        destination = genomeflow_home() / "registry" / key / name / str(version)
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
