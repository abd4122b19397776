# Two entry points: `make demo` and `make test`. Each creates .venv when it is missing.
# `make lint` (ruff + mypy, the `lint` extra) is what .ci/run runs before the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint readme bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.lint-installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[lint]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/asterisk-bridge demo --out demo-out

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q -rs

lint: $(VENV)/.lint-installed
	$(BIN)/ruff check
	$(BIN)/mypy

readme: $(VENV)/.installed
	$(BIN)/python -m asterisk_bridge.cli_reference README.md

bench: $(VENV)/.installed
	$(BIN)/python bench/run_all.py --keep $(HOME)/.cache/asterisk-bridge-bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) demo-out
