# genomeflow developer targets. Every target sets up the virtual environment it needs.
PYTHON ?= python3
VENV ?= .venv
DATA ?= ../shared/data/ecoli_promoters
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian packages of the local S3 object store (Ceph radosgw); see ../shared/notes/services.md.
SERVICE_PACKAGES := ceph-mon ceph-osd radosgw
KATIB_SDK := kubeflow-katib==0.19.0 kubeflow-training==1.9.0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup service-packages demo test lint format bench clean

$(STAMP): pyproject.toml constraints.txt
	command -v radosgw >/dev/null || $(MAKE) service-packages
	$(PYTHON) -m venv $(VENV)
	# torch first, from the local CPU wheel, so no later dependency pulls the CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet --constraint constraints.txt --editable '.[dev]'
	# The Katib SDK pins protobuf<5 but works beside kfp's protobuf 6 (../shared/notes/services.md):
	# its own requirements are declared in pyproject; the SDK itself goes in without them.
	$(PY) -m pip install --quiet --constraint constraints.txt --no-deps $(KATIB_SDK)
	touch $(STAMP)

setup: $(STAMP)

service-packages:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(SERVICE_PACKAGES)

demo: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash examples/demo.sh "$(DATA)" out/demo

test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(PY) -m pytest

format: $(STAMP)
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
