# Developer tasks. `make help` lists them; CI (.ci/run) and pre-commit call the same commands.
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

install: ## Create the virtualenv and install spm-stream with dev tools
	python3 -m venv $(VENV) && $(VENV)/bin/pip install -q -e ".[dev]"

lint: ## ruff lint and format check
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

typecheck: ## mypy --strict on the core package
	$(VENV)/bin/mypy spm_stream

test: ## All tests (embedded services unless SPM_KAFKA_URL/SPM_REDIS_URL are set)
	$(PY) -m pytest

test-unit: ## Pure-core unit tests only (no services)
	$(PY) -m pytest tests/unit

test-integration: ## Integration tests against real Kafka and Redis
	$(PY) -m pytest tests/integration

services-up: ## Start Apache Kafka (KRaft) and Redis locally; eval the output
	@scripts/services.sh start

services-down: ## Stop them
	@scripts/services.sh stop

demo: ## Run the demo on embedded services
	$(VENV)/bin/spm-stream demo

schema: ## Regenerate the committed JSON Schema of the event contract
	$(VENV)/bin/spm-stream schema > spm_stream/contract/schema/event.schema.json

snapshots: ## Regenerate the Slack message snapshots after a template change
	SPM_UPDATE_SNAPSHOTS=1 $(PY) -m pytest tests/unit/test_render.py

all: lint typecheck test ## What CI checks

ci: ## Run CI exactly as the CI machine does
	bash .ci/run

.PHONY: help install lint format typecheck test test-unit test-integration services-up services-down demo schema snapshots all ci
