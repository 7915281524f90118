# Two commands matter: `make demo` (the main job on sample data) and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
VENV_BIN := $(CURDIR)/.venv/bin

export DAGSTER_HOME ?= $(CURDIR)/data/dagster_home
export TRACE_PLATFORM_LANDING ?= $(CURDIR)/data/landing
export TRACE_PLATFORM_WAREHOUSE ?= $(CURDIR)/data/warehouse.duckdb
export DAGSTER_TELEMETRY_DISABLED := true
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export GX_ANALYTICS_ENABLED := false
export UV_NO_PROGRESS := 1

DEMO_DAYS ?= 3
DEMO_TRACES ?= 400
DEMO_START := $(shell date -u -d "$(DEMO_DAYS) days ago" +%Y-%m-%d)
DEMO_END := $(shell date -u -d "1 day ago" +%Y-%m-%d)

.PHONY: help bootstrap sync install demo test test-fast lint ui bench docs clean

help:
	@echo "make demo       install, generate $(DEMO_DAYS) days of sample traces, run the nightly job, print a summary"
	@echo "make test       run the whole test suite"
	@echo "make test-fast  the tests not marked slow: no dbt build, no Dagster job (about a minute)"
	@echo "make lint       ruff (lint, format check) and sqlfluff on the dbt models and macros"
	@echo "make ui         Dagster UI on http://127.0.0.1:3000 (same DAGSTER_HOME as the demo)"
	@echo "make install    install dependencies from uv.lock (idempotent)"
	@echo "make bench      benchmarks (prints a table, writes benchmarks/results/)"
	@echo "make clean      remove generated data"

# uv comes from PyPI when the machine lacks it.
bootstrap:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet --user uv

sync: bootstrap
	@$(UV) sync --frozen --all-extras --quiet

install: sync
	@$(VENV_BIN)/python -m trace_platform.defs.transform.project >/dev/null

demo: install
	@rm -rf "$(TRACE_PLATFORM_LANDING)"
	$(VENV_BIN)/trace-platform generate --out "$(TRACE_PLATFORM_LANDING)" --days $(DEMO_DAYS) \
		--traces-per-day $(DEMO_TRACES) --start $(DEMO_START) --dirty
	$(VENV_BIN)/trace-platform run --start $(DEMO_START) --end $(DEMO_END)

test: install
	$(VENV_BIN)/pytest -q

# The tests not marked slow (pyproject.toml markers; tests/conftest.py): what to run while editing.
test-fast: install
	$(VENV_BIN)/pytest -q -m "not slow"

# All three run, so one pass shows every finding. No dbt parse and no warehouse: sqlfluff renders
# the models with its jinja templater (.sqlfluff).
lint: sync
	@status=0; \
	echo "ruff check ."; $(VENV_BIN)/ruff check . || status=1; \
	echo "ruff format --check ."; $(VENV_BIN)/ruff format --check . || status=1; \
	echo "sqlfluff lint dbt_project/models dbt_project/macros"; \
	$(VENV_BIN)/sqlfluff lint dbt_project/models dbt_project/macros || status=1; \
	exit $$status

ui: install
	@mkdir -p "$(DAGSTER_HOME)" && $(VENV_BIN)/python -c "from trace_platform.lib.instance import ensure_dagster_home; ensure_dagster_home()"
	$(VENV_BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

bench: install
	$(VENV_BIN)/python -m benchmarks.run $(if $(ENGINE),--engine $(ENGINE)) $(BENCH_ARGS)

docs: install
	@mkdir -p "$(dir $(TRACE_PLATFORM_WAREHOUSE))"
	cd dbt_project && $(VENV_BIN)/dbt docs generate --profiles-dir . --quiet

clean:
	rm -rf data dbt_project/target dbt_project/logs benchmarks/data
