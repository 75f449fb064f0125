# One Makefile for CI and the README. Every target creates the virtual environment it needs.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install run demo test lint format bench bench-gpu mutate clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[server,worker,dev]'
	touch $(STAMP)

install: $(STAMP)
	$(PY) -m winoprune.runtime

run: install
	$(VENV)/bin/winoprune serve --host 127.0.0.1 --port 8000

demo: install
	$(VENV)/bin/winoprune run recipes/digits-demo.yaml --out runs/digits-demo

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) benchmarks/winograd_layer.py
	$(PY) benchmarks/winograd_error.py
	$(PY) benchmarks/api_load.py
	$(PY) benchmarks/pruning_methods.py --quick
	$(PY) benchmarks/latency.py --repeats 1

bench-gpu: install
	$(PY) benchmarks/winograd_layer.py --device cuda --out benchmarks/results/winograd_layer-cuda.json
	$(PY) benchmarks/full_scale.py --device cuda

# Mutation testing of the modules that decide results (slow: not in CI). MUTATE_GROUPS picks
# groups of tests/mutation/mutate.py (default all); fails when a must-die mutant survives.
MUTATE_GROUPS ?=
mutate: install
	$(PY) tests/mutation/mutate.py $(MUTATE_GROUPS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache runs
