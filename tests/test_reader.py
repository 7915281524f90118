"""The reader snapshot: what analysts and notebooks query while the nightly job writes.

It must equal the warehouse's analyst schemas after every publish (also with late events and days
run out of order), cost in proportion to what changed, swap atomically, keep old versions readable
for a grace period, never touch the warehouse file, and expose nothing but marts, audit and eval.
That readers cannot change it, and that a file changed behind the publish's back is refused and
rewritten: test_reader_confinement.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from dbt_support import Trace, write_day
from reliability_support import (
    DAYS,
    PYTHON,
    ROOT,
    analyst_hashes,
    differences,
    fresh_copy,
    make_landing,
    publish,
    reader_hashes,
    reference,
    run_day,
)

from trace_platform.snapshots import (
    collect_garbage,
    connect_reader,
    current_version,
    publish_warehouse,
    snapshot_paths,
)

pytestmark = pytest.mark.integration
D1, D2 = DAYS
D3 = "2026-11-22"
CLI = str(Path(sys.executable).parent / "trace-platform")


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    return reference(tmp_path_factory)


def _rows(con, sql: str, params=None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def test_reader_equals_the_warehouse_with_days_out_of_order_and_late_events(tmp_path):
    # Not dirty: out of order, the generator's invalid UTF-8 lines trip a loader bug
    # (tests/test_faults.py::test_out_of_order_days_with_an_invalid_utf8_line_beside_a_conflict).
    landing = make_landing(tmp_path, dirty=False)
    conflict = Trace("conflicted", day=D1)
    conflict.request()
    conflict.final()
    write_day(landing, D1, conflict.events, name="zz-conflict.jsonl")
    redelivered = [dict(e) for e in conflict.events]
    redelivered[-1] = {**redelivered[-1], "payload": {"status": "failure", "output": "changed"}}  # a conflict
    write_day(landing, D2, redelivered, name="zz-conflict.jsonl")  # ... and an identical duplicate
    only_d2 = Trace("only-in-d2", day=D2)
    only_d2.request()
    only_d2.authorised_write("only-in-d2.c1")
    only_d2.final()
    write_day(landing, D2, only_d2.events, name="zz-extra.jsonl")
    late = Trace("only-in-d2", day=D3)
    late.events = [dict(e) for e in only_d2.events]
    feedback = late.add("feedback", {"rating": 1})  # arrives a day later
    fresh = Trace("new-in-d3", day=D3)
    fresh.request()
    fresh.final()
    write_day(landing, D3, [feedback, *fresh.events])

    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    first = run_day(warehouse, landing, D2)  # day 2 before day 1: late events arrive "early"
    assert first.version == 1 and first.files_reused == 0
    assert differences(reader_hashes(warehouse), analyst_hashes(warehouse)) == {}

    run_day(warehouse, landing, D1)  # the conflicting copy of day 2 is demoted; facts of split traces change
    assert differences(reader_hashes(warehouse), analyst_hashes(warehouse)) == {}

    third = run_day(warehouse, landing, D3)
    assert differences(reader_hashes(warehouse), analyst_hashes(warehouse)) == {}
    # Cost follows the change: only the days the run touched (the late trace's day and the new day)
    # are rewritten for the trace-scoped tables; day 1's files are reused as they are.
    assert third.dirty_days == [D2, D3]
    tracked = {t: e for t, e in third.tables.items() if e["strategy"] == "tracked"}
    assert tracked and all(e["buckets_written"] <= 2 and not e["full_reason"] for e in tracked.values())
    manifest = json.loads(snapshot_paths(warehouse).manifest_file(third.version).read_text())
    for table in tracked:
        day1 = manifest["tables"][table]["buckets"].get(D1)
        assert day1 is None or not any(f"/v{third.version:08d}/" in f for f in day1["files"]), table
    assert third.files_reused > 0 and third.rows_written < third.rows_total
    # Nothing changed: nothing written.
    idle = publish(warehouse)
    assert (idle.files_written, idle.rows_written, idle.dirty_days) == (0, 0, [])
    assert idle.files_reused == third.files_written + third.files_reused


def _change_warehouse(warehouse: Path, sql: str) -> None:
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(sql)
    finally:
        con.close()


def test_open_readers_keep_their_version_until_the_grace_period_ends(ref, tmp_path):
    warehouse = fresh_copy(ref, D2, tmp_path)
    publish(warehouse)
    paths = snapshot_paths(warehouse)
    notebook = connect_reader(paths.reader)  # an analyst's session, open across the next publish
    before = _rows(notebook, "SELECT count(*) FROM marts.dim_tools")[0][0]
    _change_warehouse(
        warehouse,
        "DELETE FROM marts.dim_tools WHERE tool_name = (SELECT min(tool_name) FROM marts.dim_tools)",
    )
    second = publish(warehouse)
    assert second.tables["marts.dim_tools"]["buckets_written"] == 1 and second.files_written == 1
    # The open session still answers from version 1; a new connection sees version 2.
    assert (
        _rows(notebook, "SELECT count(*) FROM marts.dim_tools, snapshot_info WHERE version = 1")[0][0]
        == before
    )
    fresh = connect_reader(paths.reader)
    assert _rows(fresh, "SELECT version, (SELECT count(*) FROM marts.dim_tools) FROM snapshot_info") == [
        (2, before - 1)
    ]
    fresh.close()
    # Within the grace period nothing is collected; after it, version 1's own files go.
    assert collect_garbage(paths, grace_seconds=3600)["versions_deleted"] == 0
    assert _rows(notebook, "SELECT count(*) FROM marts.dim_tools")[0][0] == before
    gone = collect_garbage(paths, grace_seconds=0)
    assert gone["versions_deleted"] == 1 and gone["files_deleted"] == 1  # the old dim_tools file only
    notebook.close()
    assert differences(reader_hashes(warehouse), analyst_hashes(warehouse)) == {}
    assert sorted(p.name for p in paths.readers.iterdir()) == ["v00000002.duckdb"]


READER_LOOP = r"""
import json, sys, time, duckdb
from trace_platform.snapshots import connect_reader
reader, stop, out = sys.argv[1:4]
seen, errors, slowest = [], [], 0.0
import os
while not os.path.exists(stop):
    started = time.perf_counter()
    try:
        con = connect_reader(reader)
        try:
            version, expected = con.execute("SELECT version, total_rows FROM snapshot_info").fetchone()
            tables = con.execute("SELECT table_schema, table_name, row_count FROM snapshot_tables").fetchall()
            actual = sum(con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0] for s, t, _ in tables)
        finally:
            con.close()
        seen.append([version, expected, actual])
    except Exception as exc:
        errors.append(repr(exc))
    slowest = max(slowest, time.perf_counter() - started)
json.dump({"seen": seen, "errors": errors, "slowest": slowest}, open(out, "w"))
"""


def test_readers_never_see_a_half_published_state(ref, tmp_path):
    warehouse = fresh_copy(ref, D2, tmp_path)
    publish(warehouse)
    paths = snapshot_paths(warehouse)
    stop, out = tmp_path / "stop", tmp_path / "seen.json"
    loop = subprocess.Popen([PYTHON, "-c", READER_LOOP, str(paths.reader), str(stop), str(out)], cwd=ROOT)
    try:
        for i in range(8):  # publishes that change row counts, while the reader loop runs
            _change_warehouse(
                warehouse,
                "DELETE FROM marts.dim_models WHERE model_key = (SELECT min(model_key) FROM marts.dim_models)"
                if i % 2
                else "INSERT INTO audit.audit_rules SELECT * FROM audit.audit_rules LIMIT 1",
            )
            publish(warehouse)  # default grace: nothing collected under the loop
            time.sleep(0.1)
    finally:
        stop.touch()
        loop.wait(timeout=60)
    result = json.loads(out.read_text())
    assert result["errors"] == []
    versions = [v for v, _, _ in result["seen"]]
    assert len(set(versions)) > 2 and versions == sorted(versions)  # monotone, several swaps observed
    assert all(expected == actual for _, expected, actual in result["seen"])  # each answer: one whole version
    assert result["slowest"] < 5


def test_queries_never_wait_for_the_nightly_writer(ref, tmp_path):
    warehouse = fresh_copy(ref, D2, tmp_path)
    publish(warehouse)
    holder = subprocess.Popen(
        [
            PYTHON,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "c.execute('BEGIN'); c.execute('DELETE FROM marts.fct_outcomes'); print('held', "
            "flush=True); time.sleep(120)",
            str(warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"  # a writer holds the warehouse, mid-transaction
        started = time.perf_counter()
        answer = subprocess.run(
            [
                CLI,
                "query",
                "SELECT count(*) AS n FROM marts.fct_outcomes",
                "--format",
                "csv",
                "--warehouse",
                str(warehouse),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        elapsed = time.perf_counter() - started
        live = subprocess.run(
            [CLI, "query", "SELECT 1", "--live", "--warehouse", str(warehouse)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        notebook = duckdb.connect(str(snapshot_paths(warehouse).reader), read_only=True)  # documented way
        outcomes = notebook.execute("SELECT count(*) FROM marts.fct_outcomes").fetchone()[0]
        notebook.close()
    finally:
        holder.kill()
        holder.wait()
    assert answer.returncode == 0, answer.stderr
    expected = (
        duckdb.connect(str(ref[D2]["warehouse"]), read_only=True)
        .execute("SELECT count(*) FROM marts.fct_outcomes")
        .fetchone()[0]
    )
    assert answer.stdout.splitlines() == ["n", str(expected)] and outcomes == expected
    assert elapsed < 30  # the CLI's own start-up; it never waits for the writer
    assert live.returncode == 1 and "is locked by another process" in live.stderr


def test_the_reader_exposes_only_the_analyst_schemas_and_cannot_reach_out(ref, tmp_path):
    warehouse = fresh_copy(ref, D2, tmp_path)
    publish(warehouse)
    reader = connect_reader(snapshot_paths(warehouse).reader)
    try:
        schemas = {
            r[0]
            for r in _rows(
                reader,
                "SELECT DISTINCT schema_name FROM duckdb_tables() UNION "
                "SELECT DISTINCT schema_name FROM duckdb_views() WHERE NOT internal",
            )
        }
        assert schemas == {"main", "marts", "audit", "eval"}
        for sql in (
            "SELECT * FROM read_csv('/etc/passwd')",
            f"ATTACH '{warehouse}' AS w (READ_ONLY)",
            "COPY (SELECT 1) TO '/tmp/out.csv'",
            "CREATE TABLE marts.x (a INT)",
            "SET enable_external_access = true",
        ):
            with pytest.raises(duckdb.Error):
                reader.execute(sql)
    finally:
        reader.close()
    raw = subprocess.run(
        [CLI, "query", "SELECT count(*) FROM raw.trace_events", "--warehouse", str(warehouse)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert raw.returncode == 1
    assert "use --live for raw, staging, intermediate" in raw.stderr and "Traceback" not in raw.stderr


def test_a_recreated_reshaped_or_drifted_table_is_republished_in_full(ref, tmp_path):
    warehouse = fresh_copy(ref, D2, tmp_path)
    publish(warehouse)
    # A full refresh recreates a table (and here also changes one old row).
    _change_warehouse(
        warehouse,
        "CREATE OR REPLACE TABLE marts.fct_model_calls AS SELECT * FROM marts.fct_model_calls; "
        "UPDATE marts.fct_model_calls SET latency_ms = -1 WHERE event_id = "
        "(SELECT min(event_id) FROM marts.fct_model_calls)",
    )
    # A new column (dbt's append_new_columns) ...
    _change_warehouse(warehouse, "ALTER TABLE marts.fct_side_effects ADD COLUMN note VARCHAR DEFAULT 'n'")
    # ... and rows lost behind the change tracking's back.
    _change_warehouse(
        warehouse,
        "DELETE FROM marts.fct_outcomes WHERE trace_id = (SELECT min(trace_id) FROM marts.fct_outcomes)",
    )
    report = publish(warehouse)
    reasons = {t: e["full_reason"] for t, e in report.tables.items() if e["full_reason"]}
    assert reasons["marts.fct_model_calls"].startswith("table recreated")
    assert reasons["marts.fct_side_effects"] == "columns changed"
    assert reasons["marts.fct_outcomes"].startswith("row count reconciliation failed")
    assert set(reasons) == {"marts.fct_model_calls", "marts.fct_side_effects", "marts.fct_outcomes"}
    assert differences(reader_hashes(warehouse), analyst_hashes(warehouse)) == {}
    assert publish(warehouse).files_written == 0  # and then it is incremental again


def test_rows_without_a_day_in_a_tracked_table_never_go_stale(ref, tmp_path):
    # After an upgrade adds a day column to a tracked model, its older rows hold NULL there until a
    # full refresh. No dirty day names them, so their bucket is republished on every publish.
    warehouse = fresh_copy(ref, D2, tmp_path)
    _change_warehouse(
        warehouse,
        "UPDATE marts.fct_tool_calls SET delivery_date = NULL WHERE trace_id IN "
        "(SELECT trace_id FROM marts.fct_tool_calls ORDER BY trace_id LIMIT 5)",
    )
    publish(warehouse)
    _change_warehouse(
        warehouse, "UPDATE marts.fct_tool_calls SET latency_ms = -1 WHERE delivery_date IS NULL"
    )
    report = publish(warehouse)
    assert not report.tables["marts.fct_tool_calls"]["full_reason"]
    assert differences(reader_hashes(warehouse), analyst_hashes(warehouse)) == {}


def test_hostile_table_names_values_and_paths_are_quoted(ref, tmp_path, monkeypatch):
    warehouse = fresh_copy(ref, D2, tmp_path)
    hostile_table = 'x";DROP TABLE marts.fct_outcomes;--'
    _change_warehouse(
        warehouse,
        f'CREATE TABLE marts."{hostile_table.replace(chr(34), chr(34) * 2)}" '
        '("a\'b""c" VARCHAR, d DATE); INSERT INTO marts."x"";DROP TABLE '
        "marts.fct_outcomes;--\" VALUES ('''); DROP TABLE marts.fct_outcomes; --', "
        "DATE '2026-11-20')",
    )
    _change_warehouse(
        warehouse, 'CREATE TABLE marts."/../../../escape" AS SELECT 1 AS a'
    )  # no path traversal
    reader_path = tmp_path / 'it\'s a "dir"; --' / "reader.duckdb"
    monkeypatch.setenv("TRACE_PLATFORM_READER", str(reader_path))
    publish(warehouse)
    con = connect_reader(reader_path)
    try:
        assert _rows(con, f'SELECT * FROM marts."{hostile_table.replace(chr(34), chr(34) * 2)}"') == [
            ("'); DROP TABLE marts.fct_outcomes; --", __import__("datetime").date(2026, 11, 20))
        ]
        assert _rows(con, "SELECT count(*) > 0 FROM marts.fct_outcomes") == [(True,)]
        assert _rows(con, 'SELECT a FROM marts."/../../../escape"') == [(1,)]
    finally:
        con.close()
    assert differences(reader_hashes(warehouse), analyst_hashes(warehouse)) == {}
    root = reader_path.parent / "reader"
    assert {p.parent.name for p in tmp_path.rglob("*.parquet")} and all(
        root in p.parents for p in tmp_path.rglob("*.parquet")
    )
    with pytest.raises(Exception, match="must not contain"):
        snapshot_paths(warehouse, tmp_path / "glob[1]" / "reader.duckdb")


def test_the_hostile_tenants_arrive_verbatim(ref, tmp_path):
    from reliability_support import HOSTILE_FILE, HOSTILE_TENANTS

    warehouse = fresh_copy(ref, D2, tmp_path)
    publish(warehouse)
    con = connect_reader(snapshot_paths(warehouse).reader)
    try:
        tenants = {r[0] for r in _rows(con, "SELECT DISTINCT tenant_id FROM marts.fct_outcomes")}
        assert set(HOSTILE_TENANTS) <= tenants
        assert _rows(
            con, "SELECT count(*) FROM marts.fct_tool_calls WHERE tool_name = ?", ['refund_order"; DROP']
        ) == [(len(HOSTILE_TENANTS),)]
    finally:
        con.close()
    files = {
        r[0]
        for r in duckdb.connect(str(warehouse), read_only=True)
        .execute("SELECT source_file FROM raw.ingest_files")
        .fetchall()
    }
    assert f"{D1}/{HOSTILE_FILE}" in files


def test_query_reads_only_the_reader_snapshot_never_the_warehouse_by_default(ref, tmp_path):
    warehouse = fresh_copy(ref, D2, tmp_path)
    before = subprocess.run(
        [CLI, "query", "SELECT count(*) FROM raw.ingest_files", "--warehouse", str(warehouse)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Nothing published yet: refused with one line, never the raw warehouse (test_reader_confinement.py).
    assert before.returncode == 1 and "no reader snapshot published" in before.stderr and before.stdout == ""
    publish_warehouse(warehouse)  # (without the trace-scoped hint every table is fingerprinted: also correct)
    assert current_version(snapshot_paths(warehouse)) == 1
    assert differences(reader_hashes(warehouse), analyst_hashes(warehouse)) == {}
    missing = subprocess.run(
        [CLI, "query", "SELECT 1", "--reader", str(tmp_path / "nope.duckdb")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert os.readlink(snapshot_paths(warehouse).reader).startswith("warehouse.reader/")
