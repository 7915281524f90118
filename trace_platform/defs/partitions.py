"""The delivery-day partitioning shared by every asset of the nightly job."""

import os

import dagster as dg

# First delivery day the platform knows about; override for older archives.
PARTITIONS_START = os.environ.get("TRACE_PLATFORM_PARTITIONS_START", "2025-01-01")

# end_offset=1 makes today's (still open) delivery day runnable by hand; the schedule itself
# always runs the previous day.
delivery_day_partitions = dg.DailyPartitionsDefinition(
    start_date=PARTITIONS_START, end_offset=1, timezone="UTC"
)
