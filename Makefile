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

.PHONY: help test lint relink fmt list db-up db-down lock clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

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

relink: $(STAMP) ## Repair README line links that drifted after a code edit
	$(BIN)/python tools/relink_readmes.py

fmt: $(STAMP) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

list: ## Every recipe with its doc section and its one-line purpose
	@$(PYTHON) tools/list_recipes.py

# Docker's compose plugin (`docker compose`), else the old `docker-compose`; without
# either, one line naming the routes that need no Docker.
NO_COMPOSE := make: no Docker compose here (neither \`docker compose\` nor \`docker-compose\`). Without Docker: \
install the PostgreSQL server binaries (apt-get install postgresql, or brew install postgresql@15) and the \
tests start a throwaway cluster themselves, or set DATABASE_URL to a server you have.
COMPOSE = $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" \
  || { command -v docker-compose >/dev/null 2>&1 && echo docker-compose; })
# Where the tests would find the server binaries (asked of the provider once .venv exists).
PG_BINDIR = $(shell test -x $(BIN)/python && $(BIN)/python -c \
  'import postgres_cluster as c; print(c.find_server_bindir() or "")' 2>/dev/null)
HAVE_BINARIES = make db-up: no Docker compose here, and the tests need none: the PostgreSQL server binaries \
are in $(PG_BINDIR), so \`make test\` starts a throwaway cluster of its own.

db-up: ## Start the docker compose PostgreSQL and wait until it is healthy
	@test -n "$(COMPOSE)" || { if [ -n "$(PG_BINDIR)" ]; then echo "$(HAVE_BINARIES)"; \
	  else echo "$(NO_COMPOSE)"; fi; exit 1; }
	@if [ "$(COMPOSE)" = "docker compose" ]; then docker compose up --detach --wait; else \
	  docker-compose up -d && for _ in $$(seq 60); do \
	    docker-compose exec -T postgres pg_isready -U cookbook >/dev/null 2>&1 && exit 0; sleep 1; \
	  done; echo "make db-up: the compose PostgreSQL did not become ready in 60 s (docker-compose logs postgres)"; exit 1; fi

db-down: ## Stop it and delete its data
	@if [ -z "$(COMPOSE)" ]; then \
	  echo "make db-down: no Docker compose here, so make db-up cannot have started the service: nothing to stop."; \
	else echo "$(COMPOSE) down --volumes"; $(COMPOSE) down --volumes; fi

lock: ## Re-resolve the newest allowed versions into requirements.lock
	rm -rf $(VENV)-lock && $(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/python -m pip install --quiet --upgrade pip
	$(PYTHON) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' > $(VENV)-lock/project.txt
	$(VENV)-lock/bin/python -m pip install --quiet --group dev --requirement $(VENV)-lock/project.txt
	{ echo "# Exact versions CI tested. Regenerate with: make lock"; $(VENV)-lock/bin/python -m pip freeze --exclude pip; } > requirements.lock
	rm -rf $(VENV)-lock

clean: ## Remove the venvs, caches and mutation workspaces
	rm -rf $(VENV) $(VENV)-3.* $(VENV)-copy $(VENV)-migration $(VENV)-compat $(VENV)-canary .pytest_cache .mypy_cache .ruff_cache

# --- benchmarks (make bench) ---
# Side-by-side timings of the recommended patterns against the naive ones (bench/),
# a few minutes in all. A full run rewrites docs/benchmarks.md and docs/results/bench.json;
# `make bench BENCH_ARGS="--only databases"` runs one comparison and only prints; --help lists the rest.
BENCH_ARGS ?=
.PHONY: bench
bench: $(STAMP) ## Time recommended vs naive patterns and the suite (full run: docs/benchmarks.md)
	$(BIN)/python -m bench $(BENCH_ARGS)

# --- verification (make check) ---
# Every gate CI runs, each a target of its own; tools/ holds the scripts behind them.
# `make check` runs them all (a failing gate does not stop the others) and ends with a
# summary. RECIPES="a b" limits coverage, copy-check and mutate to those recipes. A coverage or
# mutate run over every recipe rewrites its table in docs/verification.md (and docs/results/).
RECIPES ?=
SEED ?=
CHECK_GATES := lint test-strict test-uvloop test-random test-parallel coverage copy-check test-pythons migration-check compat-smoke
.PHONY: check test-strict test-uvloop test-random test-parallel coverage copy-check test-pythons migration-check compat-smoke mutate soak copy

check: $(STAMP) ## Every CI gate: lint, 4 suite variants, coverage, copy-check, test-pythons, migration-check, compat-smoke
	@failed=(); summary=""; started=$$(date +%s); \
	for gate in $(CHECK_GATES); do \
	  echo "=== make $$gate"; t=$$(date +%s); \
	  if $(MAKE) --no-print-directory $$gate; then result=ok; else result=FAILED; failed+=($$gate); fi; \
	  summary+=$$(printf '\n  %-14s %-7s %4d s' $$gate $$result $$(( $$(date +%s) - t ))); \
	done; \
	echo "=== make check$$summary"; \
	printf '  %-14s %-7s %4d s\n' total "" $$(( $$(date +%s) - started )); \
	if [ $${#failed[@]} -gt 0 ]; then echo "make check: FAILED: $${failed[*]}"; exit 1; fi; \
	echo "make check: every gate passed"

test-strict: $(STAMP) ## The suite in strict mode (-o asyncio_mode=strict)
	$(BIN)/pytest -o asyncio_mode=strict $(PYTEST_ARGS)

test-uvloop: $(STAMP) ## The suite with every async test on uvloop
	COOKBOOK_LOOP=uvloop $(BIN)/pytest $(PYTEST_ARGS)

test-random: $(STAMP) ## The suite in a fresh random order, seed printed; SEED=N replays one
	@seed="$(SEED)"; seed="$${seed:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"; \
	echo "test-random: seed $$seed (replay: make test-random SEED=$$seed)"; \
	$(BIN)/pytest -p randomly --randomly-seed=$$seed $(PYTEST_ARGS) \
	  || { echo "test-random: FAILED with seed $$seed (replay: make test-random SEED=$$seed)"; exit 1; }

test-parallel: $(STAMP) ## The suite on two pytest-xdist workers (-n 2)
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

coverage: $(STAMP) ## Each recipe module 100% covered by its own recipe's tests (full run: docs/)
	$(BIN)/python -m tools.coverage_gate $(RECIPES)

copy-check: $(STAMP) ## Each recipe, copied alone into an empty project with only its needs, passes
	$(BIN)/python -m tools.copy_check $(RECIPES)

test-pythons: $(STAMP) ## The suite on every CPython >= 3.11 here (.venv-3.X from requirements.lock)
	$(BIN)/python -m tools.test_pythons -- $(PYTEST_ARGS)

migration-check: $(STAMP) ## The migration recipe: its 0.21/0.23 suites on those versions, its 1.x code on the lock
	$(BIN)/python -m tools.migration_check

compat-smoke: $(STAMP) ## Each recipe on the lowest versions pyproject.toml allows, and on the lock
	$(BIN)/python -m tools.compat --smoke $(RECIPES)

mutate: $(STAMP) ## Mutation testing per recipe, >= 90% killed (about 6 min; not in check; full run: docs/)
	$(BIN)/python -m tools.mutate $(RECIPES)

soak: $(STAMP) ## The suite 20 times in random orders, failures with seeds (about 2.5 min; not in check)
	$(BIN)/python -m tools.soak

# The system python3 and its standard library are enough: no venv is built for a copy.
copy: ## Copy one recipe into your project: make copy RECIPE=<name> DEST=/path/to/your_project/tests
	@test -n "$(RECIPE)" -a -n "$(DEST)" || { echo "usage: make copy RECIPE=<name> DEST=/path/to/your_project/tests"; exit 2; }
	@$(PYTHON) -m tools.copy_recipe "$(RECIPE)" "$(DEST)"

# --- versions (make compat, make canary) ---
# Neither is in `make check`: compat-smoke is. A full compat run rewrites docs/compatibility.md,
# docs/results/compat.json and every recipe README's Works-with line; RECIPES="a b" only prints.
.PHONY: compat canary
compat: $(STAMP) ## Every recipe on a matrix of versions (about 10 min; full run: docs/compatibility.md)
	$(BIN)/python -m tools.compat $(RECIPES)

canary: $(STAMP) ## Every recipe on the newest releases, pre-releases included (about a minute)
	$(BIN)/python -m tools.canary $(RECIPES)
