# CityBrain — the few targets people expect. `make demo` and `make test` are the README's two commands.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.citybrain-installed

.PHONY: setup system-packages demo test test-fast lint format up down bench lock clean superset superset-setup superset-stop superset-lock

setup: $(STAMP) system-packages

# Debian packages for the report's PDF and the browser tests (installed when root, else named).
system-packages:
	@bash infra/system-packages.sh

# A fresh virtual environment with the pinned set (infra/constraints.txt) and citybrain itself.
# Bytecode is compiled at install: where PYTHONDONTWRITEBYTECODE is set (CI images often set
# it), every process would otherwise compile its imports again (great_expectations: ~3 s of CPU).
$(STAMP): infra/constraints.txt setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"CityBrain needs Python 3.11, found {sys.version.split()[0]} at {sys.executable}; set PYTHON=/path/to/python3.11"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@start=$$(date +%s); \
	if $(BIN)/python -m pip install -q "uv==$(UV_VERSION)" 2>/dev/null; then \
	  $(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -r infra/constraints.txt -c infra/constraints.txt -e .; \
	else \
	  echo "uv unavailable: installing with pip"; \
	  $(BIN)/python -m pip install -q -r infra/constraints.txt -c infra/constraints.txt -e .; \
	fi && echo "environment ready in $$(( $$(date +%s) - start )) s ($(VENV))"
	@touch $@

demo: setup
	$(BIN)/citybrain demo

test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

# The service stack on 127.0.0.1: PostgreSQL, the Sail engine, Airflow 3 (api-server, scheduler,
# dag-processor, triggerer) and Superset when installed; `down` stops each by pid.
up: setup
	$(BIN)/citybrain up

down: setup
	$(BIN)/citybrain down

bench: setup
	$(BIN)/citybrain bench $(BENCH_ARGS)

# Re-resolve the pinned set after editing infra/requirements.in.
lock: setup
	$(BIN)/uv pip compile --python-version 3.11 --no-header infra/requirements.in -o infra/constraints.txt

# Superset runs from its own environment (its pins clash with Airflow's): .venv-superset.
SUPERSET_STAMP := .venv-superset/.citybrain-installed

superset-setup: $(SUPERSET_STAMP)

$(SUPERSET_STAMP): infra/superset/constraints.txt $(STAMP)
	$(BIN)/citybrain superset setup

# Superset on 127.0.0.1 over the lake's gold tables, dashboards imported (see infra/superset/README.md).
superset: superset-setup
	$(BIN)/citybrain superset start

superset-stop: setup
	$(BIN)/citybrain superset stop

# Re-resolve Superset's pinned set after editing infra/superset/requirements.in.
superset-lock: setup
	$(BIN)/uv pip compile --python-version 3.11 --no-header infra/superset/requirements.in -o infra/superset/constraints.txt

clean: down
	$(BIN)/citybrain superset stop
	rm -rf lake demo_city .citybrain
