"""Nightly schedule: at 02:00 UTC, run the previous delivery day."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from trace_platform.defs.jobs import nightly_trace_job


def previous_delivery_day(scheduled_at: dt.datetime) -> str:
    return (scheduled_at.astimezone(dt.UTC).date() - dt.timedelta(days=1)).isoformat()


@dg.schedule(
    job=nightly_trace_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="At 02:00 UTC, ingest and model the previous delivery day.",
)
def nightly_trace_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = previous_delivery_day(context.scheduled_execution_time)
    return dg.RunRequest(run_key=f"nightly-{day}", partition_key=day)
