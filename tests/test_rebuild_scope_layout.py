"""A warehouse built before the rebuild scope was a model (int_trace_changes with pending flags, which
an on-run-end hook cleared, instead of changed_in_build) is rebuilt once, by itself: nothing would
ever put its traces in int_rebuild_scope otherwise."""

from __future__ import annotations

import duckdb

from trace_platform.defs.transform.assets import TENANT_KEYED_TABLES, full_refresh_reason


def _warehouse(trace_changes_columns: str) -> duckdb.DuckDBPyConnection:
    """The current tenant-keyed tables (so that reason stays silent) and an int_trace_changes."""
    con = duckdb.connect()
    for schema, table in TENANT_KEYED_TABLES:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute(f"CREATE TABLE {schema}.{table} (trace_id VARCHAR, tenant_id VARCHAR)")
    con.execute(f"CREATE TABLE intermediate.int_trace_changes (trace_id VARCHAR, {trace_changes_columns})")
    return con


def test_pending_flags_without_a_build_position_are_rebuilt_from_raw_once():
    con = _warehouse("is_pending BOOLEAN, calls_pending BOOLEAN, changes_logged_through BIGINT")
    reason = full_refresh_reason(con)
    assert reason is not None and "--full-refresh" in reason
    assert "intermediate.int_trace_changes" in reason and "eval_trace_labels" not in reason


def test_the_current_int_trace_changes_needs_no_refresh():
    con = _warehouse("changed_in_build BIGINT, calls_changed_in_build BIGINT, changes_logged_through BIGINT")
    assert full_refresh_reason(con) is None


def test_a_leftover_pending_column_beside_the_build_position_needs_no_refresh():
    # the column check is by name: once changed_in_build is there, the rebuild scope works
    con = _warehouse("is_pending BOOLEAN, changed_in_build BIGINT, calls_changed_in_build BIGINT")
    assert full_refresh_reason(con) is None


def test_the_flags_are_only_looked_for_in_int_trace_changes():
    con = _warehouse("changed_in_build BIGINT")
    con.execute("CREATE TABLE intermediate.some_other_table (trace_id VARCHAR, is_pending BOOLEAN)")
    con.execute("CREATE SCHEMA other")
    con.execute("CREATE TABLE other.int_trace_changes (trace_id VARCHAR, is_pending BOOLEAN)")
    assert full_refresh_reason(con) is None
