"""Entry point: `dagster dev -w workspace.yaml` and the CLI load these definitions."""

import os

os.environ.setdefault("DAGSTER_TELEMETRY_DISABLED", "true")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import dagster as dg  # noqa: E402

from trace_platform.defs.ingest.assets import raw_trace_events  # noqa: E402
from trace_platform.defs.ingest.retention import raw_payload_retention  # noqa: E402
from trace_platform.defs.ingest.sensors import landing_sensor  # noqa: E402
from trace_platform.defs.jobs import nightly_trace_job  # noqa: E402
from trace_platform.defs.maintenance.compaction import (  # noqa: E402
    warehouse_compaction_job,
    warehouse_compaction_schedule,
)
from trace_platform.defs.maintenance.stale_runs import stale_run_sensor  # noqa: E402
from trace_platform.defs.publish.assets import publish_assets  # noqa: E402
from trace_platform.defs.quality.check_results import check_results  # noqa: E402
from trace_platform.defs.quality.freshness import (  # noqa: E402
    freshness_check_job,
    freshness_check_schedule,
    marts_freshness_checks,
)
from trace_platform.defs.quality.gx_suites import gx_marts_checks, gx_staging_checks  # noqa: E402
from trace_platform.defs.quality.rule_checks import audit_rule_checks  # noqa: E402
from trace_platform.defs.quality.schema_checks import raw_zone_checks  # noqa: E402
from trace_platform.defs.quality.sensors import check_failure_alert_sensor, run_failure_alert_sensor  # noqa: E402
from trace_platform.defs.resources import dbt_resource, warehouse_resource  # noqa: E402
from trace_platform.defs.transform.assets import trace_warehouse_models  # noqa: E402
from trace_platform.defs.transform.schedules import nightly_trace_schedule  # noqa: E402


def build_definitions() -> dg.Definitions:
    """The code location; resources point at the warehouse configured in the environment *now*."""
    return dg.Definitions(
        assets=[
            raw_trace_events,
            trace_warehouse_models,
            check_results,
            *publish_assets,
            raw_payload_retention,
        ],
        asset_checks=[
            raw_zone_checks,
            audit_rule_checks,
            gx_staging_checks,
            gx_marts_checks,
            marts_freshness_checks,
        ],
        jobs=[nightly_trace_job, freshness_check_job, warehouse_compaction_job],
        schedules=[nightly_trace_schedule, freshness_check_schedule, warehouse_compaction_schedule],
        sensors=[landing_sensor, run_failure_alert_sensor, check_failure_alert_sensor, stale_run_sensor],
        resources={"warehouse": warehouse_resource(), "dbt": dbt_resource()},
    )


defs = build_definitions()
