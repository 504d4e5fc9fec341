# tunesweep: the README's two commands are `make run` and `make test`; both set up everything they need.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.8
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
SAMPLE ?= manifests/samples/sweep.yaml

.PHONY: help setup run run-mock test lint typecheck pytest assets bench crd schemas manifests kind-e2e clean

help:
	@echo "make run    - run the sample sweep on this machine (local Ray, no cluster)"
	@echo "make test   - install what the tests need and run lint, type check and the whole suite"
	@echo "make bench  - trainer and sweep benchmarks"

# uv installs from the one lock file (uv.lock); --locked refuses a lock that disagrees with pyproject.toml.
$(UV):
	$(PYTHON) -m pip install --quiet --user "uv==$(UV_VERSION)"

setup: $(UV)
	$(UV) sync --locked --all-packages --python $(PYTHON)

run: setup
	$(BIN)/tunesweep run $(SAMPLE)

run-mock: SAMPLE := manifests/samples/sweep-mock.yaml
run-mock: run

# The real control plane (etcd, kube-apiserver, kube-controller-manager, kubectl, helm) built from
# pinned Go modules into a cache; a second run takes seconds.
assets:
	hack/controlplane/ensure-assets.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

# pytest exits 5 when it collected nothing: for this project that is a broken suite, not a pass.
pytest: setup assets
	rc=0; $(BIN)/python -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the suite is broken" >&2; exit 1; fi; exit $$rc

test: lint typecheck pytest

bench: setup
	$(BIN)/python -m bench.trainer_bench
	$(BIN)/python -m bench.sweep_bench

crd: setup
	$(BIN)/tunesweep crd --output manifests/crd/tunesweep.dev_tuningsweeps.yaml

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache

manifests: crd
	hack/render-manifests.sh

# For users with Docker and kind (cannot run on the CI machine: no Docker engine there).
kind-e2e:
	hack/kind-e2e.sh
