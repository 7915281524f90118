"""What publishing contributes to the code location: the two reader snapshot assets (merged with the
other folders' in trace_platform/definitions.py)."""

import dagster as dg

from trace_platform.defs.publish.assets import publish_assets

defs = dg.Definitions(assets=publish_assets)
