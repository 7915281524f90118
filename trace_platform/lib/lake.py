"""The Spark engine's lake: the raw zone as Parquet tables partitioned by delivery day, registered in
Spark's catalog (docs/scale.md).

`copy_raw_zone` moves a DuckDB warehouse's raw zone into the lake: a team that outgrows one machine
keeps its history, and the Spark build starts from the same rows (the tests and `make bench
ENGINE=spark` use it the same way).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

# DuckDB types of the raw zone -> Spark types (the project's type map, dbt_project.yml trace_types)
SPARK_TYPES = {
    "VARCHAR": "string",
    "JSON": "string",
    "BIGINT": "bigint",
    "INTEGER": "int",
    "UBIGINT": "bigint",
    "DATE": "date",
    "TIMESTAMP WITH TIME ZONE": "timestamp",
    "BOOLEAN": "boolean",
    "DOUBLE": "double",
    "VARCHAR[]": "array<string>",
}


def _column_sql(name: str, duckdb_type: str) -> str:
    if duckdb_type == "JSON":
        return f'"{name}"::VARCHAR AS "{name}"'
    if duckdb_type == "UBIGINT":
        # the same 64 bits as a signed bigint (Spark has no unsigned type)
        return (
            f'(CASE WHEN "{name}" >= 9223372036854775808 THEN "{name}"::HUGEINT - 18446744073709551616 '
            f'ELSE "{name}"::HUGEINT END)::BIGINT AS "{name}"'
        )
    return f'"{name}"'


def copy_raw_zone(warehouse: Path, lake: Path, session) -> dict[str, int]:
    """Writes every raw table of the DuckDB `warehouse` to `<lake>/raw/<table>` and registers it as
    raw.<table> in Spark's catalog. Returns the row count per table."""
    counts: dict[str, int] = {}
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw' ORDER BY 1"
            ).fetchall()
        ]
        session.sql("CREATE DATABASE IF NOT EXISTS raw")
        for table in tables:
            columns = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'raw' AND table_name = ? ORDER BY ordinal_position",
                [table],
            ).fetchall()
            names = [c for c, _ in columns]
            partitioned = "delivery_date" in names
            location = Path(lake) / "raw" / table
            location.mkdir(parents=True, exist_ok=True)
            select = ", ".join(_column_sql(c, t) for c, t in columns if c != "delivery_date")
            counts[table] = con.execute(f"SELECT count(*) FROM raw.{table}").fetchone()[0]
            if partitioned:
                if counts[table]:
                    con.execute(
                        f"COPY (SELECT {select}, delivery_date FROM raw.{table}) TO '{location}' "
                        "(FORMAT parquet, PARTITION_BY (delivery_date), OVERWRITE_OR_IGNORE)"
                    )
            else:
                con.execute(
                    f"COPY (SELECT {select} FROM raw.{table}) TO '{location / 'part-0.parquet'}' (FORMAT parquet)"
                )
            ddl = ", ".join(f"`{c}` {SPARK_TYPES[t]}" for c, t in columns if c != "delivery_date")
            session.sql(f"DROP TABLE IF EXISTS raw.{table}")
            if partitioned:
                session.sql(
                    f"CREATE TABLE raw.{table} ({ddl}, delivery_date date) USING parquet "
                    f"PARTITIONED BY (delivery_date) LOCATION '{location}'"
                )
                session.sql(f"MSCK REPAIR TABLE raw.{table}")
            else:
                session.sql(f"CREATE TABLE raw.{table} ({ddl}) USING parquet LOCATION '{location}'")
    finally:
        con.close()
    return counts
