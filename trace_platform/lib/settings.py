"""Runtime configuration: where the landing folder, warehouse and Dagster home live.

Resolution order for each setting: explicit argument, environment variable, default under ./data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path("data")


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value) if value else default


@dataclass(frozen=True)
class IngestLimits:
    """Knobs of the line reader; defaults suit a 2-core, 24 GB machine."""

    # A line longer than this is quarantined as `line_too_long` without being held in memory.
    max_line_bytes: int = int(os.environ.get("TRACE_PLATFORM_MAX_LINE_BYTES", 8 * 1024 * 1024))
    # Raw text kept in a quarantine row.
    quarantine_line_chars: int = 16 * 1024
    # Gzip bombs. A `.gz` file is inflated in chunks while it is read, and once its output passes
    #     min(max_decompressed_bytes, max(decompressed_floor_bytes, max_decompression_ratio * file size))
    # reading stops and the whole file is quarantined as `decompressed_too_large` (its siblings
    # load). Trace JSON compresses 5-20x (the generator's files: 11x); 100x leaves a wide margin
    # for repetitive logs, while a bomb runs at ~1000x (100 M blank lines: a 97 KB file). The
    # floor lets a small file of any ratio through (64 MiB costs about as much as a plain 64 MB
    # file would); the absolute cap bounds the work copy on disk and the run time of one file
    # (16 GiB is ~30 M events, 30x the benchmark's whole day).
    max_decompressed_bytes: int = int(os.environ.get("TRACE_PLATFORM_MAX_DECOMPRESSED_BYTES", 16 << 30))
    max_decompression_ratio: float = float(os.environ.get("TRACE_PLATFORM_MAX_DECOMPRESSION_RATIO", 100))
    decompressed_floor_bytes: int = 64 << 20

    def decompressed_allowance(self, compressed_bytes: int) -> int:
        """The most a gzip file of `compressed_bytes` may inflate to (see above)."""
        by_ratio = max(self.decompressed_floor_bytes, int(self.max_decompression_ratio * compressed_bytes))
        return min(self.max_decompressed_bytes, by_ratio)


def landing_dir(explicit: str | os.PathLike | None = None) -> Path:
    if explicit:
        return Path(explicit).absolute()
    return _env_path("TRACE_PLATFORM_LANDING", DEFAULT_DATA_DIR / "landing").absolute()


def warehouse_path(explicit: str | os.PathLike | None = None) -> Path:
    if explicit:
        return Path(explicit).absolute()
    return _env_path("TRACE_PLATFORM_WAREHOUSE", DEFAULT_DATA_DIR / "warehouse.duckdb").absolute()


def dagster_home(explicit: str | os.PathLike | None = None) -> Path:
    if explicit:
        return Path(explicit).absolute()
    return _env_path("DAGSTER_HOME", DEFAULT_DATA_DIR / "dagster_home").absolute()


def lake_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The lake folder of the Spark engine: raw zone, tables and (locally) the catalog."""
    if explicit:
        return Path(explicit).absolute()
    return _env_path("TRACE_PLATFORM_LAKE", DEFAULT_DATA_DIR / "lake").absolute()


def duckdb_memory_limit() -> str:
    # Keeps peak RSS of a nightly run under ~2.5 GB; DuckDB spills beyond it.
    return os.environ.get("TRACE_PLATFORM_DUCKDB_MEMORY", "1536MB")


def duckdb_threads() -> int:
    return int(os.environ.get("TRACE_PLATFORM_DUCKDB_THREADS", os.cpu_count() or 2))


# No row-group vacuum at the checkpoints of the nightly job's connections (dbt's too: profiles.yml).
# Each night deletes and re-inserts the traces it rebuilds (int_rebuild_scope), about a quarter of the previous day's among
# them; the first vacuum-enabled checkpoint after that merges the row groups those deletes thinned
# out: 7.1 s a night at 1M events a day, freeing 22 MB of a 6.6 GB file. The weekly compaction job
# does it instead (defs/maintenance/, docs/warehouse.md). A setting of the whole connection: any
# writer's checkpoint vacuums every table, not only the ones it wrote.
NO_VACUUM = {"max_vacuum_tasks": 0}


def warehouse_connection_config() -> dict:
    """DuckDB config of the nightly job's connections to the warehouse."""
    return {"threads": duckdb_threads(), "memory_limit": duckdb_memory_limit(), **NO_VACUUM}


# Unredacted raw payloads (docs/security.md). After each successful nightly build, the raw zone's
# payloads, attributes and quarantined raw lines of delivery days more than N days before the
# newest loaded day are redacted in place / removed. "keep" (or "forever") keeps them.
RAW_PAYLOAD_RETENTION_ENV = "TRACE_PLATFORM_RAW_PAYLOAD_RETENTION_DAYS"
DEFAULT_RAW_PAYLOAD_RETENTION_DAYS = 7


def raw_payload_retention_days() -> int | None:
    """Days of unredacted raw payloads kept; None: kept for ever (configured explicitly)."""
    value = os.environ.get(RAW_PAYLOAD_RETENTION_ENV, "").strip()
    if not value:
        return DEFAULT_RAW_PAYLOAD_RETENTION_DAYS
    if value.lower() in ("keep", "forever"):
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 5:
        raise ValueError(
            f"{RAW_PAYLOAD_RETENTION_ENV}={value!r}: expected a number of days (0-99999) or 'keep'"
        )
    return int(value)
