"""A warehouse built before traces were keyed by (tenant_id, trace_id) is rebuilt once, by itself."""

from __future__ import annotations

import duckdb

from trace_platform.defs.transform.assets import TENANT_KEYED_TABLES, full_refresh_reason


def _tables(con, with_tenant: bool) -> None:
    for schema, table in TENANT_KEYED_TABLES:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute(
            f"CREATE TABLE {schema}.{table} (trace_id VARCHAR{', tenant_id VARCHAR' if with_tenant else ''})"
        )


def test_an_empty_warehouse_needs_no_refresh():
    assert full_refresh_reason(duckdb.connect()) is None


def test_the_current_layout_needs_no_refresh():
    con = duckdb.connect()
    _tables(con, with_tenant=True)
    assert full_refresh_reason(con) is None


def test_the_old_layout_is_rebuilt_from_raw_once():
    con = duckdb.connect()
    _tables(con, with_tenant=False)
    reason = full_refresh_reason(con)
    assert reason is not None and "--full-refresh" in reason
    assert "intermediate.int_trace_eval_features" in reason and "eval.eval_trace_labels" in reason
