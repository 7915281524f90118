"""Entry point: `dagster dev -w workspace.yaml` and the CLI load these definitions.

Each folder of trace_platform/defs/ exposes what it contributes as `defs` in its `definitions.py`
(ingest, transform, quality, publish, maintenance); they are merged here with the nightly job, which
spans all of them (defs/jobs.py), and the resources, defined once (defs/resources.py). A folder's
`defs` is not a code location on its own: its assets need the resources, and its jobs, schedules
and sensors select assets of other folders.
"""

import os

os.environ.setdefault("DAGSTER_TELEMETRY_DISABLED", "true")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import dagster as dg  # noqa: E402

# The folders' modules, not their `defs`: a code location module holds one Definitions object.
from trace_platform.defs.ingest import definitions as ingest  # noqa: E402
from trace_platform.defs.jobs import nightly_trace_job  # noqa: E402
from trace_platform.defs.maintenance import definitions as maintenance  # noqa: E402
from trace_platform.defs.publish import definitions as publish  # noqa: E402
from trace_platform.defs.quality import definitions as quality  # noqa: E402
from trace_platform.defs.resources import dbt_resource, warehouse_resource  # noqa: E402
from trace_platform.defs.transform import definitions as transform  # noqa: E402


def build_definitions() -> dg.Definitions:
    """The code location; resources point at the warehouse configured in the environment *now*."""
    return dg.Definitions.merge(
        ingest.defs,
        transform.defs,
        quality.defs,
        publish.defs,
        maintenance.defs,
        dg.Definitions(
            jobs=[nightly_trace_job],
            resources={"warehouse": warehouse_resource(), "dbt": dbt_resource()},
        ),
    )


defs = build_definitions()
