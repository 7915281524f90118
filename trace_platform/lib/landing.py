"""Discovering the files of one delivery-day partition in the landing folder.

Two sources land per delivery day, and one partition holds both:

    <landing>/<YYYY-MM-DD>/*.jsonl[.gz]             native v1 events (docs/trace-format.md)
    <landing>/otlp/<YYYY-MM-DD>/*.json[l][.gz]      OpenTelemetry OTLP/JSON requests (docs/otlp.md)
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

NATIVE_SUFFIXES = (".jsonl", ".jsonl.gz")
OTLP_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")
OTLP_DIR = "otlp"  # <landing>/otlp/<YYYY-MM-DD>/
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

    @property
    def source_format(self) -> str:
        """'otlp' for files under <landing>/otlp/, else 'native'."""
        return "otlp" if self.relative_name.startswith(OTLP_DIR + "/") else "native"


@dataclass(frozen=True)
class PartitionListing:
    files: list[LandingFile]
    ignored: list[str]  # names present in the folder that are not trace files (reported, not read)


def partition_dir(landing: Path, partition_key: str) -> Path:
    parse_partition_key(partition_key)
    return landing / partition_key


def otlp_partition_dir(landing: Path, partition_key: str) -> Path:
    parse_partition_key(partition_key)
    return landing / OTLP_DIR / partition_key


def partition_folders(landing: Path, partition_key: str) -> list[Path]:
    """The delivery folders of a day that exist: the native one and/or the OTLP one."""
    return [d for d in (partition_dir(landing, partition_key), otlp_partition_dir(landing, partition_key)) if d.is_dir()]


def _list_folder(landing: Path, folder: Path, prefix: str, suffixes: tuple[str, ...],
                 partition_key: str) -> tuple[list[LandingFile], list[str]]:
    root = landing.resolve()
    files: list[LandingFile] = []
    ignored: list[str] = []
    if not folder.is_dir():
        return files, ignored
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(suffixes):
            ignored.append(prefix + entry.name)
            continue
        resolved = entry.resolve()
        if not resolved.is_relative_to(root):
            raise LandingError(
                f"refusing {prefix + entry.name!r} in {partition_key}: symlink points outside the landing folder"
            )
        if not resolved.is_file():
            ignored.append(prefix + entry.name)
            continue
        stat = resolved.stat()
        files.append(
            LandingFile(
                path=resolved,
                relative_name=f"{prefix}{partition_key}/{entry.name}",
                size_bytes=stat.st_size,
                mtime_ns=stat.st_mtime_ns,
            )
        )
    return files, ignored


def list_partition_files(landing: Path, partition_key: str) -> PartitionListing:
    """Trace files of one delivery day, sorted by name (the dedupe tie-break order): the native
    files of `<landing>/<day>/`, then the OTLP files of `<landing>/otlp/<day>/` (relative names
    `otlp/<day>/<name>`, which sort after every native name of the day).

    A symlink that resolves outside the landing folder is refused: the warehouse must only
    ever read what was delivered into the landing folder.
    """
    native, ignored_native = _list_folder(landing, partition_dir(landing, partition_key), "",
                                          NATIVE_SUFFIXES, partition_key)
    otlp, ignored_otlp = _list_folder(landing, otlp_partition_dir(landing, partition_key), f"{OTLP_DIR}/",
                                      OTLP_SUFFIXES, partition_key)
    return PartitionListing(files=native + otlp, ignored=ignored_native + ignored_otlp)


def partition_fingerprint(listing: PartitionListing) -> str:
    """Cheap change detector for sensors: names, sizes and mtimes (no file contents read)."""
    import hashlib

    digest = hashlib.sha256()
    for f in listing.files:
        digest.update(f"{f.relative_name}\0{f.size_bytes}\0{f.mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def list_partition_keys(landing: Path) -> list[str]:
    """Delivery days with a native folder `<landing>/<day>/` or an OTLP folder `<landing>/otlp/<day>/`."""
    if not landing.is_dir():
        return []
    keys = set()
    for parent in (landing, landing / OTLP_DIR):
        if not parent.is_dir():
            continue
        for entry in parent.iterdir():
            if entry.is_dir() and _PARTITION_KEY.match(entry.name):
                try:
                    parse_partition_key(entry.name)
                except LandingError:
                    continue
                keys.add(entry.name)
    return sorted(keys)
