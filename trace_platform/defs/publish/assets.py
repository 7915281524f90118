"""The reader snapshot analysts query, published by the nightly job in two stages.

* `reader/snapshot` runs as soon as the dbt build has succeeded (before the audit-rule and GX checks,
  which never block): readers see the new day seconds after the models are built.
* `reader/snapshot_with_checks` runs last, after audit/check_results: it adds the run's check
  evaluations. Only that table changed in between, so it costs a fraction of a second.

Both are skipped when anything upstream failed or was blocked (a failed R9 or schema contract, a
failed dbt build): readers then keep the previous snapshot. A previous version's file is reused only
after its sha256 digest matched; one that no longer matches (written outside the publish) is rewritten
from the warehouse and logged as a warning. See docs/reliability.md and trace_platform/snapshots/.
"""

import dagster as dg
from dagster_duckdb import DuckDBResource

from trace_platform.defs.ingest.assets import RAW_EVENTS, RAW_INGEST_FILES, RAW_QUARANTINE
from trace_platform.defs.partitions import delivery_day_partitions
from trace_platform.defs.quality.check_results import partitioned_asset
from trace_platform.defs.quality.common import (
    CATEGORY_KEY,
    CHECK_RESULTS,
    COLLECTOR_OP_TAGS,
    DATA_QUALITY,
    KIND_KEY,
    OBSERVED_KEY,
    OWNER,
    THRESHOLD_KEY,
    md_table,
    partitioned_check_spec,
)
from trace_platform.defs.transform.assets import trace_warehouse_models
from trace_platform.defs.transform.project import dbt_project
from trace_platform.lib import settings
from trace_platform.lib.warehouse_lock import warehouse_write_lock
from trace_platform.snapshots import (
    connect_reader,
    publish_snapshot,
    quote_identifier,
    snapshot_paths,
    trace_scoped_tables,
)

READER_SNAPSHOT = dg.AssetKey(["reader", "snapshot"])
READER_SNAPSHOT_WITH_CHECKS = dg.AssetKey(["reader", "snapshot_with_checks"])
MODEL_DEPS = [RAW_EVENTS, RAW_QUARANTINE, RAW_INGEST_FILES, *sorted(trace_warehouse_models.keys)]
# Among the steps ready after dbt, the first publish goes first (checks have priority 0).
FIRST_OP_TAGS = {"dagster/priority": "50"}


def _check_spec(asset: dg.AssetKey) -> dg.AssetCheckSpec:
    return partitioned_check_spec(
        "reader_matches_warehouse",
        asset=asset,
        description="Every table of the published reader has the warehouse's row count, read through the reader's "
        "own views (the files it names exist and are readable).",
    )


def _dbt_finished_at(context: dg.AssetExecutionContext) -> float | None:
    """When this run's dbt build materialised its last model (the start of the stale-reader window)."""
    dbt_keys = set(trace_warehouse_models.keys)
    stamps = [
        record.event_log_entry.timestamp
        for record in context.instance.get_records_for_run(
            context.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
        if record.event_log_entry.dagster_event.asset_key in dbt_keys
    ]
    return max(stamps) if stamps else None


def _publish(
    context: dg.AssetExecutionContext, warehouse: DuckDBResource, key: dg.AssetKey, check: dg.AssetCheckSpec
):
    path = settings.warehouse_path(warehouse.database)
    paths = snapshot_paths(path)
    tracked = trace_scoped_tables(dbt_project.manifest_path)
    with warehouse_write_lock(path), warehouse.get_connection() as con:
        report = publish_snapshot(
            con, paths, warehouse=path, tracked_tables=tracked, partition_key=context.partition_key
        )
    if report.files_failed_verification:
        failed = sorted(report.files_failed_verification.items())
        context.log.warning(
            f"{len(failed)} published file(s) no longer matched their digest and were rewritten from "
            f"the warehouse, not reused (written outside the publish?): "
            + ", ".join(f"{f} ({why})" for f, why in failed[:10])
        )
    dbt_finished = _dbt_finished_at(context)
    window = round(report.swapped_at - dbt_finished, 3) if dbt_finished else None

    reader = connect_reader(paths.reader)
    try:
        through_reader = {
            f"{s}.{t}": reader.execute(
                f"SELECT count(*) FROM {quote_identifier(s)}.{quote_identifier(t)}"
            ).fetchone()[0]
            for s, t in reader.execute("SELECT table_schema, table_name FROM snapshot_tables").fetchall()
        }
        version = reader.execute("SELECT version FROM snapshot_info").fetchone()[0]
    finally:
        reader.close()
    mismatched = sorted(t for t, n in through_reader.items() if report.tables.get(t, {}).get("rows") != n)

    yield dg.MaterializeResult(
        asset_key=key,
        metadata={
            **report.as_metadata(),
            "stale_window_seconds": window,  # dbt build finished -> readers see this version
            "dagster/row_count": report.rows_total,
            "path": dg.MetadataValue.path(str(paths.reader)),
            "tables": md_table(
                [
                    "table",
                    "strategy",
                    "rows",
                    "buckets",
                    "written",
                    "rows written",
                    "seconds",
                    "full because",
                ],
                [
                    [
                        t,
                        e["strategy"],
                        e["rows"],
                        e["buckets"],
                        e["buckets_written"],
                        e["rows_written"],
                        e["seconds"],
                        e["full_reason"] or "",
                    ]
                    for t, e in sorted(report.tables.items())
                ],
            ),
        },
    )
    yield dg.AssetCheckResult(
        check_name=check.name,
        asset_key=key,
        passed=not mismatched and version == report.version,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"reader version {version}: {len(through_reader)} table(s), "
        f"{len(mismatched)} with a row count differing from the warehouse",
        metadata={
            KIND_KEY: "quality",
            CATEGORY_KEY: DATA_QUALITY,
            "partition": context.partition_key,
            OBSERVED_KEY: dg.MetadataValue.float(float(len(mismatched))),
            THRESHOLD_KEY: dg.MetadataValue.float(0.0),
            "mismatched_tables": mismatched,
            "reader_version": version,
        },
    )


READER_CHECK = _check_spec(READER_SNAPSHOT)
READER_WITH_CHECKS_CHECK = _check_spec(READER_SNAPSHOT_WITH_CHECKS)
COMMON = dict(
    group_name="publish",
    owners=[OWNER],
    kinds={"duckdb", "parquet"},
    tags={"layer": "publish"},
    partitions_def=delivery_day_partitions,
    pool="duckdb_writer",
)


@partitioned_asset(
    key=READER_SNAPSHOT,
    description="Immutable read-only snapshot of the marts, audit and eval schemas (Parquet + a small DuckDB "
    "file of views), swapped in atomically as soon as the dbt build succeeded: `trace-platform "
    "query` and notebooks read it, never the warehouse. Only the delivery days a run changed are "
    "rewritten.",
    deps=MODEL_DEPS,
    check_specs=[READER_CHECK],
    op_tags=FIRST_OP_TAGS,
    **COMMON,
)
def reader_snapshot(context: dg.AssetExecutionContext, warehouse: DuckDBResource):
    yield from _publish(context, warehouse, READER_SNAPSHOT, READER_CHECK)


@partitioned_asset(
    key=READER_SNAPSHOT_WITH_CHECKS,
    description="The reader snapshot again at the end of the run, with this run's audit.check_results "
    "(only that table is rewritten).",
    deps=[*MODEL_DEPS, CHECK_RESULTS, READER_SNAPSHOT],
    check_specs=[READER_WITH_CHECKS_CHECK],
    op_tags=COLLECTOR_OP_TAGS,
    **COMMON,
)
def reader_snapshot_with_checks(context: dg.AssetExecutionContext, warehouse: DuckDBResource):
    yield from _publish(context, warehouse, READER_SNAPSHOT_WITH_CHECKS, READER_WITH_CHECKS_CHECK)


publish_assets = [reader_snapshot, reader_snapshot_with_checks]
