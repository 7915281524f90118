"""Builders for hand-written landing files, shared by the ingestion tests."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb

from trace_platform.defs.ingest.loader import IngestReport, ingest_partition
from trace_platform.lib.settings import IngestLimits


def event(event_id: str = "e1", **overrides) -> dict:
    base = {
        "schema_version": "1",
        "event_id": event_id,
        "event_type": "plan",
        "timestamp": "2026-11-20T01:00:00.000001Z",
        "trace_id": "t1",
        "span_id": "s1",
        "parent_span_id": None,
        "sequence": 0,
        "session_id": None,
        "tenant_id": "acme",
        "user_id": "u1",
        "agent": {"name": "support-bot", "version": "1.0.0"},
        "payload": {"steps": ["look up order"]},
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP = object()
DROP = _DROP  # use as a value to remove a field: event(event_id=DROP)


def line(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


def write_lines(
    landing: Path,
    day: str,
    name: str,
    lines: list[str | bytes],
    *,
    gz: bool = False,
    trailing_newline: bool = True,
) -> Path:
    folder = landing / day
    folder.mkdir(parents=True, exist_ok=True)
    raw = b"\n".join(x if isinstance(x, bytes) else x.encode() for x in lines)
    if trailing_newline and lines:
        raw += b"\n"
    path = folder / name
    if gz:
        path.write_bytes(gzip.compress(raw, mtime=0))
    else:
        path.write_bytes(raw)
    return path


def ingest(db: Path, landing: Path, day: str, limits: IngestLimits | None = None) -> IngestReport:
    con = duckdb.connect(str(db))
    try:
        return ingest_partition(con, landing, day, limits=limits)
    finally:
        con.close()


def query(db: Path, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def table_digest(
    db: Path, table: str, exclude: tuple[str, ...] = ("ingested_at", "loaded_at", "load_id")
) -> list:
    """All rows of a table without load-time columns, sorted: equal digests mean equal contents."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        cols = [
            r[0]
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema || '.' || table_name = ? "
                "ORDER BY ordinal_position",
                [table],
            ).fetchall()
            if r[0] not in exclude
        ]
        select = ", ".join(f'"{c}"::VARCHAR' for c in cols)
        return sorted(con.execute(f"SELECT {select} FROM {table}").fetchall(), key=repr)
    finally:
        con.close()
