"""Shared by the fault, reader and reliability tests: a small dirty dataset with hostile values, one
delivery day run the way the nightly job runs it (ingest -> dbt build -> publish), and a content
hash of every table in every schema."""

from __future__ import annotations

import atexit
import datetime as dt
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import dbt_support
import duckdb
from dbt_support import Trace, write_day

from trace_platform.defs.ingest.loader import ingest_partition
from trace_platform.defs.transform.project import DBT_PROJECT_DIR, dbt_project
from trace_platform.sample_data import generate
from trace_platform.snapshots import (
    READER_SCHEMAS,
    PublishReport,
    connect_reader,
    publish_warehouse,
    quote_identifier,
    snapshot_paths,
    trace_scoped_tables,
)

DAYS = ["2026-11-20", "2026-11-21"]
DBT = str(Path(sys.executable).parent / "dbt")
PYTHON = sys.executable
ROOT = Path(__file__).resolve().parents[1]

# Values an attacker controls (they arrive in trace events and file names): they must come out
# verbatim, never as SQL.
HOSTILE_TENANTS = ["'); DROP TABLE raw.trace_events; --", 'acme" OR 1=1 --', "ü🔥 \\ $(rm -rf /) ;"]
HOSTILE_FILE = 'it\'s; DROP TABLE raw.trace_events; -- "x".jsonl'

# Columns that legitimately differ between two runs over the same input (load ids and timestamps);
# everything else must be identical. raw.trace_change_log is a log of publishes (one batch per
# ingestion run): it is compared as its set of (trace_id, delivery_date). audit.check_results is the
# history of check evaluations, one row per run x check: compared only where both sides have it.
# In any table or view: load time and id; model_build_seq = the change-log position of the dbt build
# that last wrote the row (a re-run after a killed build writes the same rows at a later position).
LOAD_COLUMNS = {"ingested_at", "loaded_at", "load_id", "logged_at", "model_build_seq"}
# int_trace_changes: change-log positions (changes_logged_through; changed_in_build and
# calls_changed_in_build, the position of the build that saw the trace change) and the time of it.
RUN_SPECIFIC_COLUMNS = {
    ("raw", "trace_change_log"): {"change_seq"},
    ("intermediate", "int_trace_changes"): {
        "changed_at",
        "changes_logged_through",
        "changed_in_build",
        "calls_changed_in_build",
    },
    ("audit", "check_results"): {"run_id", "evaluated_at", "recorded_at", "metadata", "description"},
}
# The build bookkeeping, left out of every comparison (not of `exact` hashes): int_rebuild_scope and
# int_rebuild_days hold what the last build rebuilt (nothing, after a re-run that changed nothing),
# int_completed_builds one row per complete build (a re-run adds one). Whether a re-run converged is
# what they are for: the fault tests check it with pending_traces() (as the publish does).
BUILD_STATE_TABLES = {
    ("intermediate", "int_rebuild_scope"),
    ("intermediate", "int_rebuild_days"),
    ("intermediate", "int_completed_builds"),
}
# The eval reasons order their tie-breaks fully, so every column is compared.
NONDETERMINISTIC_COLUMNS: dict[tuple[str, str], set[str]] = {}
DISTINCT_ROWS = {("raw", "trace_change_log")}
HISTORY_TABLES = {("audit", "check_results")}


def hostile_traces(day: str) -> list[dict]:
    events: list[dict] = []
    for i, tenant in enumerate(HOSTILE_TENANTS):
        trace = Trace(f"hostile-{i}'\"", tenant_id=tenant, agent=(f"bot'; --{i}", "1.0.0'"), day=day)
        trace.request(text="refund'); DELETE FROM marts.fct_outcomes; --", intent="refund_order")
        trace.authorised_write(f"hostile-{i}.c1'", tool='refund_order"; DROP')
        trace.final()
        events += trace.events
    return events


def make_landing(root: Path, traces_per_day: int = 24, dirty: bool = True) -> Path:
    """Two generated days (dirty: duplicates, conflicts, bad lines; late events), plus hostile values."""
    landing = root / "landing"
    generate(
        landing,
        days=len(DAYS),
        traces_per_day=traces_per_day,
        seed=5,
        start=dt.date.fromisoformat(DAYS[0]),
        dirty=dirty,
    )
    write_day(landing, DAYS[0], hostile_traces(DAYS[0]), name=HOSTILE_FILE)
    return landing


def ingest_day(warehouse: Path, landing: Path, day: str):
    con = duckdb.connect(str(warehouse))
    try:
        return ingest_partition(con, landing, day)
    finally:
        con.close()


_DBT_TARGET: list[Path] = []


def dbt_target() -> Path:
    """One dbt target folder per test process (dbt runs one at a time here): partial parsing is reused."""
    if not _DBT_TARGET:
        _DBT_TARGET.append(Path(tempfile.mkdtemp(prefix="reliability-dbt-target-")))
        atexit.register(shutil.rmtree, _DBT_TARGET[0], True)
    return _DBT_TARGET[0]


def dbt_command(warehouse: Path, *extra: str, command: str = "build") -> list[str]:
    """The dbt command line (a build rebuilds the traces changed since the last complete build)."""
    return [
        DBT,
        command,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(dbt_target()),
        *extra,
    ]


def dbt_env(warehouse: Path) -> dict:
    return {**dbt_support.dbt_env(warehouse), "PYTHONUNBUFFERED": "1"}


def dbt_build(warehouse: Path) -> None:
    result = subprocess.run(
        dbt_command(warehouse, "--quiet"),
        env=dbt_env(warehouse),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise AssertionError(f"dbt build failed:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}")


def tracked_tables() -> set[str]:
    return trace_scoped_tables(dbt_project.manifest_path)


def publish(warehouse: Path, **kwargs) -> PublishReport:
    return publish_warehouse(warehouse, tracked_tables=tracked_tables(), **kwargs)


def run_day(
    warehouse: Path, landing: Path, day: str, *, publish_snapshot: bool = True
) -> PublishReport | None:
    """One nightly run of `day` without Dagster: the functions and commands its steps run."""
    ingest_day(warehouse, landing, day)
    dbt_build(warehouse)
    return publish(warehouse) if publish_snapshot else None


def copy_warehouse(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    wal = source.with_name(source.name + ".wal")
    if wal.exists():
        shutil.copyfile(wal, target.with_name(target.name + ".wal"))
    return target


# --- content hashes -------------------------------------------------------------------------------


def _digest(rows: list[tuple]) -> str:
    digest = hashlib.sha256()
    for text in sorted(repr(r) for r in rows):
        digest.update(text.encode())
        digest.update(b"\n")
    return f"{len(rows)}:{digest.hexdigest()[:16]}"


def relation_hashes(
    con: duckdb.DuckDBPyConnection,
    schemas: tuple[str, ...] | None = None,
    include_history: bool = False,
    exact: bool = False,
) -> dict[str, str]:
    """Content hash of every table and view (all schemas, or `schemas`), without run-specific columns
    (`exact`: every column and row as stored)."""
    relations = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "UNION ALL SELECT schema_name, view_name FROM duckdb_views() WHERE database_name = current_database() "
        "AND NOT internal ORDER BY 1, 2"
    ).fetchall()
    hashes = {}
    for schema, table in relations:
        if schemas is not None and schema not in schemas:
            continue
        if (schema, table) in HISTORY_TABLES and not include_history:
            continue
        if (schema, table) in BUILD_STATE_TABLES and not exact:
            continue
        skip = (
            set()
            if exact
            else (
                LOAD_COLUMNS
                | RUN_SPECIFIC_COLUMNS.get((schema, table), set())
                | NONDETERMINISTIC_COLUMNS.get((schema, table), set())
            )
        )
        columns = [
            c
            for (c,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = ? "
                "AND table_name = ? ORDER BY column_index",
                [schema, table],
            ).fetchall()
            if c not in skip
        ]
        select = ", ".join(f"{quote_identifier(c)}::VARCHAR" for c in columns)
        distinct = "DISTINCT " if (schema, table) in DISTINCT_ROWS and not exact else ""
        rows = con.execute(
            f"SELECT {distinct}{select} FROM {quote_identifier(schema)}.{quote_identifier(table)}"
        ).fetchall()
        hashes[f"{schema}.{table}"] = _digest(rows)
    return hashes


def pending_traces(warehouse: Path) -> int:
    """Traces whose rebuild no complete dbt build has finished: changed in a build after the last row
    of int_completed_builds (the count trace_platform.snapshots.planning.change_window refuses to
    publish)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(
            "SELECT count(*) FROM intermediate.int_trace_changes WHERE changed_in_build > "
            "(SELECT coalesce(max(changes_built_through), 0) FROM intermediate.int_completed_builds)"
        ).fetchone()[0]
    finally:
        con.close()


def content_hashes(warehouse: Path, **kwargs) -> dict[str, str]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return relation_hashes(con, **kwargs)
    finally:
        con.close()


def reader_hashes(warehouse: Path) -> dict[str, str]:
    con = connect_reader(snapshot_paths(warehouse).reader)
    try:
        return relation_hashes(con, schemas=READER_SCHEMAS, include_history=True, exact=True)
    finally:
        con.close()


def analyst_hashes(warehouse: Path) -> dict[str, str]:
    """The warehouse's analyst schemas as the reader must show them (views excluded: none there)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return relation_hashes(con, schemas=READER_SCHEMAS, include_history=True, exact=True)
    finally:
        con.close()


def differences(actual: dict[str, str], expected: dict[str, str]) -> dict[str, tuple]:
    return {
        k: (actual.get(k), expected.get(k))
        for k in sorted(set(actual) | set(expected))
        if actual.get(k) != expected.get(k)
    }


# --- the clean reference run, built once per test session ------------------------------------------

_REFERENCE: dict = {}


def reference(tmp_path_factory) -> dict:
    """A clean run of both days: the landing folder, warehouse copies after each day, and their hashes."""
    if not _REFERENCE:
        root = tmp_path_factory.mktemp("reliability_reference")
        landing = make_landing(root)
        warehouse = root / "clean" / "warehouse.duckdb"
        warehouse.parent.mkdir()
        _REFERENCE.update(root=root, landing=landing)
        for day in DAYS:
            run_day(warehouse, landing, day, publish_snapshot=False)
            _REFERENCE[day] = {
                "warehouse": copy_warehouse(warehouse, root / f"after_{day}" / "warehouse.duckdb"),
                "hashes": content_hashes(warehouse),
            }
    return _REFERENCE


def fresh_copy(ref: dict, day: str, target_dir: Path) -> Path:
    """A private copy of the clean warehouse as it was after `day`, sharing the session's dbt target."""
    target_dir.mkdir(parents=True, exist_ok=True)
    return copy_warehouse(ref[day]["warehouse"], target_dir / "warehouse.duckdb")
