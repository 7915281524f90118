"""Writing a version: Parquet files per bucket (each with its digest), the reader file of views over
them, the manifest, and the atomic swap of the reader symlink."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import duckdb

from trace_platform.snapshots.digests import file_record, parallel
from trace_platform.snapshots.layout import SnapshotPaths, table_dir
from trace_platform.snapshots.planning import TablePlan
from trace_platform.snapshots.sql import check_type, quote_identifier, quote_literal

# Types Parquet cannot hold exactly: stored as text and cast back by the reader's views.
AS_TEXT_TYPES = ("HUGEINT", "UHUGEINT", "BIT", "TIME WITH TIME ZONE", "VARINT", "BIGNUM", "UNION")


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


def write_buckets(
    con,
    paths: SnapshotPaths,
    plan: TablePlan,
    version: int,
    buckets: set[str] | None,
    records: dict[str, dict],
) -> dict[str, dict]:
    """Writes the given buckets (None: all) of a table; returns bucket -> {files, rows, bytes}, and adds
    each written file's digest to `records`."""
    target = paths.tables / table_dir(plan.name) / f"v{version:08d}"
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
        zip((str(f.relative_to(paths.root)) for f in files), parallel(file_record, files), strict=True)
    )
    return written


def _view_sql(paths: SnapshotPaths, schema: str, table: str, entry: dict) -> str:
    columns = entry["columns"]
    casts = ", ".join(
        f"CAST({quote_identifier(c)} AS {check_type(t)}) AS {quote_identifier(c)}" for c, t in columns
    )
    files = [
        str(paths.root / f) for bucket in sorted(entry["buckets"]) for f in entry["buckets"][bucket]["files"]
    ]
    name = f"{quote_identifier(schema)}.{quote_identifier(table)}"
    if not files:
        empty = ", ".join(f"CAST(NULL AS {check_type(t)}) AS {quote_identifier(c)}" for c, t in columns)
        return f"CREATE VIEW {name} AS SELECT {empty} WHERE false"
    listing = ", ".join(quote_literal(f) for f in files)
    return f"CREATE VIEW {name} AS SELECT {casts} FROM read_parquet([{listing}], hive_partitioning = false)"


def build_reader(paths: SnapshotPaths, manifest: dict) -> Path:
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


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True, default=str)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync(path.parent)


def swap_reader(paths: SnapshotPaths, version: int) -> None:
    """Points the reader symlink at `version`: one rename, atomic for every reader."""
    paths.reader.parent.mkdir(parents=True, exist_ok=True)
    target = os.path.relpath(paths.reader_file(version), paths.reader.parent)
    link = paths.reader.with_name(f".{paths.reader.name}.{uuid.uuid4().hex[:8]}.link")
    os.symlink(target, link)
    os.replace(link, paths.reader)
    _fsync(paths.reader.parent)
