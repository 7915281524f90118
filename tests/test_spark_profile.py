"""The local Spark session of the project (trace_platform/lib/spark.py) and dbt's `spark` target
(dbt_project/profiles.yml) use the same settings, so Python steps and dbt see the same lake."""

from __future__ import annotations

from pathlib import Path

import jinja2
import yaml

from trace_platform.lib import spark

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"


def _rendered_profile_parameters(lake: str) -> dict[str, str]:
    outputs = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())["trace_platform"]["outputs"]

    def env_var(name: str, default: str = "") -> str:
        return lake if name == "TRACE_PLATFORM_LAKE" else default

    return {
        key: jinja2.Template(str(value)).render(env_var=env_var)
        for key, value in outputs["spark"]["server_side_parameters"].items()
    }


def test_profile_and_session_settings_agree(tmp_path, monkeypatch):
    for name in (
        "TRACE_PLATFORM_SPARK_MASTER",
        "TRACE_PLATFORM_SPARK_DRIVER_MEMORY",
        "TRACE_PLATFORM_SPARK_SHUFFLE_PARTITIONS",
    ):
        monkeypatch.delenv(name, raising=False)
    session = spark.session_conf(tmp_path)
    # dbt-spark sets spark.sql.ansi.enabled=false on its connections itself
    session.pop("spark.sql.ansi.enabled")
    assert _rendered_profile_parameters(str(tmp_path)) == session


def test_the_lake_holds_the_tables_and_the_catalog(tmp_path):
    conf = spark.session_conf(tmp_path)
    assert conf["spark.sql.warehouse.dir"] == str(tmp_path / "warehouse")
    assert f"databaseName={tmp_path}/metastore_db" in conf["spark.hadoop.javax.jdo.option.ConnectionURL"]
    assert conf["spark.sql.sources.partitionOverwriteMode"] == "dynamic"
    assert conf["spark.sql.session.timeZone"] == "UTC"
