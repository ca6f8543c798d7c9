"""Sweep specs compiled to Katib v1beta1 Experiments, checked against the installed Katib SDK's
models and the values Katib documents, and the Katib client layer run against a faked
Kubernetes API on loopback (no cluster here)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import math
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from kubeflow.katib import KatibClient, V1beta1Experiment, V1beta1FeasibleSpace
from kubeflow.katib import katib_api_pb2 as katib_api
from kubeflow.katib.api_client import ApiClient as KatibApiClient
from kubeflow.katib.constants import constants as katib_constants
from kubeflow.katib.utils.utils import FakeResponse
from kubernetes import client as k8s
from kubernetes.config import kube_config

from conftest import REPO
from genomeflow import cluster
from genomeflow.cli import main
from genomeflow.config import (
    HYPERPARAMETERS,
    IGNORED_REFERENCE_PARAMETERS,
    SweepConfig,
    TrainConfig,
)
from genomeflow.errors import ConfigError
from genomeflow.kube import api as kube_api
from genomeflow.sweep import katib, katib_client, katib_parameters
from genomeflow.sweep.katib import KatibSweep, run_katib_sweep
from genomeflow.sweep.katib_client import KatibError, run_experiment
from genomeflow.sweep.katib_compile import (
    NAME_BASE_LENGTH,
    NAME_PATTERN,
    KatibSettings,
    compile_experiment,
    experiment_dict,
    experiment_name,
    experiment_yaml,
    usable_spec,
)
from genomeflow.sweep.katib_metrics import METRICS_FILTER, PRINTED_METRICS, katib_metric
from genomeflow.sweep.spec import SweepSpec
from genomeflow.train.params import resolve_hyperparameters
from genomeflow.train.train import katib_lines
from helpers import JsonAnswers

EXAMPLES = REPO / "docs" / "examples" / "katib"
SWEEPS = sorted((REPO / "examples" / "sweeps").glob("*.yaml"))
DNA = REPO / "examples" / "sweeps" / "dna_promoter.yaml"
PROTEIN = REPO / "examples" / "sweeps" / "protein.yaml"
TRIAL_REFERENCE = re.compile(r"\$\{trialParameters\.([^}]+)\}")
DECIMAL = re.compile(r"-?\d+(\.\d+)?")  # a number as Katib's examples write it: no exponent

# What Katib documents (kubeflow.org/docs/components/katib/user-guides: "How to Configure
# Algorithms", "Early Stopping", "How to Configure Metrics Collector"): the hyperparameter
# suggestion algorithms, the early stopping ones, and the settings of the two genomeflow uses.
KATIB_ALGORITHMS = {
    "random",
    "grid",
    "bayesianoptimization",
    "tpe",
    "multivariate-tpe",
    "cmaes",
    "sobol",
    "hyperband",
    "pbt",
}
KATIB_EARLY_STOPPING = {"medianstop"}
KATIB_COLLECTORS = {
    "StdOut",
    "File",
    "TensorFlowEvent",
    "PrometheusMetric",
    "Custom",
    "None",
    "Push",
}
KATIB_SETTINGS = {
    "medianstop": ["min_trials_required", "start_step"],
    "hyperband": ["resource_name", "eta", "r_l"],
}


# --- helpers -----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_kubeconfig(tmp_path_factory, monkeypatch):
    """No test reads a developer's kubeconfig (its namespace, its cluster)."""
    missing = tmp_path_factory.mktemp("kube") / "config"
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(missing))


def settings(**changes: Any) -> KatibSettings:
    values: dict[str, Any] = {
        "dataset": "s3://bucket/datasets/promoters",
        "output": "s3://bucket/sweeps/promoters/trials",
        "name": "promoters",
        "train_flags": {"preset": "tiny"},
    }
    return KatibSettings(**{**values, **changes})


def spec_of(parameters: dict[str, Any], **values: Any) -> SweepSpec:
    document = {"method": "random", "metric": {"name": "eval/f1", "goal": "maximize"}}
    return SweepSpec.from_mapping({**document, **values, "parameters": parameters})


def compiled(spec: SweepSpec, **changes: Any) -> dict[str, Any]:
    return experiment_dict(compile_experiment(spec, settings(**changes)))


def sdk_round_trip(data: dict[str, Any], model: str, api: Any) -> tuple[Any, dict[str, Any]]:
    """``data`` read into the SDK's ``model`` (as KatibClient reads the API server's answers)
    and written back: a field the model does not have is lost on the way."""
    loaded = api.deserialize(FakeResponse(data), model)
    return loaded, api.sanitize_for_serialization(loaded)


def enum_values(enum: Any, *unset: str) -> set[str]:
    """The values of one of Katib's API enums as its Experiment spells them (``LOG_UNIFORM``
    -> ``logUniform``), the "not set" value left out."""
    names = [value.name for value in enum.DESCRIPTOR.values if value.name not in unset]
    return {
        first.lower() + "".join(part.capitalize() for part in rest)
        for first, *rest in (name.split("_") for name in names)
    }


def is_transformer_sweep(path: Path) -> bool:
    """A spec of `genomeflow sweep` (transformer hyperparameters), not of `baseline --sweep`."""
    names = set(SweepSpec.from_file(path).parameters)
    return names <= set(HYPERPARAMETERS) | set(IGNORED_REFERENCE_PARAMETERS)


def pod_spec(experiment: dict[str, Any]) -> dict[str, Any]:
    return experiment["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]


def walk(value: Any) -> Iterator[Any]:
    """Every value in nested dicts and lists."""
    yield value
    children = (
        value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    )
    for child in children:
        yield from walk(child)


DNA_SPEC = SweepSpec.from_file(DNA)
GENERATED = {
    "random + medianstop": compiled(DNA_SPEC),
    "hyperband": compiled(DNA_SPEC, algorithm="hyperband"),
    "grid": compiled(
        spec_of({"batch_size": {"values": [8, 16]}, "epochs": {"min": 1, "max": 3}}, method="grid")
    ),
    "bayes": compiled(
        spec_of(
            {"learning_rate": {"distribution": "log_uniform_values", "min": 1e-5, "max": 0.1}},
            method="bayes",
        )
    ),
}


# --- the Experiment against the Katib SDK and Katib's documentation -----------------------


@pytest.mark.parametrize("case", sorted(GENERATED))
def test_generated_experiment_is_the_sdks_model_field_by_field(case):
    experiment = GENERATED[case]
    # every field we write is a field of the SDK's models, at the same place: read into
    # V1beta1Experiment and written back, nothing is lost or changed
    loaded, back = sdk_round_trip(experiment, "V1beta1Experiment", KatibApiClient())
    assert isinstance(loaded, V1beta1Experiment)
    assert back == experiment
    # the trial's Job is untyped in the Experiment model: the Kubernetes client's V1Job
    trial_spec = experiment["spec"]["trialTemplate"]["trialSpec"]
    job, job_back = sdk_round_trip(trial_spec, "V1Job", k8s.ApiClient())
    assert isinstance(job, k8s.V1Job) and job_back == trial_spec
    assert experiment["apiVersion"] == katib_constants.API_VERSION
    assert experiment["kind"] == katib_constants.EXPERIMENT_KIND
    assert set(experiment["metadata"]) == {"name", "namespace"}
    # the feasible space uses the model's keys; categorical lists and distributions included
    spaces = {key for p in experiment["spec"]["parameters"] for key in p["feasibleSpace"]}
    assert spaces <= set(V1beta1FeasibleSpace.attribute_map.values())
    spec = experiment["spec"]
    assert spec["objective"]["type"] == "maximize"
    assert spec["objective"]["objectiveMetricName"] == "eval_f1"
    assert "eval_f1" not in spec["objective"]["additionalMetricNames"]  # Katib's webhook rule
    assert spec["parallelTrialCount"] <= spec["maxTrialCount"]
    assert spec["maxFailedTrialCount"] <= spec["maxTrialCount"]
    template = spec["trialTemplate"]
    assert template["primaryContainerName"] == katib_constants.DEFAULT_PRIMARY_CONTAINER_NAME
    assert {template["trialSpec"]["apiVersion"], template["trialSpec"]["kind"]} == {
        "batch/v1",
        "Job",
    }
    pod = pod_spec(experiment)
    assert pod["restartPolicy"] == "Never"
    [container] = pod["containers"]
    assert container["name"] == template["primaryContainerName"]
    assert container["command"][:2] == ["genomeflow", "train"]


@pytest.mark.parametrize("case", sorted(GENERATED))
def test_algorithm_and_collector_are_ones_katib_knows(case):
    spec = GENERATED[case]["spec"]
    algorithm = spec["algorithm"]
    assert algorithm["algorithmName"] in KATIB_ALGORITHMS
    names = [s["name"] for s in algorithm.get("algorithmSettings", [])]
    assert names == KATIB_SETTINGS.get(algorithm["algorithmName"], [])
    if "earlyStopping" in spec:
        early = spec["earlyStopping"]
        assert early["algorithmName"] in KATIB_EARLY_STOPPING
        assert [s["name"] for s in early["algorithmSettings"]] == KATIB_SETTINGS["medianstop"]
    kind = spec["metricsCollectorSpec"]["collector"]["kind"]
    assert kind == "StdOut" and kind in KATIB_COLLECTORS


@pytest.mark.parametrize("case", sorted(GENERATED))
def test_objective_and_parameters_use_values_katib_defines(case):
    spec = GENERATED[case]["spec"]
    # the enums of Katib's API, as the installed SDK ships them
    assert spec["objective"]["type"] in enum_values(katib_api.ObjectiveType, "UNKNOWN")
    types = enum_values(katib_api.ParameterType, "UNKNOWN_TYPE")
    distributions = enum_values(katib_api.Distribution, "DISTRIBUTION_UNSPECIFIED")
    assert {"int", "double", "categorical"} <= types
    assert {"logUniform", "normal", "logNormal"} <= distributions
    for parameter in spec["parameters"]:
        assert parameter["parameterType"] in types, parameter
        space = parameter["feasibleSpace"]
        assert space.get("distribution", "uniform") in distributions, parameter
        if parameter["parameterType"] == "categorical":
            assert set(space) == {"list"}, parameter
        else:
            assert {"min", "max"} <= set(space) <= {"min", "max", "step", "distribution"}


def test_method_mapping():
    names = {
        method: compiled(spec_of({"batch_size": {"values": [8, 16]}}, method=method))["spec"][
            "algorithm"
        ]["algorithmName"]
        for method in ("random", "grid", "bayes")
    }
    assert names == {"random": "random", "grid": "grid", "bayes": "tpe"}


def test_early_terminate_becomes_medianstop_with_the_documented_settings():
    ours = GENERATED["random + medianstop"]["spec"]["earlyStopping"]
    assert ours["algorithmName"] == "medianstop"
    assert [s["name"] for s in ours["algorithmSettings"]] == KATIB_SETTINGS["medianstop"]
    values = {s["name"]: s["value"] for s in ours["algorithmSettings"]}
    assert values == {"min_trials_required": "3", "start_step": "3"}  # 27 // 3**2 epochs
    no_early = compiled(spec_of({"batch_size": {"values": [8, 16]}}))
    assert "earlyStopping" not in no_early["spec"]


def test_hyperband_over_epochs_with_the_documented_settings():
    spec = GENERATED["hyperband"]["spec"]
    assert "earlyStopping" not in spec
    ours = {s["name"]: s["value"] for s in spec["algorithm"]["algorithmSettings"]}
    assert set(ours) == set(KATIB_SETTINGS["hyperband"])
    assert ours == {"resource_name": "epochs", "eta": "3", "r_l": "27"}
    resource = next(p for p in spec["parameters"] if p["name"] == ours["resource_name"])
    assert resource["parameterType"] == "int"
    assert resource["feasibleSpace"] == {"min": "1", "max": "27"}
    # Katib's webhook rule: parallelTrialCount >= eta ** int(log(r_l) / log(eta))
    assert spec["parallelTrialCount"] == 27 and spec["maxTrialCount"] == 70  # all brackets
    with pytest.raises(ConfigError, match="needs --parallel 27 or more"):
        compiled(DNA_SPEC, algorithm="hyperband", parallel_trials=3)
    with pytest.raises(ConfigError, match="exceed the 20 trials"):
        compiled(DNA_SPEC, algorithm="hyperband", max_trials=20)
    with pytest.raises(ConfigError, match="early_terminate"):
        compiled(spec_of({"batch_size": {"values": [8, 16]}}), algorithm="hyperband")


def test_trial_parameters_resolve_both_ways():
    for case, experiment in GENERATED.items():
        template = experiment["spec"]["trialTemplate"]
        defined = {p["name"]: p["reference"] for p in template["trialParameters"]}
        used = set(TRIAL_REFERENCE.findall(json.dumps(template["trialSpec"])))
        assert used == set(defined), case
        assert len(defined) == len(template["trialParameters"])  # names unique
        references = list(defined.values())
        assert len(set(references)) == len(references)  # references unique
        parameters = {p["name"] for p in experiment["spec"]["parameters"]}
        assert {r for r in references if not r.startswith("${trialSpec.")} == parameters, case
        assert "${trialSpec.Name}" in references  # the trial's model folder


def test_trial_command_passes_flags_genomeflow_train_knows():
    command = pod_spec(GENERATED["random + medianstop"])["containers"][0]["command"]
    assert command[2] == "s3://bucket/datasets/promoters"
    assert command[3] == "--output=s3://bucket/sweeps/promoters/trials/${trialParameters.trialName}"
    flags = {item.split("=")[0].removeprefix("--") for item in command[3:]}
    train_flags = {field.name.replace("_", "-") for field in dataclasses.fields(TrainConfig)}
    assert flags <= train_flags
    assert "--preset=tiny" in command and "--metric=f1_macro" in command
    assert "--learning-rate=${trialParameters.learningRate}" in command


def test_gpu_scheduling_resources_and_image_come_from_the_cluster_settings():
    defaults = cluster.ClusterSettings()
    for experiment in GENERATED.values():
        pod = pod_spec(experiment)
        [container] = pod["containers"]
        assert container["image"] == cluster.PROJECT_IMAGE == defaults.image
        gpu = defaults.gpu
        assert container["resources"]["limits"][gpu.resource] == str(gpu.count)
        assert container["resources"]["requests"] == {
            "cpu": defaults.heavy.cpu,
            "memory": defaults.heavy.memory,
        }
        assert pod["nodeSelector"] == {gpu.node_label: gpu.node_value}
        assert {"key": gpu.taint_key, "operator": "Exists", "effect": "NoSchedule"} in pod[
            "tolerations"
        ]
        annotations = experiment["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"][
            "metadata"
        ]["annotations"]
        assert annotations == {"sidecar.istio.io/inject": "false"}


def test_trial_jobs_are_never_retried_time_out_and_pull_with_the_clusters_secrets():
    default_job = GENERATED["random + medianstop"]["spec"]["trialTemplate"]["trialSpec"]["spec"]
    assert default_job["backoffLimit"] == 0  # a failed trial is Katib's to count, not rerun
    assert default_job["activeDeadlineSeconds"] == cluster.ClusterSettings().gpu_timeout_s
    assert "imagePullSecrets" not in pod_spec(GENERATED["random + medianstop"])
    settings_ = cluster.ClusterSettings(gpu_timeout_s=0, image_pull_secrets=("regcred",))
    experiment = compiled(DNA_SPEC, cluster=settings_)
    job = experiment["spec"]["trialTemplate"]["trialSpec"]
    loaded, back = sdk_round_trip(job, "V1Job", k8s.ApiClient())  # the Kubernetes models' fields
    assert back == job and loaded.spec.active_deadline_seconds is None  # 0: no limit
    assert pod_spec(experiment)["imagePullSecrets"] == [{"name": "regcred"}]


def test_multi_worker_trials_are_pytorchjobs_katib_reads_from_the_master():
    from kubeflow.training.api_client import ApiClient as TrainingApiClient

    experiment = compiled(DNA_SPEC, nodes=3)
    template = experiment["spec"]["trialTemplate"]
    assert template["primaryContainerName"] == "pytorch"
    assert template["primaryPodLabels"] == {"training.kubeflow.org/job-role": "master"}
    assert (
        template["successCondition"] == 'status.conditions.#(type=="Succeeded")#|#(status=="True")#'
    )
    assert template["failureCondition"] == 'status.conditions.#(type=="Failed")#|#(status=="True")#'
    job = template["trialSpec"]
    _, back = sdk_round_trip(job, "KubeflowOrgV1PyTorchJob", TrainingApiClient())
    assert back == job  # every field one the training SDK's PyTorchJob model has
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert (replicas["Master"]["replicas"], replicas["Worker"]["replicas"]) == (1, 2)
    (container,) = replicas["Master"]["template"]["spec"]["containers"]
    assert container["command"][:4] == ["torchrun", "--no-python", "genomeflow", "train"]
    assert (
        "--output=s3://bucket/sweeps/promoters/trials/${trialParameters.trialName}"
        in (container["command"])
    )
    assert "name" not in job["metadata"]  # Katib names each trial's job
    # the rest of the Experiment is the same as with one pod per trial
    single = compiled(DNA_SPEC)
    assert {k: v for k, v in experiment["spec"].items() if k != "trialTemplate"} == {
        k: v for k, v in single["spec"].items() if k != "trialTemplate"
    }


def test_sweep_workers_apply_to_katib_only():
    with pytest.raises(ConfigError, match="--nodes applies to --backend katib only"):
        SweepConfig(dataset="d", output="o", spec="s.yaml", nodes=2)


def test_trials_in_a_pipeline_step_nest_their_runs_under_the_pipeline_run(capsys, monkeypatch):
    def trial_env() -> dict[str, str]:
        code = main(sweep_args("--backend", "katib", "--dry-run", "--namespace", "team-b"))
        out, err = capsys.readouterr()
        assert code == 0, err
        experiment = yaml.safe_load(out)
        assert experiment["metadata"]["namespace"] == "team-b"
        return {e["name"]: e.get("value") for e in pod_spec(experiment)["containers"][0]["env"]}

    monkeypatch.delenv("KFP_RUN_ID", raising=False)
    assert "KFP_RUN_ID" not in trial_env()  # outside a pipeline: top-level runs
    monkeypatch.setenv("KFP_RUN_ID", "run-7f3a")  # what a pipeline step's pod has
    assert trial_env()["KFP_RUN_ID"] == "run-7f3a"


def test_a_pipelines_sweep_step_gives_its_trials_the_compiled_cluster_settings(capsys, monkeypatch):
    chosen = cluster.ClusterSettings(
        image="registry.example/genomeflow:test",
        gpu=cluster.GpuScheduling(node_label="pool", node_value="h100"),
        image_pull_secrets=("regcred",),
    )
    monkeypatch.setenv(cluster.CLUSTER_ENV, chosen.to_json())  # set by the compiled pipeline
    code = main(sweep_args("--backend", "katib", "--dry-run"))
    out, err = capsys.readouterr()
    assert code == 0, err
    pod = pod_spec(yaml.safe_load(out))
    assert pod["containers"][0]["image"] == chosen.image
    assert pod["nodeSelector"] == {"pool": "h100"}
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    monkeypatch.setenv(cluster.CLUSTER_ENV, '{"image": "only"}')
    assert main(sweep_args("--backend", "katib", "--dry-run")) == 2
    out, err = capsys.readouterr()
    assert not out and err.count("\n") == 1 and "$GENOMEFLOW_CLUSTER" in err


def test_secrets_only_as_references_never_values(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak-me")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "nor-me")
    text = experiment_yaml(compile_experiment(DNA_SPEC, settings()))
    assert "do-not-leak-me" not in text and "nor-me" not in text
    env = pod_spec(yaml.safe_load(text))["containers"][0]["env"]
    by_name = {e["name"]: e for e in env}
    for secret in cluster.SECRETS:
        for key in (*secret.keys, *secret.optional_keys):
            entry = by_name[key]
            assert "value" not in entry
            assert entry["valueFrom"]["secretKeyRef"]["name"] == secret.name
            assert entry["valueFrom"]["secretKeyRef"]["key"] == key
            assert entry["valueFrom"]["secretKeyRef"].get("optional", False) == (
                key in secret.optional_keys
            )
    assert by_name["GENOMEFLOW_EXPERIMENT"] == {
        "name": "GENOMEFLOW_EXPERIMENT",
        "value": "genomeflow",
    }
    literal = [e["name"] for e in env if "value" in e]
    assert literal == ["GENOMEFLOW_EXPERIMENT"]


def test_numbers_are_decimal_strings_never_floats():
    for case, experiment in GENERATED.items():
        assert not any(isinstance(v, float) for v in walk(experiment)), case
        for parameter in experiment["spec"]["parameters"]:
            for key in ("min", "max", "step"):
                value = parameter["feasibleSpace"].get(key)
                assert value is None or DECIMAL.fullmatch(value), (case, parameter)
    loaded = yaml.safe_load(experiment_yaml(compile_experiment(DNA_SPEC, settings())))
    space = next(p for p in loaded["spec"]["parameters"] if p["name"] == "learning_rate")
    assert space["feasibleSpace"] == {"distribution": "logUniform", "min": "0.00001", "max": "0.01"}


# --- parameters --------------------------------------------------------------------------


def test_every_distribution_maps_onto_katib():
    spec = spec_of(
        {
            "batch_size": {"values": [8, 16]},
            "epochs": {"distribution": "int_uniform", "min": 1, "max": 5},
            "dropout": {"distribution": "uniform", "min": 0.0, "max": 0.5},
            "warmup_ratio": {"distribution": "q_uniform", "min": 0.0, "max": 0.3, "q": 0.05},
            "patience": {"distribution": "q_uniform", "min": 1, "max": 9, "q": 2},
            "learning_rate": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-2},
            "weight_decay": {"distribution": "log_uniform", "min": -9.2, "max": -2.3},
            "max_length": {"distribution": "q_log_uniform_values", "min": 64, "max": 512, "q": 8},
            "gradient_clip": {"distribution": "normal", "mu": 1.0, "sigma": 0.1},
            "window_stride": {"distribution": "q_normal", "mu": 64, "sigma": 8, "q": 8},
            "architecture": {"value": "bert"},
        }
    )
    experiment = compiled(spec)
    parameters = {p["name"]: p for p in experiment["spec"]["parameters"]}
    assert "architecture" not in parameters  # a constant is a fixed flag, not searched
    assert "--architecture=bert" in pod_spec(experiment)["containers"][0]["command"]

    def space(name: str) -> tuple[str, dict[str, str]]:
        return parameters[name]["parameterType"], parameters[name]["feasibleSpace"]

    assert space("batch_size") == ("categorical", {"list": ["8", "16"]})
    assert space("epochs") == ("int", {"min": "1", "max": "5"})
    assert space("dropout") == ("double", {"min": "0.0", "max": "0.5"})
    assert space("warmup_ratio") == ("double", {"min": "0.0", "max": "0.3", "step": "0.05"})
    assert space("patience") == ("int", {"min": "2", "max": "8", "step": "2"})  # multiples of q
    assert space("learning_rate") == (
        "double",
        {"distribution": "logUniform", "min": "0.00001", "max": "0.01"},
    )
    kind, values = space("weight_decay")  # exponents -> values
    assert kind == "double" and values["distribution"] == "logUniform"
    assert float(values["min"]) == pytest.approx(math.exp(-9.2))
    assert float(values["max"]) == pytest.approx(math.exp(-2.3))
    assert space("max_length") == (
        "int",
        {"distribution": "logUniform", "min": "64", "max": "512", "step": "8"},
    )
    # Katib reads a normal as mu = (min + max) / 2 and sigma = (max - min) / 6
    kind, values = space("gradient_clip")
    assert kind == "double" and values["distribution"] == "normal"
    low, high = float(values["min"]), float(values["max"])
    assert ((low + high) / 2, (high - low) / 6) == pytest.approx((1.0, 0.1))
    assert space("window_stride") == (
        "int",
        {"distribution": "normal", "min": "40", "max": "88", "step": "8"},
    )


def test_log_normal_bounds():
    spec = spec_of({"learning_rate": {"distribution": "log_normal", "mu": -7.0, "sigma": 1.0}})
    [parameter] = compiled(spec)["spec"]["parameters"]
    space = parameter["feasibleSpace"]
    assert space["distribution"] == "logNormal"
    low, high = math.log(float(space["min"])), math.log(float(space["max"]))
    assert ((low + high) / 2, (high - low) / 6) == pytest.approx((-7.0, 1.0), abs=1e-6)


def test_grid_int_ranges_get_a_step():
    [batch, epochs] = GENERATED["grid"]["spec"]["parameters"]
    assert batch["feasibleSpace"] == {"list": ["8", "16"]}
    assert epochs["feasibleSpace"] == {"min": "1", "max": "3", "step": "1"}
    assert GENERATED["grid"]["spec"]["maxTrialCount"] == 6  # the grid's size, as locally


def test_reference_only_names_are_dropped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        experiment = compiled(DNA_SPEC)
    assert "decay, momentum ignored" in caplog.text
    names = [p["name"] for p in experiment["spec"]["parameters"]]
    assert names == ["epochs", "dropout", "batch_size", "learning_rate", "weight_decay"]


def test_unsupported_distributions_are_clear_errors(monkeypatch):
    normal = spec_of(
        {"dropout": {"distribution": "normal", "mu": 0.2, "sigma": 0.05}},
        **{"early_terminate": {"type": "hyperband", "eta": 3, "max_iter": 9, "s": 1}},
    )
    with pytest.raises(ConfigError, match="hyperband samples every parameter uniformly"):
        compiled(normal, algorithm="hyperband", parallel_trials=9)
    compiled(normal)  # random (hyperopt) draws normals
    monkeypatch.setattr(katib_parameters, "SDK_DISTRIBUTIONS", False)  # as kubeflow-katib < 0.18
    with pytest.raises(ConfigError, match="cannot express"):
        compiled(normal)


def test_unknown_hyperparameters_and_bad_settings_are_errors():
    with pytest.raises(ConfigError, match="not transformer hyperparameter"):
        compiled(spec_of({"n_estimators": {"values": [100, 200]}}))
    with pytest.raises(ConfigError, match="Experiment name"):
        compiled(DNA_SPEC, name="Bad_Name")
    with pytest.raises(ConfigError, match="not `genomeflow train` settings"):
        compiled(DNA_SPEC, train_flags={"folds": 5})
    with pytest.raises(ConfigError, match="exceed"):
        compiled(DNA_SPEC, parallel_trials=30, max_trials=10)


# --- metrics -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("eval/f1", "eval_f1"),
        ("f1", "eval_f1"),
        ("eval_f1", "eval_f1"),
        ("f1_macro", "eval_f1"),
        ("loss", "eval_loss"),
        ("eval/loss", "eval_loss"),
        ("accuracy", "eval_accuracy"),
        ("eval/mcc", "eval_mcc"),
        ("auc", "eval_roc_auc"),
        ("train_loss", "train_loss"),
    ],
)
def test_metric_names_map_to_what_train_prints(name, line):
    assert katib_metric(name) == line


@pytest.mark.parametrize("name", ["perplexity", "brier", "eval/precision"])
def test_unknown_metric_names_the_metrics_that_exist(name):
    with pytest.raises(ConfigError, match="reports eval_loss, eval_f1, eval_accuracy") as info:
        compiled(spec_of({"batch_size": {"values": [8]}}, metric={"name": name}))
    assert repr(name) in str(info.value)


def test_collector_filter_reads_genomeflow_train_lines():
    metrics = {
        "log_loss": 0.41,
        "f1_macro": 0.819216,
        "accuracy": 0.82,
        "balanced_accuracy": 0.81,
        "mcc": 0.64,
        "roc_auc": 0.9,
        "pr_auc": 1.5e-5,
    }
    lines = katib_lines(2, {"train_loss": 0.5}, SimpleNamespace(metrics=metrics))
    filter_ = re.compile(METRICS_FILTER)
    read = {}
    for line in lines:
        stamp = line.partition(" ")[0]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)  # RFC 3339: Katib's time
        assert not filter_.findall(stamp)
        read |= {name: float(value) for name, value in filter_.findall(line)}
    assert set(read) - {"epoch"} == set(PRINTED_METRICS)
    assert read["eval_pr_auc"] == pytest.approx(1.5e-5)  # exponents kept (Katib's old default: 1)
    assert read["eval_f1"] == pytest.approx(0.819216)
    assert not filter_.findall("2026-11-24T01:12:11Z eval_loss=nan")  # skipped, not ""


# --- the repository's sweeps and the examples ---------------------------------------------


def example_writer() -> Any:
    """docs/examples/katib/generate.py, the script that writes the examples."""
    found = importlib.util.spec_from_file_location("katib_examples", EXAMPLES / "generate.py")
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


def example_sweeps() -> list[Any]:
    """examples/sweeps/*.yaml; a spec of `genomeflow baseline --sweep` (xgb.yaml) is skipped."""
    skip = pytest.mark.skip(reason="not a transformer sweep (a `genomeflow baseline` spec)")
    return [
        path if is_transformer_sweep(path) else pytest.param(path, marks=skip) for path in SWEEPS
    ]


@pytest.mark.parametrize("path", example_sweeps(), ids=lambda p: p.name)
def test_every_example_sweep_compiles(path):
    spec = SweepSpec.from_file(path)
    experiment = yaml.safe_load(experiment_yaml(compile_experiment(spec, settings())))
    assert experiment["kind"] == "Experiment"
    objective = experiment["spec"]["objective"]["objectiveMetricName"]
    assert objective == katib_metric(spec.metric.name) == "eval_f1"
    assert experiment["spec"]["maxTrialCount"] == (spec.run_cap or 20)
    if spec.early_terminate is not None:
        hyperband = compile_experiment(spec, settings(algorithm="hyperband"))
        assert hyperband.spec.algorithm.algorithm_name == "hyperband"


def test_example_sweeps_include_the_transformer_ones():
    names = {path.name for path in SWEEPS if is_transformer_sweep(path)}
    assert {DNA.name, PROTEIN.name} <= names


def test_protein_sweep_uniform_learning_rate_is_a_plain_double():
    spec = SweepSpec.from_file(PROTEIN)
    parameters = {p["name"]: p for p in compiled(spec)["spec"]["parameters"]}
    assert parameters["learning_rate"] == {
        "name": "learning_rate",
        "parameterType": "double",
        "feasibleSpace": {"min": "0.0001", "max": "0.001"},
    }


def test_docs_examples_equal_a_fresh_generation():
    fresh = example_writer().example_documents(DNA_SPEC)
    assert sorted(p.name for p in EXAMPLES.glob("*.yaml")) == sorted(fresh)
    for name, text in fresh.items():
        assert (EXAMPLES / name).read_text(encoding="utf-8") == text, (
            f"{EXAMPLES / name} is stale: regenerate it with "
            "`python docs/examples/katib/generate.py`"
        )
        assert yaml.safe_load(text)["kind"] == "Experiment"


def test_examples_command_writes_the_examples(tmp_path, capsys):
    writer = example_writer()
    assert writer.main(["--output", str(tmp_path), "--spec", str(DNA)]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(writer.ALGORITHMS)
    assert capsys.readouterr().out.count("\n") == len(written)
    assert Path(writer.SPEC) == DNA  # by default, the repository's DNA promoter sweep


# --- genomeflow sweep --backend katib -----------------------------------------------------


def cli(argv: list[Any]) -> int:
    """``genomeflow.cli.main`` with every argument as text."""
    return main([str(item) for item in argv])


def sweep_args(*extra: Any) -> list[str]:
    return [
        "sweep",
        "s3://bucket/datasets/promoters",
        "-o",
        "s3://bucket/sweeps/promoters",
        "--spec",
        str(DNA),
        "--tracking-uri",
        "none",
        *map(str, extra),
    ]


def test_cli_dry_run_prints_an_experiment(capsys):
    code = main(sweep_args("--backend", "katib", "--dry-run", "--preset", "tiny", "--trials", 8))
    out, err = capsys.readouterr()
    assert code == 0, err
    experiment = yaml.safe_load(out)
    assert experiment["kind"] == "Experiment"
    assert experiment["apiVersion"] == "kubeflow.org/v1beta1"
    assert re.fullmatch(r"dna-promoter-[0-9a-f]{6}", experiment["metadata"]["name"])
    assert experiment["metadata"]["namespace"] == "kubeflow"
    assert experiment["spec"]["maxTrialCount"] == 8
    command = pod_spec(experiment)["containers"][0]["command"]
    assert "--preset=tiny" in command
    assert command[3].startswith("--output=s3://bucket/sweeps/promoters/trials/")


def test_cli_dry_run_with_local_paths_warns_and_hyperband(tmp_path, capsys, caplog):
    code = cli(
        [
            "sweep",
            tmp_path / "data",
            "-o",
            tmp_path / "out",
            "--spec",
            DNA,
            "--tracking-uri",
            "none",
            "--backend",
            "katib",
            "--dry-run",
            "--katib-algorithm",
            "hyperband",
            "--namespace",
            "team-a",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "is not an s3:// URI" in caplog.text
    experiment = yaml.safe_load(out)
    assert experiment["metadata"]["namespace"] == "team-a"
    assert experiment["spec"]["algorithm"]["algorithmName"] == "hyperband"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--backend", "katib"], "must be an s3:// URI"),
        (["--dry-run"], "--dry-run applies to --backend katib only"),
        (["--katib-algorithm", "hyperband"], "--katib-algorithm applies to --backend katib"),
        (["--backend", "katib", "--dry-run", "--timeout", "0"], "--timeout must be positive"),
    ],
)
def test_cli_katib_setting_errors_are_one_line(tmp_path, capsys, extra, message):
    code = cli(
        [
            "sweep",
            tmp_path / "data",
            "-o",
            tmp_path / "out",
            "--spec",
            DNA,
            "--tracking-uri",
            "none",
            *extra,
        ]
    )
    _, err = capsys.readouterr()
    assert code == 2 and message in err and err.count("\n") == 1


def test_katib_trials_init_from_only_what_a_pod_can_read(tmp_path, capsys):
    flags = ["sweep", "s3://b/data", "-o", "s3://b/out", "--spec", DNA, "--backend", "katib"]
    assert cli([*flags, "--tracking-uri", "none", "--init-from", tmp_path / "pretrained"]) == 2
    _, err = capsys.readouterr()
    assert "trial pods cannot read this machine's files" in err and err.count("\n") == 1
    config = SweepConfig(
        dataset="s3://b/data", output="s3://b/out", spec=DNA, backend="katib",
        init_from="s3://b/pretrain/model",
    )  # fmt: skip
    assert katib.trial_flags(config)["init_from"] == "s3://b/pretrain/model"  # every trial


def test_local_backend_keeps_its_defaults():
    config = SweepConfig(dataset="data", output="out", spec=str(DNA))
    assert (config.backend, config.parallel, config.dry_run) == ("local", 1, False)
    on_katib = SweepConfig(dataset="s3://b/d", output="s3://b/o", spec=str(DNA), backend="katib")
    assert on_katib.parallel is None  # the compiler picks 3 or hyperband's bracket


def test_default_namespace_is_the_pods_else_the_kubeconfigs_else_kubeflow(tmp_path, monkeypatch):
    assert katib_client.default_namespace() == "kubeflow"
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "lab"}}],
        "current-context": "x",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
    assert katib_client.default_namespace() == "lab"
    account = tmp_path / "namespace"
    account.write_text("kubeflow-user-example-com\n")
    monkeypatch.setattr(kube_api, "SERVICE_ACCOUNT_NAMESPACE", account)
    assert katib_client.default_namespace() == "kubeflow-user-example-com"


# --- the client layer against a faked Kubernetes API ------------------------------------


class FakeKubernetes:
    """The custom-objects endpoints KatibClient calls, on 127.0.0.1: POST creates an
    Experiment, GET returns it with the status of ``state`` (succeeded, failed, running)."""

    PREFIX = "/apis/kubeflow.org/v1beta1/namespaces/"

    def __init__(self, state: str = "succeeded", create_status: int = 201) -> None:
        self.state = state
        self.create_status = create_status
        self.experiments: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        fake = self

        class Handler(JsonAnswers):
            def do_POST(self) -> None:
                fake.requests.append(("POST", self.path))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if fake.create_status != 201:
                    self.answer(fake.create_status, {"kind": "Status", "message": "refused"})
                    return
                fake.experiments[body["metadata"]["name"]] = body
                self.answer(201, body)

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path))
                name = self.path.rstrip("/").rsplit("/", 1)[-1]
                if name not in fake.experiments or fake.state == "gone":
                    self.answer(404, {"kind": "Status", "message": f"{name} not found"})
                    return
                self.answer(200, {**fake.experiments[name], "status": fake.status(name)})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def client(self) -> KatibClient:
        configuration = k8s.Configuration()
        configuration.host = self.host
        return KatibClient(client_configuration=configuration)

    def status(self, name: str) -> dict[str, Any]:
        conditions = [{"type": "Created", "status": "True", "reason": "ExperimentCreated"}]
        if self.state == "running":
            conditions.append({"type": "Running", "status": "True", "reason": "ExperimentRunning"})
        elif self.state == "failed":
            conditions.append(
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "ExperimentMaxFailedTrialsReached",
                    "message": "Experiment has failed because max failed count has reached",
                }
            )
        else:
            conditions.append(
                {"type": "Succeeded", "status": "True", "reason": "ExperimentMaxTrialsReached"}
            )
        if self.state == "no metric":
            return {"conditions": conditions, "trials": 3, "trialsFailed": 0}
        return {
            "conditions": conditions,
            "currentOptimalTrial": {
                "bestTrialName": f"{name}-x7k2p9qd",
                "observation": {
                    "metrics": [
                        {"name": "eval_f1", "latest": "0.81", "max": "0.8312", "min": "0.6"},
                        {"name": "eval_loss", "latest": "0.4", "max": "0.7", "min": "0.38"},
                    ]
                },
                "parameterAssignments": [
                    {"name": "epochs", "value": "3"},
                    {"name": "dropout", "value": "0.25"},
                    {"name": "batch_size", "value": "16"},
                    {"name": "learning_rate", "value": "0.00031"},
                    {"name": "weight_decay", "value": "0.0"},
                ],
            },
            "trials": 20,
            "trialsSucceeded": 17,
            "trialsFailed": 1,
            "trialsEarlyStopped": 2,
        }


@pytest.fixture
def fake_kubernetes() -> Iterator[FakeKubernetes]:
    fake = FakeKubernetes()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def dna_experiment(name: str = "promoters"):
    return compile_experiment(DNA_SPEC, settings(name=name))


def create_and_wait(
    experiment: V1beta1Experiment,
    namespace: str | None,
    timeout_s: float,
    client: KatibClient | None = None,
    polling_interval: float = 0.05,
) -> dict[str, Any]:
    """Create the Experiment, wait for it and return the best params by genomeflow name."""
    return run_experiment(experiment, namespace, timeout_s, client, polling_interval).params


def test_create_and_wait_against_faked_kubernetes_api(fake_kubernetes):
    params = create_and_wait(
        dna_experiment(),
        "team-a",
        timeout_s=5,
        client=fake_kubernetes.client(),
        polling_interval=0.05,
    )
    assert params == {
        "epochs": 3,
        "dropout": 0.25,
        "batch_size": 16,
        "learning_rate": 0.00031,
        "weight_decay": 0.0,
    }
    assert all(type(params[n]) is int for n in ("epochs", "batch_size"))
    assert all(type(params[n]) is float for n in ("dropout", "learning_rate", "weight_decay"))
    posted = fake_kubernetes.experiments["promoters"]
    assert fake_kubernetes.requests[0] == (
        "POST",
        "/apis/kubeflow.org/v1beta1/namespaces/team-a/experiments",
    )
    assert posted["spec"] == experiment_dict(dna_experiment())["spec"]  # the object as compiled


def test_run_katib_sweep_writes_best_params_against_faked_kubernetes_api(fake_kubernetes, tmp_path):
    spec = usable_spec(
        SweepSpec.from_mapping(
            {
                **DNA_SPEC.to_dict(),
                "parameters": {**DNA_SPEC.to_dict()["parameters"], "preset": {"value": "tiny"}},
            }
        )
    )
    sweep = KatibSweep(spec, compile_experiment(spec, settings()))
    result = run_katib_sweep(sweep, str(tmp_path / "sweep"), 5, fake_kubernetes.client(), 0.05)
    assert (result.best_value, result.best_trial) == (0.8312, "promoters-x7k2p9qd")
    assert (result.trials, result.early_stopped, result.failed) == (20, 2, 1)
    assert result.metrics() == {
        "sweep_best_value": 0.8312,
        "sweep_trials": 20,
        "sweep_pruned": 2,
        "sweep_failed": 1,
    }
    summary = json.loads((tmp_path / "sweep" / "best_params.json").read_text())
    assert list(summary) == [
        "metric",
        "goal",
        "best_value",
        "best_trial",
        "params",
        "katib_experiment",
    ]
    assert summary["metric"] == "eval/f1" and summary["goal"] == "maximize"
    assert summary["katib_experiment"] == "kubeflow/promoters"
    assert list(summary["params"]) == [
        "epochs",
        "dropout",
        "batch_size",
        "learning_rate",
        "weight_decay",
        "preset",
    ]  # spec order, the constant included, as the local engine writes them
    config = resolve_hyperparameters(
        TrainConfig(
            dataset="d", output="m", params_file=str(tmp_path / "sweep" / "best_params.json")
        )
    )
    assert (config.epochs, config.batch_size, config.learning_rate, config.preset) == (
        3,
        16,
        0.00031,
        "tiny",
    )


def test_create_and_wait_experiment_failed_against_faked_kubernetes_api(fake_kubernetes):
    fake_kubernetes.state = "failed"
    with pytest.raises(KatibError) as info:
        create_and_wait(dna_experiment(), "kubeflow", 5, fake_kubernetes.client(), 0.05)
    message = str(info.value)
    assert "kubeflow/promoters failed (ExperimentMaxFailedTrialsReached" in message
    assert "kubectl describe experiment promoters -n kubeflow" in message
    assert "\n" not in message


def test_create_and_wait_timeout_against_faked_kubernetes_api(fake_kubernetes):
    fake_kubernetes.state = "running"
    with pytest.raises(KatibError, match=r"did not succeed within 0.3 s; it keeps running"):
        create_and_wait(dna_experiment(), "kubeflow", 0.3, fake_kubernetes.client(), 0.05)
    gets = [r for r in fake_kubernetes.requests if r[0] == "GET"]
    assert len(gets) >= 2  # it polled


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (409, "already exists; delete it (kubectl delete experiment promoters -n kubeflow)"),
        (403, "refused access (HTTP 403: refused)"),
        (404, "or Katib itself (the experiments.kubeflow.org/v1beta1 API) is missing"),
        (400, "answered HTTP 400: refused"),
    ],
)
def test_create_refused_by_faked_kubernetes_api(fake_kubernetes, status, message):
    fake_kubernetes.create_status = status
    with pytest.raises(
        KatibError, match="could not create Katib Experiment kubeflow/promoters"
    ) as info:
        create_and_wait(dna_experiment(), "kubeflow", 1, fake_kubernetes.client(), 0.05)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("gone", "could not follow Katib Experiment kubeflow/promoters: HTTP 404"),
        ("no metric", "finished but no trial reported eval_f1; look for `eval_f1=` lines"),
    ],
)
def test_experiment_gone_or_without_metrics_against_faked_kubernetes_api(
    fake_kubernetes, state, message
):
    fake_kubernetes.state = state
    with pytest.raises(KatibError, match=re.escape(message)):
        create_and_wait(dna_experiment(), "kubeflow", 1, fake_kubernetes.client(), 0.05)


def test_unreachable_or_unconfigured_kubernetes_api():
    closed = FakeKubernetes()  # bound, never served: connections are refused once closed
    configuration = k8s.Configuration()
    configuration.host = closed.host
    configuration.retries = False
    closed.server.server_close()
    with pytest.raises(KatibError, match="cannot reach the Kubernetes API"):
        create_and_wait(
            dna_experiment(), "kubeflow", 1, KatibClient(client_configuration=configuration)
        )
    with pytest.raises(KatibError, match=r"no Kubernetes API access .*--dry-run"):  # no kubeconfig
        run_experiment(dna_experiment(), "kubeflow", 1)


def test_experiment_name_is_valid_and_unique():
    first, second = experiment_name("DNA promoter (E. coli)"), experiment_name("x")
    assert re.fullmatch(r"dna-promoter-e-coli-[0-9a-f]{6}", first)
    assert experiment_name("42 runs", unique=False) == "sweep-42-runs"
    assert first != experiment_name("DNA promoter (E. coli)")
    assert NAME_PATTERN.fullmatch(second)
    assert len(experiment_name("a" * 200)) <= NAME_BASE_LENGTH + 7


def test_module_does_not_import_kfp():
    # nor torch: compiling and running an Experiment trains nothing here
    code = (
        "import sys, genomeflow.sweep.katib; "
        "assert 'kfp' not in sys.modules, 'kfp imported'; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_yaml_round_trips_to_the_same_object(tmp_path):
    experiment = dna_experiment()
    path = tmp_path / "experiment.yaml"
    path.write_text(experiment_yaml(experiment), encoding="utf-8")  # as `kubectl apply -f` reads
    assert yaml.safe_load(path.read_text()) == experiment_dict(experiment)
