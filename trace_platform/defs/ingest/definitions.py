"""What ingestion contributes to the code location: the raw-zone asset, raw payload retention and
the landing sensor (merged with the other folders' in trace_platform/definitions.py)."""

import dagster as dg

from trace_platform.defs.ingest.assets import raw_trace_events
from trace_platform.defs.ingest.retention import raw_payload_retention
from trace_platform.defs.ingest.sensors import landing_sensor

defs = dg.Definitions(
    assets=[raw_trace_events, raw_payload_retention],
    sensors=[landing_sensor],
)
