# arbkit — one entry point for set-up, the main job, tests, lint and benchmarks.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export DVC_NO_ANALYTICS := 1

.PHONY: setup run lab test test-fast test-expensive lint bench clean

NODE_STAMP := node_modules/.installed
LIVE_BLOCKS ?= 300

setup: $(STAMP) $(NODE_STAMP)

# the chain tooling (anvil, the real Uniswap V2 bytecode, solc-js), pinned in package-lock.json
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	# torch first: the pinned CPU wheel (an unpinned torch pulls a multi-GB CUDA build)
	$(BIN)/python -m pip install torch==2.13.0
	$(BIN)/python -m pip install -e '.[all,dev]'
	touch $(STAMP)

run: setup  ## the main job: the DVC pipeline end to end (data -> features -> route model + RL -> validate -> promote -> backtest report), then a short dry-run of the live runner on the embedded chain
	$(BIN)/dvc repro
	@cat reports/pipeline/promotion.md
	$(BIN)/arbkit live --enable-ai --ai-mode conservative --history data/pipeline/test --blocks $(LIVE_BLOCKS) --quiet

lab: setup  ## JupyterLab on the project, with the project's kernel (the .venv Python)
	$(BIN)/jupyter lab --notebook-dir=. $(ARGS)

test: setup lint  ## lint, type-check and the default test suite (no `expensive` tests)
	$(BIN)/pytest -q

test-fast: setup
	$(BIN)/pytest -q -x

test-expensive: setup
	$(BIN)/pytest -q -m expensive

lint: setup
	$(BIN)/ruff check arbkit tests benchmarks examples run_live_arbitrage.py
	$(BIN)/ruff format --check arbkit tests benchmarks examples run_live_arbitrage.py
	$(BIN)/mypy

bench: setup
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
