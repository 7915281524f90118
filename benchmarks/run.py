"""`make bench`: how close the nightly job runs to DuckDB's own read speed, and how it scales.

Every step runs in a fresh child process, so wall time includes start-up (as the nightly job pays
it) and peak memory is the sampled resident set of the whole process tree (the Dagster process
and its dbt subprocess together). Results print as a table and go to
`benchmarks/results/<date>.json`. Method: docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
RESULTS = ROOT / "benchmarks" / "results"
BIN = Path(sys.executable).parent
FIRST_DAY = dt.date(2026, 1, 1)

# The five audit queries a reviewer runs on the marts (step 5).
AUDIT_QUERIES = {
    "breaches per rule per tenant": """
        select rule_id, tenant_id, count(*) as breaches
        from audit.audit_violations group by all order by rule_id, breaches desc""",
    "unconfirmed writes by agent version": """
        select agent_version, count(*) as unconfirmed_writes
        from marts.fct_tool_calls
        where executed and access = 'state_changing' and confirmation_required
          and not approved_before_execution
        group by all order by unconfirmed_writes desc""",
    "tool error rate week over week": """
        with weekly as (
            select tool_name, requested_week as week,
                   avg(case when result_status in ('error', 'timeout') then 1 else 0 end) as error_rate
            from marts.fct_tool_calls where executed group by all)
        select tool_name, week, error_rate,
               error_rate - lag(error_rate) over (partition by tool_name order by week) as change
        from weekly order by change desc nulls last limit 20""",
    "slowest tools": """
        select tool_name, count(*) as calls, quantile_cont(latency_ms, 0.95) as p95_latency_ms
        from marts.fct_tool_calls where latency_ms is not null
        group by all order by p95_latency_ms desc limit 10""",
    "traces with the most retries": """
        select trace_id, tenant_id, retry_count
        from marts.fct_outcomes order by retry_count desc, trace_id limit 20""",
}


# --- measuring -----------------------------------------------------------------------------------


def _tree_rss_bytes(root_pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm") as handle:
                rss[int(entry)] = int(handle.read().split()[1]) * page
        except (FileNotFoundError, ProcessLookupError, IndexError, PermissionError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack += children.get(pid, [])
    return total


def measure(command: list[str], env: dict | None = None, stream_stderr: bool = False) -> dict:
    """Runs a command, sampling its process tree's memory every 50 ms; fails loudly on error."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=None if stream_stderr else subprocess.PIPE,
        text=True,
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_bytes(process.pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    done.set()
    sampler.join()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(
            f"benchmark step failed: {' '.join(command)}\n{stdout[-3000:]}\n{(stderr or '')[-3000:]}"
        )
    return {"seconds": seconds, "peak_rss_bytes": peak, "stdout": stdout}


def python_step(code: str, env: dict | None = None) -> dict:
    return measure([sys.executable, "-c", code], env)


# --- data ----------------------------------------------------------------------------------------


def events_per_trace(seed: int) -> float:
    """The generator's mean trace size, from a small sample (its shapes do not depend on volume)."""
    from trace_platform.sample_data import generate

    sample = DATA / "calibration"
    shutil.rmtree(sample, ignore_errors=True)
    manifest = generate(sample, days=1, traces_per_day=2000, seed=seed, start=FIRST_DAY)
    shutil.rmtree(sample, ignore_errors=True)
    return manifest["totals"]["events"] / manifest["totals"]["traces"]


def landing_for(events: int, days: int, seed: int, dirty: bool) -> tuple[Path, dict]:
    """Generated once per (size, days, seed, dirty) and reused by later runs."""
    name = f"e{events}-d{days}-s{seed}{'-dirty' if dirty else ''}"
    landing = DATA / name
    manifest_path = landing / "generator-manifest.json"
    if not manifest_path.exists():
        from trace_platform.sample_data import generate

        shutil.rmtree(landing, ignore_errors=True)
        traces = max(1, round(events / events_per_trace(seed)))
        print(
            f"generating {days} day(s) x ~{events:,} events into {landing} ...", file=sys.stderr, flush=True
        )
        generate(
            landing,
            days=days,
            traces_per_day=traces,
            seed=seed,
            start=FIRST_DAY,
            dirty=dirty,
            progress=sys.stderr.isatty(),
        )
    return landing, json.loads(manifest_path.read_text())


def day(n: int) -> str:
    return (FIRST_DAY + dt.timedelta(days=n - 1)).isoformat()


def day_events(manifest: dict, partition: str) -> int:
    return (
        manifest["days"][partition]["events_loaded"] if "days" in manifest else manifest["totals"]["events"]
    )


# --- steps ---------------------------------------------------------------------------------------

BASELINE = """
import duckdb, glob, sys
files = sorted(glob.glob(sys.argv[1] + '/*.jsonl*'))
con = duckdb.connect(sys.argv[2])
con.execute('''CREATE TABLE events AS SELECT * FROM read_json(?, format = 'newline_delimited',
    ignore_errors = true, columns = {
        schema_version: 'VARCHAR', event_id: 'VARCHAR', event_type: 'VARCHAR', "timestamp": 'VARCHAR',
        trace_id: 'VARCHAR', span_id: 'VARCHAR', parent_span_id: 'VARCHAR', sequence: 'BIGINT',
        session_id: 'VARCHAR', tenant_id: 'VARCHAR', user_id: 'VARCHAR',
        agent: 'STRUCT(name VARCHAR, version VARCHAR)', payload: 'JSON', attributes: 'JSON'})''', [files])
print(con.execute('SELECT count(*) FROM events').fetchone()[0])
"""

INGEST = """
import duckdb, sys
from pathlib import Path
from trace_platform.defs.ingest.loader import ingest_partition
from trace_platform.lib.settings import NO_VACUUM
con = duckdb.connect(sys.argv[2], config={'threads': int(sys.argv[4]), 'memory_limit': sys.argv[5], **NO_VACUUM})
report = ingest_partition(con, Path(sys.argv[1]), sys.argv[3])
print(report.events_loaded)
"""


# History is loaded the way the nightly job loads a day (ingestion, then an incremental dbt build)
# but without Dagster's per-run overhead and checks, which the measured steps do include. Prints
# one JSON line per day, so the scaling of a day's cost with history is visible.
HISTORY = """
import duckdb, json, os, subprocess, sys, time
from pathlib import Path
from trace_platform.defs.ingest.loader import ingest_partition
from trace_platform.defs.ingest.retention import purge_raw_payloads
from trace_platform.lib import settings
from trace_platform.lib.compaction import compact
from trace_platform.lib.duckdb_functions import register_redaction
from trace_platform.snapshots import publish_warehouse, trace_scoped_tables
landing, warehouse, target, threads, memory = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
dbt = str(Path(sys.executable).parent / 'dbt')
root = Path(sys.argv[6])
for day in sys.argv[7:]:
    started = time.perf_counter()
    con = duckdb.connect(warehouse, config={'threads': int(threads), 'memory_limit': memory, **settings.NO_VACUUM})
    report = ingest_partition(con, landing, day)
    con.close()
    ingested = time.perf_counter()
    subprocess.run([dbt, 'build', '--quiet', '--project-dir', str(root / 'dbt_project'),
                    '--profiles-dir', str(root / 'dbt_project'), '--target-path', target],
                   env={**os.environ, 'TRACE_PLATFORM_WAREHOUSE': warehouse}, check=True)
    built = time.perf_counter()
    # what the nightly job does after dbt, so day N+1 meets the steady state: one retention pass
    # and one reader snapshot per day (a first publish or purge of 30 days would be a one-off cost);
    # the connections skip the row-group vacuum like the nightly job's, and the weekly compaction
    # job's work is done after every 7th day
    con = duckdb.connect(warehouse, config={'threads': int(threads), 'memory_limit': memory, **settings.NO_VACUUM})
    register_redaction(con)
    purge_raw_payloads(con, day, settings.raw_payload_retention_days())
    con.close()
    publish_warehouse(warehouse, tracked_tables=trace_scoped_tables(Path(target) / 'manifest.json'))
    published = time.perf_counter()
    compaction_seconds = None
    if sys.argv[7:].index(day) % 7 == 6:  # the weekly compaction job, after every 7th day
        con = duckdb.connect(warehouse, config={'threads': int(threads), 'memory_limit': memory})
        compaction_seconds = round(compact(con).seconds, 2)
        con.close()
    results = json.loads((Path(target) / 'run_results.json').read_text())['results']
    slowest = sorted(((r['unique_id'].split('.')[-1], round(r['execution_time'], 2)) for r in results),
                     key=lambda item: -item[1])[:5]
    print(json.dumps({'day': day, 'events_loaded': report.events_loaded,
                      'ingest_seconds': round(ingested - started, 2), 'dbt_seconds': round(built - ingested, 2),
                      'retention_and_publish_seconds': round(published - built, 2),
                      'compaction_seconds': compaction_seconds, 'slowest': slowest}), flush=True)
    print(f'{day}: ingest {ingested - started:.1f} s, dbt build {built - ingested:.1f} s, '
          f'retention + publish {published - built:.1f} s, '
          + (f'compaction {compaction_seconds:.1f} s, ' if compaction_seconds is not None else '')
          + f'slowest {slowest[:3]}', file=sys.stderr, flush=True)
"""


# ENGINE=spark: the day's raw zone (ingested by step 2) copied into a Spark lake, as a team moving
# to Spark copies its history (trace_platform.lib.lake.copy_raw_zone). Timed apart from the build.
COPY_TO_LAKE = """
import sys, time
from pathlib import Path
from trace_platform.lib import lake, spark
warehouse, lake_dir = Path(sys.argv[1]), Path(sys.argv[2])
session = spark.get_session(lake_dir)
started = time.perf_counter()
counts = lake.copy_raw_zone(warehouse, lake_dir, session)
print(f"copied {counts['trace_events']} events in {time.perf_counter() - started:.1f} s", file=sys.stderr)
"""


def with_args(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *args]


def fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    for sibling in (path.with_name(path.name + ".wal"), path.with_name(path.name + ".lock")):
        sibling.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def nightly(landing: Path, warehouse: Path, home: Path, start: str, end: str | None = None) -> dict:
    env = {
        "TRACE_PLATFORM_LANDING": str(landing),
        "TRACE_PLATFORM_WAREHOUSE": str(warehouse),
        "DAGSTER_HOME": str(home),
        "TRACE_PLATFORM_PARTITIONS_START": FIRST_DAY.isoformat(),
    }
    # Not timed: prepare dbt's parse state for this warehouse, as `make install` does for the
    # configured one, so the night measured is a steady-state night (the nightly job hands its
    # parse state on to the next night anyway; only a first night on a new path parses in full).
    measure([sys.executable, "-m", "trace_platform.defs.transform.project"], env)
    return measure([str(BIN / "trace-platform"), "run", "--start", start, "--end", end or start], env)


def dbt_build(warehouse: Path, target: Path) -> dict:
    # dbt rebuilds the traces the change log names (int_rebuild_scope): no day is passed to it
    return _measure_dbt_build({"TRACE_PLATFORM_WAREHOUSE": str(warehouse)}, target)


def dbt_build_on_spark(lake: Path, target: Path) -> dict:
    """`dbt build --full-refresh` on the Spark target (dbt-spark `session`: Spark runs inside the
    dbt process, so its JVM is part of the measured process tree)."""
    env = {"TRACE_PLATFORM_LAKE": str(lake), "SPARK_LOCAL_IP": "127.0.0.1"}
    return _measure_dbt_build(
        env, target, "--full-refresh", "--target", "spark", "--log-path", str(target / "logs")
    )


def _measure_dbt_build(env: dict, target: Path, *options: str) -> dict:
    project = str(ROOT / "dbt_project")
    return measure(
        [
            str(BIN / "dbt"),
            "build",
            "--quiet",
            *options,
            "--project-dir",
            project,
            "--profiles-dir",
            project,
            "--target-path",
            str(target),
        ],
        {**env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )


def run_queries(warehouse: Path, repeats: int = 5) -> dict[str, float]:
    """Best of `repeats` warm runs per query (the first run warms DuckDB's caches)."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    timings = {}
    try:
        for name, sql in AUDIT_QUERIES.items():
            best = float("inf")
            for _ in range(repeats + 1):
                started = time.perf_counter()
                con.execute(sql).fetchall()
                best = min(best, time.perf_counter() - started)
            timings[name] = best
    finally:
        con.close()
    return timings


def row(step: str, result: dict, events: int | None, baseline: float | None, target: str = "") -> dict:
    seconds = result["seconds"]
    return {
        "step": step,
        "seconds": round(seconds, 3),
        "events": events,
        "events_per_second": round(events / seconds) if events else None,
        "peak_rss_mb": round(result["peak_rss_bytes"] / 2**20) if result.get("peak_rss_bytes") else None,
        "ratio_to_baseline": round(seconds / baseline, 2) if baseline else None,
        "target": target,
    }


def print_table(rows: list[dict]) -> None:
    header = f"{'step':<52} {'wall s':>9} {'events/s':>11} {'peak RSS MB':>12} {'x baseline':>11}  target"
    print(header)
    print("-" * len(header))
    for r in rows:
        eps = f"{r['events_per_second']:,}" if r["events_per_second"] else "-"
        rss = f"{r['peak_rss_mb']:,}" if r["peak_rss_mb"] is not None else "-"
        ratio = f"{r['ratio_to_baseline']:.2f}" if r["ratio_to_baseline"] is not None else "-"
        print(f"{r['step']:<52} {r['seconds']:>9.3f} {eps:>11} {rss:>12} {ratio:>11}  {r['target']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events per delivery day")
    parser.add_argument("--days", type=int, default=30, help="days of history for steps 4-5 (0 skips them)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--clean", action="store_true", help="generate without dirty lines")
    parser.add_argument("--out", type=Path, help="results file (default benchmarks/results/<date>.json)")
    parser.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        default="duckdb",
        help="spark: also build the day's models with dbt on Spark, beside DuckDB (docs/scale.md)",
    )
    parser.add_argument(
        "--keep-history",
        action="store_true",
        help="copy the history warehouse before step 4 (benchmarks/data/work/history-before-"
        "step-4.duckdb), to profile or replay the incremental day without reloading",
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("DAGSTER_TELEMETRY_DISABLED", "true")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    sys.path.insert(0, str(ROOT))
    dirty = not args.clean
    work = DATA / "work"
    shutil.rmtree(work, ignore_errors=True)
    threads = os.environ.get("TRACE_PLATFORM_DUCKDB_THREADS", str(os.cpu_count() or 2))
    memory = os.environ.get("TRACE_PLATFORM_DUCKDB_MEMORY", "1536MB")

    # The day measured alone is the one after the history, so step 4 compares like with like.
    history_days = args.days
    landing, manifest = landing_for(args.events, history_days + 1, args.seed, dirty)
    target_day = day(history_days + 1)
    events = day_events(manifest, target_day)
    day_dir = landing / target_day
    rows: list[dict] = []

    baseline = measure(with_args(BASELINE, str(day_dir), str(fresh(work / "baseline.duckdb"))))
    rows.append(row("1. baseline: DuckDB read_json, explicit columns", baseline, events, None))
    base_s = baseline["seconds"]

    ingest = measure(
        with_args(INGEST, str(landing), str(fresh(work / "ingest.duckdb")), target_day, threads, memory)
    )
    rows.append(
        row("2. ingestion: validate, dedupe, quarantine, account", ingest, events, base_s, "<= 2.5 x")
    )

    models = dbt_build(work / "ingest.duckdb", work / "dbt_target")
    rows.append(row("   dbt build of all models on that day", models, events, base_s, "< 30 s"))

    if args.engine == "spark":
        lake = fresh(work / "lake")
        copied = measure(
            with_args(COPY_TO_LAKE, str(work / "ingest.duckdb"), str(lake)),
            {"SPARK_LOCAL_IP": "127.0.0.1"},
        )
        rows.append(row("   spark: copy that raw zone into the lake (Parquet)", copied, events, None))
        spark_models = dbt_build_on_spark(lake, work / "dbt_target_spark")
        rows.append(row("   spark: dbt build of all models on that day", spark_models, events, None))

    first = nightly(landing, fresh(work / "empty.duckdb"), fresh(work / "home_empty"), target_day)
    rows.append(row("3. nightly job through Dagster (empty warehouse)", first, events, base_s, "<= 60 s"))

    results = {"rows": rows}
    incremental_row = None
    if history_days:
        history_wh, history_home = fresh(work / "history.duckdb"), fresh(work / "home_history")
        print(f"loading {history_days} days of history ...", file=sys.stderr, flush=True)
        history = measure(
            with_args(
                HISTORY,
                str(landing),
                str(history_wh),
                str(work / "dbt_history"),
                threads,
                memory,
                str(ROOT),
                *(day(n) for n in range(1, history_days + 1)),
            ),
            stream_stderr=True,
        )
        rows.append(
            row(
                f"   history days 1-{history_days}: nightly work + weekly compaction",
                history,
                sum(day_events(manifest, day(n)) for n in range(1, history_days + 1)),
                None,
            )
        )
        results["history_per_day"] = [
            json.loads(line) for line in history["stdout"].splitlines() if line.startswith("{")
        ]
        if args.keep_history:  # outside the measured step: a copy of the file as step 4 finds it
            shutil.copyfile(history_wh, work / "history-before-step-4.duckdb")
        incremental = nightly(landing, history_wh, history_home, target_day)
        incremental_row = row(
            f"4. nightly job for day {history_days + 1} on {history_days} days",
            incremental,
            events,
            base_s,
            "<= 1.3 x step 3",
        )
        incremental_row["ratio_to_empty"] = round(incremental["seconds"] / first["seconds"], 2)
        rows.append(incremental_row)
        for name, seconds in run_queries(history_wh).items():
            rows.append(
                row(f"5. query: {name}", {"seconds": seconds, "peak_rss_bytes": 0}, None, None, "<= 0.5 s")
            )

    print_table(rows)
    if incremental_row:
        print(
            f"incremental day / same day on an empty warehouse: {incremental_row['ratio_to_empty']:.2f} "
            "(target <= 1.3)"
        )
    results.update(
        {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "events_per_day": events,
            "history_days": history_days,
            "dirty": dirty,
            "seed": args.seed,
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
        }
    )
    out = args.out or RESULTS / f"{dt.date.today().isoformat()}-e{args.events}-d{history_days}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
