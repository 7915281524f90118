"""The local Spark session of TRACE_PLATFORM_ENGINE=spark (docs/scale.md).

On one machine (and in the tests) Spark runs inside the Python process. The lake folder
(TRACE_PLATFORM_LAKE) holds everything Spark keeps: the tables (spark.sql.warehouse.dir), the raw
zone and the embedded Derby catalog, so every process of the nightly job sees the same tables. The
same settings are in dbt_project/profiles.yml (target `spark`), which dbt-spark's `session` method
reads: keep the two in step (tests/test_spark_profile.py compares them).

pyspark is an optional dependency (the `spark` extra): it is imported only when a session starts.
"""

from __future__ import annotations

import os
from pathlib import Path

from trace_platform.lib import settings


def session_conf(lake: Path) -> dict[str, str]:
    """Spark settings of a local session whose catalog and tables live under `lake`."""
    lake = Path(lake).absolute()
    return {
        "spark.master": os.environ.get("TRACE_PLATFORM_SPARK_MASTER", "local[*]"),
        "spark.driver.memory": os.environ.get("TRACE_PLATFORM_SPARK_DRIVER_MEMORY", "4g"),
        "spark.sql.warehouse.dir": str(lake / "warehouse"),
        # the embedded catalog: Derby, in the lake rather than in the working directory
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={lake}/metastore_db;create=true",
        # a deep stack for the regular expressions of the redaction rules (docs/security.md, "On Spark")
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={lake} -Xss16m",
        "spark.sql.session.timeZone": "UTC",
        # an INSERT OVERWRITE replaces the partitions it writes, not the whole table
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.sql.shuffle.partitions": os.environ.get("TRACE_PLATFORM_SPARK_SHUFFLE_PARTITIONS", "8"),
        "spark.ui.enabled": "false",
        # dbt-spark sets it on its connections too; the same semantics everywhere
        "spark.sql.ansi.enabled": "false",
    }


def get_session(lake: Path | None = None):
    """The process's SparkSession (created on first use) over the lake."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("trace-platform").enableHiveSupport()
    for key, value in session_conf(lake or settings.lake_dir()).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
