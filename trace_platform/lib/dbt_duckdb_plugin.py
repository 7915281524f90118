"""dbt-duckdb plugin: registers the project's Python SQL functions (canonical_json) on dbt's
connections, and refuses a connection while the generated redaction macros are out of date."""

from __future__ import annotations

import duckdb
from dbt.adapters.duckdb.plugins import BasePlugin

from trace_platform.lib.duckdb_functions import register_python_functions
from trace_platform.redaction import dbt_macros


class Plugin(BasePlugin):
    def configure_connection(self, conn: duckdb.DuckDBPyConnection) -> None:
        # The models redact through dbt macros generated from the rules file
        # (dbt_project/macros/redaction/redaction.sql), not through TEMP macros: were the rules
        # changed (or TRACE_PLATFORM_REDACTION_CONFIG pointed elsewhere) without regenerating, the
        # marts would be built with other rules than the Python side uses. Stop instead.
        dbt_macros.check()
        # canonical_json is registered on the database instance, so dbt's cursors see it too.
        register_python_functions(conn)
