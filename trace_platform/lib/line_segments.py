"""File-level preparation of landing files for DuckDB's bulk line reader.

DuckDB reads the lines set-based (`read_csv` in single-column mode, streaming and parallel, with
`WITH ORDINALITY` giving line numbers). That reader drops empty lines and treats a carriage return
as a line break, so this module decides, per file and at C speed over large byte chunks (never a
Python loop over the rows of a healthy file), how DuckDB may read it:

* **direct**: plain UTF-8 with no empty line, no `\\r` and no over-long line is read in place;
* **rewritten**: gzip, files with empty lines or `\\r\\n` endings, and names with glob characters
  are streamed into a work copy where `\\r\\n` becomes `\\n` and every line gets a one-byte prefix
  (so no line is empty); SQL strips the prefix again;
* **repaired** (slow path, damaged files only): lines with invalid UTF-8 or over the length limit
  are replaced by *marker lines* that DuckDB turns into quarantine rows; a bare `\\r` is kept as
  JSON whitespace or as an invalid byte, whichever preserves the line's validity.

Every input line stays exactly one output line, so line numbers are preserved. The content hash
(sha256 of the file as delivered) is computed on the way.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from trace_platform.lib.landing import LandingFile
from trace_platform.lib.settings import IngestLimits

MARKER_SEPARATOR = "\x1f"
LINE_PREFIX = b"#"
_CHUNK = 8 << 20


@dataclass
class PreparedFile:
    file: LandingFile
    read_path: Path | None = None  # what DuckDB reads; None when the file failed as a whole
    prefixed: bool = False  # every line carries LINE_PREFIX
    content_sha256: str = ""
    file_error: str | None = None  # file-level quarantine reason, e.g. corrupt_gzip
    file_error_detail: str = ""
    marked_lines: int = 0  # lines replaced by markers (invalid UTF-8, too long)


def marker_line(token: str, reason: str, original_bytes: int, preview: str) -> str:
    """A line that cannot be a trace event (it starts with NUL) and carries a quarantine reason."""
    return (
        f"\x00{token}{MARKER_SEPARATOR}{reason}{MARKER_SEPARATOR}{original_bytes}{MARKER_SEPARATOR}{preview}"
    )


class _Damaged(Exception):
    """The file needs the line-by-line repair path."""


class _TooLarge(Exception):
    """A gzip file inflates beyond its allowance (IngestLimits.decompressed_allowance)."""


class _HashingReader:
    """A binary file whose bytes are hashed as they are read (the file as delivered)."""

    def __init__(self, path: Path):
        self._raw = open(path, "rb")  # noqa: SIM115 - closed in close()
        self.digest = hashlib.sha256()
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.digest.update(data)
        self.bytes_read += len(data)
        return data

    def readable(self) -> bool:  # for gzip.GzipFile
        return True

    def close(self) -> None:
        self._raw.close()


def _chunks(
    file: LandingFile, limits: IngestLimits, size: int = _CHUNK, hashing: _HashingReader | None = None
) -> Iterator[bytes]:
    """The file's bytes (inflated for gzip) in chunks of at most `size`.

    Gzip is inflated chunk by chunk, never whole: once the output passes the file's allowance,
    `_TooLarge` is raised with at most one chunk beyond it read.
    """
    raw = hashing or _HashingReader(file.path)
    stream = gzip.GzipFile(fileobj=raw, mode="rb") if file.is_gzip else raw  # type: ignore[arg-type]
    allowance = limits.decompressed_allowance(file.size_bytes) if file.is_gzip else None
    inflated = 0
    try:
        while chunk := stream.read(size):
            inflated += len(chunk)
            if allowance is not None and inflated > allowance:
                raise _TooLarge(
                    f"gzip of {file.size_bytes} bytes inflates beyond {allowance} bytes (stopped reading at "
                    f"{inflated}); limit: {limits.max_decompression_ratio:g}x the file size, at least "
                    f"{limits.decompressed_floor_bytes} and at most {limits.max_decompressed_bytes} bytes "
                    "(TRACE_PLATFORM_MAX_DECOMPRESSION_RATIO, TRACE_PLATFORM_MAX_DECOMPRESSED_BYTES)"
                )
            yield chunk
    finally:
        raw.close()


class _Scanner:
    """Chunk-level checks: line length, and whether DuckDB can read the file in place.

    UTF-8 validity is left to DuckDB's reader, which fails on invalid bytes; the loader then
    repairs that file (see `repair_file`).
    """

    def __init__(self, limits: IngestLimits):
        self._limits = limits
        self._since_newline = 0
        self._previous_byte = b"\n"  # the file start behaves like a line start
        self.needs_rewrite = False

    def feed(self, chunk: bytes) -> None:
        first_nl = chunk.find(b"\n")
        if first_nl < 0:
            self._since_newline += len(chunk)
        else:
            # Lines wholly inside a chunk are shorter than the chunk (chunks <= the line limit).
            if self._since_newline + first_nl > self._limits.max_line_bytes:
                raise _Damaged
            self._since_newline = len(chunk) - chunk.rfind(b"\n") - 1
        if self._since_newline > self._limits.max_line_bytes:
            raise _Damaged
        if not self.needs_rewrite:
            self.needs_rewrite = (
                b"\r" in chunk or b"\n\n" in self._previous_byte + chunk[:1] or b"\n\n" in chunk
            )
        self._previous_byte = chunk[-1:]


class _PrefixedWriter:
    """Writes lines with a one-byte prefix each; `\\r\\n` endings become `\\n`."""

    def __init__(self, path: Path):
        self._handle = open(path, "wb")  # noqa: SIM115
        self._at_line_start = True
        self._pending_cr = False

    def write_text(self, data: bytes) -> None:
        if self._pending_cr:
            data = b"\r" + data
            self._pending_cr = False
        if data.endswith(b"\r"):  # may be half of a \r\n split across chunks
            data, self._pending_cr = data[:-1], True
        data = data.replace(b"\r\n", b"\n")
        if b"\r" in data:
            raise _Damaged  # a bare carriage return: only the repair path keeps it faithfully
        self._write_prefixed(data)

    def write_line(self, line: bytes, newline: bool) -> None:
        self._write_prefixed(line + (b"\n" if newline else b""))

    def _write_prefixed(self, data: bytes) -> None:
        if not data:
            return
        out = data.replace(b"\n", b"\n" + LINE_PREFIX)
        if self._at_line_start:
            out = LINE_PREFIX + out
        # The prefix after a final newline would start a line that does not exist: hold it back.
        self._at_line_start = out.endswith(b"\n" + LINE_PREFIX)
        if self._at_line_start:
            out = out[:-1]
        self._handle.write(out)

    def close(self) -> None:
        if self._pending_cr:
            self._pending_cr = False
            raise _Damaged  # the file ends with a bare \r
        self._handle.close()

    def abort(self) -> None:
        self._handle.close()


def _iter_capped_lines(chunks: Iterator[bytes], cap: int) -> Iterator[tuple[bytes, int, bool]]:
    """Yields (first `cap` bytes of the line, original length, ended_with_newline); memory stays bounded."""
    buffer = bytearray()
    length = 0
    for chunk in chunks:
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
    if length:
        yield bytes(buffer), length, False


def _strict_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _repair(file: LandingFile, writer: _PrefixedWriter, limits: IngestLimits, token: str) -> int:
    """Rewrites a damaged file line by line; returns how many lines became markers."""
    marked = 0
    preview = limits.quarantine_line_chars
    for prefix, length, has_newline in _iter_capped_lines(_chunks(file, limits), limits.max_line_bytes + 1):
        if prefix.endswith(b"\r") and length <= limits.max_line_bytes:
            prefix, length = prefix[:-1], length - 1  # a \r\n ending is accepted
        if length > limits.max_line_bytes:
            text = prefix[:preview].decode("utf-8", errors="backslashreplace")
            out = marker_line(token, "line_too_long", length, text).encode()
            marked += 1
        else:
            try:
                text = prefix.decode("utf-8")
                out = prefix
            except UnicodeDecodeError:
                text = prefix[:preview].decode("utf-8", errors="backslashreplace")
                out = marker_line(token, "invalid_utf8", length, text).encode()
                marked += 1
            else:
                if b"\r" in out:
                    # DuckDB would split the line here. As JSON whitespace a \r is a space; inside
                    # a string it makes the line invalid, which \x01 preserves.
                    out = out.replace(b"\r", b" " if _strict_json(text) else b"\x01")
        writer.write_line(out.replace(b"\r", b"\x01"), has_newline)
    return marked


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _copy_prefixed(
    file: LandingFile, copy_path: Path, chunks: Iterator[bytes], scanner: _Scanner | None
) -> None:
    writer = _PrefixedWriter(copy_path)
    try:
        for chunk in chunks:
            if scanner is not None:
                scanner.feed(chunk)
            writer.write_text(chunk)
        writer.close()
    except BaseException:
        writer.abort()
        raise


def repair_file(prepared: PreparedFile, work_dir: Path, index: int, limits: IngestLimits, token: str) -> None:
    """The slow path: rewrites the file line by line, turning bad lines into marker lines."""
    copy_path = work_dir / f"file_{index:05d}_repaired.jsonl"
    writer = _PrefixedWriter(copy_path)
    try:
        prepared.marked_lines = _repair(prepared.file, writer, limits, token)
    finally:
        writer.abort()
    prepared.read_path, prepared.prefixed = copy_path, True


def prepare_file(
    file: LandingFile, index: int, work_dir: Path, limits: IngestLimits, token: str
) -> PreparedFile:
    """Hashes and checks one landing file (one pass) and decides how DuckDB reads it."""
    prepared = PreparedFile(file=file)
    copy_path = work_dir / f"file_{index:05d}.jsonl"
    # DuckDB reads file names as glob patterns: a name with glob characters is read via a copy.
    has_glob_chars = any(ch in str(file.path) for ch in "*?[]{}\\")
    scan_chunk = min(_CHUNK, limits.max_line_bytes)
    hashing = _HashingReader(file.path)
    try:
        try:
            scanner = _Scanner(limits)
            if file.is_gzip or has_glob_chars:
                _copy_prefixed(file, copy_path, _chunks(file, limits, scan_chunk, hashing), scanner)
                prepared.read_path, prepared.prefixed = copy_path, True
            else:
                for chunk in _chunks(file, limits, scan_chunk, hashing):
                    scanner.feed(chunk)
                if scanner.needs_rewrite:
                    _copy_prefixed(file, copy_path, _chunks(file, limits, scan_chunk), None)
                    prepared.read_path, prepared.prefixed = copy_path, True
                else:
                    prepared.read_path = file.path
        except _Damaged:
            repair_file(prepared, work_dir, index, limits, token)
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError, _TooLarge) as exc:
        # Whole-file failures: no line of the file is loaded. A gzip bomb stops here too, after
        # at most its allowance was inflated (and written, prefixed, to a work copy now removed).
        for partial in (copy_path, work_dir / f"file_{index:05d}_repaired.jsonl"):
            partial.unlink(missing_ok=True)
        prepared.read_path = None
        prepared.marked_lines = 0
        if isinstance(exc, _TooLarge):
            prepared.file_error, prepared.file_error_detail = "decompressed_too_large", str(exc)
        else:
            prepared.file_error = "corrupt_gzip" if file.is_gzip else "unreadable_file"
            prepared.file_error_detail = f"{type(exc).__name__}: {exc}"
    # A failed or abandoned pass may not have hashed every byte: then hash the file as delivered.
    complete = hashing.bytes_read == file.size_bytes
    prepared.content_sha256 = hashing.digest.hexdigest() if complete else _sha256(file.path)
    return prepared


def prepare_files(
    files: list[LandingFile], work_dir: Path, limits: IngestLimits, token: str
) -> list[PreparedFile]:
    """Prepares files on a small thread pool (hashing and zlib release the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    work_dir.mkdir(parents=True, exist_ok=True)
    workers = max(1, min(len(files), os.cpu_count() or 2))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(
            pool.map(lambda item: prepare_file(item[1], item[0], work_dir, limits, token), enumerate(files))
        )
