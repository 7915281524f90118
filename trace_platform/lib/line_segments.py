"""File-level preparation of landing files for DuckDB's bulk reader.

DuckDB reads the lines set-based; this module only does what must happen per file, at C speed
over large byte chunks (never a Python loop over the rows of a healthy file):

* content hash (sha256 of the file as delivered),
* gzip decompression (a truncated or corrupt archive fails the file, not the partition),
* UTF-8 validation and over-long line detection,
* cutting large inputs into segments so DuckDB's memory stays bounded and both cores work.

A file with invalid UTF-8 or an over-long line takes a slow path that rewrites it line by line,
replacing each bad line with a *marker line* that DuckDB turns into a quarantine row. Line
numbers are preserved: every input line is exactly one output line.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from trace_platform.lib.landing import LandingFile
from trace_platform.lib.settings import IngestLimits

MARKER_SEPARATOR = "\x1f"


@dataclass(frozen=True)
class Segment:
    path: Path
    source_file: str
    first_line_number: int  # 1-based number of the segment's first line in its source file


@dataclass
class PreparedFile:
    file: LandingFile
    content_sha256: str = ""
    segments: list[Segment] = field(default_factory=list)
    file_error: str | None = None  # file-level quarantine reason, e.g. corrupt_gzip
    file_error_detail: str = ""
    marked_lines: int = 0  # lines replaced by markers (invalid UTF-8, too long)


class _HashingReader:
    """Wraps a binary file so everything read through it is hashed."""

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.digest.update(data)
        return data

    def readable(self) -> bool:  # needed by gzip.GzipFile
        return True

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


class _NeedsSlowPath(Exception):
    pass


def marker_line(token: str, reason: str, original_bytes: int, preview: str) -> str:
    """A line that cannot be a trace event (it starts with NUL) and carries a quarantine reason."""
    return f"\x00{token}{MARKER_SEPARATOR}{reason}{MARKER_SEPARATOR}{original_bytes}{MARKER_SEPARATOR}{preview}"


def _open_content(file: LandingFile) -> tuple[BinaryIO, _HashingReader, BinaryIO | None]:
    raw = open(file.path, "rb")  # noqa: SIM115 - closed by the caller
    hashing = _HashingReader(raw)
    if file.is_gzip:
        return gzip.GzipFile(fileobj=hashing, mode="rb"), hashing, raw  # type: ignore[arg-type]
    return hashing, hashing, raw  # type: ignore[return-value]


class _SegmentWriter:
    def __init__(self, work_dir: Path, file_index: int, file: LandingFile, limits: IngestLimits):
        self._dir = work_dir
        self._index = file_index
        self._file = file
        self._limits = limits
        self.segments: list[Segment] = []
        self._handle: BinaryIO | None = None
        self._size = 0
        self._lines_before = 0  # complete lines written in earlier segments

    def _open_next(self) -> None:
        path = self._dir / f"f{self._index:05d}_s{len(self.segments):04d}.jsonl"
        self._handle = open(path, "wb")  # noqa: SIM115
        self._size = 0
        self.segments.append(Segment(path, self._file.relative_name, self._lines_before + 1))

    def write(self, data: bytes) -> None:
        """Writes bytes, starting a new segment at a line boundary once the current one is full."""
        while data:
            if self._handle is None:
                self._open_next()
            room = self._limits.segment_bytes - self._size
            if len(data) <= room:
                self._put(data)
                return
            cut = data.rfind(b"\n", 0, room) + 1 or data.find(b"\n", room) + 1
            if cut == 0:  # no line end left in data: keep filling this segment
                self._put(data)
                return
            self._put(data[:cut])
            data = data[cut:]
            self.close()

    def _put(self, data: bytes) -> None:
        assert self._handle is not None
        self._handle.write(data)
        self._size += len(data)
        self._lines_before += data.count(b"\n")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def discard(self) -> None:
        self.close()
        for seg in self.segments:
            seg.path.unlink(missing_ok=True)
        self.segments = []
        self._lines_before = 0


def _fast_scan(stream: BinaryIO, writer: _SegmentWriter | None, limits: IngestLimits) -> None:
    """Streams the content, validating UTF-8 and line lengths in C-speed chunk operations."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    chunk_size = min(8 << 20, limits.max_line_bytes)
    since_newline = 0  # bytes of the current, unfinished line
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            break
        first_nl = chunk.find(b"\n")
        if first_nl < 0:
            since_newline += len(chunk)
        else:
            # Lines wholly inside a chunk are shorter than chunk_size <= max_line_bytes.
            if since_newline + first_nl > limits.max_line_bytes:
                raise _NeedsSlowPath
            since_newline = len(chunk) - chunk.rfind(b"\n") - 1
        if since_newline > limits.max_line_bytes:
            raise _NeedsSlowPath
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError:
            raise _NeedsSlowPath from None
        if writer is not None:
            writer.write(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise _NeedsSlowPath from None


def _iter_capped_lines(stream: BinaryIO, cap: int) -> Iterator[tuple[bytes, int, bool]]:
    """Yields (line_without_newline_or_prefix, original_length, ended_with_newline).

    A line longer than `cap` yields only its first `cap` bytes: memory stays bounded.
    """
    buffer = bytearray()
    length = 0
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            break
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            piece = chunk[start:] if nl < 0 else chunk[start:nl]
            if len(buffer) < cap:
                buffer += piece[: cap - len(buffer)]
            length += len(piece)
            if nl < 0:
                break
            yield bytes(buffer), length, True
            buffer.clear()
            length = 0
            start = nl + 1
    if length or buffer:
        yield bytes(buffer), length, False


def _slow_rewrite(stream: BinaryIO, writer: _SegmentWriter, limits: IngestLimits, token: str) -> int:
    """Rewrites a damaged file line by line; returns how many lines became markers."""
    marked = 0
    preview_bytes = limits.quarantine_line_chars
    for prefix, length, has_newline in _iter_capped_lines(stream, limits.max_line_bytes + 1):
        ending = b"\n" if has_newline else b""
        if length > limits.max_line_bytes:
            preview = prefix[:preview_bytes].decode("utf-8", errors="backslashreplace")
            out = marker_line(token, "line_too_long", length, preview).encode()
            marked += 1
        else:
            try:
                prefix.decode("utf-8")
                out = prefix
            except UnicodeDecodeError:
                preview = prefix[:preview_bytes].decode("utf-8", errors="backslashreplace")
                out = marker_line(token, "invalid_utf8", length, preview).encode()
                marked += 1
        writer.write(out + ending)
    return marked


def prepare_file(file: LandingFile, index: int, work_dir: Path, limits: IngestLimits, token: str) -> PreparedFile:
    """Hashes, validates and (when needed) segments one landing file."""
    prepared = PreparedFile(file=file)
    # DuckDB reads file names as glob patterns: a name with glob characters is read via a copy.
    has_glob_chars = any(ch in str(file.path) for ch in "*?[]{}\\")
    must_copy = file.is_gzip or file.size_bytes > limits.segment_bytes or has_glob_chars
    writer = _SegmentWriter(work_dir, index, file, limits)
    stream, hashing, raw = _open_content(file)
    try:
        try:
            _fast_scan(stream, writer if must_copy else None, limits)
            hashing.drain()
            if must_copy:
                writer.close()
                prepared.segments = writer.segments
            else:
                prepared.segments = [Segment(file.path, file.relative_name, 1)]
        except _NeedsSlowPath:
            writer.discard()
            raw.close()
            stream, hashing, raw = _open_content(file)
            prepared.marked_lines = _slow_rewrite(stream, writer, limits, token)
            hashing.drain()
            writer.close()
            prepared.segments = writer.segments
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        writer.discard()
        prepared.segments = []
        prepared.file_error = "corrupt_gzip" if file.is_gzip else "unreadable_file"
        prepared.file_error_detail = f"{type(exc).__name__}: {exc}"
        # Hash whatever bytes the file has, so a later fix of the file is detected as a change.
        with open(file.path, "rb") as fh:
            prepared.content_sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
        return prepared
    finally:
        raw.close()
    prepared.content_sha256 = hashing.digest.hexdigest()
    return prepared


def prepare_files(files: list[LandingFile], work_dir: Path, limits: IngestLimits, token: str) -> list[PreparedFile]:
    """Prepares files on a small thread pool (hashing and zlib release the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    work_dir.mkdir(parents=True, exist_ok=True)
    workers = max(1, min(len(files), os.cpu_count() or 2))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda item: prepare_file(item[1], item[0], work_dir, limits, token), enumerate(files)))
