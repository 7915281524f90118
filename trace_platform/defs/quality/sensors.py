"""Alerting: notify when a run fails, or when a run ends with failed ERROR-severity checks.

Two run-status sensors read the Dagster instance only (never the warehouse) and hand a
`Notification` to the notifier from `trace_platform.lib.notify.notifier_from_env()`: the local file
`alerts/alerts.jsonl` next to the warehouse (or the sensor's log with TRACE_PLATFORM_ALERT_FILE=-),
plus a webhook when TRACE_PLATFORM_ALERT_WEBHOOK_URL is set.

* `run_failure_alert_sensor`: every failed run of this code location (with its error, and the
  failed ERROR checks it recorded, e.g. a blocking R9);
* `check_failure_alert_sensor`: every successful run whose failed checks include ERROR severity —
  non-blocking ERROR checks (R1/R4/R7, drift, volume, freshness, ...) do not fail the run, so they
  would otherwise go unnoticed. WARN failures (agent compliance) are not alerted; they stay visible
  in the UI and in audit.check_results.

A delivery failure raises, so the sensor tick fails visibly in the UI and the run is retried on
the next tick.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from trace_platform.lib import settings
from trace_platform.lib.notify import Notification, Notifier, notifier_from_env

MAX_LISTED_CHECKS = 20


def build_notifier(logger: Any | None = None) -> Notifier:
    default_file = settings.warehouse_path().parent / "alerts" / "alerts.jsonl"
    return notifier_from_env(logger=logger, default_file=default_file)


def failed_error_checks(instance: dg.DagsterInstance, run_id: str) -> list[dict[str, Any]]:
    """Failed ERROR-severity check evaluations of a run, with the metadata a reader needs first."""
    failed = []
    for record in instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if evaluation.passed or evaluation.severity != dg.AssetCheckSeverity.ERROR:
            continue
        metadata = {name: getattr(value, "value", value) for name, value in evaluation.metadata.items()}
        failed.append(
            {
                "asset": evaluation.asset_key.to_user_string(),
                "check": evaluation.check_name,
                "blocking": bool(evaluation.blocking),
                "description": evaluation.description,
                **{
                    name: metadata[name]
                    for name in (
                        "observed_value",
                        "threshold",
                        "threshold_key",
                        "breach_count",
                        "unbalanced_files",
                        "dagster_dbt/failed_row_count",
                    )
                    if name in metadata and isinstance(metadata[name], int | float | str)
                },
            }
        )
    return failed


def _run_details(run: dg.DagsterRun) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "job": run.job_name,
        "partition": run.tags.get("dagster/partition"),
        "status": run.status.value,
    }


def _checks_text(checks: list[Mapping[str, Any]]) -> str:
    lines = [
        f"- {c['asset']}:{c['check']}"
        + (" (blocking)" if c["blocking"] else "")
        + (
            f" observed {c['observed_value']:.4g} > threshold {c['threshold']:.4g}"
            if isinstance(c.get("observed_value"), float) and isinstance(c.get("threshold"), float)
            else ""
        )
        for c in checks[:MAX_LISTED_CHECKS]
    ]
    if len(checks) > MAX_LISTED_CHECKS:
        lines.append(f"- ... and {len(checks) - MAX_LISTED_CHECKS} more")
    return "\n".join(lines)


def run_failure_notification(run: dg.DagsterRun, error: str | None, checks: list[dict]) -> Notification:
    details = _run_details(run)
    where = f" for {details['partition']}" if details["partition"] else ""
    summary = f"error: {error or 'see the run logs'}"
    if checks:
        summary += f"\nfailed ERROR checks ({len(checks)}):\n{_checks_text(checks)}"
    return Notification(
        kind="run_failure",
        title=f"Run of {run.job_name}{where} failed ({run.run_id[:8]})",
        summary=summary,
        details={**details, "error": error, "failed_checks": checks},
    )


def check_failure_notification(run: dg.DagsterRun, checks: list[dict]) -> Notification:
    details = _run_details(run)
    where = f" for {details['partition']}" if details["partition"] else ""
    return Notification(
        kind="check_failure",
        title=f"{len(checks)} ERROR check(s) failed in {run.job_name}{where} ({run.run_id[:8]})",
        summary=_checks_text(checks),
        details={**details, "failed_checks": checks},
    )


@dg.run_failure_sensor(
    name="run_failure_alert_sensor",
    description="Notifies (file/log, webhook when configured) about every failed run, with its failed ERROR checks.",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext):
    run = context.dagster_run
    error = context.failure_event.message if context.failure_event else None
    step_errors = [
        e.event_specific_data.error.message.strip().splitlines()[0]
        for e in context.get_step_failure_events()
        if e.event_specific_data and getattr(e.event_specific_data, "error", None)
    ]
    if step_errors:
        error = f"{error} — {step_errors[0]}" if error else step_errors[0]
    notification = run_failure_notification(run, error, failed_error_checks(context.instance, run.run_id))
    build_notifier(context.log).send(notification)
    context.log.info(f"notified: {notification.title}")


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="check_failure_alert_sensor",
    description="Notifies (file/log, webhook when configured) when a successful run has failed ERROR-severity checks.",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
def check_failure_alert_sensor(context: dg.RunStatusSensorContext):
    run = context.dagster_run
    checks = failed_error_checks(context.instance, run.run_id)
    if not checks:
        return dg.SkipReason(f"run {run.run_id[:8]}: no failed ERROR check")
    notification = check_failure_notification(run, checks)
    build_notifier(context.log).send(notification)
    context.log.info(f"notified: {notification.title}")
    return None
