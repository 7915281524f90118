"""`trace-platform`: generate sample logs, run the nightly job, query the warehouse."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import os
import re
import sys
import uuid
from pathlib import Path

import click

from trace_platform.lib import settings
from trace_platform.lib.landing import LandingError, parse_partition_key, partition_folders


def _fail(message: str) -> None:
    raise click.ClickException(message)


def _parse_day(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return parse_partition_key(value)
    except LandingError:
        _fail(f"{option}: bad date {value!r}, expected YYYY-MM-DD")
    return None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Agent trace warehouse: ingest raw trace logs into DuckDB, model them with dbt, audit them."""


@cli.command()
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Landing folder to write <YYYY-MM-DD>/ delivery folders into.",
)
@click.option("--days", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--traces-per-day", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--start", "start", help="First delivery day (YYYY-MM-DD); default: --days before today (UTC).")
@click.option("--gzip", "gzip_output", is_flag=True, help="Write .jsonl.gz files.")
@click.option(
    "--dirty", is_flag=True, help="Add malformed and blank lines, duplicates and conflicting re-deliveries."
)
def generate(
    out_dir: Path,
    days: int,
    traces_per_day: int,
    seed: int,
    start: str | None,
    gzip_output: bool,
    dirty: bool,
) -> None:
    """Write realistic sample trace logs in the v1 format (deterministic for a seed)."""
    from trace_platform.sample_data import generate as run_generator

    start_day = _parse_day(start, "--start")
    manifest = run_generator(
        out_dir,
        days=days,
        traces_per_day=traces_per_day,
        seed=seed,
        start=start_day,
        gzip_output=gzip_output,
        dirty=dirty,
        progress=sys.stderr.isatty(),
    )
    totals = manifest.get("totals", {})
    click.echo(
        f"wrote {days} day(s) to {out_dir}: "
        + ", ".join(f"{k} {v:,}" for k, v in totals.items() if isinstance(v, int))
    )


def _day_range(start: dt.date, end: dt.date) -> list[str]:
    if end < start:
        _fail(f"--end {end} is before --start {start}")
    return [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def _check_summary(results: list) -> dict:
    from dagster import AssetCheckSeverity

    summary = {"passed": 0, "failed_error": 0, "failed_warn": 0, "failures": []}
    for partition, evaluations in results:
        for ev in evaluations:
            if ev.passed:
                summary["passed"] += 1
                continue
            error = ev.severity == AssetCheckSeverity.ERROR
            summary["failed_error" if error else "failed_warn"] += 1
            summary["failures"].append(
                f"[{partition}] {ev.asset_key.to_user_string()}:{ev.check_name} ({'ERROR' if error else 'WARN'})"
            )
    return summary


def _run_failure_message(result) -> str:
    for event in result.all_events:
        if event.is_step_failure or event.event_type_value == "RUN_FAILURE":
            data = event.event_specific_data
            error = getattr(data, "error", None)
            if error is not None:
                message = error.message.strip().splitlines()[0] if error.message else str(error)
                cause = error.cause
                while cause is not None:
                    message = cause.message.strip().splitlines()[0]
                    cause = cause.cause
                # "trace_platform.lib.landing.LandingError: refusing ..." -> "refusing ..."
                return re.sub(r"^(?:[A-Za-z_]\w*\.)+[A-Za-z_]\w*: ", "", message)
    return "see the run's logs in the Dagster UI (make ui)"


@cli.command()
@click.option("--start", "start", required=True, help="First delivery day, YYYY-MM-DD.")
@click.option("--end", "end", help="Last delivery day, inclusive (default: --start).")
@click.option(
    "--landing", type=click.Path(path_type=Path), help="Landing folder [env TRACE_PLATFORM_LANDING]."
)
@click.option(
    "--warehouse", type=click.Path(path_type=Path), help="DuckDB file [env TRACE_PLATFORM_WAREHOUSE]."
)
def run(start: str, end: str | None, landing: Path | None, warehouse: Path | None) -> None:
    """Materialise the nightly job through Dagster for each delivery day in a range."""
    first = _parse_day(start, "--start")
    last = _parse_day(end, "--end") or first
    days = _day_range(first, last)
    landing_path = settings.landing_dir(landing)
    warehouse_path = settings.warehouse_path(warehouse)
    if not landing_path.is_dir():
        _fail(f"landing folder {landing_path} does not exist")
    missing = [d for d in days if not partition_folders(landing_path, d)]  # native and/or otlp/<day>
    if missing:
        _fail(f"no delivery folder for {', '.join(missing)} under {landing_path}")
    os.environ["TRACE_PLATFORM_LANDING"] = str(landing_path)
    os.environ["TRACE_PLATFORM_WAREHOUSE"] = str(warehouse_path)
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)

    from trace_platform.lib.instance import ensure_dagster_home

    ensure_dagster_home()
    from trace_platform.defs.transform.project import ensure_manifest

    ensure_manifest()
    import dagster as dg
    from tqdm import tqdm

    from trace_platform.definitions import defs
    from trace_platform.defs.partitions import delivery_day_partitions

    valid = set(delivery_day_partitions.get_partition_keys())
    outside = [d for d in days if d not in valid]
    if outside:
        _fail(
            f"{', '.join(outside)} outside the partition range "
            f"({delivery_day_partitions.start:%Y-%m-%d} to today); set TRACE_PLATFORM_PARTITIONS_START"
        )
    job = defs.get_job_def("nightly_trace_job")
    instance = dg.DagsterInstance.get()
    quiet = {
        "loggers": {
            "console": {"config": {"log_level": os.environ.get("TRACE_PLATFORM_LOG_LEVEL", "WARNING")}}
        }
    }
    check_results = []
    # A run whose process died keeps its pool slot for ever, and Dagster's in-process executor would
    # wait for it in a busy loop deaf to Ctrl-C: recover dead runs, wait for live ones (bounded,
    # interruptible), and guard the run while it executes (lib/stale_runs.py).
    from trace_platform.lib import stale_runs

    pools = set().union(*(node_def.pools for node_def in job.all_node_defs))
    say = lambda line: click.echo(line, err=True)  # noqa: E731
    for day in tqdm(days, desc="nightly job", unit="day", disable=not sys.stderr.isatty()):
        try:
            stale_runs.wait_for_pools(instance, pools, say, recovered_by="trace-platform run")
        except stale_runs.PoolBusyError as exc:
            _fail(str(exc))
        click.echo(f"running nightly_trace_job for {day} ...", err=True)
        # dbt's own log lines go to the run's logs (visible in the UI), not to this terminal.
        captured = io.StringIO()
        run_id = str(uuid.uuid4())
        with (
            contextlib.redirect_stdout(captured),
            stale_runs.PoolWaitGuard(instance, run_id, say, recovered_by="trace-platform run") as guard,
        ):
            result = job.execute_in_process(
                partition_key=day,
                instance=instance,
                raise_on_error=False,
                run_config=quiet,
                run_id=run_id,
                tags={"trace_platform/launched_by": "cli", **stale_runs.current_process().tags()},
            )
        check_results.append((day, result.get_asset_check_evaluations()))
        if guard.stopped:
            _fail(f"run {result.run_id} for {day} {guard.stopped}; marked failed")
        if not result.success:
            tail = "\n".join(captured.getvalue().splitlines()[-25:])
            click.echo(tail, err=True)
            _fail(f"run {result.run_id} for {day} failed: {_run_failure_message(result)}")
    click.echo(_summary_text(warehouse_path, days, _check_summary(check_results)))
    click.echo(_reader_line(warehouse_path))


def _reader_line(warehouse_path: Path) -> str:
    from trace_platform.snapshots import SnapshotError, current_version, snapshot_paths

    try:
        paths = snapshot_paths(warehouse_path)
    except SnapshotError as exc:
        return f"reader snapshot: {exc}"
    version = current_version(paths)
    if version is None:
        return "reader snapshot: not published"
    return f"reader snapshot v{version}: {paths.reader} (trace-platform query reads it)"


def _summary_text(warehouse_path: Path, days: list[str], checks: dict) -> str:

    from trace_platform.lib.summary import format_summary, warehouse_summary

    con = _connect_read_only(warehouse_path)
    try:
        return f"summary for {days[0]} .. {days[-1]}:\n" + format_summary(
            warehouse_summary(con, days), checks
        )
    finally:
        con.close()


def _connect_read_only(warehouse_path: Path):
    import duckdb

    if not warehouse_path.exists():
        _fail(f"warehouse {warehouse_path} does not exist; run `trace-platform run` first")
    try:
        return duckdb.connect(str(warehouse_path), read_only=True)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            _fail(f"warehouse {warehouse_path} is locked by another process (a run in progress?); try again")
        _fail(f"cannot open warehouse {warehouse_path}: {str(exc).splitlines()[0]}")


def _connect_live(warehouse_path: Path):
    """The warehouse itself for `query --live`: read-only and confined like the reader (no file, no extension)."""
    import duckdb

    from trace_platform.snapshots import connect_confined

    if not warehouse_path.exists():
        _fail(f"warehouse {warehouse_path} does not exist; run `trace-platform run` first")
    try:
        return connect_confined(warehouse_path)
    except duckdb.Error as exc:
        if "lock" in str(exc).lower():
            _fail(f"warehouse {warehouse_path} is locked by another process (a run in progress?); try again")
        _fail(f"cannot open warehouse {warehouse_path}: {str(exc).splitlines()[0]}")


def _connect_for_query(warehouse: Path | None, reader: Path | None, live: bool):
    """(connection, source): the published reader snapshot (verified), or with --live the warehouse itself.

    Both are confined: read-only, no file but the snapshot's own, no extension, configuration locked.
    Nothing published yet: refused (the warehouse holds unredacted raw events)."""
    import duckdb

    from trace_platform.snapshots import SnapshotError, connect_reader, snapshot_paths

    warehouse_path = settings.warehouse_path(warehouse)
    if live:
        return _connect_live(warehouse_path), "warehouse"
    try:
        paths = snapshot_paths(warehouse_path, reader)
    except SnapshotError as exc:
        _fail(str(exc))
    if os.path.lexists(paths.reader):
        try:
            return connect_reader(paths.reader), "reader"
        except SnapshotError as exc:
            _fail(str(exc))
        except duckdb.Error as exc:
            _fail(f"cannot open reader snapshot {paths.reader}: {str(exc).splitlines()[0]}")
    if reader is not None or os.environ.get("TRACE_PLATFORM_READER"):
        _fail(
            f"reader snapshot {paths.reader} does not exist; a successful `trace-platform run` publishes it"
        )
    if not warehouse_path.exists():
        _fail(f"warehouse {warehouse_path} does not exist; run `trace-platform run` first")
    _fail(
        f"no reader snapshot published for {warehouse_path} yet: run the nightly job (`trace-platform run`) "
        "to publish one, or use --live to query the warehouse itself"
    )


_NOT_IN_READER = ("raw.", "staging.", "intermediate.")


@cli.command()
@click.argument("sql")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
@click.option(
    "--warehouse", type=click.Path(path_type=Path), help="DuckDB file [env TRACE_PLATFORM_WAREHOUSE]."
)
@click.option(
    "--reader",
    type=click.Path(path_type=Path),
    help="Reader snapshot [env TRACE_PLATFORM_READER; default <warehouse>.reader.duckdb beside it].",
)
@click.option(
    "--live",
    is_flag=True,
    help="Query the warehouse file itself (raw, staging, intermediate too); fails while a run writes.",
)
def query(sql: str, fmt: str, warehouse: Path | None, reader: Path | None, live: bool) -> None:
    """Run a read-only SQL query against the published reader snapshot (marts, audit, eval).

    The snapshot is the state of the last successful nightly run; a running job never blocks it.
    With --live the warehouse itself is queried. Only read-only statements run (SELECT, EXPLAIN SELECT,
    DESCRIBE, SHOW, …), and only the snapshot's own files can be read.
    """
    import duckdb

    from trace_platform.snapshots import ReadOnlyQueryError, read_only_statements

    try:
        statements = read_only_statements(sql)
    except ReadOnlyQueryError as exc:
        _fail(str(exc))
    con, source = _connect_for_query(warehouse, reader, live)
    try:
        for statement in statements[:-1]:
            con.execute(statement)
        relation = con.sql(statements[-1])
        if relation is None:
            return
        if fmt == "table":
            relation.show(max_width=200, max_rows=200)
            return
        columns = relation.columns
        rows = relation.fetchall()
        if fmt == "csv":
            writer = csv.writer(sys.stdout)
            writer.writerow(columns)
            writer.writerows(rows)
        else:
            click.echo(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str, indent=2))
    except duckdb.Error as exc:
        message = str(exc).splitlines()[0]
        if (
            source == "reader"
            and isinstance(exc, duckdb.CatalogException)
            and any(prefix in sql.lower() for prefix in _NOT_IN_READER)
        ):
            message += " (the reader snapshot holds marts, audit and eval; use --live for raw, staging, intermediate)"
        _fail(message)
    finally:
        con.close()


@cli.command()
@click.option("--tenant", required=True, help="Tenant id whose rows to export (only that tenant's).")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder for <schema>.<table>.parquet and manifest.json (empty or new).",
)
@click.option(
    "--warehouse", type=click.Path(path_type=Path), help="DuckDB file [env TRACE_PLATFORM_WAREHOUSE]."
)
@click.option("--overwrite", is_flag=True, help="Replace a previous export in --out.")
def export(tenant: str, out_dir: Path, warehouse: Path | None, overwrite: bool) -> None:
    """Export one tenant's redacted marts, audit and eval tables as Parquet (docs/security.md)."""
    import duckdb

    from trace_platform.lib.export import ExportError, export_tenant, validate_tenant

    try:
        validate_tenant(tenant)
    except ExportError as exc:
        _fail(str(exc))
    con = _connect_read_only(settings.warehouse_path(warehouse))
    try:
        report = export_tenant(con, tenant, out_dir, overwrite=overwrite)
    except ExportError as exc:
        _fail(str(exc))
    except (duckdb.Error, OSError) as exc:
        _fail(f"export failed: {str(exc).splitlines()[0]}")
    finally:
        con.close()
    for name, count in report.tables.items():
        click.echo(f"{name}: {count:,} rows")
    for name, reason in report.skipped.items():
        click.echo(f"{name}: not exported ({reason})")
    click.echo(f"exported tenant {report.tenant} to {report.out_dir}")


def main() -> None:
    cli(prog_name="trace-platform")


if __name__ == "__main__":
    main()
