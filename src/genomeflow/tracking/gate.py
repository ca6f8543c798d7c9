"""The registry gate's MLflow steps: a version registered, its turn at the gate, the decision.

:func:`genomeflow.stages.register.register_model` chooses the challenger and judges it; this
module makes what it decided true in MLflow. Registrations of one name that run at once take the
gate in turn, in version order: a version waits until every lower version that genomeflow is
still registering has recorded its decision (the ``gate.decision`` tag, written last), then reads
the champion, compares and moves the aliases. MLflow numbers versions atomically, so the outcome
is that of the same registrations made one after another; a registration that died is waited for
no longer than its run lives (or :data:`GATE_WAIT_S` after it registered).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from genomeflow import __version__
from genomeflow.data.build import MANIFEST as DATASET_MANIFEST
from genomeflow.errors import TrackingError
from genomeflow.storage import file_digest, write_json
from genomeflow.tracking.lineage import GIT_COMMIT, KFP_RUN_ID_TAG, git_sha, kfp_run_id
from genomeflow.tracking.pyfunc import log_pyfunc
from genomeflow.tracking.registry import CHALLENGER, CHAMPION, REGISTRY_SCHEME
from genomeflow.tracking.runs import Run, recording

if TYPE_CHECKING:
    from genomeflow.config import RegisterConfig

log = logging.getLogger(__name__)

LEADERBOARD = "leaderboard.md"  # the run's candidates, ranked on valid (an MLflow artifact)
GATE_WAIT_S = 900.0  # the longest a version waits for a lower version's gate decision
GATE_POLL_S = 1.0  # how often it looks
DECISION_TAG = "gate.decision"  # written last: a version without it is still in its gate
TAG_VALUE_LIMIT = 8000  # MLflow's run tag limit; registry tags allow more, config JSON rarely does
# One registration, however often it is attempted: a retried pipeline step (same KFP run, same
# challenger), or a create request MLflow sent again after a lost answer, finds its version.
REGISTRATION_TAG = "genomeflow.registration"


@dataclass(frozen=True)
class RegisterSummary:
    """What :func:`genomeflow.stages.register.register_model` registered and decided.

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


def _truncate(text: str, limit: int = TAG_VALUE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def version_tags(classifier: Any, dataset: Any, run: Run) -> dict[str, str]:
    """Provenance of a new version: data digests, the model's config, versions, run ids."""

    manifest = classifier.manifest
    trained_on = manifest.get("dataset") or {}
    tags = {
        "genomeflow.version": __version__,
        GIT_COMMIT: git_sha(),
        KFP_RUN_ID_TAG: kfp_run_id(),
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


def score_text(score: float | None) -> str:
    return "none" if score is None else f"{score:.6g}"


def registration_key(run: Run, candidate: str, classifier: Any) -> str:
    """What makes two attempts one registration: the KFP run (else this register run), the
    challenger's name and its model's manifest (its training run, data digests, settings)."""
    scope = kfp_run_id() or run.run_id
    material = json.dumps([scope, candidate, classifier.manifest], sort_keys=True, default=str)
    return hashlib.sha256(material.encode()).hexdigest()[:32]  # 128 bits: no collisions


def _versions_with(client: Any, name: str, key: str) -> list[Any]:
    """The versions of ``name`` registered under ``key``, lowest first."""
    found = client.search_model_versions(f"name='{name}' and tags.`{REGISTRATION_TAG}` = '{key}'")
    return sorted(found, key=lambda item: int(item.version))


def run_dataset(run: Run, context: str) -> Any | None:
    """The dataset this run logged as input with ``context`` (``test``), or None."""
    with recording(str(run.uri), "read the run's datasets"):
        inputs = MlflowClient(run.uri).get_run(str(run.run_id)).inputs
    for item in inputs.dataset_inputs if inputs else []:
        if any(t.key == "mlflow.data.context" and t.value == context for t in item.tags):
            return item.dataset
    return None


def register_version(
    name: str, run: Run, chosen: Any, dataset: Any, scores: dict[str, dict[str, float]]
) -> tuple[int, dict[str, str]]:
    """Log the challenger as the run's pyfunc model and register it (its provenance tags mark it
    as in its gate), once: a version registered under the same key (:func:`registration_key`)
    is reused.

    Args:
        name: the registered model.
        run: the register run (the active MLflow run).
        chosen: the challenger (a :class:`genomeflow.models.candidates.Candidate`).
        dataset: the gate's dataset (its folder, its splits).
        scores: ``{"test": {...}, "validation": {...}}``: the challenger's metrics on those
            splits, recorded as the logged model's on the run's datasets of those contexts.

    Returns:
        The version, and the tags of an earlier attempt's version (empty for a new version).
    """
    client = MlflowClient(run.uri)
    key = registration_key(run, chosen.name, chosen.classifier)
    with recording(str(run.uri), f"look up earlier registrations of {name!r}"):
        earlier = _versions_with(client, name, key)
    if earlier:
        log.info("version %s of %s was registered by an earlier attempt", earlier[0].version, name)
        return int(earlier[0].version), dict(earlier[0].tags or {})
    test = dataset.splits["test"]
    info = log_pyfunc(chosen.folder, run, test["sequence"].head(2).tolist(), chosen.classifier)
    for context, values in scores.items():  # the logged model's page: its scores, on what data
        run.log_metrics(values, model_id=info.model_id, dataset=run_dataset(run, context))
    tags = {**version_tags(chosen.classifier, dataset, run), REGISTRATION_TAG: key}
    with recording(str(run.uri), f"register the model {name!r}"):
        mlflow.register_model(info.model_uri, name, tags=tags)
        # MLflow sends a create request again when its answer was lost: keep the first version.
        versions = _versions_with(client, name, key)
        for extra in versions[1:]:
            client.delete_model_version(name, extra.version)
    return int(versions[0].version), {}


def take_challenger(run: Run, name: str, version: int) -> int | None:
    """Alias ``version`` challenger (in its gate turn); the champion's version, None if none."""

    client = MlflowClient(run.uri)
    with recording(str(run.uri), f"read the aliases of {name!r}"):
        client.set_registered_model_alias(name, CHALLENGER, str(version))
        aliases = client.get_registered_model(name).aliases
    return int(aliases[CHAMPION]) if CHAMPION in aliases else None


def _waiting_for(client: Any, name: str, version: int, now_ms: float) -> list[Any]:
    """The lower versions of ``name`` still in a genomeflow gate: registered by genomeflow (a
    register run id tag), no decision yet, their register run still running, registered less
    than :data:`GATE_WAIT_S` ago."""

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
def gate_turn(run: Run, name: str, version: int) -> Iterator[None]:
    """Wait for this version's turn at the gate of ``name``: until no lower version is still in
    its gate (see the module docstring). The block decides; if it fails, the decision tag says
    so, and the next version does not wait for it."""

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


def decide(run: Run, summary: RegisterSummary, min_gain: float, board: str) -> None:
    """Move the champion alias if promoted; the leaderboard as the version's description; the
    decision as version tags, the decision itself last (it ends the version's gate turn)."""

    client = MlflowClient(run.uri)
    version = str(summary.version)
    with recording(str(run.uri), f"record the gate decision of {summary.name!r}"):
        tags = client.get_model_version(summary.name, version).tags or {}
        described = f"{provenance_text(tags)}\n\n{board}"
        client.update_model_version(summary.name, version, description=described)
        champion = summary.champion_version
        decision = {
            "gate.metric": summary.metric,
            "gate.min_gain": f"{min_gain:g}",
            "gate.challenger": score_text(summary.challenger_score),
            "gate.champion": score_text(summary.champion_score),
            "gate.champion_version": "none" if champion is None else str(champion),
            "gate.reason": _truncate(summary.reason),
            "gate.candidate": _truncate(summary.candidate),
        }
        # Tags, alias, decision: a retry that finds the alias moved finds the reasons too.
        for key, value in decision.items():
            client.set_model_version_tag(summary.name, version, key, value)
        if summary.promoted:
            client.set_registered_model_alias(summary.name, CHAMPION, version)
        verdict = "promoted" if summary.promoted else "refused"
        client.set_model_version_tag(summary.name, version, DECISION_TAG, verdict)


def provenance_text(tags: dict[str, str]) -> str:
    """Where a version came from, in words, from its tags (:func:`version_tags`)."""
    unknown = "unknown"
    lines = [
        f"Registered by genomeflow {tags.get('genomeflow.version', unknown)} from git commit "
        f"{tags.get(GIT_COMMIT, unknown)}, KFP run {tags.get(KFP_RUN_ID_TAG, 'none')}, "
        f"register run {tags.get('genomeflow.register_run_id', unknown)}; trained in run "
        f"{tags.get('genomeflow.training_run_id', 'none (untracked)')}.",
        "",
        f"- trained on: {tags.get('data.model_dataset_path', unknown)} "
        f"({tags.get('data.model_dataset_digest', unknown)})",
        f"- gated on: {tags.get('data.gate_dataset_path', unknown)} "
        f"({tags.get('data.gate_dataset_digest', unknown)})",
    ]
    return "\n".join(lines)


def earlier_summary(
    name: str, version: int, tags: dict[str, str], candidates: list[tuple[str, float | None]]
) -> RegisterSummary | None:
    """The decision an earlier attempt recorded on ``version`` (None when it did not decide)."""
    if tags.get(DECISION_TAG) not in ("promoted", "refused"):
        return None

    def number(key: str) -> float | None:
        value = tags.get(key, "none")
        return None if value == "none" else float(value)

    champion = number("gate.champion_version")
    return RegisterSummary(
        name,
        version,
        tags[DECISION_TAG] == "promoted",
        tags.get("gate.reason", ""),
        number("gate.challenger"),
        number("gate.champion"),
        None if champion is None else int(champion),
        tags.get("gate.metric", "f1_macro"),
        tags.get("gate.candidate", ""),
        candidates,
    )


def record(
    run: Run,
    summary: RegisterSummary,
    config: RegisterConfig,
    board: str,
    scores: dict[str, float] | None = None,
) -> None:
    """The decision as run metrics and tags, the leaderboard as an artifact of this run; on its
    pipeline's parent run too, with the challenger's ``scores`` (``test_f1_macro``...), so the
    pipeline's run shows the result; and the optional JSON report."""

    parent = log_leaderboard(run, board)
    metrics = {
        "registered_version": summary.version,
        "gate_promoted": int(summary.promoted),
        "gate_challenger_score": summary.challenger_score,
        "gate_champion_score": summary.champion_score,
    }
    if summary.challenger_score is not None and summary.champion_score is not None:
        metrics["gate_gain"] = summary.challenger_score - summary.champion_score
    metrics = {k: v for k, v in metrics.items() if v is not None and math.isfinite(v)}
    champion = summary.champion_version
    tags = {
        "genomeflow.registered_model": summary.name,
        "genomeflow.registered_version": summary.version,
        "genomeflow.challenger": summary.candidate,
        DECISION_TAG: "promoted" if summary.promoted else "refused",
        "gate.reason": _truncate(summary.reason),
        "gate.champion_version": "none" if champion is None else champion,
    }
    for target in (run, Run(run.uri, parent)) if parent else (run,):
        target.log_metrics(metrics if target is run else {**(scores or {}), **metrics})
        target.set_tags(tags)
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


def log_leaderboard(run: Run, board: str) -> str | None:
    """``leaderboard.md`` on the register run and, inside a pipeline, on its parent run (where
    a reader of the pipeline's run looks first); the parent run's id, None without one."""

    client = MlflowClient(run.uri)
    with recording(str(run.uri), "log the candidates' leaderboard"):
        client.log_text(run.run_id, board, LEADERBOARD)
        parent = client.get_run(run.run_id).data.tags.get("mlflow.parentRunId")
        if parent:
            client.log_text(parent, board, LEADERBOARD)
    return parent
