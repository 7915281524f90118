"""The short summary `trace-platform run` and `make demo` print."""

from __future__ import annotations

import duckdb

MODEL_SCHEMAS = ("staging", "intermediate", "marts", "audit", "eval")


def warehouse_summary(con: duckdb.DuckDBPyConnection, partitions: list[str]) -> dict:
    in_range = "delivery_date IN (SELECT unnest(?::DATE[]))"
    accounting = con.execute(
        f"SELECT count(*), coalesce(sum(lines_read),0), coalesce(sum(blank_lines),0), coalesce(sum(events_loaded),0), "
        f"coalesce(sum(duplicates_dropped),0), coalesce(sum(lines_quarantined),0) FROM raw.ingest_files WHERE {in_range}",
        [partitions],
    ).fetchone()
    reasons = con.execute(
        f"SELECT reason, count(*) FROM raw.quarantine WHERE {in_range} GROUP BY reason ORDER BY count(*) DESC, reason",
        [partitions],
    ).fetchall()
    tables = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema IN (SELECT unnest(?)) AND table_type = 'BASE TABLE' "
        "ORDER BY table_schema, table_name",
        [list(MODEL_SCHEMAS)],
    ).fetchall()
    rows = {f"{s}.{t}": con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0] for s, t in tables}
    return {
        "files": accounting[0],
        "lines_read": accounting[1],
        "blank_lines": accounting[2],
        "events_loaded": accounting[3],
        "duplicates_dropped": accounting[4],
        "lines_quarantined": accounting[5],
        "quarantined_by_reason": dict(reasons),
        "rows_per_table": rows,
    }


def format_summary(summary: dict, checks: dict) -> str:
    lines = [
        f"files {summary['files']:,}  lines read {summary['lines_read']:,}  blank {summary['blank_lines']:,}  "
        f"events loaded {summary['events_loaded']:,}  duplicates {summary['duplicates_dropped']:,}  "
        f"quarantined {summary['lines_quarantined']:,}",
    ]
    if summary["quarantined_by_reason"]:
        lines.append("quarantined lines by reason:")
        lines += [f"  {reason:<32} {n:>8,}" for reason, n in summary["quarantined_by_reason"].items()]
    lines.append("rows per modeled table:")
    lines += [f"  {table:<40} {n:>10,}" for table, n in summary["rows_per_table"].items()]
    lines.append(
        f"checks: {checks['passed']} passed, {checks['failed_error']} failed (ERROR), "
        f"{checks['failed_warn']} failed (WARN)"
    )
    lines += [f"  FAILED {name}" for name in checks["failures"][:30]]
    return "\n".join(lines)
