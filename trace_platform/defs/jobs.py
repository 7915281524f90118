"""The nightly job: ingestion, every dbt model and every check for one delivery day."""

import dagster as dg

from trace_platform.defs.maintenance.stale_runs import guarded_in_process_executor
from trace_platform.defs.quality.check_results import record_check_results_hook
from trace_platform.defs.quality.freshness import marts_freshness_checks

# Every step writes (or reads right after writing) the single-writer DuckDB file: run the steps
# strictly one at a time in one process. Runs themselves are serialised by the run queue.
#
# Step order within a run: ingestion (with its blocking R9 check) -> raw-zone checks (the schema
# contract blocks dbt) -> dbt build (dbt tests are checks) -> audit-rule and GX checks ->
# audit/check_results (lowest priority, so it runs after every check). reader/snapshot publishes the
# analyst schemas for readers right after the dbt build, reader/snapshot_with_checks again at the end
# with audit.check_results (both skipped when anything upstream failed; defs/publish/). The hook
# records each step's check evaluations in audit.check_results, also for steps that fail.
#
# Retries: a step that finds the warehouse file held by another process waits with backoff up to
# TRACE_PLATFORM_LOCK_TIMEOUT, then fails with one clear line and asks Dagster to retry it
# (RetryRequested, TRACE_PLATFORM_LOCK_RETRIES times, exponential backoff; lib/warehouse_lock.py).
# Only lock conflicts are retried: a failing dbt test is not transient. The in-process executor's
# retries are enabled by default.
# The executor is the in-process one, guarded: it records the run worker's process on the run, so a
# killed run is recognised and its pool slot freed, and a run blocked on the pool slot recovers a
# dead holder and answers SIGINT/SIGTERM (defs/maintenance/stale_runs.py, lib/stale_runs.py).
# The freshness checks are about the schedule, not about a partition: they run in their own job.
nightly_trace_job = dg.define_asset_job(
    name="nightly_trace_job",
    selection=dg.AssetSelection.all() - dg.AssetSelection.checks(marts_freshness_checks),
    # partitioned by delivery day: inferred from the selected assets
    executor_def=guarded_in_process_executor,
    hooks={record_check_results_hook},
    tags={"trace_platform/writes": "warehouse"},
    description="Ingest one delivery day, build every dbt model and run every check.",
)
