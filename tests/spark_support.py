"""Spark tests: dbt on Spark in this process, and the two engines' tables compared.

Until ingestion writes the lake itself (issue 19, the raw zone on the lake), a test fills the lake's
raw zone from a raw zone the real ingestion loaded into DuckDB (trace_platform.lib.lake.copy_raw_zone).
dbt-spark's `session` method takes the process's SparkSession (tests/conftest.py `spark_lake`), so
the session starts once per test session.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from trace_platform.defs.transform.project import DBT_PROJECT_DIR


@contextmanager
def lake_environment(lake: Path):
    """TRACE_PLATFORM_LAKE for dbt's profile (target `spark`), restored afterwards."""
    previous = os.environ.get("TRACE_PLATFORM_LAKE")
    os.environ["TRACE_PLATFORM_LAKE"] = str(lake)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TRACE_PLATFORM_LAKE", None)
        else:
            os.environ["TRACE_PLATFORM_LAKE"] = previous


def run_dbt_on_spark(lake: Path, *args: str):
    """`dbt <args> --target spark` in this process (dbtRunner), on the session of the `spark_lake`
    fixture. Returns dbt's result; raises with dbt's messages when it failed."""
    from dbt.cli.main import dbtRunner

    command = [
        *args,
        "--target",
        "spark",
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(Path(lake) / "dbt_target"),
        "--log-path",
        str(Path(lake) / "dbt_logs"),
    ]
    with lake_environment(lake):
        result = dbtRunner().invoke(command)
    return result


def export_tables(session, out: Path, schemas: tuple[str, ...]) -> list[str]:
    """Writes every table of `schemas` as Parquet to `<out>/<schema>.<table>/`; returns the names."""
    names = []
    for schema in schemas:
        for row in session.sql(f"SHOW TABLES IN {schema}").collect():
            if row.isTemporary:
                continue
            name = f"{schema}.{row.tableName}"
            session.table(name).write.mode("overwrite").parquet(str(Path(out) / name))
            names.append(name)
    return sorted(names)
