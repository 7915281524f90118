"""dbt-duckdb plugin: registers the project's Python SQL functions on dbt's connections."""

from __future__ import annotations

import duckdb
from dbt.adapters.duckdb.plugins import BasePlugin

from trace_platform.lib.duckdb_functions import register, register_redaction


class Plugin(BasePlugin):
    def configure_connection(self, conn: duckdb.DuckDBPyConnection) -> None:
        register(conn)

    def configure_cursor(self, cursor: duckdb.DuckDBPyConnection) -> None:
        # dbt runs its SQL on cursors of the connection; TEMP macros (redact_text, redact_json)
        # are per connection and would be missing there. Python functions carry over.
        register_redaction(cursor)
