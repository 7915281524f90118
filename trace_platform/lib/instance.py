"""The Dagster home the CLI, `make demo` and `make ui` share."""

from __future__ import annotations

import os
from pathlib import Path

from trace_platform.lib import settings

DAGSTER_YAML = """\
# Written by trace-platform on first use; edit freely.
telemetry:
  enabled: false
concurrency:
  runs:
    # DuckDB allows one writer process: warehouse-writing runs go strictly one at a time.
    max_concurrent_runs: 4
    tag_concurrency_limits:
      - key: trace_platform/writes
        value: warehouse
        limit: 1
  pools:
    default_limit: 1
"""


def ensure_dagster_home(explicit: str | None = None) -> Path:
    """Creates DAGSTER_HOME with the project's dagster.yaml and exports it for this process."""
    home = settings.dagster_home(explicit)
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ.setdefault("DAGSTER_TELEMETRY_DISABLED", "true")
    return home
