"""Offline checks of docker/ and manifests/ (no Docker engine, no cluster, no network).

YAML is parsed and cross-referenced (kustomizations, Secrets, images, RBAC), built-in kinds are
validated against the Kubernetes schemas that kubernetes-validate ships, and the Dockerfiles are
read by a small instruction parser. Overlays are also rendered when `kubectl` (built-in
kustomize) is on PATH, and the Dockerfiles linted when `hadolint` is.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from genomeflow import __version__, cluster

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "manifests"
EXAMPLES = MANIFESTS / "examples"
SECRETS_DIR = MANIFESTS / "secrets"
DOCKERFILES = {"cuda": REPO / "docker" / "Dockerfile", "cpu": REPO / "docker" / "Dockerfile.cpu"}

# Oldest Kubernetes minor the manifests target; kubernetes-validate ships its schemas.
K8S_VERSION = "1.30"
# API groups whose kinds kubernetes-validate knows; anything else is a CRD (structural checks).
BUILTIN_GROUPS = {
    "",
    "apps",
    "batch",
    "policy",
    "autoscaling",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}

# The MLflow server's database Secret; the other Secrets are defined in genomeflow.cluster.
DB_SECRET = cluster.SecretEnv(
    "genomeflow-mlflow-db", ("POSTGRES_PASSWORD", "MLFLOW_BACKEND_STORE_URI")
)
ALL_SECRETS = {secret.name: secret for secret in (*cluster.SECRETS, DB_SECRET)}
OVERLAYS = {"kubeflow-profile": "kubeflow-user-example-com", "standalone": "genomeflow"}
KATIB_LABEL = "katib.kubeflow.org/metrics-collector-injection"
SECRETISH = re.compile(r"KEY|SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL", re.IGNORECASE)
PINNED_TAG = re.compile(r"^[a-z0-9][\w./-]*:(?P<tag>[\w][\w.-]*)(@sha256:[0-9a-f]{64})?$")


# ---------------------------------------------------------------------------------------------
# YAML helpers


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def yaml_files() -> list[Path]:
    return sorted(p for p in MANIFESTS.rglob("*") if p.suffix in {".yaml", ".yml"})


def documents(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def is_kustomization(path: Path) -> bool:
    return path.name in {"kustomization.yaml", "kustomization.yml"}


def kustomizations() -> list[Path]:
    return [p for p in yaml_files() if is_kustomization(p)]


def objects(under: Path = MANIFESTS) -> list[tuple[Path, dict[str, Any]]]:
    """Every Kubernetes object in the YAML files below ``under`` (kustomizations excluded)."""
    return [
        (path, doc)
        for path in yaml_files()
        if path.is_relative_to(under) and not is_kustomization(path)
        for doc in documents(path)
    ]


def api_group(doc: dict[str, Any]) -> str:
    version = doc["apiVersion"]
    return version.split("/")[0] if "/" in version else ""


def object_id(path: Path, doc: dict[str, Any]) -> str:
    return f"{rel(path)}:{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def pod_templates(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Pod templates ({metadata, spec}) of a Pod or a workload."""
    if doc.get("kind") == "Pod":
        yield doc
    elif doc.get("kind") in WORKLOAD_KINDS:
        yield doc["spec"]["template"]
    elif doc.get("kind") == "CronJob":
        yield doc["spec"]["jobTemplate"]["spec"]["template"]


def containers(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for template in pod_templates(doc):
        spec = template["spec"]
        yield from spec.get("initContainers", [])
        yield from spec["containers"]


def all_containers(docs: list[tuple[Path, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [container for _, doc in docs for container in containers(doc)]


def secret_refs(container: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    """(Secret name, key) pairs a container reads; key None for a whole-Secret envFrom."""
    for env in container.get("env", []):
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            yield ref["name"], ref["key"]
    for source in container.get("envFrom", []):
        if "secretRef" in source:
            yield source["secretRef"]["name"], None


def env_value(container: dict[str, Any], name: str) -> dict[str, Any]:
    matches = [env for env in container.get("env", []) if env["name"] == name]
    assert len(matches) == 1, f"{container['name']}: env {name} set {len(matches)} times"
    return matches[0]


def find(docs: list[tuple[Path, dict[str, Any]]], kind: str, name: str) -> dict[str, Any]:
    found = [doc for _, doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def kustomization_refs(kfile: Path) -> list[tuple[str, Path]]:
    """(role, path) of everything a kustomization reads: resources, components, patches, files."""
    spec = documents(kfile)[0]
    here = kfile.parent
    refs: list[tuple[str, Path]] = []
    for entry in spec.get("resources", []):
        assert "://" not in entry, (
            f"{rel(kfile)}: remote resource {entry} (the build must be offline)"
        )
        refs.append(("resource", here / entry))
    refs += [("component", here / entry) for entry in spec.get("components", [])]
    for patch in spec.get("patches", []) + spec.get("patchesJson6902", []):
        if "path" in patch:
            refs.append(("patch", here / patch["path"]))
    refs += [("patch", here / entry) for entry in spec.get("patchesStrategicMerge", [])]
    for generator in spec.get("configMapGenerator", []) + spec.get("secretGenerator", []):
        refs += [("file", here / entry.split("=")[-1]) for entry in generator.get("files", [])]
        refs += [("env", here / entry) for entry in generator.get("envs", [])]
    return refs


def reachable(kfile: Path) -> set[Path]:
    """Every file a kustomization build reads, recursively."""
    files = {kfile.resolve()}
    for role, target in kustomization_refs(kfile):
        if role in ("resource", "component") and target.is_dir():
            files |= reachable(target / "kustomization.yaml")
        elif role == "env":
            files.add(target.with_name(target.name + ".example").resolve())
        else:
            files.add(target.resolve())
    return files


def secret_keys(name: str) -> tuple[str, ...]:
    """Every key a Secret may hold: the required ones, then the optional ones."""
    secret = ALL_SECRETS[name]
    return secret.keys + secret.optional_keys


def read_env_example(path: Path) -> dict[str, str]:
    """KEY=value lines of an env file (comments and blank lines skipped, as kustomize does)."""
    pairs: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        assert "=" in line, f"{rel(path)}:{number}: not KEY=value"
        key, value = line.split("=", 1)
        assert key not in pairs, f"{rel(path)}:{number}: {key} repeated"
        pairs[key] = value
    return pairs


def constraints() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def makefile_variable(name: str) -> str:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    match = re.search(rf"^{name}\s*:?=\s*(.+)$", text, re.MULTILINE)
    assert match, f"Makefile: no {name}"
    return match[1].strip()


# ---------------------------------------------------------------------------------------------
# Files, references, schemas


def test_every_yaml_file_parses_into_objects():
    files = yaml_files()
    assert len(files) > 10
    for path in files:
        docs = documents(path)
        assert docs, f"{rel(path)}: no YAML document"
        for doc in docs:
            assert isinstance(doc, dict), f"{rel(path)}: a document is not a mapping"
            assert doc.get("apiVersion") and doc.get("kind"), (
                f"{rel(path)}: apiVersion/kind missing"
            )
            if not is_kustomization(path):
                assert doc.get("metadata", {}).get("name"), f"{object_id(path, doc)}: no name"


@pytest.mark.parametrize("kfile", kustomizations(), ids=rel)
def test_kustomization_references_exist(kfile):
    kind = documents(kfile)[0]["kind"]
    assert kind in {"Kustomization", "Component"}
    for role, target in kustomization_refs(kfile):
        where = f"{rel(kfile)}: {role} {target.relative_to(kfile.parent)}"
        if role == "env":
            # filled-in env files are git-ignored; the committed key list must exist
            assert target.with_name(target.name + ".example").is_file(), f"{where}: no .example"
        elif role in ("resource", "component") and target.is_dir():
            sub = target / "kustomization.yaml"
            assert sub.is_file(), f"{where}: folder without kustomization.yaml"
            expected = "Component" if role == "component" else "Kustomization"
            assert documents(sub)[0]["kind"] == expected, f"{where}: not a {expected}"
        else:
            assert target.is_file(), f"{where}: missing"


def test_every_manifest_is_built_and_examples_never_are():
    roots = [MANIFESTS / "overlays" / name / "kustomization.yaml" for name in OVERLAYS]
    built = set().union(
        *(reachable(root) for root in roots), reachable(SECRETS_DIR / "kustomization.yaml")
    )
    for path in yaml_files():
        if path.is_relative_to(EXAMPLES):
            assert path.resolve() not in built, f"{rel(path)} is documentation, yet applied"
        elif path.is_relative_to(MANIFESTS / "overlays") or path.is_relative_to(SECRETS_DIR):
            continue
        else:
            assert path.resolve() in built, f"{rel(path)} is in no overlay"
    assert reachable(MANIFESTS / "base" / "kustomization.yaml") <= built


BUILTIN = [(p, d) for p, d in objects() if api_group(d) in BUILTIN_GROUPS]
CUSTOM = [(p, d) for p, d in objects() if api_group(d) not in BUILTIN_GROUPS]


@pytest.mark.parametrize(("path", "doc"), BUILTIN, ids=[object_id(p, d) for p, d in BUILTIN])
def test_builtin_objects_match_the_kubernetes_schema(path, doc):
    # strict: unknown fields (typos) fail too
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_custom_resources_are_examples_and_well_formed():
    assert CUSTOM, "the GPU node pool examples are custom resources"
    for path, doc in CUSTOM:
        where = object_id(path, doc)
        assert path.is_relative_to(EXAMPLES), f"{where}: a CRD kind outside examples/"
        assert re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+/v\d+((alpha|beta)\d+)?", doc["apiVersion"])
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", doc["kind"]), where
        if api_group(doc) == "kubeflow.org" and doc["kind"] == "Experiment":
            spec = doc["spec"]
            for key in ("objective", "algorithm", "parameters", "trialTemplate"):
                assert key in spec, f"{where}: Katib Experiment without spec.{key}"
        else:
            assert isinstance(doc.get("spec", doc.get("managedNodeGroups")), (dict, list)), where


def test_base_and_components_are_namespace_independent():
    for directory in (MANIFESTS / "base", MANIFESTS / "components"):
        for path, doc in objects(directory):
            if doc["kind"] != "Namespace":
                assert "namespace" not in doc["metadata"], f"{object_id(path, doc)}: namespaced"


# ---------------------------------------------------------------------------------------------
# Secrets: names and keys from genomeflow.cluster, never a value


def secret_generators() -> dict[str, dict[str, Any]]:
    spec = documents(SECRETS_DIR / "kustomization.yaml")[0]
    return {generator["name"]: generator for generator in spec["secretGenerator"]}


def test_secret_generators_hold_key_lists_only():
    spec = documents(SECRETS_DIR / "kustomization.yaml")[0]
    # pods outside kustomize (compiled pipelines, Katib trials) use the fixed names
    assert spec["generatorOptions"]["disableNameSuffixHash"] is True
    generators = secret_generators()
    assert set(generators) == set(ALL_SECRETS)
    for name, generator in generators.items():
        assert set(generator) <= {"name", "type", "envs", "options"}, f"{name}: literals/files"
        assert generator["envs"] == [f"{name}.env"]
        example = read_env_example(SECRETS_DIR / f"{name}.env.example")
        assert tuple(example) == secret_keys(name), f"{name}: keys differ from cluster.py"
        assert all(value == "" for value in example.values()), f"{name}: example has values"
    ignored = (SECRETS_DIR / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "*.env" in ignored and "!*.env.example" in ignored


def test_no_secret_manifest_carries_values():
    for path, doc in objects():
        if doc["kind"] == "Secret":
            for section in ("data", "stringData"):
                values = (doc.get(section) or {}).values()
                assert not any(values), f"{object_id(path, doc)}: {section} has values"


def test_secret_like_variables_come_from_secrets():
    for path, doc in objects():
        for container in containers(doc):
            for env in container.get("env", []):
                if SECRETISH.search(env["name"]):
                    where = f"{object_id(path, doc)}: {container['name']} {env['name']}"
                    assert "value" not in env, f"{where}: literal credential"
                    assert "secretKeyRef" in env.get("valueFrom", {}), f"{where}: not a Secret"


def test_secret_references_match_cluster_settings():
    used = set()
    for path, doc in objects():
        for container in containers(doc):
            for name, key in secret_refs(container):
                where = f"{object_id(path, doc)}: {name}/{key}"
                assert name in ALL_SECRETS, f"{where}: unknown Secret"
                assert key is None or key in secret_keys(name), f"{where}: unknown key"
                used.add(name)
    # genomeflow-mlflow is for pipeline steps and trials, which are not in manifests/
    assert {cluster.S3_SECRET.name, DB_SECRET.name} <= used


def test_mlflow_server_reads_store_and_credentials_from_secrets():
    base = objects(MANIFESTS / "base")
    server = next(containers(find(base, "Deployment", "genomeflow-mlflow")))
    s3, db = cluster.S3_SECRET, DB_SECRET
    expected = {
        "MLFLOW_BACKEND_STORE_URI": (db.name, "MLFLOW_BACKEND_STORE_URI"),
        "AWS_ACCESS_KEY_ID": (s3.name, "AWS_ACCESS_KEY_ID"),
        "AWS_SECRET_ACCESS_KEY": (s3.name, "AWS_SECRET_ACCESS_KEY"),
        "AWS_ENDPOINT_URL": (s3.name, "AWS_ENDPOINT_URL"),
        "MLFLOW_S3_ENDPOINT_URL": (s3.name, "AWS_ENDPOINT_URL"),
    }
    for variable, (name, key) in expected.items():
        ref = env_value(server, variable)["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == (name, key)
    postgres = next(containers(find(base, "StatefulSet", "genomeflow-postgres")))
    ref = env_value(postgres, "POSTGRES_PASSWORD")["valueFrom"]["secretKeyRef"]
    assert (ref["name"], ref["key"]) == (db.name, "POSTGRES_PASSWORD")


# ---------------------------------------------------------------------------------------------
# Images, services, hardening


def test_images_are_pinned():
    images = {container["image"] for container in all_containers(objects())}
    assert images
    for image in images:
        match = PINNED_TAG.match(image)
        assert match, f"{image}: no tag"
        assert match["tag"] != "latest" and re.search(r"\d", match["tag"]), f"{image}: unpinned"


def test_images_follow_the_project_pins():
    mlflow = constraints()["mlflow"]
    for container in all_containers(objects()):
        if "/mlflow/mlflow:" in container["image"]:
            # server and client on one MLflow version
            assert container["image"] == f"ghcr.io/mlflow/mlflow:v{mlflow}-full"
    smoke = find(objects(EXAMPLES), "Pod", "genomeflow-gpu-smoke-test")
    repository, tag = next(containers(smoke))["image"].rsplit(":", 1)
    assert tag == __version__
    if "GENOMEFLOW_IMAGE_REPOSITORY" not in os.environ:
        assert repository == cluster.IMAGE_REPOSITORY


def test_mlflow_server_settings():
    base = objects(MANIFESTS / "base")
    deployment = find(base, "Deployment", "genomeflow-mlflow")
    server = next(containers(deployment))
    script = " ".join(server["command"] + server["args"])
    assert "mlflow server --host 0.0.0.0 --port 5000" in script
    assert "--serve-artifacts --artifacts-destination" in script
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert server[probe]["httpGet"] == {"path": "/health", "port": "http"}
    assert server["ports"] == [{"name": "http", "containerPort": 5000}]
    service = find(base, "Service", "genomeflow-mlflow")
    assert service["spec"]["ports"][0]["port"] == 5000
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    spec = documents(MANIFESTS / "base" / "kustomization.yaml")[0]
    (config,) = spec["configMapGenerator"]
    settings = dict(literal.split("=", 1) for literal in config["literals"])
    assert settings["MLFLOW_ARTIFACTS_DESTINATION"].startswith(f"s3://{settings['S3_BUCKET']}/")
    hosts = settings["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    assert {"genomeflow-mlflow:*", "genomeflow-mlflow.*", "localhost:*"} <= set(hosts)


def test_pods_run_unprivileged_with_resources():
    templates = [(p, d, t) for p, d in objects() for t in pod_templates(d)]
    assert len(templates) >= 6
    for path, doc, template in templates:
        where = object_id(path, doc)
        spec = template["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["automountServiceAccountToken"] is False, where
        # outside an Istio mesh, like KFP's pipeline pods
        assert template["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false", where
        for container in spec.get("initContainers", []) + spec["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            assert "memory" in container["resources"]["limits"], where


def test_container_scripts_parse():
    sh = shutil.which("sh")
    scripts = 0
    for path, doc in objects():
        for container in containers(doc):
            command = container.get("command", [])
            if command[:1] in (["python"], ["python3"]) and "-c" in command + container.get(
                "args", []
            ):
                code = (command + container.get("args", []))[-1]
                ast.parse(code, filename=object_id(path, doc))
                scripts += 1
            elif command == ["/bin/sh", "-c"] and sh:
                result = subprocess.run(
                    [sh, "-n", "-c", container["args"][0]], capture_output=True, text=True
                )
                assert result.returncode == 0, f"{object_id(path, doc)}: {result.stderr}"
                scripts += 1
    assert scripts >= 3


# ---------------------------------------------------------------------------------------------
# RBAC, Katib namespace label, GPU scheduling


def test_rbac_lets_the_pipeline_runner_drive_katib():
    base = objects(MANIFESTS / "base")
    role = find(base, "Role", "genomeflow-katib-runner")

    def verbs(group: str, resource: str) -> set[str]:
        granted: set[str] = set()
        for rule in role["rules"]:
            if group in rule["apiGroups"] and resource in rule["resources"]:
                granted |= set(rule["verbs"])
        return granted

    for resource in ("experiments", "trials", "suggestions", "pytorchjobs"):
        assert {"create", "get", "list", "watch", "delete"} <= verbs("kubeflow.org", resource)
    for resource in ("pods", "pods/log"):
        assert {"get", "list", "watch"} <= verbs("", resource)
    assert not any("*" in rule["verbs"] or "*" in rule["resources"] for rule in role["rules"])
    binding = find(base, "RoleBinding", "genomeflow-katib-runner")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "genomeflow-katib-runner",
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "default-editor"}]
    # each overlay names its runner explicitly
    for name in OVERLAYS:
        spec = documents(MANIFESTS / "overlays" / name / "kustomization.yaml")[0]
        targets = [patch["target"] for patch in spec.get("patches", [])]
        assert {"kind": "RoleBinding", "name": "genomeflow-katib-runner"} in targets, name


def test_katib_namespace_carries_the_injection_label():
    (namespace,) = documents(MANIFESTS / "components" / "katib-namespace" / "namespace.yaml")
    assert namespace["kind"] == "Namespace"
    assert namespace["metadata"]["labels"][KATIB_LABEL] == "enabled"
    standalone = documents(MANIFESTS / "overlays" / "standalone" / "kustomization.yaml")[0]
    assert "../../components/katib-namespace" in standalone["components"]
    # a profile namespace belongs to Kubeflow's profile controller, which labels it itself
    profile = documents(MANIFESTS / "overlays" / "kubeflow-profile" / "kustomization.yaml")[0]
    assert "../../components/katib-namespace" not in profile.get("components", [])


def test_gpu_examples_follow_cluster_scheduling():
    gpu = cluster.GpuScheduling()
    smoke = find(objects(EXAMPLES), "Pod", "genomeflow-gpu-smoke-test")
    assert smoke["spec"]["nodeSelector"] == {gpu.node_label: gpu.node_value}
    assert smoke["spec"]["tolerations"] == [
        {"key": gpu.taint_key, "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert next(containers(smoke))["resources"]["limits"][gpu.resource] == gpu.count
    (eks,) = documents(EXAMPLES / "gpu-node-group-eks.yaml")
    for group in eks["managedNodeGroups"]:
        assert group["labels"] == {gpu.node_label: gpu.node_value}
        assert [(t["key"], t["effect"]) for t in group["taints"]] == [(gpu.taint_key, "NoSchedule")]
    (gke,) = documents(EXAMPLES / "gpu-node-pool-gke.yaml")
    node = gke["spec"]["nodeConfig"]
    assert node["labels"] == {gpu.node_label: gpu.node_value}
    assert [(t["key"], t["effect"]) for t in node["taint"]] == [(gpu.taint_key, "NO_SCHEDULE")]


# ---------------------------------------------------------------------------------------------
# Rendered overlays (kubectl's built-in kustomize, offline)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, list[dict[str, Any]]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (built-in kustomize) is not on PATH")
    work = tmp_path_factory.mktemp("render") / "manifests"
    # never a developer's filled-in .env files: the empty examples stand in for them
    shutil.copytree(MANIFESTS, work, ignore=shutil.ignore_patterns("*.env"))
    for example in (work / "secrets").glob("*.env.example"):
        example.with_suffix("").write_text(example.read_text(encoding="utf-8"), encoding="utf-8")
    targets = {name: work / "overlays" / name for name in OVERLAYS} | {"secrets": work / "secrets"}
    out = {}
    for name, target in targets.items():
        result = subprocess.run(
            [kubectl, "kustomize", str(target)], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"kustomize {name}: {result.stderr}"
        out[name] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return out


def test_rendered_objects_match_the_kubernetes_schema(rendered):
    for docs in rendered.values():
        for doc in docs:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.mark.parametrize(("overlay", "namespace"), OVERLAYS.items())
def test_rendered_overlay_is_consistent(rendered, overlay, namespace):
    docs = rendered[overlay]
    kinds = {doc["kind"] for doc in docs}
    assert {"Deployment", "StatefulSet", "Service", "Role", "RoleBinding", "ConfigMap"} <= kinds
    assert "Secret" not in kinds, "credentials come from manifests/secrets only"
    for doc in docs:
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == namespace
            assert doc["metadata"]["labels"][KATIB_LABEL] == "enabled"
        else:
            assert doc["metadata"]["namespace"] == namespace, doc["metadata"]["name"]
    assert ("Namespace" in kinds) == (overlay == "standalone")
    config_maps = {doc["metadata"]["name"] for doc in docs if doc["kind"] == "ConfigMap"}
    secrets = {doc["metadata"]["name"]: doc for doc in rendered["secrets"]}
    for doc in docs:
        for container in containers(doc):
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("configMapKeyRef")
                if ref:  # the generated (hash-suffixed) name
                    assert ref["name"] in config_maps
            for name, key in secret_refs(container):
                assert key is None or key in secrets[name]["data"]
    (binding,) = [doc for doc in docs if doc["kind"] == "RoleBinding"]
    expected = {
        "kubeflow-profile": {
            "kind": "ServiceAccount",
            "name": "default-editor",
            "namespace": namespace,
        },
        "standalone": {
            "kind": "ServiceAccount",
            "name": "pipeline-runner",
            "namespace": "kubeflow",
        },
    }
    assert binding["subjects"] == [expected[overlay]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_copies_for_review_are_current(rendered, overlay):
    copy = REPO / "docs" / "examples" / "manifests" / f"{overlay}.yaml"
    assert documents(copy) == rendered[overlay], (
        f"{rel(copy)} is stale: regenerate it with "
        f"`kubectl kustomize manifests/overlays/{overlay}` (keep its two header lines)"
    )


def test_rendered_secrets_are_empty_with_fixed_names(rendered):
    secrets = rendered["secrets"]
    assert {doc["metadata"]["name"] for doc in secrets} == set(ALL_SECRETS)
    for doc in secrets:
        assert set(doc["data"]) == set(secret_keys(doc["metadata"]["name"]))
        assert not any(doc["data"].values())


# ---------------------------------------------------------------------------------------------
# Dockerfiles

INSTRUCTIONS = {
    "FROM", "ARG", "ENV", "RUN", "COPY", "ADD", "WORKDIR", "USER", "LABEL", "CMD",
    "ENTRYPOINT", "EXPOSE", "VOLUME", "SHELL", "HEALTHCHECK", "STOPSIGNAL", "ONBUILD",
}  # fmt: skip


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    def base_image(self, stage: Stage) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: self.global_args[m[1]], stage.base)


def parse_dockerfile(path: Path) -> Dockerfile:
    """Instructions by stage: continuation lines joined, comment lines dropped."""
    logical: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if line.startswith("#") or (not line and not buffer):
            continue
        start = start or number
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        logical.append((start, buffer + line))
        buffer, start = "", 0
    assert not buffer, f"{rel(path)}: dangling line continuation"
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for number, text in logical:
        keyword, _, args = text.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        assert keyword in INSTRUCTIONS, f"{rel(path)}:{number}: unknown instruction {keyword}"
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", args, re.IGNORECASE)
            assert match, f"{rel(path)}:{number}: FROM {args}"
            stages.append(Stage(match[1], match[2]))
        elif not stages:
            assert keyword == "ARG", f"{rel(path)}:{number}: {keyword} before FROM"
            global_args.update(assignments(args))
        else:
            stages[-1].instructions.append(Instruction(keyword, args, number))
    return Dockerfile(global_args, stages)


def assignments(args: str) -> dict[str, str]:
    """NAME=value pairs of an ARG/ENV/LABEL (an ARG may have no value)."""
    pairs = {}
    for token in shlex.split(args):
        name, _, value = token.partition("=")
        pairs[name] = value
    return pairs


def stage_values(stage: Stage, keyword: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for instruction in stage.all(keyword):
        values.update(assignments(instruction.args))
    return values


PARSED = {flavour: parse_dockerfile(path) for flavour, path in DOCKERFILES.items()}
FLAVOURS = list(DOCKERFILES)


def stage(flavour: str, name: str) -> Stage:
    (found,) = [s for s in PARSED[flavour].stages if s.name == name]
    return found


def deps(flavour: str) -> Stage:
    """The stage that installs torch and every dependency, from pyproject.toml alone."""
    return stage(flavour, "deps")


def builder(flavour: str) -> Stage:
    """The stage that adds the sources and builds the package's wheel."""
    return stage(flavour, "builder")


def runtime(flavour: str) -> Stage:
    return PARSED[flavour].stages[-1]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_dockerfile_is_multi_stage(flavour):
    dockerfile = PARSED[flavour]
    assert [(s.name, s.base) for s in dockerfile.stages] == [
        ("deps", "${PYTHON_IMAGE}"), ("builder", "deps"), ("runtime", "${PYTHON_IMAGE}"),
    ]  # fmt: skip
    copies = [c.args for c in runtime(flavour).all("COPY")]
    # the dependencies' venv as one layer, then the package's wheel (a small one)
    assert copies == ["--from=deps /opt/venv /opt/venv", "--from=builder /dist /opt/dist"]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_base_images_are_pinned(flavour):
    dockerfile = PARSED[flavour]
    for built in dockerfile.stages:
        if built.base in {s.name for s in dockerfile.stages}:
            continue  # FROM an earlier stage
        image = dockerfile.base_image(built)
        match = PINNED_TAG.match(image)
        assert match, f"{image}: no tag"
        assert match["tag"] != "latest" and re.search(r"\d+\.\d+\.\d+", match["tag"]), image
    # both images on one Python
    assert dockerfile.global_args["PYTHON_IMAGE"] == PARSED["cuda"].global_args["PYTHON_IMAGE"]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_final_stage_runs_as_non_root(flavour):
    users = runtime(flavour).all("USER")
    assert users, "no USER in the final stage"
    user = users[-1].args.split(":")[0]
    assert user not in {"root", "0"}
    assert user == "1000"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_no_secret_in_env_or_arg(flavour):
    dockerfile = PARSED[flavour]
    declared = dict(dockerfile.global_args)
    for stage in dockerfile.stages:
        declared |= stage_values(stage, "ARG") | stage_values(stage, "ENV")
    for name, value in declared.items():
        assert not (SECRETISH.search(name) and value), f"{name} carries a value"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_torch_and_dependencies_go_in_before_the_sources(flavour):
    steps = [i for i in deps(flavour).instructions if i.keyword in {"RUN", "COPY"}]
    runs = [i.args for i in steps if i.keyword == "RUN"]
    torch = [n for n, args in enumerate(runs) if '--index-url "${TORCH_INDEX_URL}"' in args]
    dependencies = [n for n, args in enumerate(runs) if "--requirement requirements.txt" in args]
    assert len(torch) == 1 and len(dependencies) == 1 and torch[0] < dependencies[0]
    assert "pip install --constraint constraints.txt --requirement" in runs[dependencies[0]]
    assert "['project']['dependencies']" in runs[dependencies[0]]  # read from pyproject.toml
    # the sources stay out of the dependency layers: a code edit does not reinstall them
    copied = [i.args for i in steps if i.keyword == "COPY"]
    assert copied == ["pyproject.toml constraints.txt ./"]
    katib = [args for args in runs if "${KATIB_SDK}" in args]
    assert len(katib) == 1 and "--constraint constraints.txt --no-deps ${KATIB_SDK}" in katib[0]
    # the builder adds the sources and builds the package alone; the runtime installs its wheel
    (package,) = builder(flavour).all("RUN")
    assert "pip wheel --no-deps --no-build-isolation --wheel-dir /dist ." in package.args
    assert (
        "pip install --no-index --no-deps /opt/dist/*.whl" in runtime(flavour).all("RUN")[-1].args
    )


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_dockerfile_pins_follow_constraints_and_makefile(flavour):
    args = stage_values(deps(flavour), "ARG")
    pins = constraints()
    assert args["TORCH_VERSION"] == pins["torch"]
    assert args["KATIB_SDK"] == makefile_variable("KATIB_SDK")
    if flavour == "cpu":
        assert args["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
        assert '"torch==${TORCH_VERSION}+cpu"' in DOCKERFILES[flavour].read_text(encoding="utf-8")
    else:
        # global: the deps stage installs that build, the builder stage checks it
        assert re.fullmatch(r"cu12\d", PARSED[flavour].global_args["TORCH_CUDA"])
        assert "TORCH_CUDA" in stage_values(builder(flavour), "ARG")
        assert args["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/${TORCH_CUDA}"
        assert args["TORCH_LOCAL_VERSION"] == "+${TORCH_CUDA}"
        assert '"torch==${TORCH_VERSION}${TORCH_LOCAL_VERSION}"' in DOCKERFILES[flavour].read_text(
            encoding="utf-8"
        )
        # the GPU build of the very xgboost version the CPU image gets
        assert args["XGBOOST_VERSION"] == pins["xgboost-cpu"]
        runs = " ".join(i.args for i in deps(flavour).all("RUN"))
        assert "pip uninstall --yes xgboost-cpu" in runs
        assert '"xgboost==${XGBOOST_VERSION}"' in runs


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_runtime_stage_environment_and_labels(flavour):
    stage = runtime(flavour)
    env = stage_values(stage, "ENV")
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PIP_NO_CACHE_DIR"]
    assert env["HOME"] == "/home/genomeflow"
    # KFP runs `python3 -m kfp.dsl.executor_main`: python3 must be the virtualenv's
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert "NVIDIA_VISIBLE_DEVICES" not in env
    assert not stage.all("ENTRYPOINT")
    assert "VERSION" in stage_values(stage, "ARG")
    labels = stage_values(stage, "LABEL")
    assert labels["org.opencontainers.image.version"] == "${VERSION}"
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert stage.all("WORKDIR")[-1].args == "/work"


DOCKER_CONTEXT = {
    "pyproject.toml",
    "constraints.txt",
    "README.md",
    "src",
    "components",
    "pipelines",
}


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(negated, regex) per .dockerignore line, in order (Go filepath.Match plus `**`)."""
    rules = []
    for raw in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex, i = regex + pattern[i : end + 1], end + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((negated, re.compile(regex)))
    return rules


def docker_ignores(path: str) -> bool:
    """Whether the build context leaves ``path`` out (a matched folder takes its contents)."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for negated, regex in dockerignore_rules():
        if any(regex.fullmatch(candidate) for candidate in candidates):
            ignored = not negated
    return ignored


@pytest.mark.parametrize(
    "path",
    [
        ".git/config",
        ".venv/bin/python",
        "out/demo/run.json",
        "benchmarks/work/tmp.fa",
        ".pytest_cache/v/cache",
        ".ruff_cache/0.6/x",
        ".hypothesis/examples/x",
        "src/genomeflow/__pycache__/cli.cpython-311.pyc",
        "src/genomeflow.egg-info/PKG-INFO",
        "manifests/secrets/genomeflow-s3.env",
        "tests/test_manifests.py",
    ],
)
def test_dockerignore_keeps_local_state_out(path):
    assert docker_ignores(path)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_build_context_holds_what_the_image_installs(flavour):
    sources = set()
    for copy in [*deps(flavour).all("COPY"), *builder(flavour).all("COPY")]:
        *paths, _destination = shlex.split(copy.args)
        sources |= {p for p in paths if not p.startswith("--")}
    assert sources == DOCKER_CONTEXT
    for source in sources:
        assert (REPO / source).exists(), source
        assert not docker_ignores(source), f"{source} is excluded by .dockerignore"
    for path in ("src/genomeflow/cli.py", "components/__init__.py", "pipelines/__init__.py"):
        assert not docker_ignores(path)


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint is not on PATH")
def test_hadolint_is_clean():
    result = subprocess.run(
        ["hadolint", "--failure-threshold", "warning", *map(str, DOCKERFILES.values())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
