"""The same dbt project on Apache Spark (TRACE_PLATFORM_ENGINE=spark) gives the same warehouse as
on DuckDB.

Two dirty, gzip-compressed generated days (duplicates, conflicts, quarantined lines, every injected
breach) are ingested by the real ingestion into DuckDB and built there day by day. The same raw zone
is copied into a Spark lake (trace_platform.lib.lake.copy_raw_zone) and the dbt project is built on Spark in full.
Every marts, audit and eval table must then hold the same rows on both engines, compared after
normalising types: JSON by value (key order), doubles to 6 decimals, timestamps as UTC text.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from dbt_support import load_and_build
from spark_support import export_tables, run_dbt_on_spark

from trace_platform.defs.transform.project import DBT_PROJECT_DIR
from trace_platform.lib.json_canonical import canonical_json
from trace_platform.lib.lake import copy_raw_zone
from trace_platform.sample_data import generate

pytestmark = [pytest.mark.spark, pytest.mark.integration]

DAYS = ["2026-11-20", "2026-11-21"]
COMPARED_SCHEMAS = ("marts", "audit", "eval")
# Bookkeeping, not content: the change-log position of the build that wrote the row (DuckDB built
# day by day, Spark once).
BOOKKEEPING_COLUMNS = {"model_build_seq"}


@pytest.fixture(scope="module")
def both_engines(spark_lake, tmp_path_factory):
    lake, session = spark_lake
    root = tmp_path_factory.mktemp("engines")
    generate(
        root / "landing",
        days=2,
        traces_per_day=120,
        seed=29,
        start=dt.date.fromisoformat(DAYS[0]),
        dirty=True,
        gzip_output=True,
    )
    warehouse = root / "warehouse.duckdb"
    load_and_build(warehouse, root / "landing", DAYS)
    raw_counts = copy_raw_zone(warehouse, lake, session)
    result = run_dbt_on_spark(lake, "build", "--full-refresh")
    assert result.success, f"dbt build on Spark failed: {result.exception or result.result}"
    exported = export_tables(session, root / "spark_tables", COMPARED_SCHEMAS)
    return warehouse, root / "spark_tables", exported, raw_counts, result


def _normalised(column: str, duckdb_type: str) -> str:
    quoted = f'"{column}"'
    if duckdb_type == "JSON":
        return f"canonical({quoted}::VARCHAR)"
    if duckdb_type in ("DOUBLE", "FLOAT"):
        return f"round({quoted}::DOUBLE, 6)::VARCHAR"
    if duckdb_type.startswith("TIMESTAMP"):
        return f"strftime({quoted}::TIMESTAMPTZ AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S.%f')"
    return f"{quoted}::VARCHAR"


def _differences(warehouse: Path, spark_tables: Path, name: str) -> dict:
    schema, table = name.split(".")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        con.create_function("canonical", canonical_json, ["VARCHAR"], "VARCHAR", null_handling="special")
        duck_columns = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [schema, table],
            ).fetchall()
        )
        con.execute(
            f"CREATE TEMP VIEW spark_rows AS SELECT * FROM read_parquet('{spark_tables / name}/*.parquet')"
        )
        spark_columns = [r[0] for r in con.execute("DESCRIBE spark_rows").fetchall()]
        compared = [c for c in duck_columns if c not in BOOKKEEPING_COLUMNS]
        select = ", ".join(f'{_normalised(c, duck_columns[c])} AS "{c}"' for c in compared)
        duck_rows = f"SELECT {select} FROM {schema}.{table}"
        spark_rows = f"SELECT {select} FROM spark_rows"
        return {
            "columns_only_in_duckdb": sorted(set(duck_columns) - set(spark_columns)),
            "columns_only_in_spark": sorted(set(spark_columns) - set(duck_columns)),
            "duckdb_rows": con.execute(f"SELECT count(*) FROM {schema}.{table}").fetchone()[0],
            "spark_rows": con.execute("SELECT count(*) FROM spark_rows").fetchone()[0],
            "only_in_duckdb": con.execute(
                f"SELECT count(*) FROM ({duck_rows} EXCEPT ALL {spark_rows})"
            ).fetchone()[0],
            "only_in_spark": con.execute(
                f"SELECT count(*) FROM ({spark_rows} EXCEPT ALL {duck_rows})"
            ).fetchone()[0],
        }
    finally:
        con.close()


def test_spark_builds_every_model_and_passes_every_test(both_engines):
    *_, raw_counts, result = both_engines
    assert raw_counts["trace_events"] > 2000 and raw_counts["quarantine"] > 0
    statuses = {}
    for node_result in result.result:
        statuses.setdefault(str(node_result.status), []).append(node_result.node.unique_id)
    assert set(statuses) <= {"success", "pass"}, {k: v[:5] for k, v in statuses.items()}
    assert len(statuses["success"]) >= 30  # models and the seed
    assert len(statuses["pass"]) >= 90  # data tests


def test_the_same_tables_exist_on_both_engines(both_engines):
    warehouse, _, exported, *_ = both_engines
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        duck_tables = sorted(
            f"{s}.{t}"
            for s, t in con.execute(
                "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
                f"AND table_schema IN {COMPARED_SCHEMAS}"
            ).fetchall()
        )
    finally:
        con.close()
    assert exported == duck_tables


@pytest.mark.parametrize(
    "name",
    [
        "marts.fct_tool_calls",
        "marts.fct_permission_checks",
        "marts.fct_confirmations",
        "marts.fct_side_effects",
        "marts.fct_outcomes",
        "marts.fct_model_calls",
        "marts.dim_agents",
        "marts.dim_models",
        "marts.dim_tools",
        "audit.audit_violations",
        "audit.audit_rule_summary",
        "audit.audit_rules",
        "eval.eval_trace_labels",
    ],
)
def test_every_row_is_equal_on_both_engines(both_engines, name):
    warehouse, spark_tables, exported, *_ = both_engines
    assert name in exported
    found = _differences(warehouse, spark_tables, name)
    assert found["duckdb_rows"] > 0
    assert found == {
        "columns_only_in_duckdb": [],
        "columns_only_in_spark": [],
        "duckdb_rows": found["duckdb_rows"],
        "spark_rows": found["duckdb_rows"],
        "only_in_duckdb": 0,
        "only_in_spark": 0,
    }


def test_an_incremental_build_on_spark_is_refused_with_the_reason(both_engines, spark_lake):
    lake, _ = spark_lake
    result = run_dbt_on_spark(lake, "run", "--select", "int_trace_changes")
    assert not result.success
    messages = " ".join(str(r.message) for r in (result.result or [])) + str(result.exception or "")
    assert "on Spark the warehouse is built in full" in messages


def test_seed_text_has_no_ascii_apostrophe():
    # dbt-spark's session connection inlines seed values between single quotes without escaping
    # them: the rule statements use ’ (U+2019) instead.
    text = (DBT_PROJECT_DIR / "seeds" / "audit_rules.csv").read_text(encoding="utf-8")
    assert "'" not in text and "’" in text
