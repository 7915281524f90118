"""Discovering the files of one delivery-day partition in the landing folder.

Two sources land per delivery day, and one partition holds both:

    <landing>/<YYYY-MM-DD>/*.jsonl[.gz]             native v1 events (docs/trace-format.md)
    <landing>/otlp/<YYYY-MM-DD>/*.json[l][.gz]      OpenTelemetry OTLP/JSON requests (docs/otlp.md)
"""

from __future__ import annotations

import datetime as dt
import heapq
import os
import re
import stat as stat_mode
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
    return [
        d
        for d in (partition_dir(landing, partition_key), otlp_partition_dir(landing, partition_key))
        if d.is_dir()
    ]


class _HardLinks:
    """Counts the directory entries inside the landing folder that are links of a given file.

    A hard link to a file elsewhere looks like any other file (unlike a symlink, it has no target
    to resolve); only its link count says that other names exist. Where those are is found by
    walking the landing folder, which happens only for a file with more than one link: nearest
    delivery days first (where `rsync --link-dest` or `cp -al` put the other links), stopping as
    soon as every link is accounted for. Symlinks are not followed; a folder is scanned once
    (a bind mount inside the landing folder is not counted twice); an unreadable folder counts
    no links, so a link there is treated as outside.
    """

    def __init__(self, root: Path, partition_key: str):
        self._day = parse_partition_key(partition_key)
        self._queue: list[tuple[int, int, str]] = [(-1, 0, str(root))]  # (priority, depth, path)
        self._seen_dirs: set[tuple[int, int]] = set()
        self._links: dict[tuple[int, int], int] = {}

    def _priority(self, path: str, depth: int) -> int:
        name = os.path.basename(path)
        if depth == 1 and name == OTLP_DIR:
            return -1
        if _PARTITION_KEY.match(name):
            try:
                return abs((dt.date.fromisoformat(name) - self._day).days)
            except ValueError:
                pass
        return 1_000_000 + depth

    def _scan_next(self) -> None:
        _, depth, path = heapq.heappop(self._queue)
        try:
            identity = os.stat(path, follow_symlinks=False)
            if (
                not stat_mode.S_ISDIR(identity.st_mode)
                or (identity.st_dev, identity.st_ino) in self._seen_dirs
            ):
                return  # replaced by a symlink since it was listed, or already scanned
            self._seen_dirs.add((identity.st_dev, identity.st_ino))
            with os.scandir(path) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        heapq.heappush(
                            self._queue, (self._priority(entry.path, depth + 1), depth + 1, entry.path)
                        )
                    elif entry.is_file(follow_symlinks=False):
                        st = entry.stat(follow_symlinks=False)
                        if st.st_nlink > 1:
                            key = (st.st_dev, st.st_ino)
                            self._links[key] = self._links.get(key, 0) + 1
        except OSError:
            return  # unreadable: its links stay uncounted (treated as outside)

    def inside(self, file_stat: os.stat_result) -> int:
        """How many of the file's links are inside the landing folder (at most st_nlink)."""
        key = (file_stat.st_dev, file_stat.st_ino)
        while self._links.get(key, 0) < file_stat.st_nlink and self._queue:
            self._scan_next()
        return min(self._links.get(key, 0), file_stat.st_nlink)


def _list_folder(
    landing: Path,
    folder: Path,
    prefix: str,
    suffixes: tuple[str, ...],
    partition_key: str,
    hard_links: _HardLinks,
) -> tuple[list[LandingFile], list[str]]:
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
        if stat.st_nlink > 1:
            inside = hard_links.inside(stat)
            if inside < stat.st_nlink:
                outside = stat.st_nlink - inside
                raise LandingError(
                    f"refusing {prefix + entry.name!r} in {partition_key}: hard link to a file with "
                    f"{outside} of its {stat.st_nlink} links outside the landing folder; deliver a copy, "
                    "or move the file in (mv) instead of linking it"
                )
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

    The warehouse must only ever read what was delivered into the landing folder. So a symlink
    that resolves outside it is refused, and so is a hard link to a file that has links outside
    it (a file with several links is read only if all of them are inside: `rsync --link-dest`
    between delivery days, `cp -al`). Both are checked here, when the day is listed.
    """
    hard_links = _HardLinks(landing.resolve(), partition_key)
    native, ignored_native = _list_folder(
        landing, partition_dir(landing, partition_key), "", NATIVE_SUFFIXES, partition_key, hard_links
    )
    otlp, ignored_otlp = _list_folder(
        landing,
        otlp_partition_dir(landing, partition_key),
        f"{OTLP_DIR}/",
        OTLP_SUFFIXES,
        partition_key,
        hard_links,
    )
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
