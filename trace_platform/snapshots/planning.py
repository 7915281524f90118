"""Planning a publish: which tables, how they are bucketed, and which buckets changed since the last
version (tracked tables: from the change log; fingerprinted tables: from per-bucket fingerprints)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb

from trace_platform.snapshots.sql import date_literals, quote_identifier

READER_SCHEMAS = ("marts", "audit", "eval")  # never raw, staging or intermediate
NEVER_PUBLISHED = frozenset({"raw", "staging", "intermediate", "information_schema", "pg_catalog"})
assert not NEVER_PUBLISHED & set(READER_SCHEMAS)
TRACE_CHANGES = ("intermediate", "int_trace_changes")
CHANGE_LOG = ("raw", "trace_change_log")
COMPLETED_BUILDS = ("intermediate", "int_completed_builds")
# Tracked tables: a column holding a delivery day of the row's trace (see the package docstring).
TRACKED_BUCKET_COLUMNS = (
    "delivery_date",
    "first_delivery_date",
    "detected_in_partition",
    "last_delivery_date",
)
# Fingerprinted tables: any date that spreads the rows over days.
FINGERPRINT_BUCKET_COLUMNS = ("partition_date", "activity_date", *TRACKED_BUCKET_COLUMNS)


@dataclass
class TablePlan:
    schema: str
    table: str
    columns: list[tuple[str, str]]
    strategy: str  # tracked | fingerprint
    bucket_kind: str  # column | trace | all
    bucket_column: str | None = None
    write_buckets: set[str] | None = None  # None: every bucket (a full publish of the table)
    full_reason: str | None = None
    fingerprints: dict[str, dict] = field(default_factory=dict)
    comment: str | None = None

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"

    def bucket_sql(self, alias: str = "t") -> str:
        if self.bucket_kind == "column":
            return f"{alias}.{quote_identifier(self.bucket_column)}"
        if self.bucket_kind == "trace":
            return "c.first_delivery_date"
        return "NULL::DATE"

    def bucket_key_sql(self, alias: str = "t") -> str:
        if self.bucket_kind == "all":
            return "'all'"
        return f"coalesce(strftime({self.bucket_sql(alias)}, '%Y-%m-%d'), 'null')"

    def from_sql(self) -> str:
        source = f"{quote_identifier(self.schema)}.{quote_identifier(self.table)} AS t"
        if self.bucket_kind == "trace":
            source += (
                f" LEFT JOIN {quote_identifier(TRACE_CHANGES[0])}.{quote_identifier(TRACE_CHANGES[1])} AS c "
                "ON c.trace_id = t.trace_id"
            )
        return source

    def filter_sql(self, buckets: set[str] | None) -> str:
        if buckets is None or self.bucket_kind == "all":
            return "true"
        days = {dt.date.fromisoformat(b) for b in buckets if b not in ("null", "all")}
        parts = [f"{self.bucket_sql()} IN ({date_literals(days)})"] if days else []
        if "null" in buckets:
            parts.append(f"{self.bucket_sql()} IS NULL")
        return " OR ".join(parts) or "false"


def _columns(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """Columns of every base table of the reader schemas (DESCRIBE per table: duckdb_columns() would bind
    every view of the warehouse, which takes seconds)."""
    tables = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name IN (SELECT unnest(?::VARCHAR[])) ORDER BY 1, 2",
        [list(READER_SCHEMAS)],
    ).fetchall()
    return {
        (schema, table): [
            (r[0], r[1])
            for r in con.execute(f"DESCRIBE {quote_identifier(schema)}.{quote_identifier(table)}").fetchall()
        ]
        for schema, table in tables
    }


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return (
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = ?",
            [schema, table],
        ).fetchone()[0]
        > 0
    )


def _comments(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], str | None]:
    return {
        (s, t): c
        for s, t, c in con.execute(
            "SELECT schema_name, table_name, comment FROM duckdb_tables() WHERE database_name = current_database()"
        ).fetchall()
    }


def change_window(con: duckdb.DuckDBPyConnection) -> tuple[int | None, int]:
    """(changes processed by the last dbt build, traces its rebuild has not completed); (None, 0)
    without change tracking. A trace is rebuilt completely once a build that saw its change wrote
    a row to intermediate.int_completed_builds (dbt_project/macros/rebuild_scope.sql)."""
    if not (_table_exists(con, *TRACE_CHANGES) and _table_exists(con, *CHANGE_LOG)):
        return None, 0
    built_through = (
        "(SELECT coalesce(max(changes_built_through), 0) FROM intermediate.int_completed_builds)"
        if _table_exists(con, *COMPLETED_BUILDS)
        else "0"
    )
    through, pending = con.execute(
        "SELECT coalesce(max(changes_logged_through), 0), "
        f"count(*) FILTER (WHERE changed_in_build > {built_through}) "
        "FROM intermediate.int_trace_changes"
    ).fetchone()
    return int(through), int(pending)


def _dirty_days(con: duckdb.DuckDBPyConnection, after: int, through: int) -> set[dt.date]:
    """Delivery days whose rows of trace-scoped tables may differ from the version published at `after`."""
    rows = con.execute(
        """
        WITH touched AS (
            SELECT trace_id, delivery_date FROM raw.trace_change_log
            WHERE change_seq > ? AND change_seq <= ?
        )
        SELECT DISTINCT day FROM (
            SELECT delivery_date AS day FROM touched
            UNION ALL
            SELECT unnest(generate_series(c.first_delivery_date, c.last_delivery_date, INTERVAL 1 DAY))::DATE
            FROM intermediate.int_trace_changes AS c
            WHERE c.trace_id IN (SELECT trace_id FROM touched)
              AND c.first_delivery_date IS NOT NULL AND c.last_delivery_date IS NOT NULL
        ) WHERE day IS NOT NULL""",
        [after, through],
    ).fetchall()
    return {r[0] for r in rows}


def plan_tables(
    con, base: dict | None, tracked: set[str], through: int | None, full: bool
) -> tuple[list[TablePlan], set]:
    columns = _columns(con)
    comments = _comments(con)
    has_changes = through is not None
    base_tables = (base or {}).get("tables", {})
    base_through = (base or {}).get("changes_through")
    dirty: set[dt.date] = set()
    window_ok = has_changes and base_through is not None and base_through <= through
    if window_ok and base_through < through:
        dirty = _dirty_days(con, base_through, through)
    plans = []
    for (schema, table), cols in sorted(columns.items()):
        names = {c for c, _ in cols}
        types = dict(cols)
        name = f"{schema}.{table}"
        is_tracked = has_changes and name in tracked
        preference = TRACKED_BUCKET_COLUMNS if is_tracked else FINGERPRINT_BUCKET_COLUMNS
        bucket_column = next((c for c in preference if c in names and types[c] == "DATE"), None)
        if bucket_column:
            kind = "column"
        elif "trace_id" in names and has_changes:
            kind = "trace"
        else:
            kind = "all"
            is_tracked = False  # one bucket: nothing to gain from tracking
        plan = TablePlan(
            schema,
            table,
            cols,
            "tracked" if is_tracked else "fingerprint",
            kind,
            bucket_column,
            comment=comments.get((schema, table)),
        )
        previous = base_tables.get(name)
        if full:
            plan.full_reason = "full publish requested"
        elif previous is None:
            plan.full_reason = "not published before"
        elif [list(c) for c in cols] != previous.get("columns"):
            plan.full_reason = "columns changed"
        elif (previous.get("strategy"), previous.get("bucket_kind"), previous.get("bucket_column")) != (
            plan.strategy,
            kind,
            bucket_column,
        ):
            plan.full_reason = "bucketing changed"
        elif plan.strategy == "tracked" and plan.comment != previous.get("marker"):
            plan.full_reason = "table recreated (full refresh) since the last publish"
        elif plan.strategy == "tracked" and not window_ok:
            plan.full_reason = "change log does not continue the last publish"
        if plan.full_reason:
            plan.write_buckets = None
        elif plan.strategy == "tracked":
            # Rows without a day (a day column added to a model after its rows were written, until
            # a full refresh fills it) cannot be tied to a dirty day: that bucket is always rewritten.
            # Row-group statistics skip it where the column holds no NULL.
            plan.write_buckets = {d.isoformat() for d in dirty} | {"null"}
        plans.append(plan)
    return plans, dirty


def bucket_fingerprints(con: duckdb.DuckDBPyConnection, plan: TablePlan) -> dict[str, dict]:
    hashed = ", ".join(f"t.{quote_identifier(c)}" for c, _ in plan.columns)
    rows = con.execute(
        f"SELECT {plan.bucket_key_sql()} AS bucket, count(*), sum(hash({hashed})::HUGEINT)::VARCHAR "
        f"FROM {plan.from_sql()} GROUP BY ALL"
    ).fetchall()
    return {bucket: {"rows": n, "fingerprint": h} for bucket, n, h in rows}
