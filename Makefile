# truthloop — two commands on a fresh clone: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# uv (from PyPI, pinned in constraints.txt) installs about three times faster than pip on a fresh clone
UV := $(VENV)/bin/uv
UV_INSTALL := $(UV) pip install --quiet --python $(PY) -c constraints.txt
# `make demo` installs only what the demo runs (a small, fast first run); `make test` adds the rest.
# One stamp per extra set: the full install also satisfies the demo's.
DEMO_EXTRAS := local,lambda
EXTRAS := dev,lambda,local,cdk,bench,plot
DEMO_STAMP := $(VENV)/.installed-demo
STAMP := $(VENV)/.installed-all
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CHROMIUM := /usr/bin/chromium
# two workers (CI has 2 cores); a module's tests stay on one worker, so its module-scoped backend starts once
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=
ARGS ?=

.PHONY: help install install-demo test lint typecheck pytest demo synth bench bench-crowdkit browser-deps clean

help:
	@echo "make demo   - run the whole human-in-the-loop cycle on the local backend"
	@echo "make test   - install everything needed, then ruff, mypy --strict and every test"
	@echo "make synth  - synthesize the CDK app offline (three stacks under cdk.out/)"
	@echo "make bench  - run the benchmarks in bench/ (JSON on stdout)"
	@echo "make bench-crowdkit - the consolidation benchmark side by side with crowd-kit (own venv)"

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(UV): | $(PY)
	$(PIP) install --quiet --disable-pip-version-check -c constraints.txt uv

$(DEMO_STAMP): pyproject.toml constraints.txt | $(UV)
	$(UV_INSTALL) -e ".[$(DEMO_EXTRAS)]"
	@touch $@

$(STAMP): pyproject.toml constraints.txt | $(UV)
	$(UV_INSTALL) -e ".[$(EXTRAS)]"
	@touch $@ $(DEMO_STAMP)

install: $(STAMP)

install-demo: $(DEMO_STAMP)

browser-deps:
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "installing Debian's chromium with apt"; \
		$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

node_modules/.bin/cdk: package.json
	npm install --no-audit --no-fund --loglevel=error
	@touch $@

lint: install
	$(VENV)/bin/ruff check .

typecheck: install
	$(VENV)/bin/mypy --strict sdk/ lambdas/ infra/

# The SageMaker Python SDK V3 (sagemaker-core) and V2 cannot share the project venv (see
# tests/functional/review/make_sagemaker_venvs.sh); the endpoint wrappers are tested against both in their own venvs.
SAGEMAKER_VENVS := .sagemaker-venvs
$(SAGEMAKER_VENVS)/.ready: tests/functional/review/make_sagemaker_venvs.sh
	TRUTHLOOP_SAGEMAKER_VENVS=$(CURDIR)/$(SAGEMAKER_VENVS) PYTHON=$(PYTHON) bash $<
	@touch $@

pytest: install browser-deps node_modules/.bin/cdk $(SAGEMAKER_VENVS)/.ready
	TRUTHLOOP_SAGEMAKER_VENVS=$(CURDIR)/$(SAGEMAKER_VENVS) TRUTHLOOP_REQUIRE_SAGEMAKER_SDKS=1 \
		$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test: lint typecheck pytest

demo: $(DEMO_STAMP)
	$(VENV)/bin/truthloop demo $(ARGS)
	@echo "truthloop is installed in $(VENV): run it as $(VENV)/bin/truthloop, or 'source $(VENV)/bin/activate' first"

# The app builds the Lambda layer itself (cached under infra/.layer-build; offline once built) and checks every
# stack with cdk-nag; --no-version-reporting also turns off the CLI's telemetry, so synth needs no network.
synth: install node_modules/.bin/cdk
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" node_modules/.bin/cdk synth --quiet --no-notices --no-version-reporting

# Build (or reuse) the truthloop Lambda layer for python3.12/arm64 and print its directory.
.PHONY: layer
layer: install
	$(PY) -m truthloop.cdk.layer_build --build-root infra/.layer-build --constraints constraints.txt

bench: install
	@for b in bench/*.py; do echo "== $$b" >&2; $(PY) $$b || exit 1; done

BENCH_VENV := .bench-venv
$(BENCH_VENV)/.installed: bench/requirements-crowdkit.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet -r bench/requirements-crowdkit.txt
	@touch $@

bench-crowdkit: $(BENCH_VENV)/.installed
	PYTHONPATH=sdk $(BENCH_VENV)/bin/python bench/consolidation.py $(ARGS)

clean:
	rm -rf $(VENV) $(SAGEMAKER_VENVS) node_modules cdk.out .mypy_cache .ruff_cache .pytest_cache
