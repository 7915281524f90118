"""`audit.check_results`: one row per check evaluation, so the quality history can be queried in SQL.

Every check evaluation of a run lands here — our rule, schema, ingest and GX checks, R9, the dbt
tests dagster-dbt turns into checks, and the freshness checks — with its partition, pass/fail,
severity and observed value.

Two writers, both inside job steps and holding the warehouse writer lock (never a sensor):

1. the job hook `record_check_results` runs after every step of the nightly and freshness jobs
   and records the evaluations that step emitted — also when the step failed (a failed blocking
   R9 stops the run before anything downstream, and its evaluation must still be recorded);
2. the asset `audit/check_results` (group `quality`) runs last in the nightly job (lowest step
   priority, after every model) and re-records every evaluation of the run from Dagster's event
   log, then reports the table's row count and the run's tally. Its own check
   `all_evaluations_recorded` verifies that the table holds every evaluation of the run.

Writes are idempotent per (run, partition, asset, check): a re-recorded evaluation replaces its row.
"""

import datetime as dt
import json
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass

import dagster as dg
from dagster_duckdb import DuckDBResource

from trace_platform import redaction
from trace_platform.defs.ingest.assets import R9_CHECK
from trace_platform.defs.partitions import delivery_day_partitions
from trace_platform.defs.quality.common import (
    CATEGORY_KEY,
    CHECK_RESULTS,
    COLLECTOR_OP_TAGS,
    DATA_QUALITY,
    KIND_KEY,
    OBSERVED_KEY,
    OWNER,
    PARTITION_KEY,
    RAW_EVENTS,
    RAW_INGEST_FILES,
    RAW_QUARANTINE,
    THRESHOLD_KEY,
    TRAIL_COMPLETENESS,
    md_table,
    metadata_to_plain,
    partitioned_check_spec,
    warehouse_connection,
)
from trace_platform.defs.transform.assets import trace_warehouse_models
from trace_platform.lib.landing import LandingError, parse_partition_key

DDL = """
CREATE SCHEMA IF NOT EXISTS audit;
CREATE TABLE IF NOT EXISTS audit.check_results (
    run_id          VARCHAR NOT NULL,   -- Dagster run that evaluated the check
    job_name        VARCHAR,            -- nightly_trace_job, freshness_check_job, ...
    partition_date  DATE,               -- delivery day evaluated (the run's partition); NULL if none
    asset_key       VARCHAR NOT NULL,   -- e.g. marts/fct_tool_calls
    check_name      VARCHAR NOT NULL,   -- e.g. r4_one_result, gx_keys, not_null_fct_outcomes_trace_id
    check_kind      VARCHAR NOT NULL,   -- audit_rule, schema, ingest, gx, dbt_test, freshness, quality, other
    category        VARCHAR,            -- trail_completeness, agent_compliance or data_quality
    passed          BOOLEAN NOT NULL,
    severity        VARCHAR NOT NULL,   -- ERROR or WARN
    blocking        BOOLEAN NOT NULL,   -- a failed blocking ERROR check stops everything downstream
    observed_value  DOUBLE,             -- rate / share / count the check judged (see docs/quality.md)
    threshold       DOUBLE,             -- the threshold it was judged against, if any
    description     VARCHAR,
    metadata        JSON,               -- the check's full metadata (examples, SQL, GX summary, ...)
    step_key        VARCHAR,
    evaluated_at    TIMESTAMPTZ NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL
);
"""

COLUMNS = (
    "run_id",
    "job_name",
    "partition_date",
    "asset_key",
    "check_name",
    "check_kind",
    "category",
    "passed",
    "severity",
    "blocking",
    "observed_value",
    "threshold",
    "description",
    "metadata",
    "step_key",
    "evaluated_at",
)


@dataclass(frozen=True)
class CheckRow:
    run_id: str
    job_name: str | None
    partition_date: str | None
    asset_key: str
    check_name: str
    check_kind: str
    category: str | None
    passed: bool
    severity: str
    blocking: bool
    observed_value: float | None
    threshold: float | None
    description: str | None
    metadata: str
    step_key: str | None
    evaluated_at: dt.datetime


def _number(value) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def classify(check_name: str, metadata: dict) -> tuple[str, str | None]:
    """(check_kind, category) of an evaluation: our checks say so; R9 and dbt tests are recognised."""
    if metadata.get(KIND_KEY):
        return str(metadata[KIND_KEY]), metadata.get(CATEGORY_KEY)
    if check_name == R9_CHECK.name:
        return "audit_rule", TRAIL_COMPLETENESS
    if any(name.startswith("dagster_dbt/") for name in metadata) or str(
        metadata.get("unique_id", "")
    ).startswith("test."):
        return "dbt_test", DATA_QUALITY
    return "other", None


def observed_and_threshold(check_name: str, kind: str, metadata: dict) -> tuple[float | None, float | None]:
    if OBSERVED_KEY in metadata:
        return _number(metadata[OBSERVED_KEY]), _number(metadata.get(THRESHOLD_KEY))
    if check_name == R9_CHECK.name:
        return _number(metadata.get("unbalanced_files")), 0.0
    if kind == "dbt_test":
        return _number(metadata.get("dagster_dbt/failed_row_count")), 0.0
    return None, _number(metadata.get(THRESHOLD_KEY))


def _partition(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return parse_partition_key(value).isoformat()
    except LandingError:
        return None


def row_for(
    evaluation: dg.AssetCheckEvaluation,
    *,
    run_id: str,
    job_name: str | None,
    run_partition: str | None,
    step_key: str | None,
    timestamp: float,
) -> CheckRow:
    metadata = metadata_to_plain(evaluation.metadata)
    kind, category = classify(evaluation.check_name, metadata)
    observed, threshold = observed_and_threshold(evaluation.check_name, kind, metadata)
    partition = (
        _partition(evaluation.partition)
        or _partition(metadata.get(PARTITION_KEY))
        or _partition(run_partition)
    )
    return CheckRow(
        run_id=run_id,
        job_name=job_name,
        partition_date=partition,
        asset_key=evaluation.asset_key.to_user_string(),
        check_name=evaluation.check_name,
        check_kind=kind,
        category=category,
        passed=bool(evaluation.passed),
        severity="WARN" if evaluation.severity == dg.AssetCheckSeverity.WARN else "ERROR",
        blocking=bool(evaluation.blocking),
        observed_value=observed,
        threshold=threshold,
        description=evaluation.description,
        metadata=json.dumps(metadata, default=str, sort_keys=True),
        step_key=step_key,
        evaluated_at=dt.datetime.fromtimestamp(timestamp, dt.UTC),
    )


def record_rows(con, rows: Sequence[CheckRow]) -> int:
    """Upserts rows (one per run x partition x asset x check) in one transaction; returns how many."""
    con.execute(DDL)
    if not rows:
        return 0
    unique = {(r.run_id, r.partition_date, r.asset_key, r.check_name): r for r in rows}
    placeholders = ", ".join("?" for _ in COLUMNS)
    redaction.register(con)  # redact_text / redact_json, below
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE new_check_results AS "
            f"SELECT {', '.join(COLUMNS)} FROM audit.check_results LIMIT 0"
        )
        con.executemany(
            f"INSERT INTO new_check_results VALUES ({placeholders})", [astuple(r) for r in unique.values()]
        )
        con.execute("""
            DELETE FROM audit.check_results AS t USING new_check_results AS n
            WHERE t.run_id = n.run_id AND t.asset_key = n.asset_key AND t.check_name = n.check_name
              AND t.partition_date IS NOT DISTINCT FROM n.partition_date""")
        # The description and the metadata leave redacted (docs/security.md): the checks redact the
        # data values they copy (GX unexpected values, payload keys) at the source, for the UI;
        # this catches whatever a check (ours, a dbt test's, a future one) copies unredacted.
        selected = ", ".join(
            {"description": "redact_text(description)", "metadata": "redact_json(metadata)"}.get(c, c)
            for c in COLUMNS
        )
        con.execute(
            f"INSERT INTO audit.check_results ({', '.join(COLUMNS)}, recorded_at) "
            f"SELECT {selected}, now() FROM new_check_results"
        )
        con.execute("DROP TABLE new_check_results")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return len(unique)


# --- writer 1: after every step ---------------------------------------------------------------


def _run_partition(instance: dg.DagsterInstance, run_id: str) -> tuple[str | None, str | None]:
    run = instance.get_run_by_id(run_id)
    if run is None:
        return None, None
    return run.job_name, run.tags.get("dagster/partition")


def _record_step_evaluations(context: dg.HookContext, event_list: Sequence[dg.DagsterEvent]):
    evaluations = [
        (event.event_specific_data, event.step_key)
        for event in event_list
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    if not evaluations:
        return dg.HookExecutionResult(hook_name=context.hook_def.name, is_skipped=True)
    job_name, partition = _run_partition(context.instance, context.run_id)
    now = time.time()
    rows = [
        row_for(
            evaluation,
            run_id=context.run_id,
            job_name=job_name,
            run_partition=partition,
            step_key=step_key,
            timestamp=now,
        )
        for evaluation, step_key in evaluations
    ]
    with warehouse_connection(context.resources.warehouse) as con:
        recorded = record_rows(con, rows)
    context.log.info(
        f"recorded {recorded} check evaluation(s) of step {context.step_key} in audit.check_results"
    )
    return dg.HookExecutionResult(hook_name=context.hook_def.name, is_skipped=False)


record_check_results_hook = dg.HookDefinition(
    name="record_check_results",
    hook_fn=_record_step_evaluations,
    required_resource_keys={"warehouse"},
)


# --- writer 2: the quality asset ----------------------------------------------------------------


def run_evaluation_rows(instance: dg.DagsterInstance, run_id: str) -> list[CheckRow]:
    """Every check evaluation Dagster recorded for a run, as rows."""
    job_name, partition = _run_partition(instance, run_id)
    rows = []
    for record in instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records:
        entry = record.event_log_entry
        event = entry.dagster_event
        rows.append(
            row_for(
                event.event_specific_data,
                run_id=run_id,
                job_name=job_name,
                run_partition=partition,
                step_key=event.step_key,
                timestamp=entry.timestamp,
            )
        )
    return rows


ALL_RECORDED_CHECK = partitioned_check_spec(
    "all_evaluations_recorded",
    asset=CHECK_RESULTS,
    description="Every check evaluation of this run (as in Dagster's event log) has its row in audit.check_results.",
)


def partitioned_asset(**kwargs):
    """@dg.asset with the nightly job's per-partition backfill policy (a beta parameter in 1.13)."""

    def decorate(fn):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*backfill_policy.*")
            return dg.asset(backfill_policy=dg.BackfillPolicy.multi_run(1), **kwargs)(fn)

    return decorate


def _upstream_keys() -> list[dg.AssetKey]:
    return [RAW_EVENTS, RAW_QUARANTINE, RAW_INGEST_FILES, *sorted(trace_warehouse_models.keys)]


@partitioned_asset(
    key=CHECK_RESULTS,
    description="One row per check evaluation (partition, check, passed, severity, observed value, metadata): the "
    "history of every asset check, GX suite, audit rule, R9 and dbt test, queryable in SQL. "
    "See docs/quality.md.",
    group_name="quality",
    owners=[OWNER],
    kinds={"duckdb", "python"},
    tags={"layer": "quality"},
    deps=_upstream_keys(),
    partitions_def=delivery_day_partitions,
    check_specs=[ALL_RECORDED_CHECK],
    op_tags=COLLECTOR_OP_TAGS,
    pool="duckdb_writer",
)
def check_results(context: dg.AssetExecutionContext, warehouse: DuckDBResource):
    """Re-records every evaluation of this run (idempotent) and reports the table and the run's tally."""
    rows = run_evaluation_rows(context.instance, context.run.run_id)
    with warehouse_connection(warehouse) as con:
        record_rows(con, rows)
        in_table = con.execute(
            "SELECT count(*) FROM audit.check_results WHERE run_id = ?", [context.run.run_id]
        ).fetchone()[0]
        total = con.execute("SELECT count(*) FROM audit.check_results").fetchone()[0]
        schema = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'audit' AND table_name = 'check_results' "
            "ORDER BY ordinal_position"
        ).fetchall()
    failed = [r for r in rows if not r.passed]
    tally = {
        "passed": sum(r.passed for r in rows),
        "failed_error": sum(1 for r in failed if r.severity == "ERROR"),
        "failed_warn": sum(1 for r in failed if r.severity == "WARN"),
    }
    yield dg.MaterializeResult(
        asset_key=CHECK_RESULTS,
        metadata={
            "dagster/row_count": total,
            "dagster/column_schema": dg.TableSchema(columns=[dg.TableColumn(n, t) for n, t in schema]),
            "partition_rows": len(rows),
            "evaluations_this_run": len(rows),
            **tally,
            "by_kind": _by_kind(rows),
            "failed_checks": md_table(
                ["check", "asset", "severity", "observed", "threshold"],
                [[r.check_name, r.asset_key, r.severity, r.observed_value, r.threshold] for r in failed[:50]],
            )
            if failed
            else "none",
            "sql": dg.MetadataValue.md(
                "```sql\nSELECT check_kind, asset_key, check_name, passed, severity, observed_value, threshold\n"
                f"FROM audit.check_results WHERE run_id = '{context.run.run_id}'\nORDER BY passed, severity, asset_key, "
                "check_name;\n```"
            ),
        },
    )
    yield dg.AssetCheckResult(
        check_name=ALL_RECORDED_CHECK.name,
        asset_key=CHECK_RESULTS,
        passed=in_table >= len(rows),
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{in_table} row(s) recorded for {len(rows)} evaluation(s) of this run",
        metadata={
            "check_kind": "quality",
            "category": DATA_QUALITY,
            "partition": context.partition_key,
            "observed_value": dg.MetadataValue.float(float(len(rows) - min(in_table, len(rows)))),
            "threshold": dg.MetadataValue.float(0.0),
            "evaluations": len(rows),
            "rows_recorded": in_table,
        },
    )


def _by_kind(rows: Iterable[CheckRow]) -> dict:
    summary: dict[str, dict[str, int]] = {}
    for row in rows:
        entry = summary.setdefault(row.check_kind, {"evaluations": 0, "failed": 0})
        entry["evaluations"] += 1
        entry["failed"] += 0 if row.passed else 1
    return summary
