"""The reader snapshot: an immutable, read-only copy of the analyst schemas, published after each run.

DuckDB allows one writer process, and while it writes no other process can open the file, not even
read-only. Analysts therefore never open the warehouse: they open the *reader*, a small DuckDB file
of views over Parquet files, published at the end of every successful nightly run and swapped in
atomically. A reader always sees the last completely published state, never takes the warehouse's
lock, and never sees the raw zone.

Layout (for the warehouse `data/warehouse.duckdb`)::

    data/warehouse.reader.duckdb  -> warehouse.reader/readers/v00000012.duckdb   symlink, swapped by rename
    data/warehouse.reader/readers/v00000012.duckdb     views over exactly the Parquet files of version 12
    data/warehouse.reader/manifests/v00000012.json     what version 12 holds: per table, bucket -> files
    data/warehouse.reader/tables/<schema>.<table>/v00000012/__bucket=<day>/part_0.parquet

Every file is written once and never modified. A table is split into *buckets* (one per delivery
day, or one bucket for small tables) and a publish writes only the buckets that changed; the others
are carried over from the previous version by reference. So the cost of a publish follows what the
run changed, not the length of history:

* **tracked** tables (the trace-scoped dbt models, which rebuild exactly the traces whose events
  changed): the changed buckets are the delivery days logged in `raw.trace_change_log` since the
  previous publish, plus every day spanned by those traces (`intermediate.int_trace_changes`). No
  scan of unchanged history.
* **fingerprinted** tables (everything else: dimensions, summaries, eval labels, check results):
  per bucket, a row count and a sum of row hashes; buckets whose fingerprint changed are rewritten.

A tracked table is published in full when its columns changed or it was recreated (a `dbt build
--full-refresh`): each published tracked table carries a marker in its table comment, which a
recreated table lacks. After writing, every table's row count is reconciled with the warehouse; a
mismatch republishes that table in full.

Integrity: readers are read-only in fact, and every published file is verified. The manifest records
a sha256 digest (and a stat signature: inode, size, mtime, ctime) of every Parquet file of the version
and of the version's reader file. A publish reuses a previous version's file only after its digest
matched (TRACE_PLATFORM_SNAPSHOT_VERIFY=sha256, the default; `stat`: re-hash only files whose stat
signature changed); a file that does not match, is missing, or has no recorded digest is never reused:
its bucket is rewritten from the warehouse. `connect_reader` hashes the version's reader file and
checks every Parquet file's stat signature (re-hashing any file whose signature changed: a write, a
copy or a restore changes the ctime, which no user-level call can set back) and refuses a version that
does not match. It then confines the connection: only that version's files may be read
(`allowed_paths`), external access and extension autoloading are off, the configuration is locked.
`read_only_statements` is what `trace-platform query` runs first: SELECT-style statements only, and
none of the functions that change the session or write files (DuckDB lets a confined connection
`COPY` into a file it may read).

Old versions stay on disk for a grace period (TRACE_PLATFORM_SNAPSHOT_GRACE_SECONDS, default one
day) after they were superseded, so a reader that opened an older version keeps working; then their
files are garbage-collected. A crashed publish leaves only files that no committed version
references, removed by the next publish.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import shutil
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

READER_SCHEMAS = ("marts", "audit", "eval")  # never raw, staging or intermediate
NEVER_PUBLISHED = frozenset({"raw", "staging", "intermediate", "information_schema", "pg_catalog"})
assert not NEVER_PUBLISHED & set(READER_SCHEMAS)
TRACE_CHANGES = ("intermediate", "int_trace_changes")
CHANGE_LOG = ("raw", "trace_change_log")
# Tracked tables: a column holding a delivery day of the row's trace (see the module docstring).
TRACKED_BUCKET_COLUMNS = (
    "delivery_date",
    "first_delivery_date",
    "detected_in_partition",
    "last_delivery_date",
)
# Fingerprinted tables: any date that spreads the rows over days.
FINGERPRINT_BUCKET_COLUMNS = ("partition_date", "activity_date", *TRACKED_BUCKET_COLUMNS)
# Types Parquet cannot hold exactly: stored as text and cast back by the reader's views.
AS_TEXT_TYPES = ("HUGEINT", "UHUGEINT", "BIT", "TIME WITH TIME ZONE", "VARINT", "BIGNUM", "UNION")
MARKER_PREFIX = "trace_platform.snapshot="
_VERSION_FILE = re.compile(r"^v(\d{8})\.(duckdb|json)$")
_SAFE_TYPE = re.compile(r"^[A-Za-z0-9_ ,()\[\]\"]+$")
_GLOB_CHARS = "*?[]{}"


class SnapshotError(RuntimeError):
    pass


# --- paths ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotPaths:
    reader: Path  # what analysts open: a symlink to the current version's reader file
    root: Path  # versions, manifests and Parquet files

    @property
    def readers(self) -> Path:
        return self.root / "readers"

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    @property
    def tables(self) -> Path:
        return self.root / "tables"

    def reader_file(self, version: int) -> Path:
        return self.readers / f"v{version:08d}.duckdb"

    def manifest_file(self, version: int) -> Path:
        return self.manifests / f"v{version:08d}.json"


def snapshot_paths(
    warehouse: str | os.PathLike | None = None, reader: str | os.PathLike | None = None
) -> SnapshotPaths:
    """The reader of a warehouse: explicit, TRACE_PLATFORM_READER, or `<warehouse stem>.reader.duckdb` beside it."""
    from trace_platform.lib import settings

    if reader is None and os.environ.get("TRACE_PLATFORM_READER"):
        reader = os.environ["TRACE_PLATFORM_READER"]
    if reader is not None:
        reader_path = Path(reader).absolute()
    else:
        wh = settings.warehouse_path(warehouse)
        reader_path = wh.with_name(f"{wh.stem}.reader.duckdb")
    # The folder resolved (the views name files by absolute path), the link itself not (it is the link).
    reader_path = reader_path.parent.resolve() / reader_path.name
    name = reader_path.name
    root = reader_path.with_name(name[: -len(".duckdb")] if name.endswith(".duckdb") else name + ".d")
    if any(ch in str(root) for ch in _GLOB_CHARS):
        # DuckDB reads file lists as glob patterns: such a folder could not be read back.
        raise SnapshotError(f"reader path {reader_path} must not contain any of {_GLOB_CHARS}")
    return SnapshotPaths(reader=reader_path, root=root)


def _table_dir(name: str) -> str:
    """A table's folder name: `/`, glob characters and the like percent-encoded (no path traversal)."""
    return urllib.parse.quote(name, safe="._-")


def current_version(paths: SnapshotPaths) -> int | None:
    """The committed version: the one the reader symlink points at."""
    try:
        target = os.readlink(paths.reader)
    except OSError:
        return None
    match = _VERSION_FILE.match(Path(target).name)
    return int(match.group(1)) if match else None


# --- integrity: a digest of every published file -------------------------------------------------

VERIFY_MODES = ("sha256", "stat")


def _verify_mode(mode: str | None, default: str) -> str:
    mode = mode or os.environ.get("TRACE_PLATFORM_SNAPSHOT_VERIFY") or default
    if mode not in VERIFY_MODES:
        raise SnapshotError(f"unknown verification mode {mode!r}: use one of {', '.join(VERIFY_MODES)}")
    return mode


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _stat_signature(path: Path) -> list[int]:
    """Changes with every write, truncate, copy or restore (ctime cannot be set back from user space)."""
    st = os.stat(path)
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _file_record(path: Path) -> dict:
    signature = _stat_signature(path)  # taken before hashing: a write during the hash changes the ctime
    return {"sha256": file_sha256(path), "bytes": signature[1], "stat": signature}


def _check_file(root: Path, rel: str, record: dict | None, mode: str) -> tuple[str | None, dict | None]:
    """(None, the record with the current stat signature) if the file is as published, else (why not, None)."""
    if not record or not isinstance(record.get("sha256"), str):
        return "no digest recorded", None
    path = root / rel
    try:
        signature = _stat_signature(path)
    except OSError:
        return "missing", None
    if signature[1] != record.get("bytes"):
        return f"size changed ({record.get('bytes')} -> {signature[1]} bytes)", None
    if mode == "stat" and signature == record.get("stat"):
        return None, record
    try:
        actual = file_sha256(path)
    except OSError as exc:
        return f"unreadable ({exc.strerror})", None
    if actual != record["sha256"]:
        return "sha256 mismatch", None
    return None, {**record, "stat": signature}


def _parallel(function, items: list):
    if len(items) < 2:
        return [function(item) for item in items]
    with ThreadPoolExecutor(
        max_workers=min(len(items), os.cpu_count() or 1, 8)
    ) as pool:  # hashlib drops the GIL
        return list(pool.map(function, items))


def verify_files(
    root: Path, records: dict[str, dict | None], mode: str = "sha256"
) -> tuple[dict[str, str], dict]:
    """(failures: file -> why, verified: file -> record) for files relative to `root`."""
    results = _parallel(
        lambda item: (item[0], *_check_file(root, item[0], item[1], mode)), sorted(records.items())
    )
    return (
        {rel: why for rel, why, _ in results if why},
        {rel: record for rel, why, record in results if not why},
    )


def _version_files(manifest: dict) -> set[str]:
    return {
        f
        for entry in manifest.get("tables", {}).values()
        for bucket in entry.get("buckets", {}).values()
        for f in bucket.get("files", [])
    }


@dataclass(frozen=True)
class ReaderVersion:
    file: Path  # <root>/readers/vN.duckdb, the symlink resolved
    root: Path
    version: int
    manifest: dict

    @property
    def files(self) -> list[Path]:
        return [self.root / f for f in sorted(_version_files(self.manifest))]


def verify_reader(reader: str | os.PathLike, verify: str | None = None) -> ReaderVersion:
    """The version a reader path points at, checked against its manifest's digests (SnapshotError if not).

    The reader file (small: views and two tables) is always hashed. Parquet files: `stat` (the default)
    compares each file's stat signature and re-hashes those whose signature changed; `sha256` hashes
    every file (reads the whole snapshot).
    """
    mode = verify or "stat"
    if mode not in VERIFY_MODES:
        raise SnapshotError(f"unknown verification mode {mode!r}: use one of {', '.join(VERIFY_MODES)}")
    target = Path(reader).resolve()
    match = _VERSION_FILE.match(target.name)
    if not match or match.group(2) != "duckdb" or target.parent.name != "readers":
        raise SnapshotError(
            f"{reader} is not a published reader snapshot (a link to readers/vNNNNNNNN.duckdb)"
        )
    version, root = int(match.group(1)), target.parent.parent
    if not target.is_file():
        raise SnapshotError(f"reader snapshot version file {target} is missing; the next publish replaces it")
    manifest_file = root / "manifests" / f"v{version:08d}.json"
    try:
        manifest = json.loads(manifest_file.read_text())
    except (OSError, ValueError) as exc:
        raise SnapshotError(
            f"manifest {manifest_file} of reader snapshot v{version} is missing or unreadable "
            f"({exc.__class__.__name__}); the next publish replaces the version"
        ) from None
    refuse = f"reader snapshot v{version} refused"
    if manifest.get("version") != version:
        raise SnapshotError(
            f"{refuse}: its manifest {manifest_file} names version {manifest.get('version')!r}"
        )
    if not isinstance(manifest.get("reader"), dict):
        raise SnapshotError(
            f"{refuse}: its manifest records no digests (published before verification "
            "existed); the next publish replaces it"
        )
    why, _ = _check_file(root, str(target.relative_to(root)), manifest["reader"], "sha256")
    if why:
        raise SnapshotError(
            f"{refuse}: {target} was modified after it was published ({why}); the next publish replaces it"
        )
    records = manifest.get("files", {})
    failures, _ = verify_files(root, {f: records.get(f) for f in _version_files(manifest)}, mode)
    if failures:
        first = sorted(failures)[0]
        raise SnapshotError(
            f"{refuse}: {len(failures)} published file(s) modified after publishing, e.g. "
            f"{root / first} ({failures[first]}); the next publish rewrites them from the warehouse"
        )
    return ReaderVersion(file=target, root=root, version=version, manifest=manifest)


# --- confined, read-only connections --------------------------------------------------------------

_RESERVED_CATALOGS = frozenset({"memory", "system", "temp", "main"})


def connect_confined(
    database: str | os.PathLike, *, alias: str | None = None, allowed_paths: Iterable[str | os.PathLike] = ()
) -> duckdb.DuckDBPyConnection:
    """A read-only connection to one DuckDB file that can read `allowed_paths` and no other file.

    The file is attached READ_ONLY to a private in-memory instance (so two such connections in one
    process never share, and fight over, one locked configuration), the in-memory catalog detached;
    then external access and extension autoloading are switched off and the configuration locked.
    What this does not stop: `COPY … TO` one of `allowed_paths` (DuckDB does not tell reading from
    writing there) — `read_only_statements` refuses every COPY, and the digests detect the rest.
    """
    path = Path(database)
    alias = alias or path.name.removesuffix(".duckdb") or "db"
    if alias.lower() in _RESERVED_CATALOGS:
        alias += "_db"
    # Spilling goes where DuckDB puts it for that file (`<file>.tmp`), not into `.tmp` under the working
    # directory (an in-memory instance's default). DuckDB itself allows the attached file, its WAL and
    # that folder: reading them shows nothing the connection cannot query anyway.
    con = duckdb.connect(":memory:", config={"temp_directory": f"{path}.tmp"})
    try:
        con.execute(f"ATTACH {quote_literal(str(path))} AS {quote_identifier(alias)} (READ_ONLY)")
        con.execute(f"USE {quote_identifier(alias)}")
        con.execute("DETACH memory")
        allowed = [str(p) for p in allowed_paths]
        if allowed:
            con.execute("SET allowed_paths = ?", [allowed])
        con.execute("SET enable_external_access = false")
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def connect_reader(
    reader: str | os.PathLike, *, harden: bool = True, verify: str | None = None
) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the reader version `reader` points at, verified (`verify_reader`; SnapshotError
    if a file was modified after publishing); hardened: it can read that version's files and nothing else."""
    checked = verify_reader(reader, verify)
    alias = Path(reader).name.removesuffix(".duckdb")
    if harden:
        con = connect_confined(checked.file, alias=alias, allowed_paths=checked.files)
    else:
        con = duckdb.connect(str(checked.file), read_only=True)
    try:
        found = con.execute("SELECT version FROM snapshot_info").fetchone()
    except duckdb.Error:
        found = None
    if found is None or found[0] != checked.version:
        con.close()
        raise SnapshotError(f"reader snapshot file {checked.file} does not hold version {checked.version}")
    return con


# --- what `trace-platform query` runs: read-only statements only ----------------------------------

READ_ONLY_FORMS = (
    "SELECT, WITH, FROM, VALUES, TABLE, DESCRIBE, SHOW, SUMMARIZE, PRAGMA show/info, EXPLAIN [ANALYZE] SELECT"
)
# Functions a SELECT may call that change the session, execute SQL held in a string (unchecked) or
# write files: enable_logging() switches a file logger on past the locked configuration.
DENIED_FUNCTIONS = frozenset(
    {
        "enable_logging",
        "disable_logging",
        "truncate_duckdb_logs",
        "write_log",
        "enable_profiling",
        "disable_profiling",
        "checkpoint",
        "force_checkpoint",
        "query",
        "query_table",
        "json_execute_serialized_sql",
    }
)
_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(?:ANALY[SZ]E\s+)?(?:\([^()]*\)\s*)?(?P<inner>.*)$", re.S | re.I)


class ReadOnlyQueryError(SnapshotError):
    pass


def _function_names(node) -> Iterable[str]:
    if isinstance(node, dict):
        if isinstance(node.get("function_name"), str):
            yield node["function_name"]
        for value in node.values():
            yield from _function_names(value)
    elif isinstance(node, list):
        for value in node:
            yield from _function_names(value)


def _refused(what: str) -> ReadOnlyQueryError:
    return ReadOnlyQueryError(
        f"refused {what}: trace-platform query runs read-only statements only ({READ_ONLY_FORMS})"
    )


def _check_select(parser: duckdb.DuckDBPyConnection, text: str) -> None:
    try:
        statements = parser.extract_statements(text)
    except duckdb.Error:
        statements = []
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise _refused(
            "EXPLAIN of anything but one SELECT" if statements or text.strip() else "an empty EXPLAIN"
        )
    tree = json.loads(parser.execute("SELECT json_serialize_sql(?::VARCHAR)", [text]).fetchone()[0])
    if tree.get("error"):
        raise _refused(
            f"a statement that cannot be checked ({tree.get('error_message', 'not serializable')})"
        )
    denied = sorted({name.lower() for name in _function_names(tree)} & DENIED_FUNCTIONS)
    if denied:
        raise _refused(f"{denied[0]}() (it changes the session, runs SQL held in a string, or writes files)")


def read_only_statements(sql: str) -> list[str]:
    """The statements of `sql`, each checked to only read (ReadOnlyQueryError otherwise, before anything runs).

    DuckDB's own parser splits and classifies them (`extract_statements`): SELECT-type statements
    (which include DESCRIBE, SHOW, SUMMARIZE and the PRAGMAs that expand to a SELECT) and EXPLAIN of
    one, and no call of DENIED_FUNCTIONS anywhere in the parsed tree (`json_serialize_sql`).
    """
    parser = duckdb.connect(":memory:")
    try:
        try:
            statements = parser.extract_statements(sql)
        except duckdb.Error as exc:
            raise ReadOnlyQueryError(str(exc).splitlines()[0]) from None
        if not statements:
            raise ReadOnlyQueryError("empty query")
        texts = []
        for statement in statements:
            text = statement.query
            if statement.type == duckdb.StatementType.EXPLAIN:
                match = _EXPLAIN.match(text)
                _check_select(parser, match.group("inner") if match else "")
            elif statement.type == duckdb.StatementType.SELECT and text.strip():
                _check_select(parser, text)
            elif text.strip():
                raise _refused(
                    f"{text.split()[0].upper()} (it writes, changes settings or reaches outside the snapshot)"
                )
            else:  # a PIVOT without an IN list: DuckDB creates an ENUM type first
                raise _refused(f"{statement.type.name} (a PIVOT needs an explicit IN (…) list here)")
            texts.append(text)
        return texts
    finally:
        parser.close()


# --- SQL text built from names and paths: strictly quoted -----------------------------------------


def quote_identifier(name: str) -> str:
    if "\x00" in name:
        raise SnapshotError(f"NUL character in identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    if "\x00" in text or "\n" in text or "\r" in text:
        raise SnapshotError(f"refusing a control character in {text!r}")
    return "'" + text.replace("'", "''") + "'"


def _date_literals(days: Iterable[dt.date]) -> str:
    return ", ".join(f"DATE '{d.isoformat()}'" for d in sorted(days) if isinstance(d, dt.date))


def _check_type(type_name: str) -> str:
    if not _SAFE_TYPE.match(type_name) or "--" in type_name:
        raise SnapshotError(f"unexpected column type {type_name!r}")
    return type_name


# --- planning -------------------------------------------------------------------------------------


@dataclass
class TablePlan:
    schema: str
    table: str
    columns: list[tuple[str, str]]
    strategy: str  # tracked | fingerprint
    bucket_kind: str  # column | trace | all
    bucket_column: str | None = None
    write_buckets: set[str] | None = None  # None: every bucket (a full publish of the table)
    full_reason: str | None = None
    fingerprints: dict[str, dict] = field(default_factory=dict)
    comment: str | None = None

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"

    def bucket_sql(self, alias: str = "t") -> str:
        if self.bucket_kind == "column":
            return f"{alias}.{quote_identifier(self.bucket_column)}"
        if self.bucket_kind == "trace":
            return "c.first_delivery_date"
        return "NULL::DATE"

    def bucket_key_sql(self, alias: str = "t") -> str:
        if self.bucket_kind == "all":
            return "'all'"
        return f"coalesce(strftime({self.bucket_sql(alias)}, '%Y-%m-%d'), 'null')"

    def from_sql(self) -> str:
        source = f"{quote_identifier(self.schema)}.{quote_identifier(self.table)} AS t"
        if self.bucket_kind == "trace":
            source += (
                f" LEFT JOIN {quote_identifier(TRACE_CHANGES[0])}.{quote_identifier(TRACE_CHANGES[1])} AS c "
                "ON c.trace_id = t.trace_id"
            )
        return source

    def filter_sql(self, buckets: set[str] | None) -> str:
        if buckets is None or self.bucket_kind == "all":
            return "true"
        days = {dt.date.fromisoformat(b) for b in buckets if b not in ("null", "all")}
        parts = [f"{self.bucket_sql()} IN ({_date_literals(days)})"] if days else []
        if "null" in buckets:
            parts.append(f"{self.bucket_sql()} IS NULL")
        return " OR ".join(parts) or "false"


def _columns(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """Columns of every base table of the reader schemas (DESCRIBE per table: duckdb_columns() would bind
    every view of the warehouse, which takes seconds)."""
    tables = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name IN (SELECT unnest(?::VARCHAR[])) ORDER BY 1, 2",
        [list(READER_SCHEMAS)],
    ).fetchall()
    return {
        (schema, table): [
            (r[0], r[1])
            for r in con.execute(f"DESCRIBE {quote_identifier(schema)}.{quote_identifier(table)}").fetchall()
        ]
        for schema, table in tables
    }


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return (
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = ?",
            [schema, table],
        ).fetchone()[0]
        > 0
    )


def _comments(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], str | None]:
    return {
        (s, t): c
        for s, t, c in con.execute(
            "SELECT schema_name, table_name, comment FROM duckdb_tables() WHERE database_name = current_database()"
        ).fetchall()
    }


def _change_window(con: duckdb.DuckDBPyConnection) -> tuple[int | None, int]:
    """(changes processed by the last dbt build, traces still pending); (None, 0) without change tracking."""
    if not (_table_exists(con, *TRACE_CHANGES) and _table_exists(con, *CHANGE_LOG)):
        return None, 0
    through, pending = con.execute(
        "SELECT coalesce(max(changes_logged_through), 0), count(*) FILTER (WHERE is_pending) "
        "FROM intermediate.int_trace_changes"
    ).fetchone()
    return int(through), int(pending)


def _dirty_days(con: duckdb.DuckDBPyConnection, after: int, through: int) -> set[dt.date]:
    """Delivery days whose rows of trace-scoped tables may differ from the version published at `after`."""
    rows = con.execute(
        """
        WITH touched AS (
            SELECT trace_id, delivery_date FROM raw.trace_change_log
            WHERE change_seq > ? AND change_seq <= ?
        )
        SELECT DISTINCT day FROM (
            SELECT delivery_date AS day FROM touched
            UNION ALL
            SELECT unnest(generate_series(c.first_delivery_date, c.last_delivery_date, INTERVAL 1 DAY))::DATE
            FROM intermediate.int_trace_changes AS c
            WHERE c.trace_id IN (SELECT trace_id FROM touched)
              AND c.first_delivery_date IS NOT NULL AND c.last_delivery_date IS NOT NULL
        ) WHERE day IS NOT NULL""",
        [after, through],
    ).fetchall()
    return {r[0] for r in rows}


def _plan_tables(
    con, base: dict | None, tracked: set[str], through: int | None, full: bool
) -> tuple[list[TablePlan], set]:
    columns = _columns(con)
    comments = _comments(con)
    has_changes = through is not None
    base_tables = (base or {}).get("tables", {})
    base_through = (base or {}).get("changes_through")
    dirty: set[dt.date] = set()
    window_ok = has_changes and base_through is not None and base_through <= through
    if window_ok and base_through < through:
        dirty = _dirty_days(con, base_through, through)
    plans = []
    for (schema, table), cols in sorted(columns.items()):
        names = {c for c, _ in cols}
        types = dict(cols)
        name = f"{schema}.{table}"
        is_tracked = has_changes and name in tracked
        preference = TRACKED_BUCKET_COLUMNS if is_tracked else FINGERPRINT_BUCKET_COLUMNS
        bucket_column = next((c for c in preference if c in names and types[c] == "DATE"), None)
        if bucket_column:
            kind = "column"
        elif "trace_id" in names and has_changes:
            kind = "trace"
        else:
            kind = "all"
            is_tracked = False  # one bucket: nothing to gain from tracking
        plan = TablePlan(
            schema,
            table,
            cols,
            "tracked" if is_tracked else "fingerprint",
            kind,
            bucket_column,
            comment=comments.get((schema, table)),
        )
        previous = base_tables.get(name)
        if full:
            plan.full_reason = "full publish requested"
        elif previous is None:
            plan.full_reason = "not published before"
        elif [list(c) for c in cols] != previous.get("columns"):
            plan.full_reason = "columns changed"
        elif (previous.get("strategy"), previous.get("bucket_kind"), previous.get("bucket_column")) != (
            plan.strategy,
            kind,
            bucket_column,
        ):
            plan.full_reason = "bucketing changed"
        elif plan.strategy == "tracked" and plan.comment != previous.get("marker"):
            plan.full_reason = "table recreated (full refresh) since the last publish"
        elif plan.strategy == "tracked" and not window_ok:
            plan.full_reason = "change log does not continue the last publish"
        if plan.full_reason:
            plan.write_buckets = None
        elif plan.strategy == "tracked":
            # Rows without a day (a day column added to a model after its rows were written, until
            # a full refresh fills it) cannot be tied to a dirty day: that bucket is always rewritten.
            # Row-group statistics skip it where the column holds no NULL.
            plan.write_buckets = {d.isoformat() for d in dirty} | {"null"}
        plans.append(plan)
    return plans, dirty


def _fingerprints(con: duckdb.DuckDBPyConnection, plan: TablePlan) -> dict[str, dict]:
    hashed = ", ".join(f"t.{quote_identifier(c)}" for c, _ in plan.columns)
    rows = con.execute(
        f"SELECT {plan.bucket_key_sql()} AS bucket, count(*), sum(hash({hashed})::HUGEINT)::VARCHAR "
        f"FROM {plan.from_sql()} GROUP BY ALL"
    ).fetchall()
    return {bucket: {"rows": n, "fingerprint": h} for bucket, n, h in rows}


# --- writing --------------------------------------------------------------------------------------


def _export_select(plan: TablePlan) -> str:
    parts = []
    for column, type_name in plan.columns:
        expr = f"t.{quote_identifier(column)}"
        if type_name.upper().startswith(AS_TEXT_TYPES):
            expr = f"CAST({expr} AS VARCHAR)"
        parts.append(f"{expr} AS {quote_identifier(column)}")
    return ", ".join(parts)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_buckets(
    con,
    paths: SnapshotPaths,
    plan: TablePlan,
    version: int,
    buckets: set[str] | None,
    records: dict[str, dict],
) -> dict[str, dict]:
    """Writes the given buckets (None: all) of a table; returns bucket -> {files, rows, bytes}, and adds
    each written file's digest to `records`."""
    target = paths.tables / _table_dir(plan.name) / f"v{version:08d}"
    if target.exists():
        shutil.rmtree(target)  # left by a crashed publish of the same version number
    target.parent.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"COPY (SELECT {_export_select(plan)}, {plan.bucket_key_sql()} AS __bucket FROM {plan.from_sql()} "
        f"WHERE {plan.filter_sql(buckets)}) TO {quote_literal(str(target))} "
        "(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (__bucket), FILENAME_PATTERN 'part_{i}')"
    )
    written: dict[str, dict] = {}
    files = sorted(target.glob("__bucket=*/*.parquet"))
    if not files:
        return written
    meta = {
        row[0]: (row[1], row[2])
        for row in con.execute(
            "SELECT file_name, num_rows, file_size_bytes FROM parquet_file_metadata(?::VARCHAR[])",
            [[str(f) for f in files]],
        ).fetchall()
    }
    for f in files:
        bucket = f.parent.name.split("=", 1)[1]
        entry = written.setdefault(bucket, {"files": [], "rows": 0, "bytes": 0})
        entry["files"].append(str(f.relative_to(paths.root)))
        rows, size = meta[str(f)]
        entry["rows"] += int(rows)
        entry["bytes"] += int(size)
        _fsync(f)
    for directory in {f.parent for f in files} | {target, target.parent}:
        _fsync(directory)
    records.update(
        zip((str(f.relative_to(paths.root)) for f in files), _parallel(_file_record, files), strict=True)
    )
    return written


def _view_sql(paths: SnapshotPaths, schema: str, table: str, entry: dict) -> str:
    columns = entry["columns"]
    casts = ", ".join(
        f"CAST({quote_identifier(c)} AS {_check_type(t)}) AS {quote_identifier(c)}" for c, t in columns
    )
    files = [
        str(paths.root / f) for bucket in sorted(entry["buckets"]) for f in entry["buckets"][bucket]["files"]
    ]
    name = f"{quote_identifier(schema)}.{quote_identifier(table)}"
    if not files:
        empty = ", ".join(f"CAST(NULL AS {_check_type(t)}) AS {quote_identifier(c)}" for c, t in columns)
        return f"CREATE VIEW {name} AS SELECT {empty} WHERE false"
    listing = ", ".join(quote_literal(f) for f in files)
    return f"CREATE VIEW {name} AS SELECT {casts} FROM read_parquet([{listing}], hive_partitioning = false)"


def _build_reader(paths: SnapshotPaths, manifest: dict) -> Path:
    paths.readers.mkdir(parents=True, exist_ok=True)
    final = paths.reader_file(manifest["version"])
    building = final.with_name(f".{final.stem}.{uuid.uuid4().hex[:8]}.building.duckdb")
    con = duckdb.connect(str(building))
    try:
        for schema in sorted({entry["schema"] for entry in manifest["tables"].values()}):
            con.execute(f"CREATE SCHEMA {quote_identifier(schema)}")
        for entry in manifest["tables"].values():
            con.execute(_view_sql(paths, entry["schema"], entry["table"], entry))
        con.execute(
            "CREATE TABLE snapshot_info (version INTEGER, published_at TIMESTAMPTZ, partition_key VARCHAR, "
            "changes_through BIGINT, warehouse VARCHAR, tables INTEGER, total_rows BIGINT)"
        )
        con.execute(
            "INSERT INTO snapshot_info VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                manifest["version"],
                manifest["published_at"],
                manifest.get("partition_key"),
                manifest.get("changes_through"),
                manifest["warehouse"],
                len(manifest["tables"]),
                sum(e["rows"] for e in manifest["tables"].values()),
            ],
        )
        con.execute(
            "CREATE TABLE snapshot_tables (table_schema VARCHAR, table_name VARCHAR, row_count BIGINT, "
            "buckets INTEGER, files INTEGER, strategy VARCHAR)"
        )
        con.executemany(
            "INSERT INTO snapshot_tables VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    e["schema"],
                    e["table"],
                    e["rows"],
                    len(e["buckets"]),
                    sum(len(b["files"]) for b in e["buckets"].values()),
                    e["strategy"],
                )
                for e in manifest["tables"].values()
            ],
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()
    _fsync(building)
    os.replace(building, final)
    _fsync(paths.readers)
    return final


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True, default=str)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync(path.parent)


def _swap(paths: SnapshotPaths, version: int) -> None:
    """Points the reader symlink at `version`: one rename, atomic for every reader."""
    paths.reader.parent.mkdir(parents=True, exist_ok=True)
    target = os.path.relpath(paths.reader_file(version), paths.reader.parent)
    link = paths.reader.with_name(f".{paths.reader.name}.{uuid.uuid4().hex[:8]}.link")
    os.symlink(target, link)
    os.replace(link, paths.reader)
    _fsync(paths.reader.parent)


# --- versions and garbage collection -------------------------------------------------------------


def _versions(directory: Path, suffix: str) -> list[int]:
    if not directory.is_dir():
        return []
    found = []
    for entry in directory.iterdir():
        match = _VERSION_FILE.match(entry.name)
        if match and match.group(2) == suffix:
            found.append(int(match.group(1)))
    return sorted(found)


def _load_manifest(paths: SnapshotPaths, version: int | None) -> dict | None:
    if version is None:
        return None
    try:
        return json.loads(paths.manifest_file(version).read_text())
    except (OSError, ValueError):
        return None


def _remove_uncommitted(paths: SnapshotPaths, current: int | None) -> None:
    """Leftovers of a publish that crashed before its swap: never visible to a reader."""
    floor = current or 0
    for version in set(_versions(paths.readers, "duckdb")) | set(_versions(paths.manifests, "json")):
        if version > floor:
            paths.reader_file(version).unlink(missing_ok=True)
            paths.manifest_file(version).unlink(missing_ok=True)
    for directory in (paths.readers, paths.manifests, paths.reader.parent):
        if directory.is_dir():
            for entry in directory.iterdir():
                if entry.name.startswith(".") and entry.name.endswith(
                    (".building.duckdb", ".building.duckdb.wal", ".tmp", ".link")
                ):
                    entry.unlink(missing_ok=True)
    if paths.tables.is_dir():
        for table_dir in paths.tables.iterdir():
            for version_dir in table_dir.glob("v*"):
                match = re.match(r"^v(\d{8})$", version_dir.name)
                if match and int(match.group(1)) > floor:
                    shutil.rmtree(version_dir, ignore_errors=True)


def collect_garbage(
    paths: SnapshotPaths, grace_seconds: float | None = None, now: float | None = None
) -> dict:
    """Deletes versions superseded more than `grace_seconds` ago, and every file no kept version uses."""
    grace = (
        float(os.environ.get("TRACE_PLATFORM_SNAPSHOT_GRACE_SECONDS", 86400))
        if grace_seconds is None
        else grace_seconds
    )
    now = time.time() if now is None else now
    current = current_version(paths)
    if current is None:
        return {"versions_deleted": 0, "files_deleted": 0}
    committed = [v for v in _versions(paths.readers, "duckdb") if v <= current]
    kept, deleted_versions = [], 0
    for i, version in enumerate(committed):
        if version == current:
            kept.append(version)
            continue
        successor = paths.reader_file(committed[i + 1])  # built just before it was swapped in
        superseded_at = successor.stat().st_mtime
        if now - superseded_at > grace:
            paths.reader_file(version).unlink(missing_ok=True)
            paths.manifest_file(version).unlink(missing_ok=True)
            deleted_versions += 1
        else:
            kept.append(version)
    referenced: set[str] = set()
    for version in kept:
        manifest = _load_manifest(paths, version)
        if manifest is None:
            if version == current:
                raise SnapshotError(f"manifest of the current snapshot version {version} is missing")
            continue
        for entry in manifest["tables"].values():
            for bucket in entry["buckets"].values():
                referenced.update(bucket["files"])
    files_deleted = 0
    if paths.tables.is_dir():
        for f in paths.tables.rglob("*.parquet"):
            if str(f.relative_to(paths.root)) not in referenced:
                f.unlink(missing_ok=True)
                files_deleted += 1
        for directory in sorted(
            (d for d in paths.tables.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts)
        ):
            try:
                directory.rmdir()  # only if empty
            except OSError:
                pass
    return {"versions_deleted": deleted_versions, "files_deleted": files_deleted, "versions_kept": kept}


# --- publishing -----------------------------------------------------------------------------------


@dataclass
class PublishReport:
    version: int
    previous_version: int | None
    reader: str
    tables: dict[str, dict]
    dirty_days: list[str]
    changes_through: int | None
    rows_total: int
    rows_written: int
    bytes_written: int
    files_written: int
    files_reused: int
    seconds: float
    stage_seconds: dict[str, float]
    swapped_at: float  # epoch seconds of the atomic swap: from here on readers see this version
    garbage: dict
    verification: str = "sha256"  # how the previous version's files were checked before reuse
    files_verified: int = 0
    files_failed_verification: dict[str, str] = field(
        default_factory=dict
    )  # file -> why: rewritten, not reused

    def as_metadata(self) -> dict:
        return {
            "version": self.version,
            "previous_version": self.previous_version,
            "reader": self.reader,
            "dirty_days": self.dirty_days,
            "changes_through": self.changes_through,
            "rows_total": self.rows_total,
            "rows_written": self.rows_written,
            "bytes_written": self.bytes_written,
            "files_written": self.files_written,
            "files_reused": self.files_reused,
            "seconds": round(self.seconds, 3),
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
            "tables_republished_in_full": {
                k: v["full_reason"] for k, v in self.tables.items() if v["full_reason"]
            },
            "garbage": {k: v for k, v in self.garbage.items() if k != "versions_kept"},
            "verification": self.verification,
            "files_verified": self.files_verified,
            "files_failed_verification": dict(sorted(self.files_failed_verification.items())[:50]),
        }


def trace_scoped_tables(manifest_path: str | os.PathLike) -> set[str]:
    """`schema.table` of the dbt models tagged trace_scoped, from dbt's manifest.json ({} if unreadable).

    A trace-scoped model that also rewrites rows of traces that did not change (eval_trace_labels,
    when an intent's median moves) says `meta: {reader_snapshot: fingerprint}` and is fingerprinted.
    """
    try:
        manifest = json.loads(Path(manifest_path).read_text())
    except (OSError, ValueError):
        return set()
    return {
        f"{node['schema']}.{node.get('alias') or node['name']}"
        for node in manifest.get("nodes", {}).values()
        if node.get("resource_type") == "model"
        and "trace_scoped" in (node.get("tags") or [])
        and ((node.get("config") or {}).get("meta") or node.get("meta") or {}).get("reader_snapshot")
        != "fingerprint"
    }


class _PublishLock:
    """One publisher at a time per snapshot root (callers also hold the warehouse writer lock)."""

    def __init__(self, root: Path):
        root.mkdir(parents=True, exist_ok=True)
        self._handle = open(root / ".publish.lock", "a+")  # noqa: SIM115

    def __enter__(self):
        fcntl.flock(self._handle.fileno(), fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
        self._handle.close()


def publish_snapshot(
    con: duckdb.DuckDBPyConnection,
    paths: SnapshotPaths,
    *,
    warehouse: str | os.PathLike,
    tracked_tables: set[str] | None = None,
    partition_key: str | None = None,
    full: bool = False,
    grace_seconds: float | None = None,
    on_stage: Callable[[str], None] | None = None,
    verify: str | None = None,
) -> PublishReport:
    """Publishes a new reader version of the analyst schemas from an open warehouse connection.

    `con` must be a read-write connection held under the warehouse writer lock (the publish marks
    the tracked tables it wrote, see the module docstring). `tracked_tables`: `schema.table` of the
    trace-scoped models (`trace_scoped_tables`); without it every table is fingerprinted, which is
    correct but scans all of history. `verify`: how a previous version's file is checked before it is
    reused (`sha256`, default, or `stat`; TRACE_PLATFORM_SNAPSHOT_VERIFY); one that fails is rewritten.
    """
    mode = _verify_mode(verify, "sha256")
    started = time.perf_counter()
    stages: dict[str, float] = {}
    last = [started]

    def stage(name: str) -> None:
        now = time.perf_counter()
        stages[name] = stages.get(name, 0.0) + now - last[0]
        last[0] = now
        if on_stage is not None:
            on_stage(name)

    full = full or os.environ.get("TRACE_PLATFORM_SNAPSHOT_FULL") == "1"
    with _PublishLock(paths.root):
        previous = current_version(paths)
        _remove_uncommitted(paths, previous)
        base = _load_manifest(paths, previous)
        version = (previous or 0) + 1
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET preserve_insertion_order = false")
        through, pending = _change_window(con)
        if pending:
            raise SnapshotError(
                f"{pending} trace(s) are still pending in intermediate.int_trace_changes: the last "
                "dbt build did not finish; not publishing a half-built state"
            )
        plans, dirty = _plan_tables(con, base, tracked_tables or set(), through, full)
        stage("plan")

        base_tables = (base or {}).get("tables", {})
        # Nothing is reused unverified: a file that does not match the digest its version recorded (or
        # has none, or is gone) is never carried over; its bucket is rewritten from the warehouse.
        base_records = (base or {}).get("files", {})
        candidates = {
            f
            for plan in plans
            if not plan.full_reason
            for bucket in (base_tables.get(plan.name) or {}).get("buckets", {}).values()
            for f in bucket.get("files", [])
        }
        failed, records = verify_files(paths.root, {f: base_records.get(f) for f in candidates}, mode)
        stage("verify")
        tables: dict[str, dict] = {}
        report_tables: dict[str, dict] = {}
        rows_written = bytes_written = files_written = 0
        for plan in plans:
            table_started = time.perf_counter()
            previous_entry = base_tables.get(plan.name)
            carried = {} if plan.full_reason else dict((previous_entry or {}).get("buckets", {}))
            repaired = {b for b, e in carried.items() if any(f in failed for f in e.get("files", []))}
            for bucket in repaired:
                del carried[bucket]
            if plan.strategy == "fingerprint":
                plan.fingerprints = _fingerprints(con, plan)
                if plan.full_reason:
                    to_write = None
                else:
                    to_write = {
                        b
                        for b, fp in plan.fingerprints.items()
                        if carried.get(b, {}).get("fingerprint") != fp["fingerprint"]
                        or carried.get(b, {}).get("rows") != fp["rows"]
                    }
                    carried = {b: e for b, e in carried.items() if b in plan.fingerprints}
            else:
                to_write = None if plan.write_buckets is None else plan.write_buckets | repaired
            if to_write is not None:
                for bucket in to_write:
                    carried.pop(bucket, None)
            written = (
                _write_buckets(con, paths, plan, version, to_write, records) if to_write != set() else {}
            )
            buckets = {**(carried if to_write is not None else {}), **written}
            for bucket, fp in plan.fingerprints.items():
                if bucket in buckets:
                    buckets[bucket]["fingerprint"] = fp["fingerprint"]
            warehouse_rows = con.execute(
                f"SELECT count(*) FROM {quote_identifier(plan.schema)}.{quote_identifier(plan.table)}"
            ).fetchone()[0]
            published_rows = sum(b["rows"] for b in buckets.values())
            if published_rows != warehouse_rows and to_write is not None:
                # The change tracking missed something: republish this table in full.
                plan.full_reason = (
                    f"row count reconciliation failed ({published_rows} published, "
                    f"{warehouse_rows} in the warehouse)"
                )
                written = _write_buckets(con, paths, plan, version, None, records)
                buckets = written
                for bucket, fp in plan.fingerprints.items():
                    if bucket in buckets:
                        buckets[bucket]["fingerprint"] = fp["fingerprint"]
                published_rows = sum(b["rows"] for b in buckets.values())
            if published_rows != warehouse_rows:
                raise SnapshotError(
                    f"{plan.name}: {published_rows} rows published but {warehouse_rows} in the warehouse"
                )
            marker = previous_entry.get("marker") if previous_entry and not plan.full_reason else None
            if plan.strategy == "tracked" and (marker is None or plan.comment != marker):
                marker = f"{MARKER_PREFIX}{uuid.uuid4().hex}"
                con.execute(
                    f"COMMENT ON TABLE {quote_identifier(plan.schema)}.{quote_identifier(plan.table)} "
                    f"IS {quote_literal(marker)}"
                )
            tables[plan.name] = {
                "schema": plan.schema,
                "table": plan.table,
                "columns": [list(c) for c in plan.columns],
                "strategy": plan.strategy,
                "bucket_kind": plan.bucket_kind,
                "bucket_column": plan.bucket_column,
                "marker": marker if plan.strategy == "tracked" else None,
                "rows": published_rows,
                "buckets": buckets,
            }
            new_files = sum(len(b["files"]) for b in written.values())
            report_tables[plan.name] = {
                "strategy": plan.strategy,
                "buckets": len(buckets),
                "buckets_written": len(written),
                "rows": published_rows,
                "rows_written": sum(b["rows"] for b in written.values()),
                "bytes_written": sum(b["bytes"] for b in written.values()),
                "files_written": new_files,
                "full_reason": plan.full_reason,
                "seconds": round(time.perf_counter() - table_started, 3),
                "buckets_repaired": len(repaired),
            }
            rows_written += report_tables[plan.name]["rows_written"]
            bytes_written += report_tables[plan.name]["bytes_written"]
            files_written += new_files
        stage("write_parquet")

        manifest = {
            "version": version,
            "previous_version": previous,
            "published_at": dt.datetime.now(dt.UTC).isoformat(),
            "partition_key": partition_key,
            "warehouse": str(Path(warehouse).absolute()),
            "changes_through": through,
            "tables": tables,
        }
        missing = _version_files(manifest) - set(records)
        if missing:
            raise SnapshotError(
                f"no digest for {len(missing)} file(s) of version {version}, e.g. {sorted(missing)[0]}"
            )
        manifest["files"] = {f: records[f] for f in sorted(_version_files(manifest))}
        manifest["verification"] = {"mode": mode, "files_verified": len(candidates), "failed": failed}
        manifest["reader"] = _file_record(_build_reader(paths, manifest))
        _write_json(paths.manifest_file(version), manifest)  # the reader file's digest: written after it
        stage("build_reader")
        if on_stage is not None:
            on_stage("before_swap")
        _swap(paths, version)
        swapped_at = time.time()
        stage("swap")
        garbage = collect_garbage(paths, grace_seconds)
        stage("garbage_collection")

    all_files = sum(len(b["files"]) for e in tables.values() for b in e["buckets"].values())
    return PublishReport(
        version=version,
        previous_version=previous,
        reader=str(paths.reader),
        tables=report_tables,
        dirty_days=sorted(d.isoformat() for d in dirty),
        changes_through=through,
        rows_total=sum(e["rows"] for e in tables.values()),
        rows_written=rows_written,
        bytes_written=bytes_written,
        files_written=files_written,
        files_reused=all_files - files_written,
        seconds=time.perf_counter() - started,
        stage_seconds=stages,
        swapped_at=swapped_at,
        garbage=garbage,
        verification=mode,
        files_verified=len(candidates),
        files_failed_verification=failed,
    )


def publish_warehouse(
    warehouse: str | os.PathLike,
    paths: SnapshotPaths | None = None,
    *,
    tracked_tables: set[str] | None = None,
    **kwargs,
) -> PublishReport:
    """Opens the warehouse under the writer lock and publishes (for scripts and tests)."""
    from trace_platform.lib.settings import NO_VACUUM
    from trace_platform.lib.warehouse_lock import connect_with_retry, warehouse_write_lock

    path = Path(warehouse).absolute()
    paths = paths or snapshot_paths(path)
    with warehouse_write_lock(path):
        con = connect_with_retry(lambda: duckdb.connect(str(path), config=dict(NO_VACUUM)), path)
        try:
            return publish_snapshot(con, paths, warehouse=path, tracked_tables=tracked_tables, **kwargs)
        finally:
            con.close()
