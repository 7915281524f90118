"""Raw payload retention: the raw zone keeps unredacted payloads only for a configured number of days.

After each successful nightly build (this asset depends on every dbt model, so a failed build skips
it), the rows of every delivery day more than N days before the reference day are purged:

- raw.trace_events: `payload` and `extra_fields` are replaced by their redacted form (redact_json,
  the same rules as the marts), `attributes` is set to NULL;
- raw.quarantine: `raw_line` is set to NULL (reason, line number and byte count stay, so R9's
  accounting still adds up).

N is TRACE_PLATFORM_RAW_PAYLOAD_RETENTION_DAYS (default 7; `keep` keeps them for ever). The
reference day is the later of the run's partition and the newest delivery day loaded, so the result
does not depend on the wall clock and re-running an old day re-purges it at once. Each purged day
is logged in raw.payload_retention; a day is purged again when it was re-ingested after its purge.

Why redact in place rather than NULL the payload: the staging views read raw.trace_events.payload,
and a late event (feedback days later) rebuilds its whole trace from all its events. The structural
fields (ids, statuses, decisions, sequences) survive redaction, so such a rebuild still works; but
comparisons of secret values (R10 approved-vs-executed arguments, eval's "retried with changed
arguments") then see placeholders on both sides, so a difference that lay only in a redacted value
is no longer visible for a trace rebuilt after its purge. A late event older than N days is the
trade-off; N should exceed the longest expected lateness. Likewise, a re-delivery of a purged event
that is not byte-identical to the first delivery is compared with the redacted content and counted
as a conflict. docs/security.md has the details.
"""

import datetime as dt
from dataclasses import dataclass, field

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from trace_platform.defs.partitions import delivery_day_partitions
from trace_platform.defs.quality.check_results import partitioned_asset
from trace_platform.defs.quality.common import partitioned_check_spec
from trace_platform.defs.transform.assets import trace_warehouse_models
from trace_platform.lib import settings
from trace_platform.lib.duckdb_functions import register_redaction
from trace_platform.lib.landing import parse_partition_key
from trace_platform.lib.warehouse_lock import warehouse_write_lock

OWNER = "team:trace-platform"
RAW_PAYLOAD_RETENTION = dg.AssetKey(["raw", "payload_retention"])

RETENTION_CHECK = partitioned_check_spec(
    "raw_payloads_within_retention",
    asset=RAW_PAYLOAD_RETENTION,
    description="No delivery day older than the retention window still holds unredacted raw payloads, "
    "attributes or quarantined raw lines (TRACE_PLATFORM_RAW_PAYLOAD_RETENTION_DAYS).",
)

DDL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE TABLE IF NOT EXISTS raw.payload_retention (
    delivery_date             DATE NOT NULL,         -- the delivery day purged
    purged_at                 TIMESTAMPTZ NOT NULL,
    retention_days            INTEGER NOT NULL,
    cutoff_date               DATE NOT NULL,         -- days before it were due
    payloads_redacted         BIGINT NOT NULL,       -- raw.trace_events payloads a rule changed
    attributes_removed        BIGINT NOT NULL,       -- raw.trace_events attributes set to NULL
    extra_fields_redacted     BIGINT NOT NULL,       -- raw.trace_events extra_fields a rule changed
    quarantine_lines_cleared  BIGINT NOT NULL        -- raw.quarantine raw_line values removed
);
"""

# Delivery days before $cutoff holding rows loaded after their last purge (or never purged).
DUE_DAYS_SQL = """
WITH loaded AS (
    SELECT delivery_date, max(ingested_at) AS last_ingested_at
    FROM raw.trace_events WHERE delivery_date < $cutoff::DATE GROUP BY delivery_date
    UNION ALL
    SELECT delivery_date, max(ingested_at)
    FROM raw.quarantine WHERE delivery_date < $cutoff::DATE GROUP BY delivery_date
),
per_day AS (
    SELECT delivery_date, max(last_ingested_at) AS last_ingested_at FROM loaded GROUP BY delivery_date
)
SELECT per_day.delivery_date
FROM per_day
LEFT JOIN raw.payload_retention AS done USING (delivery_date)
WHERE done.purged_at IS NULL OR per_day.last_ingested_at > done.purged_at
ORDER BY 1
"""

# Only rows whose content changes are rewritten; three statements, because rewriting a payload is
# the expensive part (measured on a 1M-event day: attributes 0.1 s for 273k rows, payloads ~4 s
# for 28k changed rows, most of it redact_json scanning the day's 1M payloads once). The target
# side of the rowid join is limited to the day too, so it does not scan all of history's rows.
PURGE_EVENTS_SQL = (
    "UPDATE raw.trace_events SET attributes = NULL WHERE delivery_date = $day::DATE AND attributes IS NOT NULL",
    "UPDATE raw.trace_events SET extra_fields = redact_json(extra_fields) WHERE delivery_date = $day::DATE "
    "AND extra_fields IS NOT NULL AND redact_json(extra_fields)::VARCHAR IS DISTINCT FROM extra_fields::VARCHAR",
    "UPDATE raw.trace_events AS e SET payload = changed.redacted FROM ("
    "  SELECT rid, redacted FROM ("
    "    SELECT rowid AS rid, payload, redact_json(payload) AS redacted FROM raw.trace_events"
    "    WHERE delivery_date = $day::DATE)"
    "  WHERE redacted::VARCHAR IS DISTINCT FROM payload::VARCHAR) AS changed "
    "WHERE e.delivery_date = $day::DATE AND e.rowid = changed.rid",
)

PURGE_QUARANTINE_SQL = """
UPDATE raw.quarantine SET raw_line = NULL WHERE delivery_date = $day::DATE AND raw_line IS NOT NULL
"""

LOG_SQL = """
INSERT INTO raw.payload_retention
VALUES ($day::DATE, now(), $retention_days, $cutoff::DATE, $payloads, $attributes, $extra_fields, $lines)
"""

# What the check counts: anything unredacted left before the cutoff.
OVERDUE_SQL = (
    """
SELECT
    (SELECT count(*) FROM ("""
    + DUE_DAYS_SQL
    + """)) AS overdue_days,
    (SELECT count(*) FROM raw.trace_events WHERE delivery_date < $cutoff::DATE AND attributes IS NOT NULL)
        AS events_with_attributes,
    (SELECT count(*) FROM raw.quarantine WHERE delivery_date < $cutoff::DATE AND raw_line IS NOT NULL)
        AS quarantine_lines_with_text
"""
)


@dataclass
class RetentionReport:
    retention_days: int | None
    reference_date: dt.date | None = None
    cutoff_date: dt.date | None = None
    days_purged: list[str] = field(default_factory=list)
    payloads_redacted: int = 0
    attributes_removed: int = 0
    extra_fields_redacted: int = 0
    quarantine_lines_cleared: int = 0
    overdue_days: int = 0
    events_with_attributes: int = 0
    quarantine_lines_with_text: int = 0

    @property
    def overdue(self) -> int:
        return self.overdue_days + self.events_with_attributes + self.quarantine_lines_with_text

    def metadata(self) -> dict:
        return {
            "retention_days": "keep (no purge)" if self.retention_days is None else self.retention_days,
            "reference_date": str(self.reference_date or ""),
            "cutoff_date": str(self.cutoff_date or ""),
            "days_purged": self.days_purged,
            "payloads_redacted": self.payloads_redacted,
            "attributes_removed": self.attributes_removed,
            "extra_fields_redacted": self.extra_fields_redacted,
            "quarantine_lines_cleared": self.quarantine_lines_cleared,
            "overdue_days": self.overdue_days,
            "events_with_attributes_before_cutoff": self.events_with_attributes,
            "quarantine_lines_with_text_before_cutoff": self.quarantine_lines_with_text,
        }


def _table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return (
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw' AND table_name = ?",
            [table],
        ).fetchone()[0]
        > 0
    )


def reference_date(con: duckdb.DuckDBPyConnection, partition: str) -> dt.date:
    """The later of the partition and the newest delivery day loaded."""
    day = parse_partition_key(partition)
    newest = (
        con.execute("SELECT max(delivery_date) FROM raw.ingest_files").fetchone()[0]
        if _table_exists(con, "ingest_files")
        else None
    )
    return max(day, newest) if newest else day


def purge_raw_payloads(
    con: duckdb.DuckDBPyConnection, partition: str, retention_days: int | None
) -> RetentionReport:
    """Purges the raw payloads of the days older than the retention window; idempotent.

    The connection needs the redaction macros (lib/duckdb_functions.register_redaction).
    """
    report = RetentionReport(retention_days)
    if (
        retention_days is None
        or not _table_exists(con, "trace_events")
        or not _table_exists(con, "quarantine")
    ):
        return report
    if isinstance(retention_days, bool) or not isinstance(retention_days, int) or retention_days < 0:
        raise ValueError(f"retention_days must be a non-negative integer, not {retention_days!r}")
    con.execute(DDL)
    report.reference_date = reference_date(con, partition)
    report.cutoff_date = report.reference_date - dt.timedelta(days=retention_days)
    cutoff = report.cutoff_date.isoformat()
    for (day,) in con.execute(DUE_DAYS_SQL, {"cutoff": cutoff}).fetchall():
        params = {"day": day.isoformat()}
        con.execute("BEGIN TRANSACTION")
        try:
            attributes, extra_fields, payloads = (
                con.execute(statement, params).fetchone()[0] for statement in PURGE_EVENTS_SQL
            )
            lines = con.execute(PURGE_QUARANTINE_SQL, params).fetchone()[0]
            con.execute("DELETE FROM raw.payload_retention WHERE delivery_date = $day::DATE", params)
            con.execute(
                LOG_SQL,
                {
                    **params,
                    "retention_days": retention_days,
                    "cutoff": cutoff,
                    "payloads": payloads,
                    "attributes": attributes,
                    "extra_fields": extra_fields,
                    "lines": lines,
                },
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        report.days_purged.append(day.isoformat())
        report.payloads_redacted += payloads
        report.attributes_removed += attributes
        report.extra_fields_redacted += extra_fields
        report.quarantine_lines_cleared += lines
    report.overdue_days, report.events_with_attributes, report.quarantine_lines_with_text = con.execute(
        OVERDUE_SQL, {"cutoff": cutoff}
    ).fetchone()
    return report


@partitioned_asset(
    key=RAW_PAYLOAD_RETENTION,
    deps=list(trace_warehouse_models.keys),
    partitions_def=delivery_day_partitions,
    group_name="ingest",
    owners=[OWNER],
    kinds={"duckdb", "python"},
    pool="duckdb_writer",
    check_specs=[RETENTION_CHECK],
    description="Raw payload retention: after a successful build, redacts the payloads and removes the "
    "attributes and quarantined raw lines of delivery days older than "
    "TRACE_PLATFORM_RAW_PAYLOAD_RETENTION_DAYS (default 7; 'keep' keeps them). "
    "Log: raw.payload_retention.",
)
def raw_payload_retention(context: dg.AssetExecutionContext, warehouse: DuckDBResource):
    retention_days = settings.raw_payload_retention_days()
    with warehouse_write_lock(settings.warehouse_path(warehouse.database)), warehouse.get_connection() as con:
        register_redaction(con)
        report = purge_raw_payloads(con, context.partition_key, retention_days)
    if report.days_purged:
        context.log.info(f"purged raw payloads of {len(report.days_purged)} day(s): {report.days_purged}")
    yield dg.MaterializeResult(metadata=report.metadata())
    yield dg.AssetCheckResult(
        check_name=RETENTION_CHECK.name,
        asset_key=RAW_PAYLOAD_RETENTION,
        passed=report.overdue == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            **report.metadata(),
            "check_kind": "retention",
            "category": "data_quality",
            "observed_value": report.overdue,
            "threshold": 0,
            "partition": context.partition_key,
            "sql": "SELECT * FROM raw.payload_retention ORDER BY delivery_date DESC",
        },
    )
