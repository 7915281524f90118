"""Integrity: a sha256 digest and a stat signature of every published file, checked before a file is
reused by a publish (`verify_files`) and before a reader version is opened (`verify_reader`)."""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from trace_platform.snapshots.errors import SnapshotError
from trace_platform.snapshots.layout import VERSION_FILE, version_files

VERIFY_MODES = ("sha256", "stat")


def verify_mode(mode: str | None, default: str) -> str:
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


def file_record(path: Path) -> dict:
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


def parallel(function, items: list):
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
    results = parallel(
        lambda item: (item[0], *_check_file(root, item[0], item[1], mode)), sorted(records.items())
    )
    return (
        {rel: why for rel, why, _ in results if why},
        {rel: record for rel, why, record in results if not why},
    )


@dataclass(frozen=True)
class ReaderVersion:
    file: Path  # <root>/readers/vN.duckdb, the symlink resolved
    root: Path
    version: int
    manifest: dict

    @property
    def files(self) -> list[Path]:
        return [self.root / f for f in sorted(version_files(self.manifest))]


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
    match = VERSION_FILE.match(target.name)
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
    failures, _ = verify_files(root, {f: records.get(f) for f in version_files(manifest)}, mode)
    if failures:
        first = sorted(failures)[0]
        raise SnapshotError(
            f"{refuse}: {len(failures)} published file(s) modified after publishing, e.g. "
            f"{root / first} ({failures[first]}); the next publish rewrites them from the warehouse"
        )
    return ReaderVersion(file=target, root=root, version=version, manifest=manifest)
