# The README's two commands are `make run` and `make test`; both work on a machine that has never seen
# the project: they create .venv, install the locked versions (constraints.txt) and go.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev-airflow

.PHONY: run test bench lint format install clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,airflow]'
	@touch $(STAMP)

install: $(STAMP)

## make run: the daily job on the embedded defaults (synthetic market, 3 symbols, short lookback).
run: $(STAMP)
	$(BIN)/python run_daily.py --source synthetic --lookback-days 30

## make test: lint, then the whole suite (PostgreSQL, moto-S3, Airflow and honesty tests included).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

## make bench: speed and memory, as ratios against baselines run side by side.
bench: $(STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,airflow,bench]'
	$(BIN)/python benchmarks/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) archive lake logs huracan.db .pytest_cache .ruff_cache .airflow

include docs/Makefile.airflow.mk
