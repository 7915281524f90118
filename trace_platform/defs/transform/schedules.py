"""Nightly schedule: at 02:00 UTC (TRACE_PLATFORM_NIGHTLY_CRON), run the previous delivery day."""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg

from trace_platform.defs.jobs import nightly_trace_job

# Read when the code location loads (the code server, `dagster dev`): restart it to change the time.
# The deploy test (tests/test_deploy_postgres.py) sets "* * * * *" so the daemon ticks within a minute.
NIGHTLY_CRON_ENV = "TRACE_PLATFORM_NIGHTLY_CRON"
DEFAULT_NIGHTLY_CRON = "0 2 * * *"
NIGHTLY_CRON = os.environ.get(NIGHTLY_CRON_ENV, "").strip() or DEFAULT_NIGHTLY_CRON


def previous_delivery_day(scheduled_at: dt.datetime) -> str:
    return (scheduled_at.astimezone(dt.UTC).date() - dt.timedelta(days=1)).isoformat()


def _description(cron: str) -> str:
    when = "At 02:00 UTC" if cron == DEFAULT_NIGHTLY_CRON else f"On cron {cron!r} (UTC)"
    return f"{when}, ingest and model the previous delivery day (cron: env {NIGHTLY_CRON_ENV})."


@dg.schedule(
    job=nightly_trace_job,
    cron_schedule=NIGHTLY_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=_description(NIGHTLY_CRON),
)
def nightly_trace_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = previous_delivery_day(context.scheduled_execution_time)
    return dg.RunRequest(run_key=f"nightly-{day}", partition_key=day)
