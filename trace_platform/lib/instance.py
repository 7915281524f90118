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
run_monitoring:
  # The daemon fails runs stuck starting or canceling, and frees pool slots a finished run still
  # holds. It cannot see a dead in-process run worker with the default run launcher: trace-platform
  # checks the recorded process itself (lib/stale_runs.py; the CLI, and the stale_run_sensor).
  enabled: true
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  max_resume_run_attempts: 0
  poll_interval_seconds: 60
  free_slots_after_run_end_seconds: 60
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
