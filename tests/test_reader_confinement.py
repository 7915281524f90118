"""Readers are read-only in fact, and what every reader sees cannot be changed behind the publish's back.

`trace-platform query` (the reader snapshot, and `--live` on the warehouse) runs read-only statements
only, on a connection that can read nothing but the snapshot's own files; every published file carries
a sha256 digest in its version's manifest, checked before a publish reuses it and (reader file hashed,
Parquet files by stat signature) before a reader opens a version. See docs/reliability.md."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from reliability_support import (
    DAYS,
    analyst_hashes,
    differences,
    fresh_copy,
    publish,
    reader_hashes,
    reference,
)

from trace_platform.snapshots import (
    DENIED_FUNCTIONS,
    ReadOnlyQueryError,
    SnapshotError,
    connect_reader,
    read_only_statements,
    snapshot_paths,
)

D1, D2 = DAYS
CLI = str(Path(sys.executable).parent / "trace-platform")


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    return reference(tmp_path_factory)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, "query", *args], capture_output=True, text=True, timeout=120)


def _one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def _tree(*roots: Path) -> dict[str, str]:
    """Every file under the roots (and where each symlink points): what readers can be served."""
    state = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_symlink():
                state[str(path)] = "-> " + os.readlink(path)
            elif path.is_file() and path.name != ".publish.lock":
                state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def _files_of(paths, version: int, table: str) -> list[Path]:
    manifest = json.loads(paths.manifest_file(version).read_text())
    return [paths.root / f for b in manifest["tables"][table]["buckets"].values() for f in b["files"]]


def _warehouse_count(warehouse: Path, table: str) -> int:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


# --- the statement check (no warehouse needed) ------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "select 1; select 2",
        "WITH a AS (SELECT 1 AS x) SELECT * FROM a",
        "FROM range(3)",
        "VALUES (1)",
        "SHOW TABLES",
        "DESCRIBE SELECT 1 AS a",
        "SUMMARIZE SELECT 1 AS a",
        "PRAGMA show_tables",
        "EXPLAIN SELECT 1",
        "EXPLAIN ANALYZE SELECT 1",
        "EXPLAIN (FORMAT json) SELECT 1",
        "PIVOT (SELECT 1 AS a, 2 AS b) ON a IN (1) USING sum(b)",
        "SELECT 1 AS enable_logging",
        "SELECT 'COPY (SELECT 1) TO ''/tmp/x''' AS text",
    ],
)
def test_read_only_statements_pass(sql):
    assert read_only_statements(sql)


@pytest.mark.parametrize(
    "sql, refused",
    [
        ("COPY (SELECT 1) TO '/tmp/x.csv'", "COPY"),
        ("copy (select 1) to '/tmp/x.parquet' (format parquet, use_tmp_file false)", "COPY"),
        ("COPY marts.t FROM '/etc/passwd'", "COPY"),
        ("SELECT 1; COPY (SELECT 1) TO '/tmp/x.csv'", "COPY"),
        ("EXPORT DATABASE '/tmp/x'", "EXPORT"),
        ("ATTACH '/tmp/x.duckdb' AS x", "ATTACH"),
        ("DETACH x", "DETACH"),
        ("USE x", "USE"),
        ("SET enable_external_access = true", "SET"),
        ("RESET lock_configuration", "RESET"),
        ("SET VARIABLE x = 1", "SET"),
        ("PRAGMA enable_profiling", "PRAGMA"),
        ("PRAGMA profiling_output = '/tmp/x'", "PRAGMA"),
        ("INSTALL httpfs", "INSTALL"),
        ("LOAD httpfs", "LOAD"),
        ("CREATE TEMP TABLE t AS SELECT 1", "CREATE"),
        ("CREATE MACRO m() AS 1", "CREATE"),
        ("INSERT INTO t VALUES (1)", "INSERT"),
        ("UPDATE t SET a = 1", "UPDATE"),
        ("DELETE FROM t", "DELETE"),
        ("DROP TABLE t", "DROP"),
        ("ALTER TABLE t ADD COLUMN b INT", "ALTER"),
        ("CHECKPOINT", "CHECKPOINT"),
        ("CALL pragma_version()", "CALL"),
        ("BEGIN", "BEGIN"),
        ("PREPARE p AS SELECT 1", "PREPARE"),
        ("VACUUM", "VACUUM"),
        ("PIVOT (SELECT 1 AS a, 2 AS b) ON a USING sum(b)", "CREATE"),  # creates an ENUM type first
        ("EXPLAIN ANALYZE COPY (SELECT 1) TO '/tmp/x.csv'", "EXPLAIN"),  # EXPLAIN ANALYZE runs its statement
        ("EXPLAIN /* c */ ANALYZE COPY (SELECT 1) TO '/tmp/x.csv'", "EXPLAIN"),
        ("EXPLAIN (FORMAT json) COPY (SELECT 1) TO '/tmp/x.csv'", "EXPLAIN"),
        ("SELECT * FROM enable_logging(storage = 'file', storage_path = '/tmp/logs')", "enable_logging()"),
        ("SELECT * FROM system.main.ENABLE_LOGGING()", "enable_logging()"),
        ("SELECT (SELECT count(*) FROM enable_profiling())", "enable_profiling()"),
        ("FROM range(3) WHERE 1 IN (SELECT 1 FROM force_checkpoint())", "force_checkpoint()"),
        ("SELECT * FROM query('SELECT * FROM enable_logging()')", "query()"),
        ("SELECT write_log('x')", "write_log()"),
        ("EXPLAIN ANALYZE SELECT * FROM enable_logging()", "enable_logging()"),
    ],
)
def test_everything_else_is_refused_with_one_message(sql, refused):
    with pytest.raises(ReadOnlyQueryError) as caught:
        read_only_statements(sql)
    message = str(caught.value)
    assert message.startswith(f"refused {refused}") and "read-only statements only" in message
    assert "\n" not in message


def test_the_denied_functions_exist_in_this_duckdb():
    # A DuckDB upgrade that renames one would silently drop it from the check.
    con = duckdb.connect()
    names = {r[0] for r in con.execute("SELECT DISTINCT function_name FROM duckdb_functions()").fetchall()}
    assert DENIED_FUNCTIONS <= names, DENIED_FUNCTIONS - names


# --- the CLI and the reader, on a published snapshot ------------------------------------------------


@pytest.mark.integration
def test_nothing_a_query_sends_changes_the_snapshot(ref, tmp_path):
    warehouse = fresh_copy(ref, D2, tmp_path)
    publish(warehouse)
    paths = snapshot_paths(warehouse)
    violations = _files_of(paths, 1, "audit.audit_violations")[0]
    outcomes_dir = _files_of(paths, 1, "marts.fct_outcomes")[0].parent
    reader_file = paths.reader_file(1)
    before = _tree(paths.root, paths.reader.parent)
    hostile = [
        f"COPY (SELECT * FROM audit.audit_violations WHERE false) TO '{violations}' "
        "(FORMAT parquet, USE_TMP_FILE false)",
        f"COPY (SELECT * FROM audit.audit_violations WHERE false) TO '{violations}' (FORMAT parquet)",
        f"COPY (SELECT * REPLACE ('success' AS final_status) FROM marts.fct_outcomes) "
        f"TO '{outcomes_dir}/part_1.parquet'",
        f"COPY (SELECT 1) TO '{reader_file}' (FORMAT csv, USE_TMP_FILE false)",
        f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{violations}' (FORMAT parquet, USE_TMP_FILE false)",
        f"SELECT 1; COPY (SELECT 1) TO '{violations}' (FORMAT parquet, USE_TMP_FILE false)",
        f"EXPORT DATABASE '{paths.tables}/export'",
        f"ATTACH '{paths.tables}/new.duckdb' AS x",
        f"SELECT * FROM enable_logging(storage = 'file', storage_path = '{paths.tables}')",
        "SET enable_external_access = true",
        "INSTALL httpfs",
        "PRAGMA enable_profiling",
    ]
    for sql in hostile:
        result = _cli(sql, "--warehouse", str(warehouse))
        assert _one_line_error(result).startswith("Error: refused "), sql
        assert result.stdout == "", sql
    assert _tree(paths.root, paths.reader.parent) == before  # not a byte changed, nothing added

    # A reader can read the version's files, and nothing else: not even the manifest beside them.
    # (DuckDB itself adds the attached reader file, its WAL names and its spill folder.)
    reader = connect_reader(paths.reader)
    allowed = reader.execute("SELECT current_setting('allowed_paths')").fetchone()[0]
    reader.close()
    version_files = {
        str(f)
        for t in json.loads(paths.manifest_file(1).read_text())["tables"]
        for f in _files_of(paths, 1, t)
    }
    assert {p for p in allowed if not p.startswith(str(reader_file))} == version_files
    outside = [
        f"SELECT * FROM read_csv('{paths.manifest_file(1)}')",
        "SELECT * FROM read_csv('/etc/passwd')",
        f"SELECT * FROM read_blob('{warehouse}')",
        f"SELECT * FROM glob('{paths.tables}/*')",
        f"COPY (SELECT 1) TO '{paths.tables}/new.parquet'",
    ]
    for sql in outside:
        message = _one_line_error(_cli(sql, "--warehouse", str(warehouse)))
        assert "Permission Error" in message or message.startswith("Error: refused COPY"), (sql, message)
        reader = connect_reader(paths.reader)  # the notebook's way
        try:
            with pytest.raises(duckdb.PermissionException):
                reader.execute(sql)
        finally:
            reader.close()
    assert _tree(paths.root, paths.reader.parent) == before
    good = _cli(
        "SELECT count(*) AS n FROM audit.audit_violations", "--format", "csv", "--warehouse", str(warehouse)
    )
    assert good.returncode == 0 and good.stdout.splitlines() == [
        "n",
        str(_warehouse_count(warehouse, "audit.audit_violations")),
    ]


@pytest.mark.integration
def test_a_tampered_parquet_file_is_refused_by_readers_and_rewritten_by_the_next_publish(ref, tmp_path):
    warehouse = fresh_copy(ref, D2, tmp_path)
    publish(warehouse)
    paths = snapshot_paths(warehouse)
    violations = _files_of(paths, 1, "audit.audit_violations")
    outcomes = _files_of(paths, 1, "marts.fct_outcomes")
    assert _warehouse_count(warehouse, "audit.audit_violations") > 0 and violations
    # Out-of-band writes (anything that can write the folder; CI runs as root, so modes protect nothing):
    # audit violations emptied, every outcome turned into a success.
    forger = duckdb.connect()
    for f in violations:
        forger.execute(
            f"COPY (SELECT * FROM read_parquet('{f}') WHERE false) TO '{f}' "
            "(FORMAT parquet, USE_TMP_FILE false)"
        )
    for f in outcomes:
        forger.execute(
            f"COPY (SELECT * REPLACE ('success' AS final_status) FROM read_parquet('{f}')) TO '{f}.x' "
            "(FORMAT parquet)"
        )
        os.replace(f"{f}.x", f)
    forger.close()
    tampered = {str(f.relative_to(paths.root)) for f in [*violations, *outcomes]}

    with pytest.raises(SnapshotError, match="modified after publishing"):
        connect_reader(paths.reader)
    message = _one_line_error(
        _cli("SELECT count(*) FROM audit.audit_violations", "--warehouse", str(warehouse))
    )
    assert "reader snapshot v1 refused" in message and "the next publish rewrites them" in message

    report = publish(warehouse)  # the default: every reused file's sha256 is checked
    assert set(report.files_failed_verification) == tampered
    assert report.tables["audit.audit_violations"]["buckets_repaired"] == len(violations)
    assert report.tables["marts.fct_outcomes"]["buckets_repaired"] == len(outcomes)
    assert differences(reader_hashes(warehouse), analyst_hashes(warehouse)) == {}  # the warehouse's true rows
    manifest = json.loads(paths.manifest_file(2).read_text())
    used = {f for e in manifest["tables"].values() for b in e["buckets"].values() for f in b["files"]}
    assert not used & tampered and manifest["verification"]["failed"].keys() == tampered

    # Same size, mtime set back: the stat signature's ctime still changed, so even the cheap checks
    # (readers; publish with TRACE_PLATFORM_SNAPSHOT_VERIFY=stat) re-hash the file and find it.
    victim = _files_of(paths, 2, "marts.dim_tools")[0]
    stat = victim.stat()
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert victim.stat().st_size == stat.st_size and victim.stat().st_mtime_ns == stat.st_mtime_ns
    with pytest.raises(SnapshotError, match="sha256 mismatch"):
        connect_reader(paths.reader)
    again = publish(warehouse, verify="stat")
    assert list(again.files_failed_verification) == [str(victim.relative_to(paths.root))]
    assert differences(reader_hashes(warehouse), analyst_hashes(warehouse)) == {}
    assert publish(warehouse).files_written == 0  # and then it is incremental again


@pytest.mark.integration
def test_an_overwritten_reader_file_is_refused(ref, tmp_path):
    warehouse = fresh_copy(ref, D2, tmp_path)
    publish(warehouse)
    paths = snapshot_paths(warehouse)
    # A forged reader version: the same views, but audit.audit_violations says nothing happened.
    forged = tmp_path / "forged.duckdb"
    forged.write_bytes(paths.reader_file(1).read_bytes())
    con = duckdb.connect(str(forged))
    con.execute("CREATE OR REPLACE VIEW audit.audit_violations AS SELECT 'forged' AS rule_id WHERE false")
    con.execute("CHECKPOINT")
    con.close()
    os.replace(forged, paths.reader_file(1))

    with pytest.raises(SnapshotError, match="was modified after it was published"):
        connect_reader(paths.reader)
    result = _cli("SELECT * FROM audit.audit_violations", "--warehouse", str(warehouse))
    assert "reader snapshot v1 refused" in _one_line_error(result) and "forged" not in result.stdout
    publish(warehouse)  # the next publish replaces the version
    assert differences(reader_hashes(warehouse), analyst_hashes(warehouse)) == {}


@pytest.mark.integration
def test_query_without_a_snapshot_refuses_instead_of_reading_the_raw_warehouse(ref, tmp_path):
    warehouse = fresh_copy(ref, D2, tmp_path)  # built, never published (a failed first run)
    for sql in ("SELECT * FROM raw.trace_events LIMIT 5", "SELECT count(*) FROM marts.fct_outcomes"):
        result = _cli(sql, "--warehouse", str(warehouse))
        message = _one_line_error(result)
        assert message == (
            f"Error: no reader snapshot published for {warehouse} yet: run the nightly job "
            "(`trace-platform run`) to publish one, or use --live to query the warehouse itself"
        )
        assert result.stdout == ""
    out = tmp_path / "raw.csv"
    copy = _cli(f"COPY (SELECT * FROM raw.trace_events) TO '{out}'", "--warehouse", str(warehouse))
    assert _one_line_error(copy).startswith("Error: refused COPY") and not out.exists()


@pytest.mark.integration
def test_live_is_read_only_and_reads_no_file(ref, tmp_path):
    warehouse = fresh_copy(ref, D2, tmp_path)
    digest = hashlib.sha256(warehouse.read_bytes()).hexdigest()
    out = tmp_path / "out.csv"
    beside = tmp_path / "beside.txt"
    beside.write_text("a file next to the warehouse\n")
    refused = {
        "SELECT * FROM read_csv('/etc/passwd')": "Permission Error",
        "SELECT * FROM read_text('/etc/passwd')": "Permission Error",
        f"SELECT * FROM read_text('{beside}')": "Permission Error",
        f"SELECT * FROM glob('{tmp_path}/*')": "Permission Error",
        f"COPY (SELECT * FROM raw.trace_events) TO '{out}'": "Error: refused COPY",
        f"COPY (SELECT 1) TO '{warehouse}' (FORMAT csv, USE_TMP_FILE false)": "Error: refused COPY",
        f"EXPORT DATABASE '{tmp_path / 'export'}'": "Error: refused EXPORT",
        f"ATTACH '{tmp_path / 'other.duckdb'}' AS o": "Error: refused ATTACH",
        "SET enable_external_access = true": "Error: refused SET",
        "CREATE TABLE marts.x AS SELECT 1": "Error: refused CREATE",
        "DELETE FROM raw.trace_events": "Error: refused DELETE",
    }
    for sql, expected in refused.items():
        result = _cli(sql, "--live", "--warehouse", str(warehouse))
        assert expected in _one_line_error(result), sql
        assert "root:" not in result.stdout
    assert (
        not out.exists() and not (tmp_path / "export").exists() and not (tmp_path / "other.duckdb").exists()
    )
    assert hashlib.sha256(warehouse.read_bytes()).hexdigest() == digest
    raw = _cli(
        "SELECT count(*) > 0 AS ok FROM raw.trace_events",
        "--live",
        "--format",
        "csv",
        "--warehouse",
        str(warehouse),
    )
    assert raw.returncode == 0 and raw.stdout.splitlines() == ["ok", "True"], raw.stderr
