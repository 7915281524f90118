"""What the transform contributes to the code location: the dbt models and the nightly schedule
(merged with the other folders' in trace_platform/definitions.py)."""

import dagster as dg

from trace_platform.defs.transform.assets import trace_warehouse_models
from trace_platform.defs.transform.schedules import nightly_trace_schedule

defs = dg.Definitions(
    assets=[trace_warehouse_models],
    schedules=[nightly_trace_schedule],
)
