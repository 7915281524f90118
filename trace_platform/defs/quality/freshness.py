"""Freshness of the marts: the previous delivery day must be materialised by 06:00 UTC.

Two views of the same promise, both configured by `freshness:` in thresholds.yaml:

* a `FreshnessPolicy.cron` on every mart (`thresholds.freshness_policy()`, set by the dbt
  translator): the asset must materialise in the `window_hours` before each daily deadline.
  Dagster's freshness daemon (part of `dagster dev`) evaluates it and the UI shows the asset's
  freshness state (Pass/Fail) next to the policy.
* the asset check `fresh_by_deadline` on every mart, which is exact about *which* partition: after
  the deadline of day D it passes only if the partition D-1 has been materialised (and records
  whether that happened before the deadline). It reads only the Dagster instance, never the
  warehouse. The schedule `freshness_check_schedule` runs it (job `freshness_check_job`) at the
  deadline; a failure is an ERROR-severity check, so the alert sensor reports it.
"""

import datetime as dt

import dagster as dg

from trace_platform.defs.quality.check_results import record_check_results_hook
from trace_platform.defs.quality.common import OWNER, TRAIL_COMPLETENESS, check_metadata
from trace_platform.defs.quality.thresholds import Thresholds, load_thresholds
from trace_platform.defs.transform.assets import trace_warehouse_models

FRESHNESS_CHECK_NAME = "fresh_by_deadline"


def mart_keys() -> list[dg.AssetKey]:
    return sorted(k for k in trace_warehouse_models.keys if k.path[0] == "marts")


def latest_deadline(now: dt.datetime, deadline_utc: str) -> dt.datetime:
    """The most recent daily deadline (UTC) at or before `now`."""
    hour, minute = (int(part) for part in deadline_utc.split(":"))
    now = now.astimezone(dt.UTC)
    today = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return today if now >= today else today - dt.timedelta(days=1)


def expected_partition(deadline: dt.datetime) -> str:
    """The delivery day that must be materialised by a deadline: the day before it."""
    return (deadline.date() - dt.timedelta(days=1)).isoformat()


def evaluate_freshness(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, now: dt.datetime, thresholds: Thresholds
) -> dg.AssetCheckResult:
    deadline = latest_deadline(now, thresholds.freshness_deadline_utc)
    partition = expected_partition(deadline)
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1, ascending=True
    ).records
    materialized_at = records[0].timestamp if records else None
    met_deadline = materialized_at is not None and materialized_at <= deadline.timestamp()
    overdue = 0.0 if materialized_at is not None else max(0.0, now.timestamp() - deadline.timestamp())
    extra = {
        "deadline": dg.MetadataValue.timestamp(deadline.timestamp()),
        "expected_partition": partition,
        "met_deadline": met_deadline,
        "overdue_seconds": overdue,
        "evaluated_at": dg.MetadataValue.timestamp(now.timestamp()),
    }
    if materialized_at is not None:
        extra["materialized_at"] = dg.MetadataValue.timestamp(materialized_at)
    return dg.AssetCheckResult(
        check_name=FRESHNESS_CHECK_NAME,
        asset_key=asset_key,
        passed=materialized_at is not None,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"partition {partition} materialised" + ("" if met_deadline else " after the deadline")
            if materialized_at is not None
            else f"partition {partition} not materialised; due {deadline:%Y-%m-%d %H:%M} UTC"
        ),
        metadata=check_metadata(
            kind="freshness",
            category=TRAIL_COMPLETENESS,
            partition=partition,
            observed=overdue,
            threshold=0,
            threshold_key="freshness.deadline_utc",
            sql=None,
            **extra,
        ),
    )


FRESHNESS_SPECS = [
    dg.AssetCheckSpec(
        name=FRESHNESS_CHECK_NAME,
        asset=asset_key,
        description="Freshness (trail completeness, ERROR): after the daily deadline (freshness.deadline_utc, "
        "06:00 UTC) the previous delivery day's partition is materialised.",
        metadata={"owner": OWNER},
    )
    for asset_key in mart_keys()
]


@dg.multi_asset_check(
    specs=FRESHNESS_SPECS,
    name="marts_freshness_checks",
    description="Is the previous delivery day materialised in every mart by the deadline? Reads the Dagster "
    "instance only.",
    can_subset=True,
)
def marts_freshness_checks(context: dg.AssetCheckExecutionContext):
    thresholds = load_thresholds()
    now = dt.datetime.now(dt.UTC)
    for check_key in sorted(context.selected_asset_check_keys, key=lambda k: k.asset_key):
        yield evaluate_freshness(context.instance, check_key.asset_key, now, thresholds)


freshness_check_job = dg.define_asset_job(
    name="freshness_check_job",
    selection=dg.AssetSelection.checks(marts_freshness_checks),
    executor_def=dg.in_process_executor,
    hooks={record_check_results_hook},
    # its hook records the results in audit.check_results: a warehouse writer like the nightly job
    tags={"trace_platform/writes": "warehouse"},
    description="Checks that every mart holds the previous delivery day (runs at the freshness deadline).",
)


def _schedule() -> dg.ScheduleDefinition:
    thresholds = load_thresholds()

    @dg.schedule(
        name="freshness_check_schedule",
        job=freshness_check_job,
        cron_schedule=thresholds.freshness_deadline_cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"At {thresholds.freshness_deadline_utc} UTC, check that the marts hold the previous delivery day.",
    )
    def freshness_check_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        deadline = context.scheduled_execution_time.astimezone(dt.UTC)
        return dg.RunRequest(run_key=f"freshness-{deadline:%Y-%m-%d}")

    return freshness_check_schedule


freshness_check_schedule = _schedule()
