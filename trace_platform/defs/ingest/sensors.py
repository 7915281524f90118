"""Landing sensor: requests a run for a delivery day whose files are new or changed.

It looks only at the file system (names, sizes, mtimes) and the Dagster instance, never at the
warehouse, so it cannot contend for the DuckDB file. A day's files are those of `<landing>/<day>/`
and of `<landing>/otlp/<day>/` (lib/landing.py): both are fingerprinted, and a day with only OTLP
files is a partition too.
"""

from __future__ import annotations

import json
import time

import dagster as dg

from trace_platform.defs.ingest.assets import RAW_EVENTS
from trace_platform.defs.jobs import nightly_trace_job
from trace_platform.defs.partitions import delivery_day_partitions
from trace_platform.lib import settings
from trace_platform.lib.landing import (
    LandingError,
    list_partition_files,
    list_partition_keys,
    partition_fingerprint,
)

# A folder still being written to is left alone until it has been quiet this long.
SETTLE_SECONDS = 30


def _last_loaded_fingerprint(instance: dg.DagsterInstance, partition: str) -> str | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=RAW_EVENTS, asset_partitions=[partition]), limit=1
    ).records
    if not records:
        return None
    materialization = records[0].asset_materialization
    value = materialization.metadata.get("landing_fingerprint") if materialization else None
    return getattr(value, "value", value)


@dg.sensor(
    job=nightly_trace_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Watches the landing folder; runs the nightly job for a day whose files are new or changed.",
)
def landing_sensor(context: dg.SensorEvaluationContext):
    landing = settings.landing_dir()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    valid_keys = set(delivery_day_partitions.get_partition_keys(dynamic_partitions_store=context.instance))
    now_ns = time.time_ns()
    for partition in list_partition_keys(landing):
        if partition not in valid_keys:
            continue
        try:
            listing = list_partition_files(landing, partition)
        except LandingError as exc:
            context.log.warning(str(exc))
            continue
        if not listing.files:
            continue
        if any(now_ns - f.mtime_ns < SETTLE_SECONDS * 1_000_000_000 for f in listing.files):
            continue  # still being delivered
        fingerprint = partition_fingerprint(listing)
        if seen.get(partition) == fingerprint:
            continue
        seen[partition] = fingerprint
        if _last_loaded_fingerprint(context.instance, partition) == fingerprint:
            continue
        yield dg.RunRequest(run_key=f"landing-{partition}-{fingerprint}", partition_key=partition)
    context.update_cursor(json.dumps(seen, sort_keys=True))
