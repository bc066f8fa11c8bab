# Vallum: two commands on a fresh machine.
#   make up    create .venv, install, initialise the data directory, start on :8600
#   make test  create .venv if needed, then ruff, mypy --strict, import-linter, pytest
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: help up test lint typecheck imports pytest bench browser clean

help:
	@echo "make up      start Vallum on http://127.0.0.1:8600 (creates .venv, initialises data)"
	@echo "make test    every check: ruff, mypy --strict, import-linter, pytest"
	@echo "make bench   ledger benchmarks (results go in docs/benchmarks.md)"

$(STAMP):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Vallum needs Python >= 3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

up: $(STAMP)
	$(BIN)/vallum init
	$(BIN)/vallum up

test: lint typecheck imports pytest

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy src

imports: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/pytest

browser:  ## Debian's Chromium for the console's end-to-end test (needs root or sudo)
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else sudo apt-get install -y chromium; fi; }

bench: $(STAMP)
	$(BIN)/python bench/ledger_bench.py
	$(BIN)/python bench/signing_bench.py
	$(BIN)/python bench/scan_bench.py
	$(BIN)/python bench/injection_bench.py
	$(BIN)/python bench/gateway_bench.py
	$(BIN)/python bench/phi_bench.py --write-docs
	$(BIN)/python bench/secrets_bench.py --write-docs

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

.PHONY: fuzz
FUZZ_SECONDS ?= 3600
fuzz: $(STAMP)  ## long coverage-guided run of the scanner (atheris); crash files land in fuzz/
	$(BIN)/python fuzz/scan_fuzz.py --seeds fuzz/corpus
	cd fuzz && ../$(BIN)/python scan_fuzz.py corpus -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -max_len=1048576
