"""Quality of every model family on four tasks, with the run's best-of-run choice.

``SUITE_QUALITY`` is shaped like the entries of suites.SUITES; ``python benchmarks/run.py
quality`` runs it. For each task (datasets_quality.QUALITY_SETS) and seed, one seeded dataset
folder is built and every family is trained on it by its own ``genomeflow`` command in a fresh
child process (wall time and the child's own peak RSS, see suite_tokenise.run_child; MLflow
off): two classic baselines, the CNN (tiny, small), a DistilBERT-tiny from scratch, and a
DistilBERT-tiny self-pretrained (masked LM on the dataset's TRAIN split, ``genomeflow pretrain
DATASET``) then fine-tuned (``--init-from``). Each stage picks its epoch on valid and evaluates
the test split once; that is the family's row. Then, as ``genomeflow register`` does (its pure
functions ``rank``/``add_ensemble``, no MLflow), every model of the seed is ranked on VALID
macro F1, the mean-probability ensemble of the top 3 joins the board, and the board's first (the
best of run) and the ensemble are each scored once on test. Rows are mean ± sd over seeds.

Environment (for a run of minutes rather than hours):
    QUALITY_SETS=ecoli,motif      only these tasks (default: ecoli,motif,protein,long)
    QUALITY_SEEDS=1               only the first N seeds of each task
    QUALITY_FAMILIES=onehot+xgb,cnn-tiny   only these families (names as in the table's keys)
    QUALITY_EPOCHS=1              cap every epoch count at N and pretraining at 20 N steps
                                  (a smoke test: the figures are not the suite's)
    QUALITY_FRESH=1               retrain even when a cached result of the same command exists
    QUALITY_CACHED_ONLY=1         train nothing: report the cached results (a missing one is a
                                  row marked "not run")

A family's result is cached under work/quality/<task>/seed<N>/<family>/ with the exact command
that made it, and reused by a later run with the same command (the suite takes hours on a busy
2-core machine and can be resumed); QUALITY_FRESH=1 retrains.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from datasets_quality import QUALITY_SETS, motif_oracle
from suite_baseline import PUBLISHED
from suite_tokenise import UNTRACKED, Row, Timer, _genomeflow, run_with_load

REPORTED = ("accuracy", "f1_macro", "mcc", "roc_auc")
METRIC = "f1_macro"  # the choice on valid (genomeflow register's default gate metric)
ENSEMBLE_TOP = 3
CHILD_LIMIT_S = 3_600  # seconds; one stage running longer is killed and reported
PRETRAIN_STEPS = 500  # masked-LM steps of batch 32 on the train split (each task)
PATIENCE = ("--patience", "2")  # epochs without a better valid macro F1 before stopping
POSITION_BINS = 8  # --position-bins of the positional CNNs: ~10 bp stretches of an 81 bp promoter
BINS_FLAGS = ("--position-bins", str(POSITION_BINS))

# Published E. coli promoter marks: (source, accuracy, F1, what they were measured on).
PUBLISHED_SPLITS = {
    "BERT-Promoter": "its independent test set",
    "positional one-hot": "its own split",
    "genomeNLP": "its split (reverse complements leaked across splits)",
}
MORE_PUBLISHED = [
    ("msBERT-Promoter, published", "0.962", "-", "a random 20% test split"),
    ("DNABERT-2 + CNN, published", "0.931", "-", "5-fold cross-validation"),
]


@dataclass(frozen=True)
class Family:
    """One model family: its ``genomeflow`` stage(s) and flags."""

    key: str  # the table's name and the cache folder
    stage: str  # baseline | train | pretrained (pretrain, then train --init-from)
    flags: tuple[str, ...]
    pretrain_flags: tuple[str, ...] = ()
    one_strand: bool = False  # trained without reverse complements (same split and test)

    def describe(self) -> str:
        text = " ".join(self.flags)
        if self.one_strand:
            text = f"dataset --no-reverse-complement; {text}"
        if self.stage == "pretrained":
            text = f"pretrain {' '.join(self.pretrain_flags)}; train --init-from {text}"
        return text


BASELINE = ("--folds", "0", "--importance-top", "5", "--permutation-repeats", "1")
TRANSFORMER = ("--architecture", "distilbert", "--preset", "tiny", "--learning-rate", "1e-3")


def _families(
    baselines: list[tuple[str, tuple[str, ...]]],
    epochs: dict[str, int],
    window: tuple[str, ...] = (),
    cnn_window: tuple[str, ...] = (),
    patience: tuple[str, ...] = PATIENCE,
) -> list[Family]:
    """The six families of a task: two baselines, CNN tiny/small, transformer scratch/pretrained.

    ``epochs``: most epochs of cnn-tiny, cnn-small, scratch and fine-tune (early stopping on
    valid macro F1, patience 2). ``window``: transformer --max-length and --window-stride (the
    pretraining windows too); ``cnn_window``: the CNN's.
    """
    families = [Family(key, "baseline", flags + BASELINE) for key, flags in baselines]
    for preset in ("tiny", "small"):
        flags = ["--architecture", "cnn", "--preset", preset, "--learning-rate", "1e-3"]
        flags += ["--epochs", str(epochs[f"cnn-{preset}"]), *patience, *cnn_window]
        families.append(Family(f"cnn-{preset}", "train", tuple(flags)))
    scratch = [*TRANSFORMER, "--epochs", str(epochs["scratch"]), *patience, *window]
    families.append(Family("distilbert-tiny", "train", tuple(scratch)))
    finetune = ["--learning-rate", "1e-3", "--epochs", str(epochs["finetune"]), *patience, *window]
    pretrain = [*TRANSFORMER, "--steps", str(PRETRAIN_STEPS), *window[:2]]
    families.append(
        Family("distilbert-tiny-pretrained", "pretrained", tuple(finetune), tuple(pretrain))
    )
    return families


@dataclass(frozen=True)
class Task:
    seeds: tuple[int, ...]
    families: list[Family]


# Epoch maxima: what 2 CPU cores allow. At the E. coli scale on a quiet machine an epoch takes
# about 20 s (cnn-tiny, distilbert-tiny) to a minute (cnn-small), 3-9x that on a busy one.
DNA_BASELINES = [
    ("onehot+xgb", ("--features", "onehot", "--model", "xgb")),
    ("count(6-mer)+xgb", ("--features", "count", "--model", "xgb")),
]
# Position-free features where the signal moves (onehot+xgb was at chance on motif and long):
# the two best on seed 1's VALID split among count/tfidf/word2vec x rf/xgb/logreg.
MOTIF_BASELINES = [
    ("count(6-mer)+rf", ("--features", "count", "--model", "rf")),
    ("count(6-mer)+xgb", ("--features", "count", "--model", "xgb")),
]
LONG_BASELINES = [
    ("count(6-mer/6)+rf", ("--features", "count", "--model", "rf")),
    ("tfidf(6-mer/6)+logreg", ("--features", "tfidf", "--model", "logreg")),
]
SHORT_EPOCHS = {"cnn-tiny": 8, "cnn-small": 4, "scratch": 5, "finetune": 4}


# Promoters are oriented (the transcription start downstream): a CNN trained and scored on the
# given strand only, at its default learning rate (3e-3), beat the strand-symmetric one by 3
# points of valid and test accuracy on seed 1 (cnn-small).
# Promoters are also aligned (every sequence spans the same stretch around its start site):
# --position-bins lets the head weigh where the boxes sit.
def _one_strand_cnn(preset: str, epochs: int, bins: bool = False) -> Family:
    flags = ("--architecture", "cnn", "--preset", preset, "--no-strand-average")
    if bins:
        flags += BINS_FLAGS
    return Family(
        f"cnn-{preset} one strand" + (f" + {POSITION_BINS} position bins" if bins else ""),
        "train",
        (*flags, "--epochs", str(epochs), *PATIENCE),
        one_strand=True,
    )


ECOLI_FAMILIES = _families(DNA_BASELINES, SHORT_EPOCHS)
# The self-pretrained transformer with the same settings, on the one-strand dataset (pretraining
# included): what `make demo` trains, its dataset built without reverse complements.
ONE_STRAND_PRETRAINED = next(
    dataclasses.replace(f, key=f"{f.key} one strand", one_strand=True)
    for f in ECOLI_FAMILIES
    if f.stage == "pretrained"
)
POSITIONAL = [_one_strand_cnn(preset, 10, bins=True) for preset in ("tiny", "small")]
ONE_STRAND = [
    _one_strand_cnn("tiny", 10),
    _one_strand_cnn("small", 10),
    ONE_STRAND_PRETRAINED,
    *POSITIONAL,
]
_MOTIF_FAMILIES = _families(MOTIF_BASELINES, SHORT_EPOCHS)
# The motif set's sites sit anywhere: position bins should neither help nor (much) hurt there.
MOTIF_POSITIONAL = next(
    dataclasses.replace(
        f, key=f"{f.key} + {POSITION_BINS} position bins", flags=(*f.flags, *BINS_FLAGS)
    )
    for f in _MOTIF_FAMILIES
    if f.key == "cnn-tiny"
)
# Words, not residues (issue 20: the same machinery on natural language): three bag-of-token
# baselines, and the word models at more epochs and patience than the DNA tasks give them, since
# they start from random embeddings on ~320 training documents (at 10 epochs the CNN was still
# at 0.41 test accuracy on seed 42; at 20, 0.74).
TEXT_BASELINES = [
    ("tfidf(1-2)+logreg", ("--features", "tfidf", "--model", "logreg", "--ngram", "1", "2")),
    ("count+xgb", ("--features", "count", "--model", "xgb")),
    ("word2vec+logreg", ("--features", "word2vec", "--model", "logreg")),
]
TEXT_EPOCHS = {"cnn-tiny": 30, "cnn-small": 20, "scratch": 30, "finetune": 20}
TEXT_FAMILIES = _families(TEXT_BASELINES, TEXT_EPOCHS, patience=("--patience", "5"))
TASKS = {
    "ecoli": Task(
        seeds=(1, 2, 3, 4, 5),
        families=[*ECOLI_FAMILIES, *ONE_STRAND],
    ),
    "motif": Task(seeds=(1,), families=[*_MOTIF_FAMILIES, MOTIF_POSITIONAL]),
    "protein": Task(
        seeds=(1,),
        families=_families(
            [
                (
                    "count(1-3-mer)+xgb",
                    ("--features", "count", "--model", "xgb", "--ngram", "1", "3"),
                ),
                (
                    "tfidf(1-3-mer)+logreg",
                    ("--features", "tfidf", "--model", "logreg", "--ngram", "1", "3"),
                ),
            ],
            {"cnn-tiny": 8, "cnn-small": 4, "scratch": 6, "finetune": 5},
        ),
    ),
    "text": Task(seeds=(1, 2, 3), families=TEXT_FAMILIES),
    "long": Task(
        seeds=(1,),
        families=_families(
            LONG_BASELINES,
            {"cnn-tiny": 4, "cnn-small": 2, "scratch": 6, "finetune": 4},
            window=("--max-length", "256", "--window-stride", "254"),
            cnn_window=("--max-length", "1000", "--window-stride", "1000"),
        ),
    ),
}


# --- one family on one seed -----------------------------------------------------------------


@dataclass
class Outcome:
    """What one family's stage(s) gave on one seed."""

    seconds: float
    peak_mib: float
    load: float  # mean 1-minute load average while it ran
    test: dict[str, float]
    valid: dict[str, float]
    failure: str = ""

    @property
    def ok(self) -> bool:
        return not self.failure


def _with_load(command: list[str], log: Path) -> tuple[object, float]:
    """run_child with this suite's limit and environment, and the mean load meanwhile."""
    return run_with_load(command, log, limit_s=CHILD_LIMIT_S, env=UNTRACKED)


def _capped(flags: tuple[str, ...]) -> tuple[str, ...]:
    """QUALITY_EPOCHS: every --epochs at most N, --steps at most 20 N."""
    cap = os.environ.get("QUALITY_EPOCHS")
    if not cap:
        return flags
    out = list(flags)
    for index, flag in enumerate(out[:-1]):
        if flag == "--epochs":
            out[index + 1] = str(min(int(out[index + 1]), int(cap)))
        if flag == "--steps":
            out[index + 1] = str(min(int(out[index + 1]), 20 * int(cap)))
    return tuple(out)


def _failure(log: Path, run: object) -> str:
    if getattr(run, "timed_out", False):
        return f"timed out after {CHILD_LIMIT_S} s"
    lines = [x for x in log.read_text(errors="replace").splitlines() if x.strip()]
    return (lines[-1] if lines else f"exit code {getattr(run, 'returncode', '?')}")[:200]


def _metrics(model: Path, split: str) -> dict[str, float]:
    data = json.loads((model / "reports" / f"{split}_metrics.json").read_text())
    return {name: float(data["metrics"][name]) for name in REPORTED}


def run_family(family: Family, dataset: Path, seed: int, folder: Path) -> Outcome:
    """Train ``family`` on ``dataset`` (cached by command under ``folder``)."""
    model, pretrained = folder / "model", folder / "pretrained"
    seed_flags = ("--seed", str(seed), "--tracking-uri", "none")
    commands: list[list[str]] = []
    if family.stage == "pretrained":
        commands.append(
            [
                *_genomeflow(),
                "pretrain",
                str(dataset),
                "-o",
                str(pretrained),
                *_capped(family.pretrain_flags),
                *seed_flags,
            ]
        )
        init = ("--init-from", str(pretrained))
    else:
        init = ()
    stage = "baseline" if family.stage == "baseline" else "train"
    commands.append(
        [
            *_genomeflow(),
            stage,
            str(dataset),
            "-o",
            str(model),
            *_capped(family.flags),
            *init,
            *seed_flags,
        ]
    )
    record = folder / "result.json"
    if record.exists() and not os.environ.get("QUALITY_FRESH"):
        cached = json.loads(record.read_text())
        made = [[os.path.normpath(c[0]), *c[1:]] for c in cached.get("commands", [])]
        if made == commands:  # the command that made it, as an absolute, normalised path
            return Outcome(**cached["outcome"])
    if os.environ.get("QUALITY_CACHED_ONLY"):
        return Outcome(0.0, 0.0, 0.0, {}, {}, "not run (QUALITY_CACHED_ONLY, no cached result)")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    seconds, peak, loads = 0.0, 0.0, []
    for index, command in enumerate(commands):
        log = folder / f"stage{index + 1}.log"
        run, load = _with_load(command, log)
        seconds += run.seconds
        peak = max(peak, run.peak_mib) if not math.isnan(run.peak_mib) else peak
        loads.append(load)
        if run.returncode != 0:
            outcome = Outcome(seconds, peak, statistics.mean(loads), {}, {}, _failure(log, run))
            break
    else:
        outcome = Outcome(
            seconds, peak, statistics.mean(loads), _metrics(model, "test"), _metrics(model, "valid")
        )
    record.write_text(
        json.dumps({"commands": commands, "outcome": outcome.__dict__}, indent=1) + "\n"
    )
    return outcome


# --- best of run ----------------------------------------------------------------------------


@dataclass
class Choice:
    chosen: str
    board: list[tuple[str, float | None]]
    chosen_test: dict[str, float]
    ensemble: str
    ensemble_test: dict[str, float]
    seconds: float  # ranking on valid + the ensemble + the two test scorings


def best_of_run(dataset: Path, models: dict[str, Path]) -> Choice:
    """Rank the seed's models (family -> model folder) on VALID, add the top-3 ensemble, score
    the first and the ensemble once on test (genomeflow register's choice, without MLflow)."""
    from genomeflow.data import load_dataset
    from genomeflow.evaluate import evaluate_predictions
    from genomeflow.models.candidates import add_ensemble, rank
    from genomeflow.models.loading import load_classifier

    start = time.perf_counter()
    data = load_dataset(dataset)
    valid, test = data.splits["valid"], data.splits["test"]
    labels = data.label_names
    entries = [(folder, load_classifier(folder)) for folder in models.values()]
    with tempfile.TemporaryDirectory(prefix="quality-ensemble-") as workspace:
        board = rank(entries, valid, labels, METRIC)
        board = add_ensemble(board, ENSEMBLE_TOP, valid, labels, METRIC, Path(workspace))

        def test_scores(candidate) -> dict[str, float]:
            probabilities = candidate.classifier.predict_proba(test["sequence"].tolist())
            metrics = evaluate_predictions(test["label"].to_numpy(), probabilities, labels).metrics
            return {name: float(metrics[name]) for name in REPORTED}

        chosen = board[0]
        ensemble = next(
            (c for c in board if c.classifier.manifest.get("kind") == "ensemble"), chosen
        )  # no ensemble when fewer than two models have a valid score: the first stands in
        ensemble_test = test_scores(ensemble)
        chosen_test = ensemble_test if chosen is ensemble else test_scores(chosen)
    # The table names models by family (two cnn-small models would be cnn-small and cnn-small#2).
    of_folder = {folder: key for key, folder in models.items()}
    family = {c.name: of_folder[c.folder] for c in board if c.folder in of_folder}

    def named(name: str) -> str:
        if name.startswith("ensemble(") and name.endswith(")"):
            members = name.removeprefix("ensemble(").removesuffix(")").split(", ")
            return f"ensemble({', '.join(family.get(m, m) for m in members)})"
        return family.get(name, name)

    return Choice(
        named(chosen.name),
        [(named(c.name), c.valid_score) for c in board],
        chosen_test,
        named(ensemble.name),
        ensemble_test,
        time.perf_counter() - start,
    )


# --- rows -----------------------------------------------------------------------------------


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def _row(
    task: str, split: str, family: str, settings: str, outcomes: list[Outcome], seeds: int
) -> Row:
    good = [o for o in outcomes if o.ok]
    failures = sorted({o.failure for o in outcomes if not o.ok})
    if failures:
        label = "NOT RUN" if all(f.startswith("not run") for f in failures) else "FAILED"
        settings += f" | {label} {len(outcomes) - len(good)}/{len(outcomes)}: {'; '.join(failures)}"
    return {
        "task": task,
        "split": split,
        "family": family,
        "seeds": f"{len(good)}/{seeds}",
        **{f"test {m}": _mean_sd([o.test[m] for o in good]) for m in REPORTED},
        "stage s (mean)": round(statistics.mean(o.seconds for o in good), 1) if good else "-",
        "peak MiB (max)": round(max(o.peak_mib for o in good)) if good else "-",
        "load (mean)": round(statistics.mean(o.load for o in outcomes), 1) if outcomes else "-",
        "settings": settings,
    }


def _published_rows() -> list[Row]:
    rows = []
    entries = [
        (s, a, f, next((v for k, v in PUBLISHED_SPLITS.items() if k in s), "its split"))
        for s, a, f in PUBLISHED
    ]
    known = " ".join(s for s, *_ in PUBLISHED)
    entries += [e for e in MORE_PUBLISHED if e[0].split(",")[0] not in known]
    for source, accuracy, f1, split in entries:
        rows.append(
            {
                "task": "ecoli",
                "split": f"theirs: {split}",
                "family": source,
                "seeds": "-",
                "test accuracy": accuracy,
                "test f1_macro": f1,
                "test mcc": "-",
                "test roc_auc": "-",
                "stage s (mean)": "-",
                "peak MiB (max)": "-",
                "load (mean)": "-",
                "settings": "published figure, not measured here",
            }
        )
    return rows


def _chosen(env: str, default: list[str]) -> list[str]:
    value = os.environ.get(env, "").strip()
    return [v.strip() for v in value.split(",") if v.strip()] if value else default


def measure_task(work: Path, name: str, board: list[str] | None = None) -> list[Row]:
    """One task's rows: each family of ``board`` (default: all the task's; QUALITY_FAMILIES
    narrows it) on every seed, then the best of run of each seed's models."""
    task, spec = TASKS[name], QUALITY_SETS[name]
    seeds = task.seeds[: int(os.environ.get("QUALITY_SEEDS") or len(task.seeds))]
    board = board or [f.key for f in task.families]
    wanted = [key for key in _chosen("QUALITY_FAMILIES", board) if key in board]
    families = [f for f in task.families if f.key in wanted]
    outcomes: dict[str, list[Outcome]] = {f.key: [] for f in families}
    choices: list[Choice] = []
    boards: list[int] = []  # models trained per seed (some families may not have run on all)
    started = time.perf_counter()
    for seed in seeds:
        dataset = spec.dataset(work, name, seed)
        models: dict[str, Path] = {}
        for family in families:
            folder = work / "quality" / name / f"seed{seed}" / family.key
            trained_on = spec.dataset(work, name, seed, family.one_strand)
            outcome = run_family(family, trained_on, seed, folder)
            outcomes[family.key].append(outcome)
            print(name, seed, family.key, outcome, flush=True)
            if outcome.ok:
                models[family.key] = folder / "model"
        if len(models) >= 2:
            choice = best_of_run(dataset, models)
            choices.append(choice)
            boards.append(len(models))
            print(name, seed, "board", choice.board, flush=True)
    grouping = "by id" if spec.grouping == "id" else "by MMseqs2 similarity (0.3 id.)"
    split = f"80/10/10 grouped {grouping}, seeds {', '.join(map(str, seeds))}"
    rows = [
        _row(name, split, f.key, f"{f.stage}: {f.describe()}", outcomes[f.key], len(seeds))
        for f in families
    ]
    if choices:
        spent = [
            sum(outcomes[f.key][i].seconds for f in families) + c.seconds
            for i, c in enumerate(choices)
        ]
        peaks = [o.peak_mib for f in families for o in outcomes[f.key] if o.ok]
        loads = [o.load for f in families for o in outcomes[f.key]]
        members = Counter(c.ensemble.removeprefix("ensemble(").rstrip(")") for c in choices)
        picked = Counter(c.chosen for c in choices)
        for label, key, settings in (
            (
                f"ensemble of the top {ENSEMBLE_TOP} on valid",
                "ensemble_test",
                "mean probability; members per seed: "
                + "; ".join(f"{m} (x{n})" for m, n in members.items()),
            ),
            (
                "best of run (first on valid, ensemble included)",
                "chosen_test",
                "chosen per seed: " + "; ".join(f"{m} (x{n})" for m, n in picked.items()),
            ),
        ):
            rows.append(
                {
                    "task": name,
                    "split": split,
                    "family": label,
                    "seeds": f"{len(choices)}/{len(seeds)}",
                    **{
                        f"test {m}": _mean_sd([getattr(c, key)[m] for c in choices])
                        for m in REPORTED
                    },
                    "stage s (mean)": round(statistics.mean(spent), 1),
                    "peak MiB (max)": round(max(peaks)) if peaks else "-",
                    "load (mean)": round(statistics.mean(loads), 1),
                    "settings": f"{settings}; stage s = every family's stages + the choice "
                    f"(valid {METRIC}); models on each seed's board: "
                    f"{', '.join(map(str, boards))} of {len(families)}",
                }
            )
    if name == "motif":  # the set's ceiling, for reading every row above against
        oracle = [motif_oracle(work, spec.dataset(work, name, seed)) for seed in seeds]
        rows.append(
            {
                "task": name,
                "split": split,
                "family": "PWM oracle (knows the planted matrices)",
                "seeds": f"{len(oracle)}/{len(seeds)}",
                **{f"test {m}": _mean_sd([o[m] for o in oracle]) for m in REPORTED},
                "stage s (mean)": "-",
                "peak MiB (max)": "-",
                "load (mean)": "-",
                "settings": "best log-odds site of each planted JASPAR matrix (both strands) + "
                "logistic regression fitted on train: approximately the set's ceiling",
            }
        )
    if name == "ecoli":
        rows += _published_rows()
    print(f"{name}: {time.perf_counter() - started:.0f} s wall", flush=True)
    return rows


def measure_quality(work: Path, timer: Timer) -> list[Row]:
    logging.getLogger("genomeflow").setLevel(logging.WARNING)
    rows: list[Row] = []
    for name in _chosen("QUALITY_SETS", list(TASKS)):
        if name not in TASKS:
            raise SystemExit(f"QUALITY_SETS: unknown task {name}; choose from {', '.join(TASKS)}")
        rows += measure_task(work, name)
    return rows


def _epochs_text() -> str:
    parts = []
    for name, task in TASKS.items():
        maxima = []
        for family in task.families:
            if "--epochs" in family.flags:
                maxima.append(f"{family.key} {family.flags[family.flags.index('--epochs') + 1]}")
        seeds = ", ".join(map(str, task.seeds))
        parts.append(f"{name}: seeds {seeds}; epochs at most " + ", ".join(maxima))
    return "; ".join(parts)


NOTES = (
    "Tasks: "
    + "; ".join(f"**{k}** = {v.title}: {v.source}" for k, v in QUALITY_SETS.items())
    + ". Every figure is a TEST score of a model trained on that seed's train split with its "
    "epoch chosen on valid (baselines: default hyperparameters, no sweep, no "
    "cross-validation); test is scored once per model, and once for each of the two "
    "best-of-run rows. Splits: stratified 80/10/10 of source sequences, seeded; the DNA tasks "
    "grouped by record id (similar sequences are not clustered; train-only reverse "
    "complements), the protein task by MMseqs2 clusters (--group-by similarity: 0.3 identity, "
    "0.8 coverage; no reverse complements). The ecoli splits are the baseline and "
    "transformer_quality suites' splits of the same seeds. Seeds and epoch maxima (early "
    f"stopping on valid macro F1, patience 2): {_epochs_text()}. Families: two classic "
    "baselines per task (ecoli: onehot+xgb and count+xgb, the baseline suite's best, count+xgb "
    "standing in for count+rf, equal within noise and 10x cheaper; motif and long: the two best "
    "on seed 1's valid split among count/tfidf/word2vec x rf/xgb/logreg, as onehot+xgb was at "
    "chance there; protein: residue 1-3-gram counts+xgb and TF-IDF+logreg); CNN tiny (64 "
    "channels x 3 residual dilated blocks, 0.12M parameters) "
    "and small (128 x 5, 0.78M) on one-hot residues, learning rate 1e-3 (the default was "
    "1e-2, which stayed on the chance plateau on the motif task; it is now 3e-3), "
    "strand-averaged on DNA; on ecoli also 'cnn-tiny one strand' and 'cnn-small one strand': "
    "the same CNNs at their default learning rate 3e-3, trained on a dataset of the same "
    "split built with --no-reverse-complement and scored on the given strand only (promoters "
    "are oriented), and 'distilbert-tiny-pretrained one strand', the pretrained family below "
    "with the same settings on that dataset; families named '... + 8 position bins' add "
    "--position-bins 8 (see quality_positions.md); DistilBERT tiny "
    "(2 layers x 64) from scratch, learning rate 1e-3; the same "
    f"self-pretrained ({PRETRAIN_STEPS} masked-LM steps of batch 32 on that seed's TRAIN "
    "split, mask 0.15, learning rate 1e-3) then fine-tuned at 1e-3. Tokens: ecoli and motif "
    "overlapping 6-mers, protein residues (char; baselines on residue 1-3-grams), long "
    "non-overlapping 6-mers (stride 6) in transformer windows of 256 tokens 254 apart (3 per "
    "4 kb), the CNN on 1000 bp windows 1000 apart (4 per 4 kb); window probabilities are "
    f"averaged. Ensemble: mean probability of the top {ENSEMBLE_TOP} models on valid macro F1; "
    "best of run: the first of the board (the models and that ensemble) on valid macro F1, "
    "ties to the lower valid log loss, as `genomeflow register` chooses (for the ensemble, "
    "whose members were chosen on valid, the valid score is optimistic; test is not). "
    "'stage s' is the wall time of the family's "
    "genomeflow command(s) in a fresh child process (start-up, fitting, valid and test "
    "evaluation, reports; pretraining included for the pretrained family; for the two "
    "best-of-run rows every family's stages plus the choice); 'peak MiB' the child's peak RSS "
    "(the largest child for the best-of-run rows); 'load' the machine's mean 1-minute load "
    "average meanwhile: 2 cores shared with other jobs (several families and seeds at once, "
    "one torch thread each, beside other work), so the times are inflated by it. A family "
    "that did not run on a seed is left off that seed's board (the best-of-run rows say how "
    "many models each board had). Published marks are from their papers, on their own splits."
)

SUITE_QUALITY = (
    "Model quality per family on four tasks, with the best of run (test split, 2 CPU cores)",
    NOTES,
    measure_quality,
)

# Position bins (--position-bins) where position carries the signal and where it does not: E. coli
# read on the given strand (aligned promoters), beside the best baseline and the self-pretrained
# transformer `make demo` trains, with the best of run; and the planted-motif set (sites
# anywhere). About an hour on 2 cores where the whole suite takes many; the families and their
# cache are the quality suite's, so a later full run reuses them.
POSITION_BOARDS = {
    "ecoli": [
        "onehot+xgb",
        "cnn-tiny one strand",
        "cnn-small one strand",
        ONE_STRAND_PRETRAINED.key,
        *(f.key for f in POSITIONAL),
    ],
    "motif": ["cnn-tiny", MOTIF_POSITIONAL.key],
}


def measure_positions(work: Path, timer: Timer) -> list[Row]:
    logging.getLogger("genomeflow").setLevel(logging.WARNING)
    rows: list[Row] = []
    for name in _chosen("QUALITY_SETS", list(POSITION_BOARDS)):
        rows += measure_task(work, name, POSITION_BOARDS[name])
    if "ecoli" in _chosen("QUALITY_SETS", list(POSITION_BOARDS)):
        # The same run's choice without the position-bin families (their models are cached):
        # what the bins add to the best of run, against a baseline of the same seeds.
        plain = [key for key in POSITION_BOARDS["ecoli"] if "position bins" not in key]
        for row in measure_task(work, "ecoli", plain):
            if row["family"].startswith("best of run"):
                rows.append({**row, "family": f"{row['family']}, without position bins"})
    return rows


def measure_text(work: Path, timer: Timer) -> list[Row]:
    logging.getLogger("genomeflow").setLevel(logging.WARNING)
    return measure_task(work, "text")


SUITE_QUALITY_TEXT = (
    "Text: Python documentation paragraphs by part of the language, the same families and "
    "choice as the sequence tasks (test split, 2 CPU cores)",
    f"Task: **text** = {QUALITY_SETS['text'].title}. Source: {QUALITY_SETS['text'].source}. "
    "Tokeniser: unigram, 2,000 pieces of words (NFKC, lower case, Metaspace, punctuation "
    "apart), learned on the whole table (no labels; the splits are made after). Splits: "
    "stratified 80/10/10 of documents, seeded. Families: three bag-of-token baselines "
    "(default hyperparameters, no sweep), the CNN over token embeddings (tiny, small) and "
    "DistilBERT tiny from scratch and after masked-LM pretraining on the train split "
    f"({PRETRAIN_STEPS} steps), early-stopped on valid macro F1 (patience 5). Best of run: the "
    f"first of the board (its models and the mean-probability ensemble of the top "
    f"{ENSEMBLE_TOP}) on valid macro F1, as `genomeflow register` chooses; test scored once. "
    "'stage s', 'peak MiB' and 'load' as in quality.md.",
    measure_text,
)


SUITE_QUALITY_POSITIONS = (
    "CNN position bins: E. coli promoters on one strand with the best of run, and planted "
    "motifs (test split, 2 CPU cores)",
    "Tasks: "
    + "; ".join(f"**{k}** = {QUALITY_SETS[k].title}" for k in POSITION_BOARDS)
    + ". The quality suite's seeds, splits, families, commands and choice (quality.md gives "
    "every definition and source), on boards of the families named here. ecoli: the best "
    "baseline (one-hot + XGBoost, on the dataset with reverse complements); on the same split "
    "built with --no-reverse-complement, CNN tiny and small scored on the given strand at their "
    "default learning rate (3e-3), each with position-free pooling and with --position-bins "
    f"{POSITION_BINS} (the mean of each of {POSITION_BINS} equal stretches of the sequence joins "
    "the global max and mean pooling), and the self-pretrained DistilBERT tiny. motif: CNN tiny "
    f"at learning rate 1e-3 with and without --position-bins {POSITION_BINS}. Best of run: the "
    f"first of the board (its models and the mean-probability ensemble of the top "
    f"{ENSEMBLE_TOP}) on valid macro F1, as `genomeflow register` chooses; test scored once. "
    "'stage s', 'peak MiB' and 'load' as in quality.md.",
    measure_positions,
)
