"""Fault tolerance: SIGKILL mid-run, repeated runs, damaged and odd files, hostile names.

Every re-run must converge to exactly the state a clean run gives: compared by a content hash of
every table and view in every schema (tests/reliability_support.py; the run-specific columns it
leaves out are listed there and in docs/reliability.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from reliability_support import (
    DAYS,
    PYTHON,
    ROOT,
    analyst_hashes,
    content_hashes,
    dbt_command,
    dbt_env,
    differences,
    fresh_copy,
    ingest_day,
    pending_traces,
    publish,
    reader_hashes,
    reference,
    run_day,
)

from tests.ingest_support import event, ingest, line, query, table_digest, write_lines
from trace_platform.defs.ingest import loader
from trace_platform.lib.landing import LandingError, list_partition_files, partition_fingerprint
from trace_platform.snapshots import SnapshotError, current_version, snapshot_paths

pytestmark = pytest.mark.integration
D1, D2 = DAYS


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    return reference(tmp_path_factory)


def _wait_for(process: subprocess.Popen, marker: str, timeout: float = 120) -> list[str]:
    """Reads the child's stdout until a line containing `marker`; returns the lines read."""
    import select
    import time

    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 1.0)
        if not ready:
            if process.poll() is not None:
                break
            continue
        text = process.stdout.readline()
        if not text:
            break
        lines.append(text)
        if marker in text:
            return lines
    raise AssertionError(f"child never reached {marker!r}; output tail:\n{''.join(lines[-20:])}")


def _sigkill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL


# --- SIGKILL ------------------------------------------------------------------------------------

# Runs ingestion in a child process that announces a kill point and then pauses there.
INGEST_CHILD = r"""
import re, sys, time, duckdb
from pathlib import Path
from trace_platform.defs.ingest import loader
point, warehouse, landing, day = sys.argv[1:5]

def kill_point():
    print("KILL_POINT", flush=True)
    time.sleep(600)

if point == "reading":  # files prepared, lines being parsed: scratch tables exist, nothing published
    real_parse = loader._parse_files
    def parse(*args, **kwargs):
        real_parse(*args, **kwargs)
        kill_point()
    loader._parse_files = parse
elif point == "publishing":  # inside the publish transaction: old rows deleted, new rows half inserted
    real_run = loader._run_script
    def run_script(con, name, params):
        if name != "publish_partition.sql":
            return real_run(con, name, params)
        for i, statement in enumerate(loader._split_statements(loader.read_sql(name))):
            used = set(re.findall(r"\$(\w+)", statement))
            con.execute(statement, {k: v for k, v in params.items() if k in used})
            if i == 4:  # change log written, day deleted, events re-inserted: quarantine/accounting not yet
                kill_point()
    loader._run_script = run_script
con = duckdb.connect(warehouse)
loader.ingest_partition(con, Path(landing), day)
print("FINISHED", flush=True)
"""


def test_sigkill_during_ingestion_then_rerun_converges(ref, tmp_path):
    warehouse = fresh_copy(ref, D1, tmp_path)
    publish(warehouse)  # readers have the state after day 1
    for point in ("reading", "publishing"):
        child = subprocess.Popen(
            [PYTHON, "-c", INGEST_CHILD, point, str(warehouse), str(ref["landing"]), D2],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        _wait_for(child, "KILL_POINT")
        _sigkill(child)
        # Nothing of the killed run is visible: the warehouse is exactly as after day 1 ...
        assert differences(content_hashes(warehouse), ref[D1]["hashes"]) == {}, point
    # ... and readers never noticed.
    assert current_version(snapshot_paths(warehouse)) == 1
    # Re-running the day converges to the clean run, table by table.
    run_day(warehouse, ref["landing"], D2)
    assert differences(content_hashes(warehouse), ref[D2]["hashes"]) == {}
    assert differences(reader_hashes(warehouse), analyst_hashes(warehouse)) == {}


def test_sigkill_during_dbt_build_then_rerun_converges(ref, tmp_path):
    warehouse = fresh_copy(ref, D1, tmp_path)
    publish(warehouse)
    before_reader = reader_hashes(warehouse)
    ingest_day(warehouse, ref["landing"], D2)
    child = subprocess.Popen(
        dbt_command(warehouse, "--log-format", "json"),
        env=dbt_env(warehouse),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # Kill once the first trace-scoped mart has been rebuilt: the marts are half updated.
    lines = []
    while True:
        lines += _wait_for(child, '"LogModelResult"')
        node = json.loads(lines[-1])["data"].get("node_info", {})
        if node.get("node_name", "").startswith("fct_") and node.get("node_status") == "success":
            break
    _sigkill(child)
    # A half-built warehouse is never published: readers keep the previous snapshot. The killed
    # build saw day 2's traces change but recorded no complete build (int_completed_builds).
    assert pending_traces(warehouse) > 0
    with pytest.raises(SnapshotError, match="not publishing a half-built state"):
        publish(warehouse)
    assert current_version(snapshot_paths(warehouse)) == 1 and reader_hashes(warehouse) == before_reader
    # The nightly job re-runs the whole day: it converges to the clean run ...
    run_day(warehouse, ref["landing"], D2)
    assert differences(content_hashes(warehouse), ref[D2]["hashes"]) == {}
    assert differences(reader_hashes(warehouse), analyst_hashes(warehouse)) == {}
    # ... and its build completed the killed build's rebuild: nothing is left pending, and it rebuilt
    # the same traces as the clean run's day 2 (they stayed in scope, though their events did not
    # change again).
    assert pending_traces(warehouse) == 0
    scope = "SELECT * FROM intermediate.int_rebuild_scope ORDER BY trace_id"
    assert query(warehouse, scope) == query(ref[D2]["warehouse"], scope) != []


PUBLISH_CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[3])
from pathlib import Path
from reliability_support import publish
stage = sys.argv[2]
def on_stage(name):
    if name == stage:
        print("KILL_POINT", flush=True)
        time.sleep(600)
publish(Path(sys.argv[1]), on_stage=on_stage, full=True)
"""


def test_sigkill_during_publish_keeps_the_previous_snapshot(ref, tmp_path):
    warehouse = fresh_copy(ref, D2, tmp_path)
    publish(warehouse)
    paths = snapshot_paths(warehouse)
    before = reader_hashes(warehouse)
    for stage in ("write_parquet", "before_swap"):
        child = subprocess.Popen(
            [PYTHON, "-c", PUBLISH_CHILD, str(warehouse), stage, str(ROOT / "tests")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        _wait_for(child, "KILL_POINT")
        _sigkill(child)
        assert current_version(paths) == 1 and reader_hashes(warehouse) == before, stage
    assert (paths.readers / "v00000002.duckdb").exists()  # built, never swapped in
    report = publish(warehouse)
    assert report.version == 2
    assert differences(reader_hashes(warehouse), analyst_hashes(warehouse)) == {}
    parquet = {str(p.relative_to(paths.root)) for p in paths.tables.rglob("*.parquet")}
    manifest = json.loads(paths.manifest_file(2).read_text())
    used = {f for e in manifest["tables"].values() for b in e["buckets"].values() for f in b["files"]}
    previous = json.loads(paths.manifest_file(1).read_text())
    used |= {f for e in previous["tables"].values() for b in e["buckets"].values() for f in b["files"]}
    assert parquet == used  # the killed publishes left nothing behind


# --- repeated runs ------------------------------------------------------------------------------


def test_the_same_partition_three_times_in_a_row(ref, tmp_path):
    warehouse = fresh_copy(ref, D2, tmp_path)  # run 1 of day 2 is the clean run itself
    for run in (2, 3):
        report = run_day(warehouse, ref["landing"], D2)
        assert differences(content_hashes(warehouse), ref[D2]["hashes"]) == {}, f"run {run}"
        # nothing changed: the build rebuilt no trace, and recorded itself as complete
        assert query(warehouse, "SELECT count(*) FROM intermediate.int_rebuild_scope") == [(0,)], run
        assert pending_traces(warehouse) == 0, f"run {run}"
        assert differences(reader_hashes(warehouse), analyst_hashes(warehouse)) == {}, f"run {run}"
    assert report.version == 2


# --- damaged and odd files ----------------------------------------------------------------------

RSS_CHILD = r"""
import resource, sys, duckdb
from pathlib import Path
from trace_platform.defs.ingest.loader import ingest_partition
con = duckdb.connect(sys.argv[1])
report = ingest_partition(con, Path(sys.argv[2]), sys.argv[3])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def _peak_rss(db: Path, landing: Path, day: str) -> int:
    result = subprocess.run(
        [PYTHON, "-c", RSS_CHILD, str(db), str(landing), day],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "TRACE_PLATFORM_DUCKDB_THREADS": "2"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return int(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("gz", [False, True])
def test_a_line_over_10_mb_is_quarantined_in_bounded_memory(tmp_path, gz):
    size = 48 * 1024 * 1024  # 48 MiB of one line; the limit is 8 MiB
    name = "a.jsonl.gz" if gz else "a.jsonl"
    small = [line(event(f"e{i}")) for i in range(50)]
    huge = line(event("huge", payload={"blob": "x" * size}))
    write_lines(tmp_path / "baseline", D1, name, small[:25] + [line(event("huge"))] + small[25:], gz=gz)
    write_lines(tmp_path / "landing", D1, name, small[:25] + [huge] + small[25:], gz=gz)
    baseline = _peak_rss(tmp_path / "baseline.duckdb", tmp_path / "baseline", D1)
    peak = _peak_rss(tmp_path / "wh.duckdb", tmp_path / "landing", D1)
    db = tmp_path / "wh.duckdb"
    assert query(db, "SELECT line_number, reason, raw_line_bytes, length(raw_line) FROM raw.quarantine") == [
        (26, "line_too_long", len(huge), 16 * 1024)
    ]
    assert query(db, "SELECT lines_read, events_loaded, lines_quarantined FROM raw.ingest_files") == [
        (51, 50, 1)
    ]
    # The line is never held whole: the run needs less extra memory than the line's own size.
    print(
        f"peak RSS {peak / 2**20:.0f} MiB with a {size / 2**20:.0f} MiB line, {baseline / 2**20:.0f} MiB without"
    )
    assert peak - baseline < size, (peak, baseline)


def test_empty_files_and_an_empty_day(tmp_path):
    landing, db = tmp_path / "landing", tmp_path / "wh.duckdb"
    write_lines(landing, D1, "empty.jsonl", [])  # 0 bytes
    (landing / D1 / "empty-bytes.jsonl.gz").write_bytes(b"")  # 0 bytes, not even a gzip header
    write_lines(landing, D1, "empty-content.jsonl.gz", [], gz=True)  # a valid gzip of nothing
    write_lines(landing, D1, "blank.jsonl", ["", "  ", "\t"])
    write_lines(landing, D1, "good.jsonl", [line(event("e1"))])
    report = ingest(db, landing, D1)
    assert report.events_loaded == 1 and report.lines_quarantined == 0
    assert query(
        db,
        "SELECT source_file, lines_read, blank_lines, events_loaded, file_status FROM raw.ingest_files "
        "ORDER BY 1",
    ) == [
        (f"{D1}/blank.jsonl", 3, 3, 0, "loaded"),
        (f"{D1}/empty-bytes.jsonl.gz", 0, 0, 0, "loaded"),
        (f"{D1}/empty-content.jsonl.gz", 0, 0, 0, "loaded"),
        (f"{D1}/empty.jsonl", 0, 0, 0, "loaded"),
        (f"{D1}/good.jsonl", 1, 0, 1, "loaded"),
    ]
    (landing / D2).mkdir()
    empty_day = ingest(db, landing, D2)  # a delivery folder without files
    assert (empty_day.files, empty_day.events_loaded) == (0, 0)


def _appearing_during_the_run(monkeypatch, action) -> None:
    """Runs `action` after the partition was listed, while its files are being read."""
    real = loader.prepare_files

    def prepare(*args, **kwargs):
        action()
        return real(*args, **kwargs)

    monkeypatch.setattr(loader, "prepare_files", prepare)


def test_a_file_that_appears_during_the_run_waits_for_the_next_run(tmp_path, monkeypatch):
    landing, db = tmp_path / "landing", tmp_path / "wh.duckdb"
    write_lines(landing, D1, "a.jsonl", [line(event("e1")), line(event("e2"))])

    def deliver():  # a producer delivers atomically: write elsewhere, rename into the day's folder
        staged = write_lines(tmp_path / "staging", D1, "b.jsonl", [line(event("e3"))])
        os.replace(staged, landing / D1 / "b.jsonl")

    with monkeypatch.context() as patch:
        _appearing_during_the_run(patch, deliver)
        first = ingest(db, landing, D1)
    # Not read at all by the run it appeared in (never half-read) ...
    assert query(db, "SELECT source_file FROM raw.ingest_files") == [(f"{D1}/a.jsonl",)]
    assert query(db, "SELECT count(*) FROM raw.trace_events WHERE event_id = 'e3'") == [(0,)]
    # ... the day's fingerprint changed, so the landing sensor requests the next run ...
    assert partition_fingerprint(list_partition_files(landing, D1)) != first.landing_fingerprint
    # ... which picks it up: the same state as a clean run over both files.
    ingest(db, landing, D1)
    ingest(tmp_path / "clean.duckdb", landing, D1)
    for table in ("raw.trace_events", "raw.quarantine", "raw.ingest_files"):
        assert table_digest(db, table) == table_digest(tmp_path / "clean.duckdb", table)


def test_the_landing_sensor_requests_a_run_for_a_file_that_appeared_after_the_last_load(
    tmp_path, monkeypatch
):
    from trace_platform.definitions import defs
    from trace_platform.defs.ingest.assets import RAW_EVENTS
    from trace_platform.defs.ingest.sensors import SETTLE_SECONDS, landing_sensor

    landing = tmp_path / "landing"
    monkeypatch.setenv("TRACE_PLATFORM_LANDING", str(landing))
    monkeypatch.setenv("TRACE_PLATFORM_WAREHOUSE", str(tmp_path / "never.duckdb"))
    write_lines(landing, D1, "a.jsonl", [line(event("e1"))])
    loaded = partition_fingerprint(list_partition_files(landing, D1))  # what the last run loaded
    write_lines(landing, D1, "b.jsonl", [line(event("e3"))])  # appeared during / after that run
    for f in (landing / D1).iterdir():
        stamp = f.stat().st_mtime - SETTLE_SECONDS - 5
        os.utime(f, (stamp, stamp))
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=RAW_EVENTS, partition=D1, metadata={"landing_fingerprint": loaded}
            )
        )
        context = dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def())
        requests = landing_sensor.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == [D1]


def test_a_file_still_being_written_during_the_run_is_not_half_read(tmp_path, monkeypatch):
    landing, db = tmp_path / "landing", tmp_path / "wh.duckdb"
    path = write_lines(landing, D1, "a.jsonl", [line(event("e1"))])
    half = line(event("e3"))

    def keep_writing():  # a producer that writes in place: one more line and half of the next
        with open(path, "a") as handle:
            handle.write(line(event("e2")) + "\n" + half[: len(half) // 2])

    ingest(db, landing, D1)  # an earlier run loaded the file as it was then
    with monkeypatch.context() as patch:
        _appearing_during_the_run(patch, keep_writing)
        with pytest.raises(loader.LandingFileChanged, match="changed while it was being read"):
            ingest(db, landing, D1)
    assert query(db, "SELECT count(*) FROM raw.quarantine") == [(0,)]  # no half line quarantined
    assert query(db, "SELECT event_id FROM raw.trace_events") == [("e1",)]  # the earlier load is kept
    with open(path, "a") as handle:  # the producer finishes; the next run loads the whole file
        handle.write(half[len(half) // 2 :] + "\n")
    ingest(db, landing, D1)
    assert query(db, "SELECT event_id FROM raw.trace_events ORDER BY 1") == [("e1",), ("e2",), ("e3",)]


def test_out_of_order_days_with_an_invalid_utf8_line_beside_a_conflict(tmp_path):
    import duckdb

    landing, db = tmp_path / "landing", tmp_path / "wh.duckdb"
    write_lines(landing, D1, "a.jsonl", [line(event("e1"))])
    write_lines(
        landing,
        D2,
        "b.jsonl",
        [line(event("e1", payload={"steps": ["other"]})), b'{"event_id": "\xff"}', line(event("e2"))],
    )
    ingest(db, landing, D2)
    try:
        ingest(db, landing, D1)  # day 1's e1 wins: day 2's copy becomes a conflict, its line is re-read
    except duckdb.InvalidInputException as exc:
        raise AssertionError(f"ingestion crashed: {str(exc).splitlines()[0]}") from None
    assert query(
        db, "SELECT delivery_date::VARCHAR, line_number, reason FROM raw.quarantine ORDER BY 1, 2"
    ) == [(D2, 1, "conflict"), (D2, 2, "invalid_utf8")]


# --- hostile names --------------------------------------------------------------------------------

HOSTILE_NAMES = [
    "'; DROP TABLE raw.trace_events; --.jsonl",
    "$(touch pwned) `id`.jsonl",
    "back\\slash.jsonl",
    "new\nline.jsonl",
    "-leading-dash.jsonl",
    "%s %d {0} {file_lines}.jsonl",
    "tab\there.jsonl",
    "ünï 🔥 名前.jsonl",
    "x" * 200 + ".jsonl",
    ".hidden.jsonl",
]


def test_more_hostile_file_names_are_read_as_data(tmp_path):
    landing, db = tmp_path / "landing", tmp_path / "wh.duckdb"
    for i, name in enumerate(HOSTILE_NAMES):
        write_lines(landing, D1, name, [line(event(f"e{i}"))])
    (landing / D1 / "dir.jsonl").mkdir()  # a folder named like a trace file: ignored
    report = ingest(db, landing, D1)
    assert report.events_loaded == len(HOSTILE_NAMES) and "dir.jsonl" in report.ignored_files
    assert sorted(r[0] for r in query(db, "SELECT source_file FROM raw.ingest_files")) == sorted(
        f"{D1}/{n}" for n in HOSTILE_NAMES
    )
    assert query(db, "SELECT count(*) FROM raw.trace_events") == [(len(HOSTILE_NAMES),)]
    assert not (Path.cwd() / "pwned").exists()


@pytest.mark.parametrize("how", ["folder", "relative", "chain"])
def test_symlinks_out_of_the_landing_folder_are_refused(tmp_path, how):
    landing, outside = tmp_path / "landing", tmp_path / "outside"
    write_lines(outside, D1, "secret.jsonl", [line(event("secret"))])
    landing.mkdir()
    if how == "folder":  # the whole delivery folder is a link to elsewhere
        os.symlink(outside / D1, landing / D1)
    elif how == "relative":
        (landing / D1).mkdir()
        os.symlink(f"../../outside/{D1}/secret.jsonl", landing / D1 / "link.jsonl")
    else:  # a link to a link inside the landing folder that points outside
        (landing / D1).mkdir()
        os.symlink(outside / D1 / "secret.jsonl", landing / "hop")
        os.symlink(landing / "hop", landing / D1 / "link.jsonl")
    with pytest.raises(LandingError, match="symlink points outside the landing folder"):
        ingest(tmp_path / "wh.duckdb", landing, D1)
    assert query(tmp_path / "wh.duckdb", "SELECT count(*) FROM duckdb_tables()") == [(0,)]  # nothing read


def test_a_symlink_inside_the_landing_folder_is_read(tmp_path):
    landing = tmp_path / "landing"
    target = write_lines(landing, "archive", "a.jsonl", [line(event("e1"))])
    (landing / D1).mkdir()
    os.symlink(target, landing / D1 / "a.jsonl")
    assert ingest(tmp_path / "wh.duckdb", landing, D1).events_loaded == 1


def test_the_cli_refuses_an_escaping_symlink_with_one_clear_line(tmp_path):
    landing = tmp_path / "landing"
    write_lines(tmp_path / "outside", D1, "secret.jsonl", [line(event("e1"))])
    (landing / D1).mkdir(parents=True)
    os.symlink(tmp_path / "outside" / D1 / "secret.jsonl", landing / D1 / "evil.jsonl")
    cli = str(Path(sys.executable).parent / "trace-platform")
    result = subprocess.run(
        [cli, "run", "--start", D1, "--landing", str(landing), "--warehouse", str(tmp_path / "wh.duckdb")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path / "home")},
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: run ") and last.endswith(
        f"failed: refusing 'evil.jsonl' in {D1}: symlink points outside the landing folder"
    ), last
