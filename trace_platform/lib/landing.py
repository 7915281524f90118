"""Discovering the files of one delivery-day partition in the landing folder."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

NATIVE_SUFFIXES = (".jsonl", ".jsonl.gz")
_PARTITION_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class LandingError(ValueError):
    """A user-facing problem with the landing folder (one clear line, no traceback)."""


def parse_partition_key(value: str) -> dt.date:
    """Strictly validates a partition key: the only form accepted is YYYY-MM-DD."""
    if not isinstance(value, str) or not _PARTITION_KEY.match(value):
        raise LandingError(f"bad date {value!r}: expected YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise LandingError(f"bad date {value!r}: {exc}") from None


@dataclass(frozen=True)
class LandingFile:
    path: Path  # absolute, resolved
    relative_name: str  # path relative to the landing root, as stored in the warehouse
    size_bytes: int
    mtime_ns: int

    @property
    def is_gzip(self) -> bool:
        return self.path.name.endswith(".gz")


@dataclass(frozen=True)
class PartitionListing:
    files: list[LandingFile]
    ignored: list[str]  # names present in the folder that are not trace files (reported, not read)


def partition_dir(landing: Path, partition_key: str) -> Path:
    parse_partition_key(partition_key)
    return landing / partition_key


def list_partition_files(landing: Path, partition_key: str) -> PartitionListing:
    """Trace files of one delivery day, sorted by name (the dedupe tie-break order).

    A symlink that resolves outside the landing folder is refused: the warehouse must only
    ever read what was delivered into the landing folder.
    """
    folder = partition_dir(landing, partition_key)
    if not folder.is_dir():
        return PartitionListing(files=[], ignored=[])
    root = landing.resolve()
    files: list[LandingFile] = []
    ignored: list[str] = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(NATIVE_SUFFIXES):
            ignored.append(entry.name)
            continue
        resolved = entry.resolve()
        if not resolved.is_relative_to(root):
            raise LandingError(
                f"refusing {entry.name!r} in {partition_key}: symlink points outside the landing folder"
            )
        if not resolved.is_file():
            ignored.append(entry.name)
            continue
        stat = resolved.stat()
        files.append(
            LandingFile(
                path=resolved,
                relative_name=f"{partition_key}/{entry.name}",
                size_bytes=stat.st_size,
                mtime_ns=stat.st_mtime_ns,
            )
        )
    return PartitionListing(files=files, ignored=ignored)


def partition_fingerprint(listing: PartitionListing) -> str:
    """Cheap change detector for sensors: names, sizes and mtimes (no file contents read)."""
    import hashlib

    digest = hashlib.sha256()
    for f in listing.files:
        digest.update(f"{f.relative_name}\0{f.size_bytes}\0{f.mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def list_partition_keys(landing: Path) -> list[str]:
    if not landing.is_dir():
        return []
    keys = []
    for entry in landing.iterdir():
        if entry.is_dir() and _PARTITION_KEY.match(entry.name):
            try:
                parse_partition_key(entry.name)
            except LandingError:
                continue
            keys.append(entry.name)
    return sorted(keys)
