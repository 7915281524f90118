"""The dbt project as partitioned Dagster assets, built with `dbt build` so tests become checks."""

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource, dbt_assets

from trace_platform.defs.partitions import delivery_day_partitions
from trace_platform.defs.transform.project import dbt_project
from trace_platform.defs.transform.translator import TraceDbtTranslator
from trace_platform.lib import settings
from trace_platform.lib.warehouse_lock import connect_with_retry, warehouse_write_lock
from trace_platform.lib.warm_imports import warm_in_background

# Per-partition row counts for the models that carry the partition (delivery day) in a column.
PARTITION_COLUMNS = ("delivery_date", "last_delivery_date")
PARTIAL_PARSE_FILE = "partial_parse.msgpack"

# Trace-scoped tables that gained tenant_id when traces became keyed by (tenant_id, trace_id)
# (issue 17). Rows an older build wrote cannot be given their tenant in place, so the first build
# on such a warehouse is a full refresh, once: afterwards the column is there.
TENANT_KEYED_TABLES = (
    ("intermediate", "int_tool_call_chains"),
    ("intermediate", "int_trace_eval_features"),
    ("eval", "eval_trace_labels"),
)


def full_refresh_reason(con: duckdb.DuckDBPyConnection) -> str | None:
    """Why this warehouse's trace-scoped tables must be rebuilt from raw, or None."""
    found = con.execute(
        "SELECT table_schema, table_name, bool_or(column_name = 'tenant_id') FROM information_schema.columns "
        "WHERE (table_schema, table_name) IN (SELECT unnest(?, recursive := true)) GROUP BY ALL",
        [[{"s": s, "t": t} for s, t in TENANT_KEYED_TABLES]],
    ).fetchall()
    outdated = sorted(f"{schema}.{table}" for schema, table, has_tenant in found if not has_tenant)
    if outdated:
        return (
            f"{', '.join(outdated)} predate tenant-scoped trace keys: rebuilding every model from raw "
            "once (dbt build --full-refresh)"
        )
    # Before the rebuild scope was a model (issue 18), int_trace_changes kept pending flags that an
    # on-run-end hook cleared; it now records the build each trace changed in (changed_in_build).
    flagged = con.execute(
        "SELECT count(*) FILTER (WHERE column_name = 'is_pending'), "
        "count(*) FILTER (WHERE column_name = 'changed_in_build') FROM information_schema.columns "
        "WHERE table_schema = 'intermediate' AND table_name = 'int_trace_changes'"
    ).fetchone()
    if flagged[0] and not flagged[1]:
        return (
            "intermediate.int_trace_changes predates the rebuild-scope models (pending flags instead of "
            "changed_in_build): rebuilding every model from raw once (dbt build --full-refresh)"
        )
    return None


def table_metadata(
    con: duckdb.DuckDBPyConnection, keys: dict[str, dg.AssetKey], partition: str | None
) -> dict:
    """Row count, per-partition row count and column schema of each model, from information_schema.

    Runs once dbt has exited (DuckDB's single writer), on a read-only connection: dagster-dbt's
    fetch_row_counts / fetch_column_metadata cannot be used, they would open the warehouse while dbt
    holds it (with DuckDB they hold every event back until dbt exits, which is what streaming avoids).
    """
    wanted = {(k.path[0], k.path[1]): name for name, k in keys.items() if len(k.path) == 2}
    columns: dict[tuple[str, str], list[tuple[str, str]]] = {}
    views = {
        (schema, table)
        for schema, table in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'VIEW'"
        ).fetchall()
    }
    for schema, table, column, data_type in con.execute(
        "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema IN (SELECT unnest(?)) ORDER BY table_schema, table_name, ordinal_position",
        [sorted({s for s, _ in wanted})],
    ).fetchall():
        if (schema, table) in wanted:
            columns.setdefault((schema, table), []).append((column, data_type))
    metadata: dict[str, dict] = {}
    for (schema, table), output_name in wanted.items():
        if (schema, table) not in columns:
            continue  # e.g. an ephemeral model: nothing to describe
        entry: dict = {
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(name, data_type) for name, data_type in columns[(schema, table)]]
            )
        }
        names = {name for name, _ in columns[(schema, table)]}
        partition_column = next((c for c in PARTITION_COLUMNS if c in names), None)
        try:
            if (schema, table) in views:
                # A staging view re-reads raw.trace_events: count only the partition (its rows are
                # found by zone maps), never all of history, so the cost stays flat as days add up.
                if partition_column and partition:
                    entry["partition_rows"] = con.execute(
                        f'SELECT count(*) FROM "{schema}"."{table}" WHERE "{partition_column}" = ?::DATE',
                        [partition],
                    ).fetchone()[0]
                    entry["partition_column"] = partition_column
                metadata[output_name] = entry
                continue
            if partition_column and partition:
                total, in_partition = con.execute(
                    f'SELECT count(*), count(*) FILTER (WHERE "{partition_column}" = ?::DATE) '
                    f'FROM "{schema}"."{table}"',
                    [partition],
                ).fetchone()
                entry["partition_rows"] = in_partition
                entry["partition_column"] = partition_column
            else:
                total = con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0]
        except duckdb.Error:
            continue
        entry["dagster/row_count"] = total
        metadata[output_name] = entry
    return metadata


def reuse_parse_state(invocation_target: Path) -> None:
    """Make this build's parse state the one the next build starts from.

    dagster-dbt gives each build its own target folder and seeds it with the project's
    target/partial_parse.msgpack, written by `dbt parse` at install. When that parse saw another
    profile (another warehouse path or memory limit), dbt re-parses the whole project every night
    (~3 s). dbt checks the state it is given (profile, vars, file checksums, dbt version) and
    re-parses whatever differs, so handing on the newest state is always safe. os.replace keeps a
    concurrent reader from seeing half a file.
    """
    produced = invocation_target / PARTIAL_PARSE_FILE
    if not produced.exists():
        return  # dbt stopped before parsing
    shared = dbt_project.project_dir / dbt_project.target_path / PARTIAL_PARSE_FILE
    staged = shared.with_name(f".{PARTIAL_PARSE_FILE}.{os.getpid()}")
    try:
        shared.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(produced, staged)
        os.replace(staged, shared)
    except OSError:
        staged.unlink(missing_ok=True)  # a read-only project folder: dbt parses in full, as before


@contextmanager
def _dbt_stopped_on_exit(invocation) -> Iterator[None]:
    """If the step stops while dbt still runs (run terminated, an error while Dagster handled a
    streamed event), stop dbt before the warehouse lock is released: nobody else may write meanwhile.
    dagster-dbt forwards an interrupt only when it arrives while it reads dbt's output."""
    try:
        yield
    finally:
        process = invocation.process
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=invocation.termination_timeout_seconds)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _table_observations(
    outputs: dict[str, dg.AssetKey], metadata: dict[str, dict], partition: str | None
) -> Iterator[dg.AssetObservation]:
    for output_name, entry in metadata.items():
        yield dg.AssetObservation(asset_key=outputs[output_name], metadata=entry, partition=partition)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=TraceDbtTranslator(),
    partitions_def=delivery_day_partitions,
    pool="duckdb_writer",
    backfill_policy=dg.BackfillPolicy.multi_run(1),
)
def trace_warehouse_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """Staging, intermediate, marts, audit and eval models for one delivery day."""
    warehouse = settings.warehouse_path()
    # the GX checks after this step import great_expectations: do it while dbt runs
    warm_in_background()
    with warehouse_write_lock(warehouse):
        refresh_reason = None
        if warehouse.exists():
            con = connect_with_retry(lambda: duckdb.connect(str(warehouse), read_only=True), warehouse)
            try:
                refresh_reason = full_refresh_reason(con)
            finally:
                con.close()
        if refresh_reason:
            context.log.warning(refresh_reason)
        # dbt needs no day: a build rebuilds the traces whose events changed since the last complete
        # build, whatever their day (dbt_project/macros/rebuild_scope.sql). dagster-dbt passes the
        # partition's asset selection; no --vars, which would make dbt re-parse every night.
        invocation = dbt.cli(
            ["build", *(["--full-refresh"] if refresh_reason else [])],
            context=context,
            raise_on_error=False,
        )
        # Streamed: each model's materialisation and each test's check result reaches Dagster (and
        # the UI) as dbt finishes it, not when the whole build has ended.
        outputs: dict[str, dg.AssetKey] = {}
        with _dbt_stopped_on_exit(invocation):
            for event in invocation.stream():
                if isinstance(event, dg.Output):
                    outputs[event.output_name] = context.asset_key_for_output(event.output_name)
                yield event
        reuse_parse_state(invocation.target_path)
        # dbt has exited; still under the lock, describe what it built. DuckDB lets no reader in
        # while dbt writes, so row counts and column schemas follow as observations of the models.
        metadata: dict[str, dict] = {}
        if outputs:
            con = connect_with_retry(lambda: duckdb.connect(str(warehouse), read_only=True), warehouse)
            try:
                metadata = table_metadata(con, outputs, context.partition_key)
            finally:
                con.close()
    yield from _table_observations(outputs, metadata, context.partition_key)
    if not invocation.is_successful():
        raise dg.Failure(
            description="dbt build failed; see the step logs and failed checks.",
            metadata={"dbt_command": " ".join(invocation.process.args)},
        )
