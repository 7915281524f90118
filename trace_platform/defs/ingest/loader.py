"""Loads one delivery-day partition of native trace files into the raw zone.

Python does the per-file work (hashing, gzip, UTF-8 checks: see lib/line_segments.py); DuckDB
does everything per line, set-based, with the SQL files next to this module. The partition is
published in one transaction, so a re-run replaces it atomically and a crash leaves the previous
state intact.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from trace_platform.lib.landing import list_partition_files, parse_partition_key, partition_fingerprint
from trace_platform.lib.line_segments import prepare_files
from trace_platform.lib.settings import IngestLimits

SQL_DIR = Path(__file__).parent / "sql"


def read_sql(name: str) -> str:
    return (SQL_DIR / name).read_text()


def _strict_json_valid(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(read_sql("create_raw_tables.sql"))


def prepare_session(con: duckdb.DuckDBPyConnection) -> None:
    """Session settings and helper macros/functions the ingest SQL relies on."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    try:
        con.create_function("strict_json_valid", _strict_json_valid, ["VARCHAR"], "BOOLEAN",
                            null_handling="special", side_effects=False)
    except duckdb.CatalogException:
        pass  # already registered on this connection
    con.execute(read_sql("macros.sql"))


@dataclass
class IngestReport:
    partition_key: str
    load_id: str
    files: int = 0
    lines_read: int = 0
    blank_lines: int = 0
    events_loaded: int = 0
    duplicates_dropped: int = 0
    lines_quarantined: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    demoted_from_later_partitions: int = 0
    ignored_files: list[str] = field(default_factory=list)
    landing_fingerprint: str = ""
    seconds: float = 0.0

    def as_metadata(self) -> dict:
        return {
            "files": self.files,
            "lines_read": self.lines_read,
            "blank_lines": self.blank_lines,
            "events_loaded": self.events_loaded,
            "duplicates_dropped": self.duplicates_dropped,
            "lines_quarantined": self.lines_quarantined,
            "quarantined_by_reason": self.quarantined_by_reason,
            "demoted_from_later_partitions": self.demoted_from_later_partitions,
            "ignored_files": self.ignored_files,
            "load_id": self.load_id,
            "landing_fingerprint": self.landing_fingerprint,
            "seconds": round(self.seconds, 3),
        }


def ingest_partition(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    partition_key: str,
    limits: IngestLimits | None = None,
    work_root: Path | None = None,
) -> IngestReport:
    """Loads `<landing>/<partition_key>/*.jsonl[.gz]`, replacing that partition's raw rows."""
    started = dt.datetime.now(dt.UTC)
    parse_partition_key(partition_key)
    limits = limits or IngestLimits()
    listing = list_partition_files(landing, partition_key)
    load_id = uuid.uuid4().hex
    report = IngestReport(partition_key=partition_key, load_id=load_id, files=len(listing.files),
                          ignored_files=listing.ignored, landing_fingerprint=partition_fingerprint(listing))

    ensure_raw_tables(con)
    prepare_session(con)
    work_dir = Path(tempfile.mkdtemp(prefix=f"ingest-{partition_key}-", dir=work_root))
    marker = "\x00" + uuid.uuid4().hex
    try:
        prepared = prepare_files(listing.files, work_dir, limits, marker[1:])
        segments = [s for p in prepared for s in p.segments]
        con.execute("CREATE OR REPLACE TEMP TABLE ingest_segments "
                    "(path VARCHAR, source_file VARCHAR, first_line_number BIGINT)")
        if segments:
            con.executemany("INSERT INTO ingest_segments VALUES (?, ?, ?)",
                            [(str(s.path), s.source_file, s.first_line_number) for s in segments])
        con.execute("CREATE OR REPLACE TEMP TABLE ingest_file_list (source_file VARCHAR, file_bytes BIGINT, "
                    "content_sha256 VARCHAR, file_error VARCHAR, file_error_detail VARCHAR)")
        if prepared:
            con.executemany("INSERT INTO ingest_file_list VALUES (?, ?, ?, ?, ?)", [
                (p.file.relative_name, p.file.size_bytes, p.content_sha256, p.file_error, p.file_error_detail)
                for p in prepared])

        segment_paths = [str(s.path) for s in segments]
        params = {"marker": marker, "quarantine_chars": limits.quarantine_line_chars}
        if segment_paths:
            con.execute(read_sql("parse_lines.sql"), {"segment_paths": segment_paths, **params})
        else:  # an empty partition still gets its (empty) accounting
            con.execute("CREATE OR REPLACE TEMP TABLE ingest_lines AS "
                        "SELECT * FROM (" + _EMPTY_LINES + ") WHERE false")
        _run_script(con, "resolve_duplicates.sql", {"partition": partition_key})

        conflict_files = {r[0]: r[1] for r in con.execute(
            "SELECT DISTINCT source_file, is_new FROM ingest_losers WHERE outcome = 'conflict'").fetchall()}
        conflict_paths = [str(s.path) for s in segments if s.source_file in conflict_files]
        # Files of later partitions whose copies now lose to this partition: read them again.
        later = [f for f, is_new in conflict_files.items() if not is_new]
        if later:
            later_segments = _prepare_other_files(landing, later, work_dir / "later", limits, marker[1:])
            con.executemany("INSERT INTO ingest_segments VALUES (?, ?, ?)",
                            [(str(s.path), s.source_file, s.first_line_number) for s in later_segments])
            conflict_paths += [str(s.path) for s in later_segments]
        if conflict_paths:
            con.execute(read_sql("fetch_conflict_lines.sql"),
                        {"segment_paths": conflict_paths, "quarantine_chars": limits.quarantine_line_chars})
        else:
            con.execute("CREATE OR REPLACE TEMP TABLE ingest_conflict_lines "
                        "(source_file VARCHAR, line_number BIGINT, raw_line VARCHAR, raw_line_bytes BIGINT)")

        report.demoted_from_later_partitions = con.execute(
            "SELECT count(*) FROM ingest_losers WHERE NOT is_new").fetchone()[0]
        con.execute("BEGIN TRANSACTION")
        try:
            _run_script(con, "publish_partition.sql",
                        {"partition": partition_key, "load_id": load_id, "ingested_at": started})
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
        for table in ("ingest_lines", "ingest_contested", "ingest_contents", "ingest_losers",
                      "ingest_conflict_lines", "ingest_segments", "ingest_file_list"):
            con.execute(f"DROP TABLE IF EXISTS {table}")

    totals = con.execute(
        "SELECT coalesce(sum(lines_read), 0), coalesce(sum(blank_lines), 0), coalesce(sum(events_loaded), 0), "
        "coalesce(sum(duplicates_dropped), 0), coalesce(sum(lines_quarantined), 0) "
        "FROM raw.ingest_files WHERE delivery_date = ?::DATE", [partition_key]).fetchone()
    (report.lines_read, report.blank_lines, report.events_loaded,
     report.duplicates_dropped, report.lines_quarantined) = totals
    report.quarantined_by_reason = dict(con.execute(
        "SELECT reason, count(*) FROM raw.quarantine WHERE delivery_date = ?::DATE GROUP BY reason ORDER BY reason",
        [partition_key]).fetchall())
    report.seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
    return report


def _prepare_other_files(landing: Path, relative_names: list[str], work_dir: Path,
                         limits: IngestLimits, token: str) -> list:
    files = []
    for name in relative_names:
        partition, _, file_name = name.partition("/")
        files += [f for f in list_partition_files(landing, partition).files if f.relative_name == name]
    return [s for p in prepare_files(files, work_dir, limits, token) for s in p.segments]


def _run_script(con: duckdb.DuckDBPyConnection, name: str, params: dict) -> None:
    """Runs a multi-statement SQL file, binding to each statement only the parameters it uses."""
    for statement in _split_statements(read_sql(name)):
        used = set(re.findall(r"\$(\w+)", statement))
        con.execute(statement, {k: v for k, v in params.items() if k in used})


def _split_statements(sql: str) -> list[str]:
    """Splits a SQL file on `;` at line ends (our SQL files keep one statement per paragraph)."""
    statements, current = [], []
    for line in sql.splitlines():
        if line.lstrip().startswith("--"):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            text = "\n".join(current).strip()
            if text and not all(part.strip().startswith("--") or not part.strip() for part in current):
                statements.append(text)
            current = []
    return statements


_EMPTY_LINES = """
SELECT NULL::VARCHAR AS source_file, NULL::BIGINT AS line_number, NULL::VARCHAR AS line_status,
       NULL::VARCHAR AS reason, NULL::VARCHAR AS raw_line, NULL::BIGINT AS raw_line_bytes,
       NULL::VARCHAR AS event_id, NULL::UBIGINT AS line_hash, NULL::VARCHAR AS schema_version,
       NULL::VARCHAR AS event_type, NULL::TIMESTAMPTZ AS event_timestamp, NULL::VARCHAR AS trace_id,
       NULL::VARCHAR AS span_id, NULL::VARCHAR AS parent_span_id, NULL::BIGINT AS sequence,
       NULL::VARCHAR AS session_id, NULL::VARCHAR AS tenant_id, NULL::VARCHAR AS user_id,
       NULL::VARCHAR AS agent_name, NULL::VARCHAR AS agent_version, NULL::JSON AS payload,
       NULL::JSON AS attributes, NULL::JSON AS extra_fields
"""
