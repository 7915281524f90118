"""Locking and injection: a busy warehouse fails clearly, and hostile partition keys, dbt vars and
names are validated or passed as data, never pasted into SQL."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from reliability_support import DBT, PYTHON, ROOT, dbt_env, dbt_target

from trace_platform.defs.transform.project import DBT_PROJECT_DIR
from trace_platform.lib.landing import LandingError, parse_partition_key
from trace_platform.lib.warehouse_lock import (
    WarehouseLockedError,
    connect_with_retry,
    foreign_lock_holders,
    warehouse_write_lock,
)

CLI = str(Path(sys.executable).parent / "trace-platform")
HOSTILE_KEYS = [
    "2026-11-20'; DROP TABLE raw.trace_events; --",
    "2026-11-20 OR 1=1",
    "../../etc",
    "2026-11-2",
    "2026-11-20\n",
    "２０２６-11-20",
    "2026-02-30",
    "",
    "' OR ''='",
]


@pytest.fixture
def held_warehouse(tmp_path):
    """A warehouse file another process holds (an analyst's read-only session on it)."""
    warehouse = tmp_path / "wh.duckdb"
    duckdb.connect(str(warehouse)).close()
    holder = subprocess.Popen(
        [
            PYTHON,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], "
            "read_only=True); print('held', flush=True); time.sleep(120)",
            str(warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    yield warehouse, holder
    holder.kill()
    holder.wait()


def test_the_writer_lock_waits_for_a_foreign_holder_then_fails_clearly(held_warehouse):
    warehouse, holder = held_warehouse
    assert foreign_lock_holders(warehouse) == [holder.pid]
    started = time.monotonic()
    with pytest.raises(WarehouseLockedError) as failure:
        with warehouse_write_lock(warehouse, timeout_seconds=1.0):
            pass
    assert 0.9 < time.monotonic() - started < 10
    assert str(failure.value).startswith(
        f"warehouse {warehouse} is locked by another process (PID {holder.pid}: {sys.executable}"
    )
    assert "query the reader snapshot" in str(failure.value)
    with pytest.raises(WarehouseLockedError, match=rf"\(PID {holder.pid}: "):
        connect_with_retry(lambda: duckdb.connect(str(warehouse)), warehouse, timeout_seconds=0.5)
    # Once it lets go, the writer proceeds.
    holder.kill()
    holder.wait()
    with warehouse_write_lock(warehouse, timeout_seconds=5.0):
        duckdb.connect(str(warehouse)).close()


def test_the_warehouse_resource_fails_clearly_instead_of_with_duckdbs_io_error(held_warehouse, monkeypatch):
    from trace_platform.defs.resources import warehouse_resource

    warehouse, holder = held_warehouse
    monkeypatch.setenv("TRACE_PLATFORM_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("TRACE_PLATFORM_LOCK_TIMEOUT", "0.5")
    with pytest.raises(WarehouseLockedError, match=rf"is locked by another process \(PID {holder.pid}: "):
        with warehouse_resource().get_connection():
            pass


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_partition_keys_are_rejected_before_any_sql(key):
    with pytest.raises(LandingError, match="bad date"):
        parse_partition_key(key)


@pytest.mark.slow
def test_hostile_partition_keys_are_rejected_by_the_cli_and_by_dagster(tmp_path):
    result = subprocess.run(
        [CLI, "run", "--start", HOSTILE_KEYS[0], "--landing", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"Error: --start: bad date {HOSTILE_KEYS[0]!r}, expected YYYY-MM-DD"
    ]
    import dagster as dg

    from trace_platform.definitions import build_definitions

    job = build_definitions().resolve_job_def("nightly_trace_job")
    with dg.instance_for_test() as instance, pytest.raises(dg.DagsterUnknownPartitionError):
        job.execute_in_process(partition_key=HOSTILE_KEYS[0], instance=instance)


@pytest.mark.slow
def test_hostile_dbt_vars_are_validated_or_quoted(tmp_path):
    warehouse = tmp_path / "wh.duckdb"
    duckdb.connect(str(warehouse)).close()
    # every var a model reads (dbt_project.yml, through macros/safe_vars.sql)
    hostile = {
        "wrong_tool_error_types": ["x') OR true OR ('"],
        "bad_parameters_error_types": ["y'); DROP TABLE raw.trace_events; --"],
        "inefficient_path_min_intent_traces": "1 OR true",
        "inefficient_path_median_multiplier": "0) OR (true",
    }
    result = subprocess.run(
        [
            DBT,
            "compile",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(dbt_target()),
            "--select",
            "int_trace_eval_features",
            "eval_trace_labels",
            "--vars",
            json.dumps(hostile),
            "--quiet",
        ],
        env=dbt_env(warehouse),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:  # rejected: a non-numeric threshold is refused with a clear message
        assert "inefficient_path" in result.stdout + result.stderr
        return
    compiled = "\n".join(
        p.read_text()
        for p in (dbt_target() / "compiled").rglob("*.sql")
        if p.stem in ("int_trace_eval_features", "eval_trace_labels")
    )
    assert "'x'') OR true OR ('''" in compiled  # quoted as data
    assert "1 OR true" not in compiled and "0) OR (true" not in compiled


def test_the_ui_binds_to_localhost_only():
    makefile = (ROOT / "Makefile").read_text()
    ui = re.search(r"^ui:.*?(?=^\S)", makefile, re.S | re.M).group(0)
    assert "dagster dev" in ui and "-h 127.0.0.1" in ui and "0.0.0.0" not in makefile
