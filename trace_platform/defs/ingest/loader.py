"""Loads one delivery-day partition of trace files into the raw zone.

A partition holds the native v1 files of `<landing>/<day>/` and the OpenTelemetry OTLP/JSON files
of `<landing>/otlp/<day>/` (docs/otlp.md), mapped into the same native-shaped rows. Python does the
per-file work (hashing, gzip, UTF-8 checks: see lib/line_segments.py); DuckDB does everything per
line, set-based, with the SQL files next to this module. The partition is published in one
transaction, so a re-run replaces it atomically and a crash leaves the previous state intact.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from trace_platform.lib import settings
from trace_platform.lib.duckdb_functions import register as register_functions
from trace_platform.lib.json_canonical import is_valid_json
from trace_platform.lib.landing import (
    OTLP_DIR,
    list_partition_files,
    parse_partition_key,
    partition_fingerprint,
)
from trace_platform.lib.line_segments import PreparedFile, prepare_files, repair_file
from trace_platform.lib.settings import IngestLimits

SQL_DIR = Path(__file__).parent / "sql"


def read_sql(name: str) -> str:
    return (SQL_DIR / name).read_text()


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(read_sql("create_raw_tables.sql"))


def prepare_session(con: duckdb.DuckDBPyConnection) -> None:
    """Session settings and helper macros/functions the ingest SQL relies on."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    try:
        con.create_function(
            "strict_json_valid",
            is_valid_json,
            ["VARCHAR"],
            "BOOLEAN",
            null_handling="special",
            side_effects=False,
        )
    except (duckdb.CatalogException, duckdb.NotImplementedException):
        pass  # already registered on this connection
    register_functions(con)
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
    otlp: dict[str, int] = field(default_factory=dict)  # OTLP files: spans, log records, ... (docs/otlp.md)
    ignored_files: list[str] = field(default_factory=list)
    landing_fingerprint: str = ""
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)

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
            **({"otlp": self.otlp} if self.otlp else {}),
            "ignored_files": self.ignored_files,
            "load_id": self.load_id,
            "landing_fingerprint": self.landing_fingerprint,
            "seconds": round(self.seconds, 3),
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
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
    report = IngestReport(
        partition_key=partition_key,
        load_id=load_id,
        files=len(listing.files),
        ignored_files=listing.ignored,
        landing_fingerprint=partition_fingerprint(listing),
    )

    ensure_raw_tables(con)
    prepare_session(con)
    work_dir = Path(tempfile.mkdtemp(prefix=f"ingest-{partition_key}-", dir=work_root))
    marker = "\x00" + uuid.uuid4().hex
    stage = _StageTimer(report.stage_seconds)
    try:
        prepared = prepare_files(listing.files, work_dir, limits, marker[1:])
        stage("prepare_files")
        con.execute(
            "CREATE OR REPLACE TEMP TABLE ingest_file_list (source_file VARCHAR, file_bytes BIGINT, "
            "content_sha256 VARCHAR, file_error VARCHAR, file_error_detail VARCHAR)"
        )
        if prepared:
            con.executemany(
                "INSERT INTO ingest_file_list VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        p.file.relative_name,
                        p.file.size_bytes,
                        p.content_sha256,
                        p.file_error,
                        p.file_error_detail,
                    )
                    for p in prepared
                ],
            )

        native = [p for p in prepared if p.file.source_format == "native"]
        otlp = [p for p in prepared if p.file.source_format == "otlp"]
        _parse_files(con, native, limits, marker, work_dir)
        stage("parse_lines")
        _parse_otlp_files(con, otlp, limits, marker, work_dir)
        if otlp:
            stage("parse_otlp")
        _refuse_files_changed_since_listing(prepared)
        _run_script(con, "resolve_duplicates.sql", {"partition": partition_key})
        stage("resolve_duplicates")

        conflict_files = {
            r[0]: r[1]
            for r in con.execute(
                "SELECT DISTINCT source_file, is_new FROM ingest_losers WHERE outcome = 'conflict'"
            ).fetchall()
        }
        # (OTLP conflicts keep the mapped event instead of a line: fetch_conflict_lines.sql)
        conflict_inputs = [p for p in native if p.file.relative_name in conflict_files]
        # Native files of later partitions whose copies now lose to this partition: read them again.
        later = [f for f, is_new in conflict_files.items() if not is_new and not f.startswith(f"{OTLP_DIR}/")]
        if later:
            conflict_inputs += _prepare_other_files(landing, later, work_dir / "later", limits, marker[1:])
        fetch_conflicts = read_sql("fetch_conflict_lines.sql")
        conflict_params = {"quarantine_chars": limits.quarantine_line_chars}
        try:
            con.execute(
                fetch_conflicts.replace(
                    "{file_lines}", file_lines_sql(conflict_inputs, limits.max_line_bytes)
                ),
                conflict_params,
            )
        except duckdb.InvalidInputException as exc:
            # A file re-read here (often a later day's) holds invalid UTF-8: repair those files as
            # the parse does, then read again. The failed statement created nothing.
            if "unicode" not in str(exc).lower():
                raise
            repair_dir = work_dir / "conflicts_repaired"
            repair_dir.mkdir(exist_ok=True)
            for index, item in enumerate(conflict_inputs):
                if not item.marked_lines and item.read_path is not None:
                    repair_file(item, repair_dir, index, limits, marker[1:])
            con.execute(
                fetch_conflicts.replace(
                    "{file_lines}", file_lines_sql(conflict_inputs, limits.max_line_bytes)
                ),
                conflict_params,
            )

        report.demoted_from_later_partitions = con.execute(
            "SELECT count(*) FROM ingest_losers WHERE NOT is_new"
        ).fetchone()[0]
        had_otlp = (
            con.execute(
                "SELECT count(*) FROM raw.otlp_ingest_files WHERE delivery_date = ?::DATE", [partition_key]
            ).fetchone()[0]
            > 0
        )
        if otlp or had_otlp:
            _run_script(con, "otlp_macros.sql", {})  # the resequencing below uses otlp_type_rank
        con.execute("BEGIN TRANSACTION")
        try:
            _run_script(
                con,
                "publish_partition.sql",
                {"partition": partition_key, "load_id": load_id, "ingested_at": started},
            )
            if otlp or had_otlp:
                _run_script(con, "otlp_resequence.sql", {})
            con.execute("COMMIT")
            stage("publish")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
        for table in (
            "ingest_contested",
            "ingest_contents",
            "ingest_losers",
            "ingest_conflict_lines",
            "ingest_file_list",
        ):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute("DETACH DATABASE IF EXISTS ingest_work")

    totals = con.execute(
        "SELECT coalesce(sum(lines_read), 0), coalesce(sum(blank_lines), 0), coalesce(sum(events_loaded), 0), "
        "coalesce(sum(duplicates_dropped), 0), coalesce(sum(lines_quarantined), 0) "
        "FROM raw.ingest_files WHERE delivery_date = ?::DATE",
        [partition_key],
    ).fetchone()
    (
        report.lines_read,
        report.blank_lines,
        report.events_loaded,
        report.duplicates_dropped,
        report.lines_quarantined,
    ) = totals
    report.quarantined_by_reason = dict(
        con.execute(
            "SELECT reason, count(*) FROM raw.quarantine WHERE delivery_date = ?::DATE GROUP BY reason ORDER BY reason",
            [partition_key],
        ).fetchall()
    )
    if otlp:
        row = con.execute(
            "SELECT count(*), sum(spans), sum(spans_quarantined), sum(log_records), sum(log_records_quarantined), "
            "sum(records_mapped) FROM raw.otlp_ingest_files WHERE delivery_date = ?::DATE",
            [partition_key],
        ).fetchone()
        defaulted = con.execute(
            "SELECT count(*) FROM raw.trace_events WHERE delivery_date = ?::DATE AND source_format = 'otlp' "
            "AND json_extract_string(extra_fields, '$.otlp.tenant_source') = 'default'",
            [partition_key],
        ).fetchone()[0]
        report.otlp = dict(
            zip(
                (
                    "files",
                    "spans",
                    "spans_quarantined",
                    "log_records",
                    "log_records_quarantined",
                    "records_mapped",
                ),
                (int(v or 0) for v in row),
                strict=False,
            )
        )
        report.otlp["events_with_default_tenant"] = int(defaulted)
    report.seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
    return report


class LandingFileChanged(RuntimeError):
    """A listed file was modified while the partition was being read."""


def _refuse_files_changed_since_listing(prepared: list) -> None:
    """A producer still writing a file in place would have it half-read: publish nothing then.

    The partition keeps its previously published rows (nothing is lost), the run fails with this
    message, and the landing sensor requests the next run once the file's fingerprint settles.
    """
    changed = []
    for item in prepared:
        try:
            now = item.file.path.stat()
            if now.st_size != item.file.size_bytes or now.st_mtime_ns != item.file.mtime_ns:
                changed.append(item.file.relative_name)
        except FileNotFoundError:
            changed.append(item.file.relative_name)
    if changed:
        raise LandingFileChanged(
            f"{len(changed)} landing file(s) changed while it was being read, nothing was published: "
            f"{', '.join(changed[:5])}; deliver files by writing elsewhere and renaming them into place, "
            "then run the day again"
        )


class _StageTimer:
    def __init__(self, into: dict[str, float]):
        self._into = into
        self._last = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self._into[name] = now - self._last
        self._last = now


def _parse_files(
    con: duckdb.DuckDBPyConnection,
    prepared: list[PreparedFile],
    limits: IngestLimits,
    marker: str,
    work_dir: Path,
) -> None:
    """Validates all files into ingest_work.lines, one file per DuckDB cursor, in parallel.

    Line numbering (`WITH ORDINALITY`) keeps a file's pipeline on one thread, so files are spread
    over threads instead. ingest_work is an in-memory scratch database that DuckDB may spill.
    """
    con.execute("DETACH DATABASE IF EXISTS ingest_work")
    con.execute("ATTACH ':memory:' AS ingest_work")
    parse_sql = read_sql("parse_lines.sql")
    params = {"marker": marker, "quarantine_chars": limits.quarantine_line_chars}
    empty_lines = file_lines_sql([], limits.max_line_bytes)
    con.execute(
        parse_sql.replace("INSERT INTO ingest_work.lines", "CREATE TABLE ingest_work.lines AS").replace(
            "{file_lines}", empty_lines
        ),
        params,
    )

    def parse_one(index_and_item: tuple[int, PreparedFile]) -> None:
        index, item = index_and_item
        cursor = con.cursor()
        try:
            prepare_session(cursor)
            try:
                cursor.execute(
                    parse_sql.replace("{file_lines}", file_lines_sql([item], limits.max_line_bytes)), params
                )
            except duckdb.InvalidInputException as exc:
                # The reader refuses invalid UTF-8 (checked here, not in Python, to keep the fast
                # path fast): repair the file line by line and read it again. The failed
                # statement inserted nothing.
                if item.marked_lines or "unicode" not in str(exc).lower():
                    raise
                repair_file(item, work_dir, index, limits, marker[1:])
                cursor.execute(
                    parse_sql.replace("{file_lines}", file_lines_sql([item], limits.max_line_bytes)), params
                )
        finally:
            cursor.close()

    readable = sorted(
        ((i, p) for i, p in enumerate(prepared) if p.read_path is not None),
        key=lambda item: item[1].file.size_bytes,
        reverse=True,
    )
    # Each file's pipeline is single-threaded anyway; one DuckDB thread per query avoids
    # oversubscribing the cores when several files run at once (measured: 8.7 s -> 5.4 s).
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    con.execute("SET threads = 1")
    try:
        with ThreadPoolExecutor(max_workers=max(1, settings.duckdb_threads())) as pool:
            list(pool.map(parse_one, readable))
    finally:
        con.execute(f"SET threads = {int(threads)}")


def _parse_otlp_files(
    con: duckdb.DuckDBPyConnection,
    prepared: list[PreparedFile],
    limits: IngestLimits,
    marker: str,
    work_dir: Path,
) -> None:
    """Decodes the partition's OTLP files into ingest_work.lines (otlp_*.sql, docs/otlp.md).

    Lines are read per file (so a file with invalid UTF-8 is repaired alone, as for native files);
    decoding and mapping run once over all of them, since a trace's spans may sit in several files.
    """
    con.execute(
        "CREATE OR REPLACE TABLE ingest_work.otlp_file_stats (source_file VARCHAR, physical_lines BIGINT, "
        "requests BIGINT, spans BIGINT, spans_quarantined BIGINT, log_records BIGINT, "
        "log_records_quarantined BIGINT, records_mapped BIGINT)"
    )
    if not prepared:
        return
    _run_script(con, "otlp_macros.sql", {})
    read_sql_text = read_sql("otlp_read_lines.sql")
    con.execute(
        read_sql_text.replace(
            "INSERT INTO ingest_work.otlp_physical", "CREATE OR REPLACE TABLE ingest_work.otlp_physical AS"
        ).replace("{file_lines}", file_lines_sql([], limits.max_line_bytes)),
        {"marker": marker},
    )
    for index, item in enumerate(prepared):
        if item.read_path is None:
            continue  # a file-level failure (corrupt gzip, unreadable): quarantined as a whole
        try:
            con.execute(
                read_sql_text.replace("{file_lines}", file_lines_sql([item], limits.max_line_bytes)),
                {"marker": marker},
            )
        except duckdb.InvalidInputException as exc:
            if item.marked_lines or "unicode" not in str(exc).lower():
                raise
            repair_file(item, work_dir, 100000 + index, limits, marker[1:])
            con.execute(
                read_sql_text.replace("{file_lines}", file_lines_sql([item], limits.max_line_bytes)),
                {"marker": marker},
            )
    _run_script(con, "otlp_parse.sql", {})
    _run_script(con, "otlp_map.sql", {"quarantine_chars": limits.quarantine_line_chars})


def sql_literal(text: str) -> str:
    """A SQL string literal: the only escape in SQL strings is a doubled quote."""
    if "\x00" in text:
        raise ValueError("NUL character in a file name")
    return "'" + text.replace("'", "''") + "'"


def file_lines_sql(prepared: list[PreparedFile], max_line_bytes: int) -> str:
    """A UNION of per-file line readers: (source_file, line_number, line).

    `read_csv` in single-column mode streams and parallelises within a file; `WITH ORDINALITY`
    numbers the lines of each file (line_segments guarantees no line is empty or split by \r).
    """
    branches: list[str] = []
    options = (
        f"columns = {{'line': 'VARCHAR'}}, header = false, auto_detect = false, delim = '\\0', "
        f"quote = '', escape = '', new_line = '\\n', strict_mode = false, "
        f"max_line_size = {int(max_line_bytes) + 1024}"
    )
    for i, p in enumerate(f for f in prepared if f.read_path is not None):
        # Quoted literals, not parameters: a parameterised read_csv path costs seconds per call.
        line = "coalesce(line, '')[2:]" if p.prefixed else "coalesce(line, '')"
        branches.append(
            f"SELECT {sql_literal(p.file.relative_name)} AS source_file, ordinality AS line_number, "
            f"{line} AS line FROM read_csv({sql_literal(str(p.read_path))}, {options}) "
            f"WITH ORDINALITY AS file_{i}"
        )
    if not branches:
        branches.append(
            "SELECT NULL::VARCHAR AS source_file, NULL::BIGINT AS line_number, NULL::VARCHAR AS line "
            "WHERE false"
        )
    return "\nUNION ALL\n".join(branches)


def _prepare_other_files(
    landing: Path, relative_names: list[str], work_dir: Path, limits: IngestLimits, token: str
) -> list[PreparedFile]:
    files = []
    for name in relative_names:
        partition = name.partition("/")[0]
        files += [f for f in list_partition_files(landing, partition).files if f.relative_name == name]
    return prepare_files(files, work_dir, limits, token)


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
