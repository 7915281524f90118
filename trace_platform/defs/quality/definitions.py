"""What data quality contributes to the code location: the asset checks, audit.check_results, the
freshness job and schedule, and the alerting sensors (merged with the other folders' in
trace_platform/definitions.py)."""

import dagster as dg

from trace_platform.defs.quality.check_results import check_results
from trace_platform.defs.quality.freshness import (
    freshness_check_job,
    freshness_check_schedule,
    marts_freshness_checks,
)
from trace_platform.defs.quality.gx_suites import gx_marts_checks, gx_staging_checks
from trace_platform.defs.quality.rule_checks import audit_rule_checks
from trace_platform.defs.quality.schema_checks import raw_zone_checks
from trace_platform.defs.quality.sensors import check_failure_alert_sensor, run_failure_alert_sensor

defs = dg.Definitions(
    assets=[check_results],
    asset_checks=[
        raw_zone_checks,
        audit_rule_checks,
        gx_staging_checks,
        gx_marts_checks,
        marts_freshness_checks,
    ],
    jobs=[freshness_check_job],
    schedules=[freshness_check_schedule],
    sensors=[run_failure_alert_sensor, check_failure_alert_sensor],
)
