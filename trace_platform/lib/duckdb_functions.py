"""Python functions the warehouse SQL calls, registered on every DuckDB connection that needs
them: the ingestion's connections directly, dbt's through the dbt-duckdb plugin
lib/dbt_duckdb_plugin.py (`plugins` in dbt_project/profiles.yml).

They run only on small row sets (contested deliveries, approved confirmations), never per event.

`register` also creates the redaction macros redact_text / redact_json (trace_platform.redaction):
plain SQL TEMP macros, compiled from the redaction rules file, that DuckDB runs vectorised like any
other expression. dbt does not need them: its models call the dbt macros generated from the same
rules (dbt_project/macros/redaction/redaction.sql), so the plugin registers the Python functions only.
"""

from __future__ import annotations

import duckdb

from trace_platform import redaction
from trace_platform.lib.json_canonical import canonical_json


def register(con: duckdb.DuckDBPyConnection) -> None:
    """The Python functions and the redaction TEMP macros (the Python side's connections)."""
    register_python_functions(con)
    register_redaction(con)


def register_python_functions(con: duckdb.DuckDBPyConnection) -> None:
    """canonical_json (json_equal's comparison, R10). A Python function is registered on the
    database instance: a connection's cursors see it too."""
    try:
        con.create_function(
            "canonical_json",
            canonical_json,
            ["VARCHAR"],
            "VARCHAR",
            null_handling="special",
            side_effects=False,
        )
    except duckdb.CatalogException:
        pass  # already registered on this connection


def register_redaction(con: duckdb.DuckDBPyConnection) -> None:
    """TEMP macros: they live on this connection (and not on its cursors, which are connections of
    their own: register those too)."""
    redaction.register(con)
