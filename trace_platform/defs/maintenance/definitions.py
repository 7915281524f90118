"""What maintenance contributes to the code location: the weekly compaction job and schedule and the
stale-run sensor (merged with the other folders' in trace_platform/definitions.py)."""

import dagster as dg

from trace_platform.defs.maintenance.compaction import warehouse_compaction_job, warehouse_compaction_schedule
from trace_platform.defs.maintenance.stale_runs import stale_run_sensor

defs = dg.Definitions(
    jobs=[warehouse_compaction_job],
    schedules=[warehouse_compaction_schedule],
    sensors=[stale_run_sensor],
)
