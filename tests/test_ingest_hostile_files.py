"""Hostile landing files: gzip bombs (a decompressed-size limit) and hard links out of the landing
folder (refused like escaping symlinks). Decisions and measurements: docs/reliability.md."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ingest_support import event, ingest, line, query, write_lines
from trace_platform.defs.ingest.loader import read_sql
from trace_platform.lib.landing import LandingError, list_partition_files
from trace_platform.lib.settings import IngestLimits

D1, D2 = "2026-11-20", "2026-11-21"


def _write_gzip_stream(path: Path, chunk: bytes, repeat: int) -> Path:
    """Writes `chunk` `repeat` times through a streaming gzip writer (nothing held whole)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for _ in range(repeat):
            gz.write(chunk)
    return path


def _r9(db: Path, day: str) -> list[tuple]:
    return query(db, read_sql("check_r9.sql").strip().rstrip(";").replace("$partition", f"'{day}'"))


def _assert_bomb_quarantined(db: Path, bomb: str, report) -> None:
    assert report.events_loaded == 2 and report.blank_lines == 0
    assert report.quarantined_by_reason == {"decompressed_too_large": 1}
    assert query(db, "SELECT source_file, line_number, reason FROM raw.quarantine") == [
        (bomb, None, "decompressed_too_large")
    ]
    detail = query(db, "SELECT raw_line FROM raw.quarantine")[0][0]
    assert "inflates beyond" in detail and "TRACE_PLATFORM_MAX_DECOMPRESSED_BYTES" in detail, detail
    assert query(
        db,
        "SELECT source_file, lines_read, blank_lines, events_loaded, lines_quarantined, file_status "
        "FROM raw.ingest_files ORDER BY 1",
    ) == [
        (f"{D1}/a.jsonl", 1, 0, 1, 0, "loaded"),
        (bomb, 0, 0, 0, 0, "quarantined"),
        (f"{D1}/z.jsonl.gz", 1, 0, 1, 0, "loaded"),
    ]
    r9 = _r9(db, D1)
    assert len(r9) == 3 and all(row[-1] for row in r9), r9  # R9 balances for every file


def _bomb_day(landing: Path, name: str, chunk: bytes, repeat: int) -> str:
    write_lines(landing, D1, "a.jsonl", [line(event("e1"))])
    write_lines(landing, D1, "z.jsonl.gz", [line(event("e2"))], gz=True)
    _write_gzip_stream(landing / D1 / name, chunk, repeat)
    return f"{D1}/{name}"


@pytest.mark.slow
def test_a_gzip_bomb_of_100m_blank_lines_is_quarantined_with_the_default_limits(tmp_path):
    # 100 M blank lines compress to ~97 KB. Before the limit they were all read: 71 s and 1.7 GB
    # peak RSS (DuckDB memory limit 1536 MB), 153 s and 18.5 GB with DuckDB's default limit.
    landing, db = tmp_path / "landing", tmp_path / "wh.duckdb"
    bomb = _bomb_day(landing, "bomb.jsonl.gz", b"\n" * (1 << 20), 100_000_000 >> 20)
    assert (landing / bomb).stat().st_size < 200_000
    started = time.perf_counter()
    report = ingest(db, landing, D1)
    seconds = time.perf_counter() - started
    _assert_bomb_quarantined(db, bomb, report)
    print(f"gzip bomb ({(landing / bomb).stat().st_size} bytes) quarantined in {seconds:.1f} s")
    assert seconds < 30


@pytest.mark.parametrize("content", ["blank_lines", "one_endless_line", "valid_events"])
def test_a_gzip_bomb_stops_at_a_smaller_configured_limit(tmp_path, content):
    """Each path of the reader (rewrite, line-by-line repair, valid lines) stops at the limit."""
    landing, db = tmp_path / "landing", tmp_path / "wh.duckdb"
    chunk = {
        "blank_lines": b"\n" * 4096,
        "one_endless_line": b"x" * 4096,
        "valid_events": (line(event("same")) + "\n").encode() * 16,
    }[content]
    bomb = _bomb_day(landing, "bomb.jsonl.gz", chunk, (2 << 20) // len(chunk))  # 2 MiB inflated
    limits = IngestLimits(
        max_line_bytes=256 << 10, max_decompressed_bytes=2 << 20, decompressed_floor_bytes=1 << 20
    )
    report = ingest(db, landing, D1, limits=limits)
    _assert_bomb_quarantined(db, bomb, report)
    # Under the limit the same file loads.
    generous = IngestLimits(
        max_line_bytes=256 << 10, max_decompressed_bytes=4 << 20, decompressed_floor_bytes=4 << 20
    )
    assert (
        ingest(tmp_path / "ok.duckdb", landing, D1, limits=generous).quarantined_by_reason.get(
            "decompressed_too_large"
        )
        is None
    )


def test_the_ratio_limit_and_its_floor(tmp_path):
    limits = IngestLimits(
        max_decompressed_bytes=1 << 30, max_decompression_ratio=100, decompressed_floor_bytes=1 << 20
    )
    assert limits.decompressed_allowance(100) == 1 << 20  # small files: the floor
    assert limits.decompressed_allowance(1 << 20) == 100 << 20  # 100 x the file
    assert limits.decompressed_allowance(1 << 30) == 1 << 30  # the absolute cap
    # The ratio applies to what is delivered: a 100 KB bomb may not use a 1 GiB cap.
    landing, db = tmp_path / "landing", tmp_path / "wh.duckdb"
    bomb = _bomb_day(landing, "bomb.jsonl.gz", b"\n" * (1 << 20), 64)
    _assert_bomb_quarantined(db, bomb, ingest(db, landing, D1, limits=limits))


def test_an_otlp_gzip_bomb_is_quarantined_too(tmp_path):
    landing, db = tmp_path / "landing", tmp_path / "wh.duckdb"
    write_lines(landing, D1, "a.jsonl", [line(event("e1"))])
    _write_gzip_stream(landing / "otlp" / D1 / "bomb.json.gz", b"\n" * 4096, 1024)
    report = ingest(db, landing, D1, limits=IngestLimits(decompressed_floor_bytes=1 << 20))
    assert report.events_loaded == 1
    assert query(db, "SELECT source_file, line_number, reason FROM raw.quarantine") == [
        (f"otlp/{D1}/bomb.json.gz", None, "decompressed_too_large")
    ]
    assert all(row[-1] for row in _r9(db, D1))


def test_the_limits_are_read_from_the_environment():
    code = (
        "from trace_platform.lib.settings import IngestLimits as L; l = L(); "
        "print(l.max_decompressed_bytes, l.max_decompression_ratio, l.decompressed_allowance(10))"
    )
    env = {
        **os.environ,
        "TRACE_PLATFORM_MAX_DECOMPRESSED_BYTES": "12345",
        "TRACE_PLATFORM_MAX_DECOMPRESSION_RATIO": "7",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["12345", "7.0", "12345"]


# --- hard links -----------------------------------------------------------------------------------


def test_a_hard_link_to_a_file_outside_the_landing_folder_is_refused(tmp_path):
    landing, outside = tmp_path / "landing", tmp_path / "outside"
    secret = write_lines(outside, D1, "secret.jsonl", [line(event("secret"))])
    write_lines(landing, D1, "a.jsonl", [line(event("e1"))])
    os.link(secret, landing / D1 / "link.jsonl")
    with pytest.raises(LandingError) as raised:
        ingest(tmp_path / "wh.duckdb", landing, D1)
    assert str(raised.value) == (
        f"refusing 'link.jsonl' in {D1}: hard link to a file with 1 of its 2 links outside the landing folder; "
        "deliver a copy, or move the file in (mv) instead of linking it"
    )
    assert query(tmp_path / "wh.duckdb", "SELECT count(*) FROM duckdb_tables()") == [(0,)]  # nothing read


def test_a_hard_link_in_the_otlp_folder_or_half_outside_is_refused(tmp_path):
    landing, outside = tmp_path / "landing", tmp_path / "outside"
    secret = write_lines(outside, D1, "secret.json", ["{}"])
    (landing / "otlp" / D1).mkdir(parents=True)
    (landing / "archive").mkdir()
    os.link(secret, landing / "otlp" / D1 / "x.json")
    os.link(secret, landing / "archive" / "x.json")  # two links inside, one outside
    with pytest.raises(
        LandingError,
        match=r"'otlp/x.json' in 2026-11-20: hard link to a file with 1 of its 3 links "
        "outside the landing folder",
    ):
        list_partition_files(landing, D1)


def test_hard_links_inside_the_landing_folder_are_read(tmp_path):
    """`rsync --link-dest`/`cp -al` between delivery days, a link from an archive folder, and a file
    delivered by `ln` then `rm` (one link left) are all deliveries into the landing folder."""
    landing = tmp_path / "landing"
    first = write_lines(landing, D1, "same.jsonl", [line(event("e1"))])
    (landing / D2).mkdir()
    os.link(first, landing / D2 / "same.jsonl")  # unchanged since yesterday: linked, not copied
    archived = write_lines(landing, "archive", "b.jsonl", [line(event("e2"))])
    os.link(archived, landing / D2 / "b.jsonl")
    staged = write_lines(tmp_path / "staging", D2, "c.jsonl", [line(event("e3"))])
    os.link(staged, landing / D2 / "c.jsonl")
    staged.unlink()
    db = tmp_path / "wh.duckdb"
    assert ingest(db, landing, D1).events_loaded == 1
    report = ingest(db, landing, D2)
    assert (report.files, report.events_loaded, report.duplicates_dropped) == (3, 2, 1)


@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync not installed")
def test_a_delivery_by_rsync_link_dest_is_read(tmp_path):
    landing, source = tmp_path / "landing", tmp_path / "producer"
    write_lines(source, "out", "same.jsonl", [line(event("e1"))])
    landing.mkdir()
    subprocess.run(["rsync", "-a", f"{source}/out/", f"{landing}/{D1}/"], check=True)
    write_lines(source, "out", "new.jsonl", [line(event("e2"))])
    subprocess.run(["rsync", "-a", f"--link-dest=../{D1}", f"{source}/out/", f"{landing}/{D2}/"], check=True)
    assert (landing / D2 / "same.jsonl").stat().st_nlink == 2
    assert [f.relative_name for f in list_partition_files(landing, D2).files] == [
        f"{D2}/new.jsonl",
        f"{D2}/same.jsonl",
    ]


def test_the_hard_link_search_starts_at_the_nearest_days(tmp_path, monkeypatch):
    """A file linked to yesterday's costs a scan of the neighbouring days, not of the whole
    landing folder (a link outside, or one linked into every day, costs a full walk)."""
    from trace_platform.lib import landing as landing_module

    landing = tmp_path / "landing"
    for day in range(1, 29):
        write_lines(landing, f"2026-02-{day:02d}", "a.jsonl", [line(event(f"e{day}"))])
    os.link(landing / "2026-02-13" / "a.jsonl", landing / "2026-02-14" / "same.jsonl")
    scanned = []
    real = os.scandir
    monkeypatch.setattr(landing_module.os, "scandir", lambda p: scanned.append(Path(p).name) or real(p))
    assert len(list_partition_files(landing, "2026-02-14").files) == 2
    assert scanned == ["landing", "2026-02-14", "2026-02-13"]
    assert len(list_partition_files(landing, "2026-02-13").files) == 1
