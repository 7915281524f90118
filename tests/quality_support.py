"""Partitions for the quality tests: a clean day and a day with a deliberately incomplete trail,
run through the real nightly job (ingestion, dbt, every check, the hook and audit.check_results)."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import duckdb
from dbt_support import Trace, write_day

CLEAN_DAY, BROKEN_DAY = "2026-11-20", "2026-11-21"


def _clean_traces(day: str, prefix: str, n: int) -> list[dict]:
    events: list[dict] = []
    for i in range(n):
        t = Trace(f"{prefix}-{i}", day=day)
        t.request()
        t.model_call()
        t.authorised_write(f"{prefix}-{i}.c1")
        t.call(f"{prefix}-{i}.c2", "lookup_order", access="read_only")
        t.result(f"{prefix}-{i}.c2")
        t.call(f"{prefix}-{i}.c3", requires_confirmation=True, arguments={"order_id": i})
        t.check(f"{prefix}-{i}.c3")
        t.confirm(f"{prefix}-{i}.c3", arguments={"order_id": i})
        t.result(f"{prefix}-{i}.c3")
        t.side_effect(f"{prefix}-{i}.c3", resource_id=f"order-{i}")
        t.final()
        events += t.events
    return events


def clean_day_events(day: str = CLEAN_DAY) -> list[dict]:
    return _clean_traces(day, "clean", 6)


def broken_day_events(day: str = BROKEN_DAY) -> list[dict]:
    """Mostly clean traces, plus: executed calls without their tool_result (R4), a trace with a
    sequence gap (R7), and a model call without model_version (R8, agent compliance)."""
    events = _clean_traces(day, "ok", 4)

    missing = Trace("missing-results", day=day)
    missing.request()
    missing.call("missing-results.c1", "lookup_order", access="read_only")  # no tool_result
    missing.call("missing-results.c2")
    missing.check("missing-results.c2")  # executed write never reports back
    missing.final()
    events += missing.events

    gap = Trace("sequence-gap", day=day)
    gap.request()
    gap.model_call()
    gap.call("sequence-gap.c1", "lookup_order", access="read_only")
    gap.result("sequence-gap.c1")
    gap.final()
    del gap.events[2]  # the tool_call (sequence 2) was lost: 0, 1, 3, 4
    events += gap.events

    anonymous = Trace("no-model-version", day=day)
    anonymous.request()
    anonymous.model_call(model_version=...)  # `...` drops the field
    anonymous.final()
    events += anonymous.events
    return events


def write_landing(landing: Path) -> None:
    write_day(landing, CLEAN_DAY, clean_day_events())
    write_day(landing, BROKEN_DAY, broken_day_events())


@contextlib.contextmanager
def environment(root: Path) -> Iterator[dict]:
    """Points the platform (landing, warehouse, alerts, Dagster home) at `root` for the duration."""
    paths = {
        "landing": root / "landing",
        "warehouse": root / "warehouse.duckdb",
        "home": root / "dagster_home",
        "alerts": root / "alerts.jsonl",
    }
    paths["home"].mkdir(parents=True, exist_ok=True)
    overrides = {
        "TRACE_PLATFORM_LANDING": str(paths["landing"]),
        "TRACE_PLATFORM_WAREHOUSE": str(paths["warehouse"]),
        "TRACE_PLATFORM_ALERT_FILE": str(paths["alerts"]),
        "DAGSTER_HOME": str(paths["home"]),
    }
    saved = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    try:
        yield paths
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_nightly(instance: dg.DagsterInstance, day: str) -> dg.ExecuteInProcessResult:
    from trace_platform.definitions import build_definitions

    job = build_definitions().resolve_job_def("nightly_trace_job")
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    with contextlib.redirect_stdout(io.StringIO()):
        return job.execute_in_process(
            partition_key=day, instance=instance, raise_on_error=False, run_config=quiet
        )


def losing_one_loaded_row(real_ingest: Callable) -> Callable:
    """Wraps ingest_partition so that one loaded event vanishes afterwards: R9's accounting breaks."""

    def ingest(con: duckdb.DuckDBPyConnection, landing: Path, partition: str, *args, **kwargs):
        report = real_ingest(con, landing, partition, *args, **kwargs)
        con.execute(
            "DELETE FROM raw.trace_events WHERE event_id = (SELECT min(event_id) FROM raw.trace_events "
            "WHERE delivery_date = ?::DATE)",
            [partition],
        )
        return report

    return ingest


def evaluations(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


def metadata(evaluation: dg.AssetCheckEvaluation) -> dict:
    return {name: getattr(value, "value", value) for name, value in evaluation.metadata.items()}


def query(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
