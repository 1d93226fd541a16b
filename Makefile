# arbkit — one entry point for set-up, the main job, tests, lint and benchmarks.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export DVC_NO_ANALYTICS := 1

.PHONY: setup run test test-fast test-expensive lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	# torch first: the pinned CPU wheel (an unpinned torch pulls a multi-GB CUDA build)
	$(BIN)/python -m pip install torch==2.13.0
	$(BIN)/python -m pip install -e '.[all,dev]'
	touch $(STAMP)

run: setup  ## the main job on the embedded defaults: history -> backtest of every policy -> report
	$(BIN)/arbkit data simulate --seed 0 --n-blocks 7200
	$(BIN)/arbkit backtest --seeds 2 --n-blocks 7200 --train-blocks 7200 --report reports/backtest/latest.html --metrics reports/backtest/latest_metrics.json
	$(BIN)/arbkit scan

test: setup lint  ## lint, type-check and the default test suite (no `expensive` tests)
	$(BIN)/pytest -q

test-fast: setup
	$(BIN)/pytest -q -x

test-expensive: setup
	$(BIN)/pytest -q -m expensive

lint: setup
	$(BIN)/ruff check arbkit tests benchmarks
	$(BIN)/ruff format --check arbkit tests benchmarks
	$(BIN)/mypy

bench: setup
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
