"""Python functions the warehouse SQL calls, registered on every DuckDB connection that needs
them: the ingestion's connections directly, dbt's through the dbt-duckdb plugin
lib/dbt_duckdb_plugin.py (`plugins` in dbt_project/profiles.yml).

They run only on small row sets (contested deliveries, approved confirmations), never per event.

Also the redaction macros redact_text / redact_json (lib/redaction.py): plain SQL macros, compiled
from the redaction rules file, that DuckDB runs vectorised like any other expression.
"""

from __future__ import annotations

import duckdb

from trace_platform.lib import redaction
from trace_platform.lib.json_canonical import canonical_json


def register(con: duckdb.DuckDBPyConnection) -> None:
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
    register_redaction(con)


def register_redaction(con: duckdb.DuckDBPyConnection) -> None:
    """TEMP macros: they live on this connection (and not on its cursors, which are connections of
    their own: register those too)."""
    redaction.register(con)
