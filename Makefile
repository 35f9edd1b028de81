# Two commands set up everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT := false
export PREFECT_HOME := $(CURDIR)/.prefect
export TZ := Asia/Ho_Chi_Minh

.PHONY: demo test lint bench system-deps clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Cần Python >= 3.11 ($(PYTHON))"; exit 1; }
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || bash scripts/ensure-system-packages.sh python3-venv
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/python -m compileall -q flows tasks  # read even under PYTHONDONTWRITEBYTECODE: no recompiling per command
	touch $(STAMP)

system-deps:
	bash scripts/ensure-dovecot.sh
	bash scripts/ensure-pdf-deps.sh
	bash scripts/ensure-chromium.sh

demo: $(STAMP)
	$(BIN)/baocao demo --out out

test: $(STAMP) system-deps
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

bench: $(STAMP)  ## make bench BENCH_ARGS="--units 300,1000" (default 300,1000,10000)
	$(BIN)/python -m compileall -q flows tasks  # code changed since install: not compiled again by every command
	$(BIN)/python benchmarks/bench_cycle.py $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf out .prefect .pytest_cache
