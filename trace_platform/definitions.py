"""Entry point: `dagster dev -w workspace.yaml` and the CLI load these definitions."""

import os

os.environ.setdefault("DAGSTER_TELEMETRY_DISABLED", "true")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import dagster as dg  # noqa: E402

from trace_platform.defs.ingest.assets import raw_trace_events  # noqa: E402
from trace_platform.defs.ingest.sensors import landing_sensor  # noqa: E402
from trace_platform.defs.jobs import nightly_trace_job  # noqa: E402
from trace_platform.defs.resources import dbt_resource, warehouse_resource  # noqa: E402
from trace_platform.defs.transform.assets import trace_warehouse_models  # noqa: E402
from trace_platform.defs.transform.schedules import nightly_trace_schedule  # noqa: E402

defs = dg.Definitions(
    assets=[raw_trace_events, trace_warehouse_models],
    jobs=[nightly_trace_job],
    schedules=[nightly_trace_schedule],
    sensors=[landing_sensor],
    resources={"warehouse": warehouse_resource(), "dbt": dbt_resource()},
)
