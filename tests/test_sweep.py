"""Sweep specs (wandb format) and the local Optuna engine: parsing, checks, search, outputs."""

from __future__ import annotations

import csv
import json
import logging
import math
from typing import Any

import pytest
import yaml

from conftest import REPO
from genomeflow.config import load_document
from genomeflow.errors import ConfigError, InputError
from genomeflow.sweep import (
    Hyperband,
    Parameter,
    SweepError,
    SweepSpec,
    TrialContext,
    run_sweep,
)
from genomeflow.sweep.hyperparameters import usable_names
from genomeflow.tracking import Run, Tracker, active_run

SWEEPS = REPO / "examples" / "sweeps"  # the project's own wandb-format specs
TRANSFORMER_SPECS = ["transformer_default", "dna_promoter", "protein"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def toy_spec(method: str = "bayes", **extra: Any) -> SweepSpec:
    """x log-uniform over six decades and layers 1..6; the optimum is x = 1e-3, layers = 3."""
    return SweepSpec.from_mapping(
        {
            "name": f"toy-{method}",
            "method": method,
            "metric": {"name": "eval/f1", "goal": "maximize"},
            "parameters": {
                "x": {"distribution": "log_uniform_values", "min": 1e-6, "max": 1.0},
                "layers": {"min": 1, "max": 6},
            },
            **extra,
        }
    )


def toy(context: TrialContext) -> float:
    x, layers = context.params["x"], context.params["layers"]
    return -((math.log10(x) + 3) ** 2) - (layers - 3) ** 2


# --- parsing -------------------------------------------------------------------------------


def test_transformer_default_sweep():
    spec = SweepSpec.from_file(SWEEPS / "transformer_default.yaml")
    assert (spec.name, spec.method) == ("transformer-default", "random")
    assert (spec.metric.name, spec.metric.goal) == ("eval/f1", "maximize")
    assert list(spec.parameters) == ["epochs", "batch_size", "learning_rate", "weight_decay"]
    assert spec.parameters["epochs"] == Parameter("epochs", "categorical", values=(3, 6, 9))
    assert spec.parameters["batch_size"].grid_values() == [16, 32, 64]
    assert spec.parameters["batch_size"].is_integer
    rate = spec.parameters["learning_rate"]
    assert (rate.kind, rate.min, rate.max, rate.is_log) == ("log_uniform_values", 5e-5, 5e-3, True)
    assert rate.bounds == (5e-5, 5e-3)
    assert spec.parameters["weight_decay"].values == (0.0, 0.01, 0.05, 0.1)
    assert spec.early_terminate == Hyperband(max_iter=9, s=2, eta=3)
    assert spec.early_terminate.min_resource == 1  # 9 // 3**2
    assert spec.early_terminate.brackets == [1, 3]
    assert spec.run_cap is None


def test_dna_promoter_sweep_reads_exponents_as_numbers():
    # the spec writes bare exponents (1e-5), which plain YAML 1.1 reads as strings
    spec = SweepSpec.from_file(SWEEPS / "dna_promoter.yaml")
    assert len(spec.parameters) == 7
    assert spec.parameters["decay"].values == (1e-4, 1e-6)  # not the strings "1e-4"...
    assert spec.parameters["learning_rate"].min == 1e-5
    assert spec.parameters["learning_rate"].max == 1e-2
    assert spec.parameters["momentum"].values == (0.9, 0.99)
    assert spec.early_terminate is not None and spec.early_terminate.max_iter == 27


def test_dna_promoter_sweep_keeps_the_names_the_reference_never_applied(caplog):
    # decay and momentum are kept in the spec on purpose: the warning path stays exercised
    spec = SweepSpec.from_file(SWEEPS / "dna_promoter.yaml")
    with caplog.at_level(logging.WARNING, logger="genomeflow.train.params"):
        names = usable_names(spec.parameters, "dna_promoter.yaml")
    assert names == ["epochs", "dropout", "batch_size", "learning_rate", "weight_decay"]
    assert "decay, momentum ignored" in caplog.text


def test_protein_sweep_infers_uniform():
    spec = SweepSpec.from_file(SWEEPS / "protein.yaml")
    assert (spec.name, spec.metric.goal) == ("protein", "maximize")
    rate = spec.parameters["learning_rate"]
    assert (rate.kind, rate.min, rate.max, rate.is_log) == ("uniform", 1e-4, 1e-3, False)
    assert spec.parameters["batch_size"].kind == "categorical"
    assert spec.early_terminate is None
    assert spec.run_cap == 10


@pytest.mark.parametrize("name", TRANSFORMER_SPECS)
def test_round_trip_json_and_yaml(name, tmp_path):
    path = SWEEPS / f"{name}.yaml"
    spec = SweepSpec.from_file(path)
    assert SweepSpec.from_mapping(spec.to_dict()) == spec
    document = load_document(path.read_text(encoding="utf-8"), str(path))
    as_json = tmp_path / f"{name}.json"
    as_json.write_text(json.dumps(document))
    assert SweepSpec.from_file(as_json) == spec
    as_yaml = tmp_path / f"{name}.yaml"
    as_yaml.write_text(yaml.safe_dump(document))
    assert SweepSpec.from_file(as_yaml) == spec


def test_hand_written_yaml_with_exponents_equals_json(tmp_path):
    path = tmp_path / "dna.yaml"
    path.write_text(
        """\
name: dna-promoter
description: E. coli promoters against non-promoters, 81 bp each; macro F1 on the valid split
method: random
metric: {name: eval/f1, goal: maximize}
parameters:
  epochs: {values: [9, 18, 27]}
  dropout: {values: [0.0, 0.1, 0.2, 0.3]}
  batch_size: {values: [32, 64, 128]}
  learning_rate:
    distribution: log_uniform_values
    min: 1e-5
    max: 1e-2
  weight_decay: {values: [0.0, 0.01, 0.1]}
  decay: {values: [1e-4, 1e-6]}
  momentum: {values: [0.9, 0.99]}
early_terminate: {type: hyperband, s: 2, eta: 3, max_iter: 27}
"""
    )
    as_json = tmp_path / "dna.json"
    as_json.write_text(
        """\
{
  "name": "dna-promoter",
  "description": "E. coli promoters against non-promoters, 81 bp each; macro F1 on the valid split",
  "method": "random",
  "metric": {"name": "eval/f1", "goal": "maximize"},
  "parameters": {
    "epochs": {"values": [9, 18, 27]},
    "dropout": {"values": [0.0, 0.1, 0.2, 0.3]},
    "batch_size": {"values": [32, 64, 128]},
    "learning_rate": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-2},
    "weight_decay": {"values": [0.0, 0.01, 0.1]},
    "decay": {"values": [1e-4, 1e-6]},
    "momentum": {"values": [0.9, 0.99]}
  },
  "early_terminate": {"type": "hyperband", "s": 2, "eta": 3, "max_iter": 27}
}
"""
    )
    expected = SweepSpec.from_file(as_json)
    assert SweepSpec.from_file(path) == expected
    assert SweepSpec.from_file(SWEEPS / "dna_promoter.yaml") == expected


def test_every_distribution_parses_and_round_trips():
    parameters = {
        "c": {"value": "adamw"},
        "cat": {"distribution": "categorical", "values": ["a", 2, True, None]},
        "n_int": {"distribution": "int_uniform", "min": 1, "max": 4},
        "u": {"distribution": "uniform", "min": 0, "max": 1},
        "qu": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.25},
        "lu": {"distribution": "log_uniform", "min": -9.2, "max": -2.3},
        "luv": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
        "qluv": {"distribution": "q_log_uniform_values", "min": 8, "max": 512, "q": 8},
        "nrm": {"distribution": "normal"},
        "qn": {"distribution": "q_normal", "mu": 10, "sigma": 2, "q": 2},
        "ln": {"distribution": "log_normal", "mu": -4, "sigma": 1},
        "qln": {"distribution": "q_log_normal", "mu": 3, "sigma": 0.5, "q": 1},
    }
    spec = SweepSpec.from_mapping(
        {"method": "random", "metric": {"name": "loss"}, "parameters": parameters}
    )
    kinds = {name: p.kind for name, p in spec.parameters.items()}
    assert kinds == {
        name: entry.get("distribution", "constant") for name, entry in parameters.items()
    }
    assert spec.metric.goal == "minimize"  # wandb's default
    assert spec.name == "sweep"
    assert (spec.parameters["nrm"].mu, spec.parameters["nrm"].sigma) == (0.0, 1.0)
    assert spec.parameters["qu"].grid_values() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert spec.parameters["n_int"].grid_values() == [1, 2, 3, 4]
    assert spec.parameters["qluv"].is_integer and spec.parameters["qluv"].is_log
    assert not spec.parameters["qu"].is_integer
    assert spec.parameters["lu"].bounds == pytest.approx((math.exp(-9.2), math.exp(-2.3)))
    assert spec.parameters["nrm"].bounds is None
    with pytest.raises(ConfigError, match="grid needs enumerable values"):
        spec.parameters["luv"].grid_values()
    assert SweepSpec.from_mapping(spec.to_dict()) == spec


def test_launcher_keys_are_ignored_with_a_note(caplog):
    values = toy_spec("random").to_dict() | {"program": "train.py", "project": "p", "entity": "e"}
    with caplog.at_level(logging.INFO, logger="genomeflow.sweep.spec"):
        spec = SweepSpec.from_mapping(values, "sweep.yaml")
    assert spec == toy_spec("random")
    assert "program, project, entity" in caplog.text


def _bad(change: dict[str, Any]) -> dict[str, Any]:
    values = {
        "name": "bad",
        "method": "random",
        "metric": {"name": "eval/f1", "goal": "maximize"},
        "parameters": {"learning_rate": {"min": 1e-4, "max": 0.1}},
    }
    return values | change


LR = "learning_rate"
BAD_SPECS = [
    (_bad({"methd": "random"}), "methd", "unknown key"),
    (_bad({"method": None}), "method", "is missing; choose random, grid or bayes"),
    (_bad({"method": "hyperopt"}), "method", "random, grid or bayes"),
    (_bad({"metric": {"name": "f1", "goal": "max"}}), "metric.goal", "maximize or minimize"),
    (_bad({"metric": {"goal": "maximize"}}), "metric.name", "give the metric"),
    (_bad({"metric": {"name": "f1", "target": 0.9}}), "metric.target", "unknown key"),
    (_bad({"parameters": {}}), "parameters", "at least one parameter"),
    (_bad({"parameters": {LR: {"min": 0.1, "max": 1e-4}}}), f"parameters.{LR}", "swap them"),
    (_bad({"parameters": {"bs": {"values": []}}}), "parameters.bs.values", "non-empty"),
    (_bad({"parameters": {LR: {"min": 0, "max": 1, "stepp": 2}}}), f"{LR}.stepp", "unknown key"),
    (
        _bad({"parameters": {LR: {"distribution": "beta", "a": 1}}}),
        f"{LR}.distribution",
        "log_uniform_values",  # the valid ones are listed
    ),
    (
        _bad({"parameters": {LR: {"distribution": "log_uniform_values", "min": 0, "max": 1}}}),
        f"{LR}.min",
        "above 0",
    ),
    (
        _bad({"parameters": {"n": {"distribution": "q_uniform", "min": 0, "max": 8, "q": 0}}}),
        "parameters.n.q",
        "above 0",
    ),
    (
        _bad({"parameters": {"w": {"distribution": "normal", "sigma": -1}}}),
        "parameters.w.sigma",
        "above 0",
    ),
    (
        _bad({"parameters": {"n": {"distribution": "int_uniform", "min": 1, "max": 2.5}}}),
        "parameters.n",
        "integer",
    ),
    (_bad({"method": "grid"}), f"parameters.{LR}", "grid needs enumerable values"),
    (
        _bad({"early_terminate": {"type": "median", "max_iter": 9, "s": 1}}),
        "early_terminate.type",
        "hyperband",
    ),
    (
        _bad({"early_terminate": {"type": "hyperband", "max_iter": 27, "s": 2, "eta": 1}}),
        "early_terminate.eta",
        "2 or more",
    ),
    (
        _bad({"early_terminate": {"type": "hyperband", "max_iter": 0, "s": 2}}),
        "early_terminate.max_iter",
        "1 or more",
    ),
    (
        _bad({"early_terminate": {"type": "hyperband", "max_iter": 9, "strict": True}}),
        "early_terminate.strict",
        "unknown key",
    ),
    (_bad({"run_cap": 0}), "run_cap", "1 or more"),
]


@pytest.mark.parametrize(("values", "key", "hint"), BAD_SPECS)
def test_bad_specs_name_file_and_key(values, key, hint):
    with pytest.raises(ConfigError) as caught:
        SweepSpec.from_mapping(values, "sweep.json")
    message = str(caught.value)
    assert message.startswith("sweep.json: ")
    assert key in message and hint in message
    assert "\n" not in message


def test_bad_documents(tmp_path):
    with pytest.raises(ConfigError, match="must be a mapping"):
        SweepSpec.from_mapping([1, 2], "sweep.yaml")
    broken_json = tmp_path / "sweep.json"
    broken_json.write_text('{\n  "method": "random",\n  "metric": {"name": "f1",}\n}\n')
    with pytest.raises(ConfigError, match=r"sweep\.json: not valid JSON at line 3"):
        SweepSpec.from_file(broken_json)
    broken_yaml = tmp_path / "sweep.yaml"
    broken_yaml.write_text("method: random\nparameters:\n  lr: {min: 1\n")
    with pytest.raises(ConfigError, match=r"sweep\.yaml: not valid YAML at line \d"):
        SweepSpec.from_file(broken_yaml)
    with pytest.raises(ConfigError, match="no such sweep file"):
        SweepSpec.from_file(tmp_path / "missing.yaml")


# --- the Optuna engine ---------------------------------------------------------------------


def test_bayes_finds_the_planted_optimum_reproducibly():
    first = run_sweep(toy_spec("bayes"), toy, trials=40, seed=7)
    assert first.best_params["layers"] == 3
    assert abs(math.log10(first.best_params["x"]) + 3) < 0.5
    assert (first.trials, first.completed, first.pruned, first.failed) == (40, 40, 0, 0)
    assert isinstance(first.best_params["layers"], int)
    again = run_sweep(toy_spec("bayes"), toy, trials=40, seed=7)
    assert again.best_params == first.best_params and again.best_value == first.best_value


def test_random_search_gets_close():
    result = run_sweep(toy_spec("random"), toy, trials=40, seed=1)
    assert result.best_value > -2.0
    assert 1e-6 <= result.best_params["x"] <= 1.0
    assert result.best_trial in range(40)


def test_grid_enumerates_exactly_its_grid():
    spec = SweepSpec.from_mapping(
        {
            "method": "grid",
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {
                "layers": {"min": 1, "max": 3},
                "act": {"values": ["relu", "gelu"]},
                "dropout": {"distribution": "q_uniform", "min": 0.0, "max": 0.2, "q": 0.1},
                "epochs": {"value": 2},
            },
        }
    )
    seen = []

    def objective(context: TrialContext) -> float:
        seen.append(dict(context.params))
        bonus = 0.0 if context.params["act"] == "gelu" else 1.0
        return abs(context.params["layers"] - 2) + context.params["dropout"] + bonus

    result = run_sweep(spec, objective, trials=100)  # capped at the 18 grid points
    assert result.trials == len(seen) == 18
    points = {(p["layers"], p["act"], p["dropout"]) for p in seen}
    assert points == {
        (layers, act, dropout)
        for layers in (1, 2, 3)
        for act in ("relu", "gelu")
        for dropout in (0.0, 0.1, 0.2)
    }
    assert all(p["epochs"] == 2 for p in seen)
    assert result.best_params == {"layers": 2, "act": "gelu", "dropout": 0.0, "epochs": 2}
    assert result.best_value == 0.0


def test_transformed_values_reach_the_objective(tmp_path):
    spec = SweepSpec.from_mapping(
        {
            "method": "bayes",
            "metric": {"name": "loss"},
            "parameters": {
                "lu": {"distribution": "log_uniform", "min": math.log(1e-3), "max": math.log(0.1)},
                "qu": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.25},
                "qluv": {"distribution": "q_log_uniform_values", "min": 8, "max": 512, "q": 8},
                "nrm": {"distribution": "normal", "mu": 10, "sigma": 0.01},
                "ln": {"distribution": "log_normal", "mu": 0, "sigma": 0.5},
                "qn": {"distribution": "q_normal", "mu": 50, "sigma": 10, "q": 5},
            },
        }
    )
    seen = []

    def objective(context: TrialContext) -> float:
        seen.append(dict(context.params))
        return context.params["nrm"]

    result = run_sweep(spec, objective, trials=15, output=tmp_path)
    assert len(seen) == 15
    for params in seen:
        assert 1e-3 * (1 - 1e-9) <= params["lu"] <= 0.1 * (1 + 1e-9)
        assert params["qu"] in (0.0, 0.25, 0.5, 0.75, 1.0)
        assert isinstance(params["qluv"], int) and params["qluv"] % 8 == 0
        assert abs(params["nrm"] - 10) < 0.05  # 1e-6 quantiles: within 4.75 sd
        assert params["ln"] > 0
        assert isinstance(params["qn"], int) and params["qn"] % 5 == 0
    with open(tmp_path / "trials.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    helpers = [column for column in rows[0] if column.endswith("__quantile")]
    assert helpers == []
    assert list(rows[0]) == ["number", "state", "value", *spec.parameters, "duration_s"]
    assert float(rows[0]["nrm"]) == pytest.approx(seen[0]["nrm"])
    assert result.best_params in seen


def _curve(context: TrialContext) -> float:
    """A learning curve over context.budget steps: plateaus at 1 near lr = 1e-2, low elsewhere."""
    quality = math.exp(-((math.log10(context.params["lr"]) + 2) ** 2))
    value = 0.0
    for step in range(1, context.budget + 1):
        value = quality * (1 - math.exp(-step / 4))
        context.report(value, step)
    return value


def test_hyperband_prunes_bad_trials():
    spec = SweepSpec.from_mapping(
        {
            "name": "hyperband",
            "method": "random",
            "metric": {"name": "eval/f1", "goal": "maximize"},
            "parameters": {"lr": {"distribution": "log_uniform_values", "min": 1e-6, "max": 1}},
            "early_terminate": {"type": "hyperband", "s": 2, "eta": 3, "max_iter": 27},
        }
    )
    budgets = []
    result = run_sweep(
        spec, lambda context: budgets.append(context.budget) or _curve(context), trials=30
    )
    assert set(budgets) == {27}
    assert result.pruned > 0 and result.completed > 0
    assert result.completed + result.pruned == 30
    assert abs(math.log10(result.best_params["lr"]) + 2) < 1
    assert result.best_value > 0.5


def test_a_user_error_stops_the_sweep_at_once():
    calls = []

    def objective(context: TrialContext) -> float:
        calls.append(context.number)
        raise ConfigError("unknown hyperparameter 'lrate'; valid: lr")

    with pytest.raises(ConfigError, match="unknown hyperparameter 'lrate'"):
        run_sweep(toy_spec("random"), objective, trials=20)
    assert calls == [0]
    calls.clear()
    with pytest.raises(InputError, match="no such file"):
        run_sweep(
            toy_spec("random"),
            lambda context: calls.append(1) or (_ for _ in ()).throw(InputError("no such file")),
            trials=20,
            parallel=2,
        )
    assert len(calls) <= 3  # the trials already running finish; no new ones start


def test_other_errors_fail_single_trials(caplog):
    def objective(context: TrialContext) -> float:
        if context.number % 3 == 1:
            raise RuntimeError("CUDA out of memory")
        if context.number % 3 == 2:
            return float("nan")
        return toy(context)

    with caplog.at_level(logging.WARNING, logger="genomeflow.sweep.local"):
        result = run_sweep(toy_spec("random"), objective, trials=9)
    assert (result.trials, result.completed, result.failed) == (9, 3, 6)
    assert result.best_trial % 3 == 0
    assert "trial 1 failed (RuntimeError: CUDA out of memory)" in caplog.text
    assert "the objective returned NaN" in caplog.text


def test_all_trials_failing_is_one_clear_error(tmp_path):
    def objective(context: TrialContext) -> float:
        raise ValueError(f"shape mismatch in trial {context.number}")

    with pytest.raises(SweepError) as caught:
        run_sweep(toy_spec("random"), objective, trials=3, output=tmp_path)
    message = str(caught.value)
    assert "no trial completed (3 failed, 0 pruned of 3)" in message
    assert "ValueError: shape mismatch in trial 0" in message
    assert (tmp_path / "trials.csv").is_file()  # kept for diagnosis
    assert not (tmp_path / "best_params.json").exists()


def test_outputs(tmp_path):
    output = tmp_path / "sweep"
    result = run_sweep(toy_spec("bayes"), toy, trials=12, output=output)
    names = ["trials.csv", "best_params.json", "optimisation_history.png"]
    assert result.files == [output / n for n in names] + [output / "parallel_coordinate.png"]
    with open(output / "trials.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["number", "state", "value", "x", "layers", "duration_s"]
    assert [int(row["number"]) for row in rows] == list(range(12))
    assert {row["state"] for row in rows} == {"COMPLETE"}
    best = json.loads((output / "best_params.json").read_text())
    assert best == {
        "metric": "eval/f1",
        "goal": "maximize",
        "best_value": result.best_value,
        "best_trial": result.best_trial,
        "params": result.best_params,
    }
    assert float(rows[result.best_trial]["value"]) == pytest.approx(result.best_value)
    for name in ("optimisation_history.png", "parallel_coordinate.png"):
        assert (output / name).read_bytes().startswith(PNG_MAGIC)


def test_single_parameter_and_trial_counts(tmp_path):
    spec = SweepSpec.from_mapping(
        {
            "method": "random",
            "run_cap": 3,
            "metric": {"name": "loss"},
            "parameters": {"lr": {"min": 0.0, "max": 1.0}, "epochs": {"value": 1}},
        }
    )
    result = run_sweep(spec, lambda context: context.params["lr"], output=tmp_path)
    assert result.trials == 3  # run_cap
    assert (tmp_path / "parallel_coordinate.png").read_bytes().startswith(PNG_MAGIC)
    assert run_sweep(spec, lambda context: context.params["lr"], trials=5).trials == 5
    with pytest.raises(ConfigError, match="parallel must be 1 or more"):
        run_sweep(spec, lambda context: 0.0, parallel=0)


def test_without_tracking_trials_get_inactive_runs():
    runs: list[Run] = []
    run_sweep(toy_spec("random"), lambda c: runs.append(c.run) or toy(c), trials=2)
    assert [run.active for run in runs] == [False, False]
    assert not active_run().active


# --- MLflow --------------------------------------------------------------------------------


@pytest.mark.integration
def test_trials_are_child_runs_in_mlflow(live, tmp_path):
    from mlflow import MlflowClient

    uri = live["mlflow"]["uri"]

    def objective(context: TrialContext) -> float:
        if context.number == 1:
            raise RuntimeError("this trial breaks")
        value = toy(context)
        context.report(value, 1)
        return value

    with Tracker(uri, "test-sweep").run("sweep") as parent:
        assert active_run().run_id == parent.run_id
        result = run_sweep(
            toy_spec("random"), objective, trials=4, parallel=2, parent=parent, output=tmp_path
        )
        with parent.child("pruned-example") as killed:
            killed.status = "KILLED"
    assert (result.completed, result.failed) == (3, 1)

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("test-sweep")
    children = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.run_id}'",
    )
    trials = {run.info.run_name: run for run in children if run.info.run_name.startswith("trial-")}
    assert sorted(trials) == ["trial-0", "trial-1", "trial-2", "trial-3"]
    for name, run in trials.items():
        assert set(run.data.params) == {"x", "layers"}
        assert run.data.tags["genomeflow.stage"] == name
        if name == "trial-1":
            assert run.info.status == "FAILED"
            assert run.data.tags["genomeflow.trial_state"] == "FAIL"
            continue
        assert run.info.status == "FINISHED"
        assert run.data.tags["genomeflow.trial_state"] == "COMPLETE"
        assert run.data.metrics["objective"] == run.data.metrics["eval/f1"]
        assert int(run.data.params["layers"]) in range(1, 7)
    best = trials[f"trial-{result.best_trial}"]
    assert best.data.metrics["objective"] == pytest.approx(result.best_value)
    assert client.get_run(killed.run_id).info.status == "KILLED"
    stored = {item.path for item in client.list_artifacts(parent.run_id)}
    assert {"best_params.json", "optimisation_history.png", "parallel_coordinate.png"} <= stored
