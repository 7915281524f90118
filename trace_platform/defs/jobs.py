"""The nightly job: ingestion, every dbt model and every check for one delivery day."""

import dagster as dg

from trace_platform.defs.partitions import delivery_day_partitions

# Every step writes (or reads right after writing) the single-writer DuckDB file: run the steps
# strictly one at a time in one process. Runs themselves are serialised by the run queue.
nightly_trace_job = dg.define_asset_job(
    name="nightly_trace_job",
    selection=dg.AssetSelection.all(),
    partitions_def=delivery_day_partitions,
    executor_def=dg.in_process_executor,
    tags={"trace_platform/writes": "warehouse"},
    description="Ingest one delivery day, build every dbt model and run every check.",
)
