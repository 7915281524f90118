"""Publishing a new reader version from the warehouse (`publish_snapshot`, `publish_warehouse`)."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from trace_platform.snapshots.digests import file_record, verify_files, verify_mode
from trace_platform.snapshots.errors import SnapshotError
from trace_platform.snapshots.layout import (
    SnapshotPaths,
    current_version,
    load_manifest,
    snapshot_paths,
    version_files,
)
from trace_platform.snapshots.planning import bucket_fingerprints, change_window, plan_tables
from trace_platform.snapshots.sql import quote_identifier, quote_literal
from trace_platform.snapshots.versions import collect_garbage, remove_uncommitted
from trace_platform.snapshots.writing import build_reader, swap_reader, write_buckets, write_json

MARKER_PREFIX = "trace_platform.snapshot="


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
    the tracked tables it wrote, see the package docstring). `tracked_tables`: `schema.table` of the
    trace-scoped models (`trace_scoped_tables`); without it every table is fingerprinted, which is
    correct but scans all of history. `verify`: how a previous version's file is checked before it is
    reused (`sha256`, default, or `stat`; TRACE_PLATFORM_SNAPSHOT_VERIFY); one that fails is rewritten.
    """
    mode = verify_mode(verify, "sha256")
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
        remove_uncommitted(paths, previous)
        base = load_manifest(paths, previous)
        version = (previous or 0) + 1
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET preserve_insertion_order = false")
        through, pending = change_window(con)
        if pending:
            raise SnapshotError(
                f"{pending} trace(s) changed since the last complete dbt build "
                "(intermediate.int_completed_builds): the last build did not finish; not publishing a "
                "half-built state"
            )
        plans, dirty = plan_tables(con, base, tracked_tables or set(), through, full)
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
                plan.fingerprints = bucket_fingerprints(con, plan)
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
            written = write_buckets(con, paths, plan, version, to_write, records) if to_write != set() else {}
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
                written = write_buckets(con, paths, plan, version, None, records)
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
        missing = version_files(manifest) - set(records)
        if missing:
            raise SnapshotError(
                f"no digest for {len(missing)} file(s) of version {version}, e.g. {sorted(missing)[0]}"
            )
        manifest["files"] = {f: records[f] for f in sorted(version_files(manifest))}
        manifest["verification"] = {"mode": mode, "files_verified": len(candidates), "failed": failed}
        manifest["reader"] = file_record(build_reader(paths, manifest))
        write_json(paths.manifest_file(version), manifest)  # the reader file's digest: written after it
        stage("build_reader")
        if on_stage is not None:
            on_stage("before_swap")
        swap_reader(paths, version)
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
