# Lambda-architecture reference platform. `make run` and `make test` work on a fresh machine
# with Python 3.11+ and Java 17+.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt pyproject.toml | md5sum | cut -c1-12)

export LAMBDA_VIEWS_FILE ?= views.yaml
export LAMBDA_DATA_DIR ?= data

.PHONY: help venv run batch accept-loss demo lint docs format test test-unit test-integration bench bench-readme clean \
	up down logs ps test-containers

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@v=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); \
	  [ "$${v:-0}" -ge 17 ] || { echo "error: Java 17+ is needed for Spark (apt-get install openjdk-17-jre-headless)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)  ## create .venv and install the pinned requirements

run: venv  ## run the whole pipeline as local processes (Ctrl-C stops it); its log: data/run/pipeline.log
	@mkdir -p "$(LAMBDA_DATA_DIR)/run"
	@set -o pipefail; $(BIN)/python -m runner 2>&1 | tee -i "$(LAMBDA_DATA_DIR)/run/pipeline.log"

batch:  ## one batch run now by the running pipeline's scheduler (the Compose stack's when it is up)
	@if containers/stack.sh is-up; then containers/stack.sh batch; \
	else $(MAKE) -s venv && $(BIN)/python -m runner.batch; fi

accept-loss:  ## acknowledge the offsets /status shows as lost, so batch runs cover what comes after them
	@if containers/stack.sh is-up; then containers/stack.sh accept-loss; \
	else $(MAKE) -s venv && $(BIN)/python -m batch_layer.accept_loss; fi

demo: venv  ## post sample events to the running pipeline and print a merged query
	$(BIN)/python -m runner.demo

lint: venv  ## ruff check and format check, the import contracts, and mypy (pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

docs: venv  ## write docs/configuration.md's settings table and .env.example from the settings classes
	$(BIN)/python -m runner.settings_docs

format: venv  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint  ## the whole suite: lint, unit and integration tests
	$(BIN)/python -m pytest

test-unit: venv  ## unit tests only (no broker, no Spark)
	$(BIN)/python -m pytest -m "not integration"

test-integration: venv  ## integration tests against real local processes
	$(BIN)/python -m pytest -m integration

clean:  ## remove the data directory and caches (keeps .venv)
	rm -rf data .pytest_cache .ruff_cache spark-warehouse metastore_db derby.log

up:  ## build the images and start the pipeline in Docker Compose; returns once healthy
	containers/stack.sh up

down:  ## stop and remove the Compose stack (keeps its data; WIPE=1 deletes it)
	containers/stack.sh down

logs:  ## follow every service's log: the Compose stack's when it is up, else make run's
	@if containers/stack.sh is-up; then containers/stack.sh logs; \
	elif [ -f "$(LAMBDA_DATA_DIR)/run/pipeline.log" ]; then tail -n 200 -F "$(LAMBDA_DATA_DIR)/run/pipeline.log"; \
	else echo "no pipeline log: start one with make run (or make up)"; exit 1; fi

ps:  ## list the Compose stack's services with their health
	containers/stack.sh ps

test-containers:  ## build, start a Compose stack of its own, run the end-to-end tests on it
	containers/stack.sh test

bench: venv  ## every stage against its own limit (about 9 min; BENCH="batch query" for some): prints the table, writes bench/results/latest.json
	$(BIN)/python -m bench $(BENCH)

bench-readme: venv  ## copy the table of bench/results/latest.json into docs/performance.md
	$(BIN)/python -m bench.report
