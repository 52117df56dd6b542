# The async testing cookbook. `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=
# Some shells export this; without .pyc files pytest re-rewrites every plugin module
# (hypothesis alone costs about a second) in every process, worker and sandbox.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help test lint fmt list db-up db-down lock clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-installs only when requirements.lock or pyproject.toml change.
$(STAMP): $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --requirement requirements.lock
	rm -f $(VENV)/.installed-* && touch $@

test: $(STAMP) ## Create .venv if missing, install the locked versions, run every recipe
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check, ruff format --check, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

fmt: $(STAMP) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

list: ## Every recipe with its one-line purpose
	@for readme in recipes/*/README.md; do \
	  printf "  %-34s %s\n" "$$(basename $$(dirname $$readme))" "$$(head -n1 $$readme | sed 's/^# *//')"; \
	done

db-up: ## Start the docker compose PostgreSQL and wait until it is healthy
	docker compose up --detach --wait

db-down: ## Stop it and delete its data
	docker compose down --volumes

lock: ## Re-resolve the newest allowed versions into requirements.lock
	rm -rf $(VENV)-lock && $(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/python -m pip install --quiet --upgrade pip
	$(PYTHON) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' > $(VENV)-lock/project.txt
	$(VENV)-lock/bin/python -m pip install --quiet --group dev --requirement $(VENV)-lock/project.txt
	{ echo "# Exact versions CI tested. Regenerate with: make lock"; $(VENV)-lock/bin/python -m pip freeze --exclude pip; } > requirements.lock
	rm -rf $(VENV)-lock

clean: ## Remove the venv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# --- benchmarks (make bench) ---
# Side-by-side timings of the recommended patterns against the naive ones (bench/),
# a few minutes in all. `make bench BENCH_ARGS="--only databases"`: one comparison; --help lists the rest.
BENCH_ARGS ?=
.PHONY: bench
bench: $(STAMP) ## Time recommended vs naive patterns and the suite; table + bench/results.json
	$(BIN)/python -m bench $(BENCH_ARGS)
