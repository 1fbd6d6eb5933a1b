# The two commands of the README: `make run` and `make test`. Both set everything up first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed

.PHONY: setup setup-run test-tools run demo reset-demo lint test test-fast bench bench-http bench-rain bench-push \
	bench-parking bench-orders bench-scale clean

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python venv module missing: installing python3-venv with apt"; \
	  apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }

# What serving needs, for `make run`: the engine and its runtime dependencies only.
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $(RUN_STAMP)

# Everything, for the suite, the notebooks and the benchmarks: the engine with its dev extras.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP) $(RUN_STAMP)

setup-run: $(RUN_STAMP)

setup: $(STAMP)

run: setup-run
	$(BIN)/district-engine serve

demo: setup-run
	$(BIN)/district-engine demo

# Deletes the embedded store in .district-engine/ (everything in it) and the demo's key files,
# then loads the demo again; with `make run` stopped.
reset-demo: setup-run
	$(BIN)/district-engine reset-demo

# What the suite drives besides Python: Debian's Chromium for the console's browser tests
# (Playwright's own download does not work here) with a CJK font for its Chinese labels, and wrk
# for the national-scale benchmark's smoke test.
test-tools:
	@test -x /usr/bin/chromium && fc-list 2>/dev/null | grep -qi wqy && command -v wrk >/dev/null || { \
	  echo "installing Debian's chromium, fonts-wqy-zenhei and wrk for the browser and benchmark tests"; \
	  apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-zenhei wrk; }

# Static checks, configured in pyproject.toml: ruff (with the import boundaries: redis only in
# district_engine/store/, fastapi only in api/) and mypy (strict on the pure cores). `make test` runs
# them first and stops on a finding.
lint: setup
	@$(BIN)/ruff check . || { echo "make lint: ruff found the problems above" >&2; exit 1; }
	@$(BIN)/mypy || { echo "make lint: mypy found the problems above" >&2; exit 1; }

# One pytest worker per core (pytest-xdist): each starts its own Redis and Cluster, and most tests
# wait on servers rather than compute, so two workers on two cores take well under half the time.
test: setup lint test-tools
	$(BIN)/python -m pytest -n auto

test-fast: setup test-tools
	$(BIN)/python -m pytest -n auto -m "not slow and not cluster"

bench: setup
	$(BIN)/python bench/matcher.py

bench-http: setup
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(BIN)/python bench/api_load.py

bench-rain: setup
	@command -v redis-benchmark >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-tools; }
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(BIN)/python bench/rain.py

bench-push: setup
	$(BIN)/python bench/push.py

bench-parking: setup
	$(BIN)/python bench/parking.py $(ARGS)

bench-orders: setup
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(BIN)/python bench/orders.py $(ARGS)

bench-scale: setup test-tools
	$(BIN)/python bench/scale.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .mypy_cache .ruff_cache tests/artifacts bench/out
