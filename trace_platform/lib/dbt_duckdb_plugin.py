"""dbt-duckdb plugin: registers the project's Python SQL functions on dbt's connections."""

from __future__ import annotations

import duckdb
from dbt.adapters.duckdb.plugins import BasePlugin

from trace_platform.lib.duckdb_functions import register


class Plugin(BasePlugin):
    def configure_connection(self, conn: duckdb.DuckDBPyConnection) -> None:
        register(conn)
