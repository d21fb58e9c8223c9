# Two commands a new user needs, each sets itself up on a fresh machine:
#   make run    open the dashboard on the embedded local Bybit exchange
#   make test   run the whole test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: run test bench sim lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

run: $(STAMP)
	$(VENV)/bin/fluxum

test: $(STAMP)
	$(PY) -m pytest

sim: $(STAMP)
	$(VENV)/bin/fluxum sim

bench: $(BENCH_STAMP)
	$(PY) -m bench.book_throughput

lint: $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,dev]'
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
