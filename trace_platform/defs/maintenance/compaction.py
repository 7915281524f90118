"""Weekly warehouse compaction (lib/compaction.py): the row-group vacuum the nightly job skips.

A warehouse writer like the nightly job: the same run-queue tag (one writer run at a time) and the
same cross-process writer lock, so it waits for a nightly run rather than competing with it.
"""

import dagster as dg
import duckdb

from trace_platform.defs.resources import WarehouseResource
from trace_platform.lib import settings
from trace_platform.lib.compaction import compact
from trace_platform.lib.warehouse_lock import connect_with_retry, warehouse_write_lock


@dg.op(
    description="Merges the row groups deletes have thinned out (a checkpoint with DuckDB's vacuum on); "
    "logs it in raw.warehouse_compactions."
)
def compact_warehouse(context: dg.OpExecutionContext, warehouse: WarehouseResource) -> dg.Output:
    path = settings.warehouse_path(warehouse.database)
    if not path.exists():
        context.log.info(f"no warehouse at {path} yet: nothing to compact")
        return dg.Output(None, metadata={"warehouse": str(path), "skipped": True})
    # the nightly job's config without its NO_VACUUM: DuckDB's default vacuum
    config = {
        key: value for key, value in warehouse.connection_config.items() if key not in settings.NO_VACUUM
    }
    with warehouse_write_lock(path):
        con = connect_with_retry(lambda: duckdb.connect(str(path), config=config), path)
        try:
            report = compact(con)
        finally:
            con.close()
    context.log.info(
        f"compacted {path} in {report.seconds:.1f} s: {report.bytes_reclaimed / 2**20:.1f} MiB "
        "of blocks freed for reuse"
    )
    return dg.Output(None, metadata={"warehouse": str(path), **report.metadata()})


@dg.job(
    executor_def=dg.in_process_executor,
    tags={"trace_platform/writes": "warehouse"},
    description="Compacts the warehouse: merges the row groups the nightly deletes thinned out.",
)
def warehouse_compaction_job():
    compact_warehouse()


warehouse_compaction_schedule = dg.ScheduleDefinition(
    name="warehouse_compaction_schedule",
    job=warehouse_compaction_job,
    cron_schedule="0 4 * * 0",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Sundays at 04:00 UTC (after the nightly run, before the 06:00 freshness deadline), "
    "compact the warehouse.",
)
