"""Python functions the warehouse SQL calls, registered on every DuckDB connection that needs
them: the ingestion's connections directly, dbt's through the dbt-duckdb plugin
lib/dbt_duckdb_plugin.py (`plugins` in dbt_project/profiles.yml).

They run only on small row sets (contested deliveries, approved confirmations), never per event.
"""

from __future__ import annotations

import duckdb
from trace_platform.lib.json_canonical import canonical_json


def register(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.create_function("canonical_json", canonical_json, ["VARCHAR"], "VARCHAR",
                            null_handling="special", side_effects=False)
    except duckdb.CatalogException:
        pass  # already registered on this connection

