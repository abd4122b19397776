# Two entry points: `make demo` and `make test`. Each creates .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/asterisk-bridge demo --out demo-out

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q -rs

bench: $(VENV)/.installed
	$(BIN)/pip install --quiet uvloop
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) demo-out
