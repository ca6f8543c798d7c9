# genomeflow developer targets. Every target sets up the virtual environment it needs.
PYTHON ?= python3
VENV ?= .venv
DATA ?= examples/data/ecoli_promoters
# The demo's registered model; empty: named after DATA's folder (demo-ecoli_promoters).
MODEL ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian packages of the local S3 object store (Ceph radosgw: genomeflow.services.objectstore)
# and MMseqs2, which clusters similar sequences for `genomeflow dataset --group-by similarity`.
SERVICE_PACKAGES := ceph-mon ceph-osd radosgw mmseqs2
LINTED := src components pipelines tests benchmarks
KATIB_SDK := kubeflow-katib==0.19.0 kubeflow-training==1.9.0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup service-packages demo test compile format bench clean images image-cuda image-cpu \
	push-images container-packages base-image test-containers

$(STAMP): pyproject.toml constraints.txt
	command -v radosgw >/dev/null && command -v mmseqs >/dev/null || $(MAKE) service-packages
	$(PYTHON) -m venv $(VENV)
	# torch first, from the local CPU wheel, so no later dependency pulls the CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet --constraint constraints.txt --editable '.[dev]'
	# The Katib SDK pins protobuf<5 but builds and serialises Experiments beside kfp's protobuf 6
	# (kfp>=2.14 needs it): its own requirements are declared in pyproject; the SDK goes in
	# without them.
	$(PY) -m pip install --quiet --constraint constraints.txt --no-deps $(KATIB_SDK)
	touch $(STAMP)

setup: $(STAMP)

service-packages:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(SERVICE_PACKAGES)

demo: $(STAMP)
	MODEL="$(MODEL)" PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash examples/demo.sh "$(DATA)" out/demo

test: $(STAMP)
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

# The compiled pipelines kept for reading in docs/examples/pipelines/ (see its README). The old
# copies go first: genomeflow never replaces a file it did not write on this machine.
# They name the version's image (cluster.VERSION_IMAGE): a commit cannot hold its own revision.
COMPILED := docs/examples/pipelines
compile: $(STAMP)
	rm -f $(COMPILED)/genomeflow-*.yaml
	set -e; image=$$($(PY) -c 'from genomeflow.cluster import VERSION_IMAGE; print(VERSION_IMAGE)'); \
	$(VENV)/bin/genomeflow pipeline compile --image $$image -o $(COMPILED)/genomeflow-train.yaml; \
	$(VENV)/bin/genomeflow pipeline compile --image $$image --pretrain -o $(COMPILED)/genomeflow-train-pretrained.yaml; \
	$(VENV)/bin/genomeflow pipeline compile --image $$image --pipeline predict -o $(COMPILED)/genomeflow-predict.yaml

format: $(STAMP)
	$(VENV)/bin/ruff format $(LINTED)
	$(VENV)/bin/ruff check --fix $(LINTED)

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache

# Container images (docker/), tagged as genomeflow.cluster says: PROJECT_IMAGE (CUDA) and
# CPU_IMAGE, <repository>:<version>-<git revision>[-cpu]; GENOMEFLOW_IMAGE_REPOSITORY /
# GENOMEFLOW_IMAGE override the repository / CUDA image. DOCKER=podman builds them on a machine
# without a Docker engine: with host networking, and with this machine's pip CA bundle and local
# wheel folder (pip's cert and find-links, if set) mounted read-only into the build.
DOCKER ?= docker
IMAGE_INFO = $(shell $(PY) -c 'from genomeflow import __version__; from genomeflow.cluster import PROJECT_IMAGE, CPU_IMAGE, source_revision; print(__version__, source_revision() or "unknown", PROJECT_IMAGE, CPU_IMAGE)')
# The base image (build argument PYTHON_IMAGE): empty for the Dockerfiles' pinned python image;
# localhost/debian:bookworm after `make base-image`.
BASE_IMAGE ?=
HOST_CA ?= $(or $(PIP_CERT),$(shell $(PYTHON) -m pip config get global.cert 2>/dev/null))
HOST_WHEELS ?= $(or $(PIP_FIND_LINKS),$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))
# The CPU torch index: with a local wheel folder, PyPI (the folder holds torch +cpu, which the
# PyTorch index would serve); the CUDA build always takes the Dockerfile's PyTorch index unless
# CUDA_BUILD_ARGS says otherwise (see docker/Dockerfile on PyPI's CUDA 13.0 torch).
CPU_TORCH_INDEX ?= $(if $(HOST_WHEELS),https://pypi.org/simple)
CUDA_BUILD_ARGS ?=
BUILD_FLAGS = $(if $(BASE_IMAGE),--build-arg PYTHON_IMAGE=$(BASE_IMAGE)) \
	$(if $(filter podman,$(notdir $(DOCKER))),--network host \
	$(if $(HOST_CA),-v $(HOST_CA):/host-ca.crt:ro --build-arg PIP_CERT=/host-ca.crt))
CPU_BUILD_FLAGS = $(BUILD_FLAGS) $(if $(CPU_TORCH_INDEX),--build-arg TORCH_INDEX_URL=$(CPU_TORCH_INDEX)) \
	$(if $(filter podman,$(notdir $(DOCKER))),$(if $(HOST_WHEELS),-v $(HOST_WHEELS):/host-wheels:ro --build-arg PIP_FIND_LINKS=/host-wheels))

images: image-cuda image-cpu

image-cuda image-cpu: $(STAMP)
	set -e; set -- $(IMAGE_INFO); \
	if [ $@ = image-cpu ]; then file=docker/Dockerfile.cpu; tag=$$4; flags="$(CPU_BUILD_FLAGS)"; \
	else file=docker/Dockerfile; tag=$$3; flags="$(BUILD_FLAGS) $(CUDA_BUILD_ARGS)"; fi; \
	CONTAINERS_CONF=$(CONTAINERS_CONF) $(DOCKER) build $$flags -f $$file \
		--build-arg VERSION=$$1 --build-arg REVISION=$$2 -t $$tag .

push-images: images
	set -e; set -- $(IMAGE_INFO); $(DOCKER) push $$3; $(DOCKER) push $$4

# --- Containers on this machine: podman with runc, a debootstrap base (no registry pulls) ---
CONTAINER_PACKAGES := podman runc debootstrap
CONTAINERS_CONF := $(CURDIR)/docker/containers.conf
LOCAL_BASE := localhost/debian:bookworm

container-packages:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(CONTAINER_PACKAGES)

base-image:
	command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null \
		|| $(MAKE) container-packages
	$(SUDO) env CONTAINERS_CONF=$(CONTAINERS_CONF) docker/base-image.sh $(LOCAL_BASE)

# The training and batch-scoring pipelines with every step in the CPU image (kfp DockerRunner
# against podman's Docker-compatible socket), on the loopback MLflow server and S3 store.
# podman's service runs for the test only and is stopped by its pid. Needs root: podman runs
# rootful here (docker/containers.conf), and the test's containers bind-mount its folders.
test-containers: $(STAMP)
	@[ "$$(id -u)" = 0 ] || { echo "test-containers: run as root (rootful podman)" >&2; exit 2; }
	command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null \
		|| $(MAKE) container-packages
	CONTAINERS_CONF=$(CONTAINERS_CONF) podman image exists $(LOCAL_BASE) || $(MAKE) base-image
	$(MAKE) image-cpu DOCKER=podman BASE_IMAGE=$(LOCAL_BASE)
	set -e; set -- $(IMAGE_INFO); socket=$$(mktemp -d)/podman.sock; \
	CONTAINERS_CONF=$(CONTAINERS_CONF) podman system service --time=0 unix://$$socket & service=$$!; \
	trap 'kill $$service; wait $$service 2>/dev/null || true' EXIT; \
	for _ in $$(seq 50); do [ -S $$socket ] && break; sleep 0.2; done; \
	GENOMEFLOW_CONTAINER_TESTS=1 GENOMEFLOW_TEST_IMAGE=$$4 DOCKER_HOST=unix://$$socket \
		$(PY) -m pytest tests/test_containers.py
