"""Schedule, landing sensor, run queue and the CLI's user-facing errors."""

from __future__ import annotations

import datetime as dt
import inspect
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from tests.ingest_support import event, line, write_lines
from trace_platform.defs.ingest.sensors import SETTLE_SECONDS, landing_sensor
from trace_platform.defs.jobs import nightly_trace_job
from trace_platform.defs.transform.schedules import nightly_trace_schedule
from trace_platform.lib.instance import DAGSTER_YAML

CLI = str(Path(sys.executable).parent / "trace-platform")


@pytest.fixture(scope="module")
def repository():
    from trace_platform.definitions import defs

    return defs.get_repository_def()


def test_schedule_runs_the_previous_delivery_day_at_two_utc(repository):
    assert nightly_trace_schedule.cron_schedule == "0 2 * * *"
    assert nightly_trace_schedule.execution_timezone == "UTC"
    context = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC), repository_def=repository
    )
    request = nightly_trace_schedule.evaluate_tick(context).run_requests[0]
    assert request.partition_key == "2026-11-24"
    assert request.run_key == "nightly-2026-11-24"


def test_writer_runs_are_queued_one_at_a_time():
    assert nightly_trace_job.tags["trace_platform/writes"] == "warehouse"
    limits = yaml.safe_load(DAGSTER_YAML)["concurrency"]["runs"]["tag_concurrency_limits"]
    assert {"key": "trace_platform/writes", "value": "warehouse", "limit": 1} in limits


def test_the_code_location_module_holds_one_definitions_object_merged_from_the_defs_folders():
    # Dagster refuses a code location module with more than one Definitions object at module scope.
    import trace_platform.definitions as module

    assert [name for name, value in vars(module).items() if isinstance(value, dg.Definitions)] == ["defs"]
    for folder in ("ingest", "transform", "quality", "publish", "maintenance"):
        assert isinstance(getattr(module, folder).defs, dg.Definitions), folder


def _age(path: Path, seconds: int) -> None:
    stamp = path.stat().st_mtime - seconds
    os.utime(path, (stamp, stamp))


@pytest.fixture
def sensor_env(tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    warehouse = tmp_path / "never" / "warehouse.duckdb"
    monkeypatch.setenv("TRACE_PLATFORM_LANDING", str(landing))
    monkeypatch.setenv("TRACE_PLATFORM_WAREHOUSE", str(warehouse))
    return landing, warehouse


def test_sensor_requests_new_and_changed_days_once_and_never_opens_the_warehouse(sensor_env, repository):
    landing, warehouse = sensor_env
    settled = write_lines(landing, "2026-11-20", "a.jsonl", [line(event("e1"))])
    _age(settled, SETTLE_SECONDS + 5)
    fresh = write_lines(landing, "2026-11-21", "a.jsonl", [line(event("e2"))])  # still being delivered
    (landing / "not-a-day").mkdir()

    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, repository_def=repository)
        first = landing_sensor.evaluate_tick(context)
        assert [r.partition_key for r in first.run_requests] == ["2026-11-20"]
        assert first.run_requests[0].run_key.startswith("landing-2026-11-20-")

        # Nothing changed: no new request.
        again = landing_sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, cursor=first.cursor, repository_def=repository)
        )
        assert again.run_requests == []

        # The fresh day settles, and a file of the first day changes: one request each.
        _age(fresh, SETTLE_SECONDS + 5)
        write_lines(landing, "2026-11-20", "a.jsonl", [line(event("e1")), line(event("e3"))])
        _age(settled, SETTLE_SECONDS + 5)
        changed = landing_sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, cursor=first.cursor, repository_def=repository)
        )
        assert sorted(r.partition_key for r in changed.run_requests) == ["2026-11-20", "2026-11-21"]
        assert {r.run_key for r in changed.run_requests}.isdisjoint({first.run_requests[0].run_key})

    assert not warehouse.parent.exists()


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--start", "2026-13-01"], "--start: bad date '2026-13-01', expected YYYY-MM-DD"),
        (
            ["run", "--start", "2026-11-02", "--end", "2026-11-01"],
            "--end 2026-11-01 is before --start 2026-11-02",
        ),
        (
            ["run", "--start", "2026-11-01", "--landing", "/nonexistent/landing"],
            "landing folder /nonexistent/landing does not exist",
        ),
        (
            ["query", "select 1", "--warehouse", "/nonexistent/w.duckdb"],
            "warehouse /nonexistent/w.duckdb does not exist",
        ),
    ],
)
def test_user_mistakes_end_with_one_clear_line(args, message):
    result = _cli(*args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {message}")


@pytest.mark.slow
def test_missing_delivery_folder_is_named(tmp_path):
    (tmp_path / "landing").mkdir()
    result = _cli(
        "run",
        "--start",
        "2026-11-01",
        "--landing",
        str(tmp_path / "landing"),
        "--warehouse",
        str(tmp_path / "w.duckdb"),
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"Error: no delivery folder for 2026-11-01 under {tmp_path / 'landing'}"


@pytest.mark.slow
def test_locked_warehouse_is_a_clear_error(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    holder = duckdb.connect(str(warehouse))  # another process holds the single-writer file
    try:
        result = _cli("query", "select 1", "--live", "--warehouse", str(warehouse))
    finally:
        holder.close()
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "is locked by another process" in result.stderr


@pytest.mark.slow
def test_query_formats(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("create table t as select 1 as a, 'x' as b")
    con.close()
    as_csv = _cli("query", "select * from t", "--format", "csv", "--live", "--warehouse", str(warehouse))
    assert as_csv.stdout.splitlines() == ["a,b", "1,x"]
    as_json = _cli("query", "select * from t", "--format", "json", "--live", "--warehouse", str(warehouse))
    assert '"b": "x"' in as_json.stdout
    write = _cli("query", "create table u as select 1", "--live", "--warehouse", str(warehouse))
    assert write.returncode == 1 and "read-only" in write.stderr.lower()


def test_dbt_resource_skips_the_version_subprocess_and_the_unused_adapter(monkeypatch):
    from importlib.metadata import version

    import dagster_dbt.core.resource as dbt_core_resource
    from dagster_dbt import DbtCliResource

    from trace_platform.defs.resources import TraceDbtCliResource, dbt_resource

    # the overrides name dagster-dbt internals: fail loudly if a dagster-dbt upgrade renames them,
    # or stops calling them from cli() (the overrides would then silently save nothing)
    assert hasattr(DbtCliResource, "_cli_version") and hasattr(DbtCliResource, "_initialize_dbt_core_adapter")
    cli_source = inspect.getsource(DbtCliResource.cli)
    assert "self._cli_version" in cli_source and "self._initialize_dbt_core_adapter(" in cli_source
    monkeypatch.setattr(
        dbt_core_resource, "check_output", lambda *a, **k: pytest.fail("dbt --version was run")
    )
    resource = dbt_resource()
    assert isinstance(resource, TraceDbtCliResource)
    assert str(resource._cli_version) == version("dbt-core")
    assert resource._initialize_dbt_core_adapter(["build"]) is None
