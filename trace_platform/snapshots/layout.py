"""Where a reader snapshot's files live, which version is committed, and what a version's manifest lists."""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from trace_platform.snapshots.errors import SnapshotError

VERSION_FILE = re.compile(r"^v(\d{8})\.(duckdb|json)$")
_GLOB_CHARS = "*?[]{}"


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


def table_dir(name: str) -> str:
    """A table's folder name: `/`, glob characters and the like percent-encoded (no path traversal)."""
    return urllib.parse.quote(name, safe="._-")


def current_version(paths: SnapshotPaths) -> int | None:
    """The committed version: the one the reader symlink points at."""
    try:
        target = os.readlink(paths.reader)
    except OSError:
        return None
    match = VERSION_FILE.match(Path(target).name)
    return int(match.group(1)) if match else None


def load_manifest(paths: SnapshotPaths, version: int | None) -> dict | None:
    if version is None:
        return None
    try:
        return json.loads(paths.manifest_file(version).read_text())
    except (OSError, ValueError):
        return None


def version_files(manifest: dict) -> set[str]:
    return {
        f
        for entry in manifest.get("tables", {}).values()
        for bucket in entry.get("buckets", {}).values()
        for f in bucket.get("files", [])
    }
