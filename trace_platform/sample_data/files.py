"""One work unit's files: build its traces, assemble and write its shard file and its late file in
the next day's folder (gzip with mtime 0: byte-identical for the same arguments), and account for
every line."""

from __future__ import annotations

import datetime as dt
import gzip
import os
from operator import itemgetter
from pathlib import Path

from trace_platform.sample_data.constants import SHARDS
from trace_platform.sample_data.dirty import JUNK_KINDS, FileBuilder, assemble, conflicting, duplicate
from trace_platform.sample_data.unit import Unit


def write_file(path: Path, fb: FileBuilder, gzip_output: bool) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    lines, step = fb.lines, 50_000
    with open(tmp, "wb") as handle:
        sink = (
            gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=0, compresslevel=6)
            if gzip_output
            else handle
        )
        for start in range(0, len(lines), step):
            chunk = b"\n".join(lines[start : start + step])
            if start + step < len(lines) or fb.trailing_newline:
                chunk += b"\n"
            sink.write(chunk)
        if gzip_output:
            sink.close()
    os.replace(tmp, path)
    return path.stat().st_size


def accounting(fb: FileBuilder, size: int) -> dict:
    quarantined = sum(fb.reasons.values())
    lines_read = len(fb.lines)
    assert lines_read == fb.blank + fb.loaded + fb.duplicates + quarantined
    return {
        "lines_read": lines_read,
        "blank_lines": fb.blank,
        "events_loaded": fb.loaded,
        "duplicates_dropped": fb.duplicates,
        "lines_quarantined": quarantined,
        "quarantined_by_reason": dict(sorted(fb.reasons.items())),
        "crlf_lines": fb.crlf,
        "trailing_newline": fb.trailing_newline,
        "file_bytes": size,
    }


def file_names(shard: str, gzip_output: bool) -> tuple[str, str]:
    ext = ".jsonl.gz" if gzip_output else ".jsonl"
    return f"{shard}{ext}", f"{shard}.late{ext}"


def run_unit(spec: dict) -> dict:
    """Generates and writes one (day, shard) unit; returns its part of the manifest."""
    unit = Unit(spec)
    unit.run()
    rng = unit.rng
    dirty, gz = spec["dirty"], spec["gzip"]
    out = Path(spec["out_dir"])
    main_name, late_name = file_names(unit.shard, gz)
    day, next_day = spec["day"], (unit.day + dt.timedelta(days=1)).isoformat()

    unit.main.sort(key=itemgetter(0))
    main_lines = [line for _, line in unit.main]
    unit.late.sort(key=itemgetter(0))
    late_lines = [line for _, line in unit.late]
    scale = len(main_lines)

    # re-deliveries of this day's events in the next day's late file (never on the last day)
    incoming: list[tuple[bytes, str]] = []
    if dirty and not unit.last_day and main_lines:
        n_dup, n_conf = max(3, round(scale * 0.002)), max(1, round(scale * 0.0003))
        for k, i in enumerate(rng.sample(range(len(main_lines)), min(len(main_lines), n_dup + n_conf))):
            if k < n_dup:
                incoming.append((duplicate(main_lines[i], k % 3), "duplicate"))
            else:
                incoming.append((conflicting(main_lines[i], k % 3), "conflict"))

    files: dict[str, dict] = {}
    rotation = SHARDS.index(unit.shard) + len(SHARDS) * unit.day_index
    main_fb = assemble(
        main_lines,
        rng,
        dirty,
        same_file_copies=True,
        incoming=[],
        junk_kinds=JUNK_KINDS,
        scale=scale,
        rotation=rotation,
    )
    files[f"{day}/{main_name}"] = accounting(main_fb, write_file(out / day / main_name, main_fb, gz))
    del main_fb
    if not unit.last_day and (late_lines or incoming):
        late_fb = assemble(
            late_lines,
            rng,
            dirty,
            same_file_copies=bool(late_lines),
            incoming=incoming,
            junk_kinds=("invalid_utf8", "truncated"),
            scale=len(late_lines),
            rotation=rotation,
        )
        files[f"{next_day}/{late_name}"] = accounting(
            late_fb, write_file(out / next_day / late_name, late_fb, gz)
        )
    return {
        "files": files,
        "expected": unit.expected,
        "event_types": dict(unit.event_types),
        "scenarios": dict(unit.scenarios),
        "injections": dict(unit.injections),
        "traces": unit.traces,
        "sessions": unit.sessions,
        "late_events": len(late_lines) if not unit.last_day else 0,
        "day": day,
    }
