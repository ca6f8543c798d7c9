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

.PHONY: setup service-packages demo test compile format bench clean images push-images

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
COMPILED := docs/examples/pipelines
compile: $(STAMP)
	rm -f $(COMPILED)/genomeflow-*.yaml
	$(VENV)/bin/genomeflow pipeline compile -o $(COMPILED)/genomeflow-train.yaml
	$(VENV)/bin/genomeflow pipeline compile --pretrain -o $(COMPILED)/genomeflow-train-pretrained.yaml
	$(VENV)/bin/genomeflow pipeline compile --pipeline predict -o $(COMPILED)/genomeflow-predict.yaml

format: $(STAMP)
	$(VENV)/bin/ruff format $(LINTED)
	$(VENV)/bin/ruff check --fix $(LINTED)

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache

# Container images (docker/), tagged as genomeflow.cluster says: PROJECT_IMAGE (CUDA) and
# CPU_IMAGE; GENOMEFLOW_IMAGE_REPOSITORY / GENOMEFLOW_IMAGE override the repository / CUDA tag.
# Needs a Docker engine (none on the development machines: built by CI/operators).
DOCKER ?= docker
IMAGE_INFO = $(shell $(PY) -c 'from genomeflow import __version__; from genomeflow.cluster import PROJECT_IMAGE, CPU_IMAGE; print(__version__, PROJECT_IMAGE, CPU_IMAGE)')

images: $(STAMP)
	set -e; set -- $(IMAGE_INFO); revision=$$(git rev-parse HEAD 2>/dev/null || echo unknown); \
	$(DOCKER) build -f docker/Dockerfile --build-arg VERSION=$$1 --build-arg REVISION=$$revision -t $$2 .; \
	$(DOCKER) build -f docker/Dockerfile.cpu --build-arg VERSION=$$1 --build-arg REVISION=$$revision -t $$3 .

push-images: images
	set -e; set -- $(IMAGE_INFO); $(DOCKER) push $$2; $(DOCKER) push $$3
