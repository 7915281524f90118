"""Partition-level ingestion: gzip, damaged files, re-runs, cross-partition dedupe, file names."""

from __future__ import annotations

import os

import pytest

from tests.ingest_support import event, ingest, line, query, table_digest, write_lines
from trace_platform.lib.landing import LandingError

D1, D2 = "2026-11-20", "2026-11-21"
TABLES = ("raw.trace_events", "raw.quarantine", "raw.ingest_files")


@pytest.fixture
def landing(tmp_path):
    return tmp_path / "landing"


def snapshot(db):
    return {t: table_digest(db, t) for t in TABLES}


def test_gzip_input_loads_like_plain(tmp_path, landing):
    lines = [line(event(f"e{i}", sequence=i)) for i in range(50)] + ["", "{oops"]
    write_lines(landing, D1, "a.jsonl.gz", lines, gz=True)
    write_lines(tmp_path / "plain", D1, "a.jsonl.gz".removesuffix(".gz"), lines)
    report = ingest(tmp_path / "gz.duckdb", landing, D1)
    assert (report.lines_read, report.blank_lines, report.events_loaded, report.lines_quarantined) == (
        52,
        1,
        50,
        1,
    )
    plain = ingest(tmp_path / "plain.duckdb", tmp_path / "plain", D1)
    assert plain.events_loaded == report.events_loaded


def test_truncated_gzip_is_quarantined_at_file_level_and_siblings_load(tmp_path, landing):
    path = write_lines(landing, D1, "broken.jsonl.gz", [line(event(f"e{i}")) for i in range(2000)], gz=True)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    write_lines(landing, D1, "good.jsonl", [line(event("g1"))])
    db = tmp_path / "wh.duckdb"
    report = ingest(db, landing, D1)
    assert report.events_loaded == 1
    assert query(db, "SELECT source_file, line_number, reason FROM raw.quarantine") == [
        (f"{D1}/broken.jsonl.gz", None, "corrupt_gzip")
    ]
    assert query(db, "SELECT source_file, file_status FROM raw.ingest_files ORDER BY 1") == [
        (f"{D1}/broken.jsonl.gz", "quarantined"),
        (f"{D1}/good.jsonl", "loaded"),
    ]


def test_rerun_changes_nothing(tmp_path, landing):
    write_lines(
        landing, D1, "a.jsonl", [line(event(f"e{i}")) for i in range(20)] + ["", "x", line(event("e1"))]
    )
    db = tmp_path / "wh.duckdb"
    ingest(db, landing, D1)
    first = snapshot(db)
    for _ in range(2):
        ingest(db, landing, D1)
        assert snapshot(db) == first


def test_changed_file_is_reloaded(tmp_path, landing):
    write_lines(landing, D1, "a.jsonl", [line(event("e1"))])
    db = tmp_path / "wh.duckdb"
    ingest(db, landing, D1)
    sha_before = query(db, "SELECT content_sha256 FROM raw.ingest_files")[0][0]
    write_lines(landing, D1, "a.jsonl", [line(event("e1")), line(event("e2"))])
    ingest(db, landing, D1)
    assert query(db, "SELECT count(*) FROM raw.trace_events") == [(2,)]
    assert query(db, "SELECT content_sha256 FROM raw.ingest_files")[0][0] != sha_before


def _two_days_with_redeliveries(landing):
    write_lines(landing, D1, "a.jsonl", [line(event("e1")), line(event("e2"))])
    write_lines(
        landing,
        D2,
        "a.jsonl",
        [
            line(event("e1")),  # identical re-delivery: duplicate
            line(event("e2", payload={"steps": ["changed"]})),  # conflict
            line(event("e3")),
        ],
    )


def test_cross_partition_first_delivery_wins_in_order(tmp_path, landing):
    _two_days_with_redeliveries(landing)
    db = tmp_path / "wh.duckdb"
    ingest(db, landing, D1)
    ingest(db, landing, D2)
    assert query(db, "SELECT event_id, delivery_date::VARCHAR FROM raw.trace_events ORDER BY 1") == [
        ("e1", D1),
        ("e2", D1),
        ("e3", D2),
    ]
    assert query(db, "SELECT delivery_date::VARCHAR, line_number, reason FROM raw.quarantine") == [
        (D2, 2, "conflict")
    ]
    assert query(
        db,
        "SELECT delivery_date::VARCHAR, events_loaded, duplicates_dropped, lines_quarantined "
        "FROM raw.ingest_files ORDER BY 1",
    ) == [(D1, 2, 0, 0), (D2, 1, 1, 1)]


def test_cross_partition_result_does_not_depend_on_run_order(tmp_path, landing):
    _two_days_with_redeliveries(landing)
    in_order, reverse = tmp_path / "in_order.duckdb", tmp_path / "reverse.duckdb"
    ingest(in_order, landing, D1)
    ingest(in_order, landing, D2)
    ingest(reverse, landing, D2)
    ingest(reverse, landing, D1)
    exclude = ("ingested_at", "loaded_at", "load_id")
    for table in TABLES:
        assert table_digest(in_order, table, exclude) == table_digest(reverse, table, exclude), table
    r9 = query(
        reverse,
        "SELECT bool_and(lines_read = blank_lines + events_loaded + duplicates_dropped + "
        "lines_quarantined) FROM raw.ingest_files",
    )
    assert r9 == [(True,)]


@pytest.mark.parametrize(
    "name",
    [
        "with space.jsonl",
        "üñí©ødé.jsonl",
        'it\'s "quoted".jsonl',
        "semi;colon.jsonl",
        "glob[1]*?.jsonl",
        "..dots...jsonl",
    ],
)
def test_hostile_file_names_are_read_safely(tmp_path, landing, name):
    write_lines(landing, D1, name, [line(event("e1"))])
    db = tmp_path / "wh.duckdb"
    report = ingest(db, landing, D1)
    assert report.events_loaded == 1
    assert query(db, "SELECT source_file FROM raw.trace_events") == [(f"{D1}/{name}",)]


def test_symlink_outside_landing_is_refused(tmp_path, landing):
    outside = tmp_path / "secret.jsonl"
    outside.write_text(line(event("e1")) + "\n")
    (landing / D1).mkdir(parents=True)
    os.symlink(outside, landing / D1 / "link.jsonl")
    with pytest.raises(LandingError, match="outside the landing folder"):
        ingest(tmp_path / "wh.duckdb", landing, D1)


@pytest.mark.slow
@pytest.mark.parametrize("gz", [False, True])
def test_line_numbers_are_exact_in_a_large_file(tmp_path, landing, gz):
    # ~40 MB: DuckDB reads it in several parallel buffers; line numbers must still be exact.
    lines = [line(event(f"e{i}", sequence=i, payload={"pad": "x" * 400})) for i in range(100_000)]
    lines[1234] = "{broken"
    write_lines(landing, D1, "big.jsonl.gz" if gz else "big.jsonl", lines, gz=gz)
    db = tmp_path / "wh.duckdb"
    ingest(db, landing, D1)
    assert query(db, "SELECT line_number FROM raw.quarantine") == [(1235,)]
    assert query(db, "SELECT min(line_number), max(line_number), count(*) FROM raw.trace_events") == [
        (1, 100_000, 99_999)
    ]
    assert query(db, "SELECT count(*) FROM raw.trace_events WHERE event_id <> 'e' || (line_number - 1)") == [
        (0,)
    ]


def test_unknown_partition_key_is_rejected(tmp_path, landing):
    with pytest.raises(LandingError, match="bad date"):
        ingest(tmp_path / "wh.duckdb", landing, "2026-11-20'; DROP TABLE x; --")
