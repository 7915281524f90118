"""Resources: the DuckDB warehouse and the dbt CLI. Nothing here opens the warehouse at import."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource

from trace_platform.defs.transform.project import dbt_project
from trace_platform.lib import settings
from trace_platform.lib.warehouse_lock import connect_with_retry


class WarehouseResource(DuckDBResource):
    """DuckDBResource that waits (with backoff) while another process holds the file, then fails clearly.

    dagster-duckdb retries any connect error about ten times and then surfaces DuckDB's raw IO error;
    here only a lock conflict is retried, up to TRACE_PLATFORM_LOCK_TIMEOUT, and then the step fails
    with one line naming the holder and asks Dagster to retry it (see lib/warehouse_lock.py).
    """

    @contextmanager
    def get_connection(self):
        import duckdb

        path = settings.warehouse_path(self.database)
        con = connect_with_retry(
            lambda: duckdb.connect(self.database, read_only=False, config=dict(self.connection_config)), path
        )
        try:
            yield con
        finally:
            con.close()


def warehouse_resource() -> DuckDBResource:
    return WarehouseResource(
        database=str(settings.warehouse_path()),
        connection_config=settings.warehouse_connection_config(),
    )


def dbt_executable() -> str:
    """The dbt next to this interpreter (the project's venv); DbtCliResource needs it explicitly."""
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


class TraceDbtCliResource(DbtCliResource):
    """DbtCliResource without two start-up costs paid before every `dbt build` (~4 s a night):

    * `dbt --version` in a subprocess (2.5 s) to learn the version: the executable is this venv's
      dbt, so it is the installed dbt-core package's version;
    * a dbt adapter built in the Dagster process (1.3 s): dagster-dbt only uses it for
      fetch_row_counts / fetch_column_metadata, which open the warehouse while dbt holds it and so
      are not used here (transform/assets.py describes the tables after dbt has exited).

    Both are private dagster-dbt methods: 0.29 has no public option for either (`cli()` always asks
    `_cli_version`, and builds the adapter for dbt < 2). tests/test_orchestration.py fails if an
    upgrade renames them or stops calling them from `cli()`.
    """

    @property
    def _cli_version(self):
        from importlib.metadata import version as installed_version

        from packaging import version

        return version.parse(installed_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None


def dbt_resource() -> DbtCliResource:
    # dbt renders profiles.yml from the environment: point it at the same warehouse file.
    os.environ["TRACE_PLATFORM_WAREHOUSE"] = str(settings.warehouse_path())
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return TraceDbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())
