"""The nightly job through Dagster while the world misbehaves: another process holds the warehouse
file when the run starts, and analysts keep querying throughout.

The run must fail its first attempt with one clear line, retry with backoff, succeed once the lock
is released, lose nothing (content hash of every table equals the clean run), and publish a new
reader snapshot; readers must never fail or wait, and see the previous day until the swap."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import time

import dagster as dg
import pytest
from reliability_support import (
    DAYS,
    PYTHON,
    ROOT,
    analyst_hashes,
    content_hashes,
    differences,
    fresh_copy,
    publish,
    reader_hashes,
    reference,
)

from trace_platform.snapshots import snapshot_paths

pytestmark = pytest.mark.integration
D1, D2 = DAYS

# An analyst's session on the warehouse file itself. It lets go once it has seen the nightly run
# try twice (the writer lock file taken twice), i.e. after a failed attempt and a retry.
HOLDER = r"""
import os, sys, time, duckdb
warehouse, lock_file = sys.argv[1:3]
con = duckdb.connect(warehouse, read_only=True)
print("held", flush=True)
st = os.stat(lock_file)
key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
episodes, held, deadline = 0, False, time.monotonic() + 300
while episodes < 2 and time.monotonic() < deadline:
    now = any(key in line and "FLOCK" in line and "->" not in line for line in open("/proc/locks"))
    episodes += now and not held
    held = now
    time.sleep(0.02)
time.sleep(0.3)
con.close()
print("released", flush=True)
"""

# Queries the reader in a loop (new connection each time, as a notebook re-run or the CLI would),
# and tries the warehouse file itself, which the running job holds most of the time.
READERS = r"""
import json, os, sys, time, duckdb
from trace_platform.snapshots import connect_reader
reader, warehouse, stop, out = sys.argv[1:5]
seen, errors, slowest, warehouse_busy = [], [], 0.0, 0
while not os.path.exists(stop):
    started = time.perf_counter()
    try:
        con = connect_reader(reader)
        try:
            version, total = con.execute("SELECT version, total_rows FROM snapshot_info").fetchone()
            tables = con.execute("SELECT table_schema, table_name FROM snapshot_tables").fetchall()
            actual = sum(con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0] for s, t in tables)
            days = con.execute("SELECT count(DISTINCT first_delivery_date) FROM marts.fct_outcomes").fetchone()[0]
        finally:
            con.close()
        seen.append([time.time(), version, total == actual, days])
    except Exception as exc:
        errors.append(repr(exc))
    slowest = max(slowest, time.perf_counter() - started)
    try:
        duckdb.connect(warehouse, read_only=True).close()
    except duckdb.IOException:
        warehouse_busy += 1
    time.sleep(0.1)
json.dump({"seen": seen, "errors": errors, "slowest": slowest, "warehouse_busy": warehouse_busy}, open(out, "w"))
"""


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    return reference(tmp_path_factory)


def test_locked_warehouse_retries_loses_nothing_and_readers_never_wait(ref, tmp_path, monkeypatch):
    from trace_platform.definitions import build_definitions

    warehouse = fresh_copy(ref, D1, tmp_path / "wh")
    publish(warehouse)  # readers: the state after day 1
    paths = snapshot_paths(warehouse)
    lock_file = warehouse.with_name(warehouse.name + ".lock")
    lock_file.touch()
    for name, value in {
        "TRACE_PLATFORM_LANDING": str(ref["landing"]),
        "TRACE_PLATFORM_WAREHOUSE": str(warehouse),
        "TRACE_PLATFORM_LOCK_TIMEOUT": "1",
        "TRACE_PLATFORM_LOCK_RETRY_DELAY": "1",
        "TRACE_PLATFORM_LOCK_RETRIES": "8",
    }.items():
        monkeypatch.setenv(name, value)

    holder = subprocess.Popen(
        [PYTHON, "-c", HOLDER, str(warehouse), str(lock_file)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert holder.stdout.readline().strip() == "held"
    stop, out = tmp_path / "stop", tmp_path / "readers.json"
    readers = subprocess.Popen(
        [PYTHON, "-c", READERS, str(paths.reader), str(warehouse), str(stop), str(out)], cwd=ROOT
    )
    try:
        job = build_definitions().resolve_job_def("nightly_trace_job")
        (tmp_path / "home").mkdir()
        with (
            dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance,
            contextlib.redirect_stdout(io.StringIO()),
        ):
            result = job.execute_in_process(
                partition_key=D2,
                instance=instance,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
            )
            retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
            dbt_done = max(
                r.event_log_entry.timestamp
                for r in instance.get_records_for_run(
                    result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
                ).records
                if r.event_log_entry.dagster_event.asset_key.path[0]
                in ("staging", "intermediate", "marts", "eval")
                or r.event_log_entry.dagster_event.asset_key.to_user_string() == "audit/audit_violations"
            )
    finally:
        time.sleep(1.0)
        stop.touch()
        readers.wait(timeout=120)
        holder.kill()
        holder.wait()

    assert result.success
    # The first attempt failed with one clear line naming the holder, and was retried.
    assert [e.step_key for e in retries] == ["raw_trace_events"]
    message = retries[0].event_specific_data.error.cause.message
    # It names every process holding the file at that moment: the holder, and sometimes also the
    # readers' process in the middle of its own brief open of the warehouse.
    assert f"warehouse {warehouse} is locked by another process (" in message
    assert f"PID {holder.pid}: " in message
    # Nothing lost: every table as in the clean run (audit.check_results is the run's own history;
    # tables only the Dagster job has, such as its own bookkeeping, are not in the reference).
    hashes = content_hashes(warehouse)
    assert differences({k: v for k, v in hashes.items() if k in ref[D2]["hashes"]}, ref[D2]["hashes"]) == {}
    # The run published its state right after dbt, and again with its check results at the end; the
    # hook then added the last publish step's own check evaluation to the warehouse.
    snapshot = result.asset_materializations_for_node("reader__snapshot")[0].metadata
    final = result.asset_materializations_for_node("reader__snapshot_with_checks")[0].metadata
    assert (snapshot["version"].value, final["version"].value) == (2, 3)
    assert final["rows_written"].value < snapshot["rows_written"].value
    in_reader, in_warehouse = reader_hashes(warehouse), analyst_hashes(warehouse)
    history = "audit.check_results"
    assert (
        differences(
            {k: v for k, v in in_reader.items() if k != history},
            {k: v for k, v in in_warehouse.items() if k != history},
        )
        == {}
    )
    assert 0 < int(in_reader[history].split(":")[0]) <= int(in_warehouse[history].split(":")[0])

    # Readers never failed nor waited, though the warehouse was busy; they saw day 1 until the swap.
    seen = json.loads(out.read_text())
    assert seen["errors"] == [] and seen["slowest"] < 10 and seen["warehouse_busy"] > 0
    versions = [v for _, v, _, _ in seen["seen"]]
    assert versions == sorted(versions) and {1, 3} <= set(versions) <= {1, 2, 3}
    assert all(consistent for _, _, consistent, _ in seen["seen"])
    assert {days for _, v, _, days in seen["seen"] if v == 1} == {1}
    first_new = min(t for t, v, _, _ in seen["seen"] if v >= 2)
    window = snapshot["stale_window_seconds"].value
    print(
        f"\nstale-reader window: {window:.2f} s (dbt build end -> swap, from the publish metadata); "
        f"first reader answer from the new version {first_new - dbt_done:.2f} s after the dbt build; "
        f"publish {snapshot['seconds'].value:.2f} s + {final['seconds'].value:.2f} s with the checks; "
        f"{len(seen['seen'])} reader queries, slowest "
        f"{seen['slowest']:.2f} s; warehouse busy for {seen['warehouse_busy']} direct attempts"
    )
    assert 0 < window < 300
