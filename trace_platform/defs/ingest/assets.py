"""Ingestion assets: one delivery-day partition of landing files into the raw zone."""

import warnings

import dagster as dg
from dagster_duckdb import DuckDBResource

from trace_platform.defs.ingest.loader import ingest_partition, read_sql
from trace_platform.defs.partitions import delivery_day_partitions
from trace_platform.lib import settings
from trace_platform.lib.warehouse_lock import warehouse_write_lock

OWNER = "team:trace-platform"
RAW_EVENTS = dg.AssetKey(["raw", "trace_events"])
RAW_QUARANTINE = dg.AssetKey(["raw", "quarantine"])
RAW_INGEST_FILES = dg.AssetKey(["raw", "ingest_files"])
RAW_CHANGE_LOG = dg.AssetKey(["raw", "trace_change_log"])

# CHANGE_LOG_CHECK: the warehouse models rebuild only the traces raw.trace_change_log names, so a
# trace of the partition missing from it would silently keep stale facts. Not blocking (R9 and the
# schema contract are the blocking pair), but an ERROR that alerts.
# Partitioned like its asset, so the UI's per-partition view resolves the planned evaluation
# (AssetCheckSpec.partitions_def is a Dagster 1.13 preview feature; see defs/quality/common.py).
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*partitions_def.*")
    R9_CHECK = dg.AssetCheckSpec(
        name="r9_line_accounting",
        asset=RAW_INGEST_FILES,
        partitions_def=delivery_day_partitions,
        blocking=True,
        description="R9 nothing lost: for every landing file of the partition, lines read = blank + "
        "loaded + duplicates + quarantined, and the counts match the rows in raw.trace_events / raw.quarantine; "
        "for an OTLP file the unit is an item, and every span and log record became an event or is quarantined "
        "(raw.otlp_ingest_files, docs/otlp.md). "
        "Blocking: downstream models never build on a partition whose accounting does not add up.",
    )
    # (partitioned too: without it Dagster leaves a planned evaluation without a partition behind
    # every run, tests/test_deploy_postgres.py)
    CHANGE_LOG_CHECK = dg.AssetCheckSpec(
        name="change_log_covers_partition",
        asset=RAW_CHANGE_LOG,
        partitions_def=delivery_day_partitions,
        description="Every trace with events in the partition is in raw.trace_change_log for that day, so "
        "the incremental dbt models rebuild it.",
    )


class IngestConfig(dg.Config):
    landing: str = ""  # empty: TRACE_PLATFORM_LANDING or data/landing


def _spec(key: dg.AssetKey, description: str, columns: list[tuple[str, str]]) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=key,
        description=description,
        group_name="ingest",
        owners=[OWNER],
        kinds={"duckdb", "python"},
        metadata={
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(name, type_) for name, type_ in columns]
            )
        },
    )


def _columns(con, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'raw' AND table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()


@dg.multi_asset(
    specs=[
        _spec(
            RAW_EVENTS,
            "Valid v1 trace events, deduplicated by event_id across partitions "
            "(first delivery wins), with typed envelope columns and payload/attributes as JSON.",
            [],
        ),
        _spec(
            RAW_QUARANTINE,
            "Every line (or file) that could not be loaded, with a reason code "
            "and the raw text (truncated when huge).",
            [],
        ),
        _spec(
            RAW_INGEST_FILES,
            "Line accounting per landing file (R9): lines read, blank, loaded, "
            "duplicates, quarantined, content hash and load time.",
            [],
        ),
        _spec(
            RAW_CHANGE_LOG,
            "The traces each publish touched (rows inserted, replaced or demoted) and the "
            "delivery day changed; the dbt models rebuild exactly these traces.",
            [],
        ),
    ],
    check_specs=[R9_CHECK, CHANGE_LOG_CHECK],
    partitions_def=delivery_day_partitions,
    pool="duckdb_writer",
    backfill_policy=dg.BackfillPolicy.multi_run(1),
)
def raw_trace_events(context: dg.AssetExecutionContext, config: IngestConfig, warehouse: DuckDBResource):
    """Reads every *.jsonl / *.jsonl.gz of `<landing>/<day>/` and every OTLP file of
    `<landing>/otlp/<day>/` in bulk and replaces the day's raw rows."""
    partition = context.partition_key
    landing = settings.landing_dir(config.landing or None)
    with warehouse_write_lock(settings.warehouse_path(warehouse.database)), warehouse.get_connection() as con:
        report = ingest_partition(con, landing, partition)
        r9_rows = con.execute(read_sql("check_r9.sql"), {"partition": partition}).fetchall()
        counts = dict(
            con.execute(
                "SELECT 'trace_events', count(*) FROM raw.trace_events UNION ALL "
                "SELECT 'quarantine', count(*) FROM raw.quarantine UNION ALL "
                "SELECT 'ingest_files', count(*) FROM raw.ingest_files UNION ALL "
                "SELECT 'trace_change_log', count(*) FROM raw.trace_change_log"
            ).fetchall()
        )
        schemas = {
            t: _columns(con, t) for t in ("trace_events", "quarantine", "ingest_files", "trace_change_log")
        }
        unlogged = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT trace_id FROM raw.trace_events WHERE delivery_date = ?::DATE "
                "EXCEPT SELECT trace_id FROM raw.trace_change_log WHERE delivery_date = ?::DATE "
                "ORDER BY 1 LIMIT 10",
                [partition, partition],
            ).fetchall()
        ]
        logged_now = con.execute(
            "SELECT count(DISTINCT trace_id) FROM raw.trace_change_log "
            "WHERE change_seq = (SELECT max(change_seq) FROM raw.trace_change_log)"
        ).fetchone()[0]

    if report.ignored_files:
        context.log.warning(f"{partition}: not trace files, left unread: {report.ignored_files}")
    base = report.as_metadata()
    for key, table, partition_rows in (
        (RAW_EVENTS, "trace_events", report.events_loaded),
        (RAW_QUARANTINE, "quarantine", report.lines_quarantined),
        (RAW_INGEST_FILES, "ingest_files", report.files),
        (RAW_CHANGE_LOG, "trace_change_log", logged_now),
    ):
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                **(
                    {"ingest": base, "landing_fingerprint": report.landing_fingerprint}
                    if key == RAW_EVENTS
                    else {}
                ),
                "partition_rows": partition_rows,
                "dagster/row_count": counts[table],
                "dagster/column_schema": dg.TableSchema(
                    columns=[dg.TableColumn(n, t) for n, t in schemas[table]]
                ),
            },
        )

    unbalanced = [r for r in r9_rows if not r[-1]]
    yield dg.AssetCheckResult(
        check_name=R9_CHECK.name,
        asset_key=RAW_INGEST_FILES,
        passed=not unbalanced,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "files": len(r9_rows),
            "unbalanced_files": len(unbalanced),
            "lines_read": report.lines_read,
            "blank_lines": report.blank_lines,
            "events_loaded": report.events_loaded,
            "duplicates_dropped": report.duplicates_dropped,
            "lines_quarantined": report.lines_quarantined,
            "quarantined_by_reason": report.quarantined_by_reason,
            "examples": [r[0] for r in unbalanced[:10]],
            "sql": f"SELECT * FROM raw.ingest_files WHERE delivery_date = DATE '{partition}' "
            "AND lines_read <> blank_lines + events_loaded + duplicates_dropped + lines_quarantined",
        },
    )
    yield dg.AssetCheckResult(
        check_name=CHANGE_LOG_CHECK.name,
        asset_key=RAW_CHANGE_LOG,
        passed=not unlogged,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "traces_logged_by_this_publish": logged_now,
            "unlogged_examples": unlogged,
            "sql": f"SELECT DISTINCT trace_id FROM raw.trace_events WHERE delivery_date = DATE '{partition}' EXCEPT "
            f"SELECT trace_id FROM raw.trace_change_log WHERE delivery_date = DATE '{partition}'",
        },
    )
