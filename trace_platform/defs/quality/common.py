"""Shared pieces of the quality checks: asset keys, the rule catalogue, warehouse access, metadata."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from trace_platform.defs.ingest.assets import RAW_EVENTS, RAW_INGEST_FILES, RAW_QUARANTINE  # noqa: F401 (re-exported)
from trace_platform.defs.partitions import delivery_day_partitions
from trace_platform.defs.transform.project import DBT_PROJECT_DIR
from trace_platform.lib import settings
from trace_platform.lib.landing import parse_partition_key
from trace_platform.lib.warehouse_lock import connect_with_retry, warehouse_write_lock

OWNER = "team:trace-platform"

# Categories: the two kinds of finding the checks keep apart, plus plain data quality.
TRAIL_COMPLETENESS = "trail_completeness"  # did we receive the whole trail?  -> ERROR
AGENT_COMPLIANCE = "agent_compliance"  # did the agent behave?  -> WARN, never blocking
DATA_QUALITY = "data_quality"  # typed values, keys (GX, dbt tests)

# Every check of ours writes these metadata keys; audit.check_results reads them.
KIND_KEY = "check_kind"
CATEGORY_KEY = "category"
OBSERVED_KEY = "observed_value"
THRESHOLD_KEY = "threshold"
PARTITION_KEY = "partition"

# Operation order inside a nightly run (in-process executor, one step at a time): checks run
# before the check-results collector, which has the lowest priority of all ready steps.
CHECK_OP_TAGS = {"dagster/priority": "0"}
COLLECTOR_OP_TAGS = {"dagster/priority": "-100"}


def partitioned_check_spec(name: str, *, asset: dg.AssetKey, **kwargs: Any) -> dg.AssetCheckSpec:
    """A check evaluated per delivery-day partition, like the asset it checks.

    Dagster records a run's *planned* check executions under the run's partition; an unpartitioned
    check's evaluation is stored without one, so the planned record never resolves and the UI's
    per-partition view shows the check as skipped. A check with the asset's partitions definition
    is stored under its partition and the UI shows its latest result per partition.
    (`partitions_def` on an AssetCheckSpec is a preview feature of Dagster 1.13: its warning is
    expected and silenced here.)
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*partitions_def.*AssetCheckSpec.*")
        return dg.AssetCheckSpec(name, asset=asset, partitions_def=delivery_day_partitions, **kwargs)


def key(schema: str, name: str) -> dg.AssetKey:
    return dg.AssetKey([schema, name])


FCT_TOOL_CALLS = key("marts", "fct_tool_calls")
FCT_SIDE_EFFECTS = key("marts", "fct_side_effects")
FCT_MODEL_CALLS = key("marts", "fct_model_calls")
FCT_OUTCOMES = key("marts", "fct_outcomes")
AUDIT_VIOLATIONS = key("audit", "audit_violations")
CHECK_RESULTS = key("audit", "check_results")


@dataclass(frozen=True)
class Rule:
    rule_id: str
    name: str
    category: str
    severity: str  # the seed's business severity (critical/high/medium/low)
    key_column: str
    statement: str

    @property
    def check_name(self) -> str:
        return f"{self.rule_id.lower()}_{self.name}"

    @property
    def check_severity(self) -> dg.AssetCheckSeverity:
        return severity_for(self.category)


def _load_rules() -> dict[str, Rule]:
    """The rule catalogue from the dbt seed (one source of truth for names and categories)."""
    with (DBT_PROJECT_DIR / "seeds" / "audit_rules.csv").open(newline="") as handle:
        return {
            row["rule_id"]: Rule(
                row["rule_id"],
                row["rule_name"],
                row["category"],
                row["severity"],
                row["key_column"],
                row["statement"],
            )
            for row in csv.DictReader(handle)
        }


RULES = _load_rules()


def severity_for(category: str) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.WARN if category == AGENT_COMPLIANCE else dg.AssetCheckSeverity.ERROR


def date_literal(partition: str) -> str:
    """A validated SQL date literal for a partition key (safe to paste into the metadata SQL)."""
    return f"DATE '{parse_partition_key(partition).isoformat()}'"


def trailing_start(partition: str, days: int) -> str:
    return (parse_partition_key(partition) - dt.timedelta(days=days - 1)).isoformat()


@contextmanager
def warehouse_connection(warehouse: DuckDBResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse under the cross-process writer lock, closed whatever happens.

    Check steps only read, but DuckDB lets no other process open the file while one writes, so they
    queue on the same lock as the writers instead of failing on a busy file.
    """
    path = settings.warehouse_path(warehouse.database)
    with warehouse_write_lock(path):
        # an analyst may open the file read-only for a moment (e.g. `query --live`): wait it out
        con = connect_with_retry(
            lambda: duckdb.connect(str(path), config=dict(warehouse.connection_config)), path
        )
        try:
            con.execute("SET TimeZone = 'UTC'")
            yield con
        finally:
            con.close()


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return (
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [schema, table],
        ).fetchone()[0]
        > 0
    )


def rate(count: int, units: int) -> float:
    """Breaches per unit; a breach without any unit (e.g. a side effect in a trace without calls) is 1.0."""
    if units:
        return count / units
    return 1.0 if count else 0.0


def check_metadata(
    *,
    kind: str,
    category: str,
    partition: str | None,
    observed: float | int | None,
    threshold: float | int | None,
    threshold_key: str | None,
    sql: str | None,
    **extra: Any,
) -> dict[str, Any]:
    """The metadata every check of ours carries (UI and audit.check_results read the same keys)."""
    metadata: dict[str, Any] = {KIND_KEY: kind, CATEGORY_KEY: category}
    if partition is not None:
        metadata[PARTITION_KEY] = partition
    if observed is not None:
        metadata[OBSERVED_KEY] = dg.MetadataValue.float(float(observed))
    if threshold is not None:
        metadata[THRESHOLD_KEY] = dg.MetadataValue.float(float(threshold))
    if threshold_key:
        metadata["threshold_key"] = threshold_key
    for name, value in extra.items():
        metadata[name] = _metadata_value(value)
    if sql:
        metadata["sql"] = dg.MetadataValue.md(f"```sql\n{sql}\n```")
    return metadata


def _metadata_value(value: Any) -> Any:
    if isinstance(value, dg.MetadataValue | dg.TableSchema):
        return value
    if isinstance(value, list | dict | tuple):
        return dg.MetadataValue.json(json.loads(json.dumps(value, default=str)))
    if isinstance(value, float):
        return dg.MetadataValue.float(value)
    return value


def md_table(header: list[str], rows: list[list[Any]]) -> dg.MetadataValue:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return dg.MetadataValue.md("\n".join(lines))


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def metadata_to_plain(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Dagster metadata values as plain JSON-able values (for audit.check_results and alerts).

    The `sql` entry loses its markdown fence, so it can be copied from the table as is.
    """
    plain: dict[str, Any] = {}
    for name, value in metadata.items():
        raw = getattr(value, "value", value)
        if name == "sql" and isinstance(raw, str):
            raw = raw.removeprefix("```sql\n").removesuffix("\n```")
        plain[name] = _json_safe(raw)
    return plain
