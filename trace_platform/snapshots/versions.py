"""Old versions and garbage collection: versions superseded more than a grace period ago are deleted,
with every file no kept version uses; leftovers of a crashed publish are removed."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

from trace_platform.snapshots.errors import SnapshotError
from trace_platform.snapshots.layout import VERSION_FILE, SnapshotPaths, current_version, load_manifest


def _versions(directory: Path, suffix: str) -> list[int]:
    if not directory.is_dir():
        return []
    found = []
    for entry in directory.iterdir():
        match = VERSION_FILE.match(entry.name)
        if match and match.group(2) == suffix:
            found.append(int(match.group(1)))
    return sorted(found)


def remove_uncommitted(paths: SnapshotPaths, current: int | None) -> None:
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
        manifest = load_manifest(paths, version)
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
