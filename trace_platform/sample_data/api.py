"""The public entry point `generate()`: checks its arguments, plans the work units (one per
delivery day and collector shard, with the day's breach injections), runs them (here, or in child
processes for large outputs) and writes the manifest."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from trace_platform.sample_data.breaches import day_injections
from trace_platform.sample_data.constants import MANIFEST_NAME, SHARDS
from trace_platform.sample_data.files import file_names, run_unit
from trace_platform.sample_data.manifest import build_manifest
from trace_platform.sample_data.workers import run_in_workers

# Traces per day up to which generation stays in this process (process start-up is not worth it).
PARALLEL_MIN_TRACES = 20_000


def _check_args(out_dir, days, traces_per_day, seed, start) -> tuple[Path, dt.date]:
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be a positive integer, got {days!r}")
    if isinstance(traces_per_day, bool) or not isinstance(traces_per_day, int) or traces_per_day < 1:
        raise ValueError(f"traces_per_day must be a positive integer, got {traces_per_day!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if start is None:
        start = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)
    elif isinstance(start, str):
        try:
            start = dt.date.fromisoformat(start)
        except ValueError:
            raise ValueError(f"start must be a date (YYYY-MM-DD), got {start!r}") from None
    elif isinstance(start, dt.datetime):
        start = start.date()
    elif not isinstance(start, dt.date):
        raise ValueError(f"start must be a datetime.date, got {start!r}")
    try:
        start + dt.timedelta(days=days)
    except OverflowError:
        raise ValueError(f"start {start} plus {days} days is out of range") from None
    try:
        out = Path(out_dir)
    except TypeError:
        raise ValueError(f"out_dir must be a path, got {out_dir!r}") from None
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir {out} exists and is not a folder")
    return out, start


def _prepare_folders(out: Path, day_names: list[str], gzip_output: bool) -> None:
    """Refuses to mix with other trace files (the manifest's accounting would be wrong); removes
    this generator's own files from an earlier run into the same folders."""
    ours = {name for shard in SHARDS for name in file_names(shard, gzip_output)}
    for day in day_names:
        folder = out / day
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"{folder} exists and is not a folder")
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.name in ours and entry.is_file():
                entry.unlink()
            elif entry.name.endswith((".jsonl", ".jsonl.gz")):
                raise ValueError(
                    f"{folder} already holds trace file {entry.name!r} that this run would not "
                    f"write; generate into an empty folder"
                )


def generate(
    out_dir: Path,
    *,
    days: int,
    traces_per_day: int,
    seed: int = 42,
    start: dt.date | None = None,
    gzip_output: bool = False,
    dirty: bool = False,
    progress: bool = False,
) -> dict:
    """Writes `days` delivery days of sample trace logs under `out_dir`; returns the manifest.

    Deterministic: the same arguments give byte-identical files and manifest. See the package
    docstring (`trace_platform.sample_data`) for the contents, and `<out_dir>/generator-manifest.json` for what the warehouse must
    report after ingesting every day (R9 accounting per file, quarantine reasons, breach keys).
    """
    out, start = _check_args(out_dir, days, traces_per_day, seed, start)
    day_names = [(start + dt.timedelta(days=i)).isoformat() for i in range(days)]
    out.mkdir(parents=True, exist_ok=True)
    _prepare_folders(out, day_names, gzip_output)

    specs = []
    for day_index, day in enumerate(day_names):
        injections = day_injections(seed, day, day_index, traces_per_day)
        per_shard, extra = divmod(traces_per_day, len(SHARDS))
        first = 0
        for s, shard in enumerate(SHARDS):
            count = per_shard + (1 if s < extra else 0)
            specs.append(
                {
                    "out_dir": str(out),
                    "day": day,
                    "day_index": day_index,
                    "last_day": day_index == days - 1,
                    "shard": shard,
                    "seed": seed,
                    "first_trace": first,
                    "end_trace": first + count,
                    "injections": {str(k): v for k, v in injections.items() if first <= k < first + count},
                    "gzip": gzip_output,
                    "dirty": dirty,
                }
            )
            first += count
    specs = [s for s in specs if s["end_trace"] > s["first_trace"]]

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=days * traces_per_day, desc="generating traces", unit="trace", unit_scale=True)
    try:
        workers = min(len(specs), os.cpu_count() or 1)
        if workers > 1 and days * traces_per_day >= PARALLEL_MIN_TRACES:
            results = run_in_workers(specs, workers, bar)
        else:
            results = []
            for spec in specs:
                results.append(run_unit(spec))
                if bar is not None:
                    bar.update(results[-1]["traces"])
    finally:
        if bar is not None:
            bar.close()

    manifest = build_manifest(results, out, day_names, seed, start, days, traces_per_day, gzip_output, dirty)
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return manifest
