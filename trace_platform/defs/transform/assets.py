"""The dbt project as partitioned Dagster assets, built with `dbt build` so tests become checks."""


import json
from collections.abc import Iterator

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource, dbt_assets

from trace_platform.defs.partitions import delivery_day_partitions
from trace_platform.defs.transform.project import dbt_project
from trace_platform.defs.transform.translator import TraceDbtTranslator
from trace_platform.lib import settings
from trace_platform.lib.warehouse_lock import warehouse_write_lock


def _with_row_counts(events: list, context: dg.AssetExecutionContext) -> Iterator:
    """Adds `dagster/row_count` to each model's output once dbt has released the warehouse."""
    outputs = [e for e in events if isinstance(e, dg.Output)]
    counts: dict[str, int] = {}
    if outputs:
        con = duckdb.connect(str(settings.warehouse_path()), read_only=True)
        try:
            for event in outputs:
                key = context.asset_key_for_output(event.output_name)
                if len(key.path) == 2:
                    try:
                        counts[event.output_name] = con.execute(
                            f'SELECT count(*) FROM "{key.path[0]}"."{key.path[1]}"').fetchone()[0]
                    except duckdb.Error:
                        pass  # e.g. an ephemeral model: nothing to count
        finally:
            con.close()
    for event in events:
        if isinstance(event, dg.Output) and event.output_name in counts:
            yield dg.Output(event.value, output_name=event.output_name,
                            metadata={**event.metadata, "dagster/row_count": counts[event.output_name]},
                            data_version=event.data_version, tags=event.tags)
        else:
            yield event


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
    dbt_vars = {"delivery_date": context.partition_key}
    with warehouse_write_lock(settings.warehouse_path()):
        invocation = dbt.cli(["build", "--vars", json.dumps(dbt_vars)], context=context, raise_on_error=False)
        events = list(invocation.stream())
    yield from _with_row_counts(events, context)
    if not invocation.is_successful():
        raise dg.Failure(description="dbt build failed; see the step logs and failed checks.",
                         metadata={"dbt_command": " ".join(invocation.process.args)})
