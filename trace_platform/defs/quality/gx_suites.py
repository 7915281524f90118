"""Great Expectations (GX Core 1.x) suites as code, run per partition and reported as asset checks.

dagster-ge needs GX < 1.0, so this module wraps GX itself: one ephemeral GX context per check step,
a pandas batch holding ONE partition slice (only the columns the suite reads) or aggregates computed
in DuckDB — never a whole table — and one Dagster asset check per suite, with the GX result
summarised in its metadata (the unexpected values it names pass through redact_text first).

Partition slices: staging views by `delivery_date`; marts and intermediate models by the traces
whose evidence completed in the partition (`fct_outcomes.last_delivery_date`, the day their audit
breaches are detected in).

| suite (check name) | severity | what it expects |
|---|---|---|
| `gx_keys` | ERROR | key columns not null and unique |
| `gx_values` | WARN | accepted values (event types, decisions, statuses, access classes), non-negative latencies and token counts |
| `gx_timestamps` | ERROR | event timestamps inside the partition's day (+ skew); earlier ones are flagged late, allowed up to `gx.late_max_share` |
| `gx_volume` | ERROR | the partition's event count within trailing mean × (1 ± `volume.band`) |
| `gx_final_result_share` | ERROR | share of traces with a final result ≥ `gx.final_result_min_share` |
| `gx_model_version_share` | WARN | share of model calls with a model_version ≥ `gx.model_version_min_share` |
"""

import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from trace_platform.defs.quality.common import (
    AGENT_COMPLIANCE,
    CHECK_OP_TAGS,
    DATA_QUALITY,
    TRAIL_COMPLETENESS,
    check_metadata,
    date_literal,
    key,
    md_table,
    partitioned_check_spec,
    trailing_start,
    warehouse_connection,
)
from trace_platform.defs.quality.schema_checks import PAYLOAD_SPEC
from trace_platform.defs.quality.thresholds import Thresholds, load_thresholds
from trace_platform.redaction import redact_values

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

# the event types of the v1 payload table the raw-zone checks use: one list for both suites
EVENT_TYPES = list(PAYLOAD_SPEC)
TOOL_RESULT_STATUSES = ["ok", "error", "timeout", "denied", "cancelled"]
POLICY_DECISIONS = ["allow", "deny", "require_confirmation"]
CONFIRMATION_DECISIONS = ["approved", "rejected", "expired"]
ACCESS_CLASSES = ["read_only", "state_changing", "unknown"]  # unknown: OTLP, see docs/otlp.md
MODES = ["suggest", "execute"]
MODEL_PURPOSES = ["planning", "tool_selection", "response", "other"]
MODEL_STATUSES = ["ok", "error"]
OPERATIONS = ["create", "update", "delete", "send", "execute"]
ROLLBACK_STATUSES = ["ok", "error"]
FINAL_STATUSES = ["success", "partial", "failure", "abandoned"]

# How a suite's rows are restricted to the partition ({date} is a validated DATE literal).
BY_DELIVERY_DATE = "delivery_date = {date}"
# The traces whose last delivery is the partition. Their rows lie within the traces' delivery days
# (delivery_date is the day of one of the trace's events), and saying so lets DuckDB skip every other
# day's row groups (join filter pushdown onto the zone maps; random trace ids prune nothing): the
# mart slices of day 31 on 30 days took 0.81 s instead of 1.42 s, same rows.
BY_PARTITION_TRACES = (
    "trace_id IN (SELECT trace_id FROM marts.fct_outcomes WHERE last_delivery_date = {date}) "
    "AND delivery_date IN (SELECT unnest(generate_series(first_delivery_date, last_delivery_date, "
    "INTERVAL 1 DAY))::DATE FROM marts.fct_outcomes WHERE last_delivery_date = {date})"
)
BY_LAST_DELIVERY_DATE = "last_delivery_date = {date}"

Expectations = Callable[[Any, Thresholds], list]

# The key of each table's rows: selected with every slice, named in the examples of failed expectations.
# A trace is (tenant_id, trace_id): two tenants may use one trace_id (finding R7T).
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "intermediate.int_confirmations": ("tenant_id", "trace_id", "confirmation_id"),
    "marts.fct_tool_calls": ("tenant_id", "trace_id", "tool_call_id"),
    "marts.fct_confirmations": ("tenant_id", "trace_id", "confirmation_id"),
    "marts.fct_outcomes": ("tenant_id", "trace_id"),
}
DEFAULT_KEYS = ("event_id",)  # staging views, fct_model_calls, fct_permission_checks, fct_side_effects


@dataclass(frozen=True)
class Suite:
    """One GX suite on one asset = one Dagster asset check named `name`."""

    name: str
    asset: dg.AssetKey
    severity: dg.AssetCheckSeverity
    category: str
    description: str
    columns: str  # SELECT list of the partition slice, besides the table's key columns
    where: str  # one of BY_* above
    expectations: Expectations  # (great_expectations.expectations module, thresholds) -> expectations
    threshold: Callable[[Thresholds], float] | None = None
    threshold_key: str | None = None
    observed: str = (
        "max_unexpected_share"  # or "share_expected": 1 - unexpected share of the first expectation
    )
    frame: Callable[[Any, str, Thresholds], tuple[Any, dict, str]] | None = None  # custom batch (aggregates)
    extra: dict = field(default_factory=dict)

    @property
    def table(self) -> str:
        return f"{self.asset.path[0]}.{self.asset.path[1]}"

    @property
    def keys(self) -> tuple[str, ...]:
        return ("delivery_date",) if self.frame is not None else TABLE_KEYS.get(self.table, DEFAULT_KEYS)

    def slice_sql(self, partition: str, thresholds: Thresholds) -> str:
        columns = self.columns.format(date=date_literal(partition), skew=thresholds.future_skew_minutes)
        select = ", ".join([*self.keys, *([columns] if columns else [])])
        return f"SELECT {select}\nFROM {self.table}\nWHERE {self.where.format(date=date_literal(partition))}"

    @property
    def spec(self) -> dg.AssetCheckSpec:
        severity = "ERROR" if self.severity == dg.AssetCheckSeverity.ERROR else "WARN"
        return partitioned_check_spec(
            self.name,
            asset=self.asset,
            description=f"GX ({severity}): {self.description}",
            metadata={"suite": f"{self.table}.{self.name}", "category": self.category},
        )


def _keys(*columns: str, compound: list[str] | None = None, unique: str | None = None) -> Expectations:
    def build(gxe, t):
        found = [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in columns]
        if unique:
            found.append(gxe.ExpectColumnValuesToBeUnique(column=unique))
        if compound:
            found.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=compound))
        return found

    return build


def _values(
    sets: dict[str, list] | None = None,
    non_negative: list[str] | None = None,
    at_least_one: list[str] | None = None,
) -> Expectations:
    def build(gxe, t):
        found = [gxe.ExpectColumnValuesToBeInSet(column=c, value_set=v) for c, v in (sets or {}).items()]
        found += [gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0) for c in non_negative or []]
        found += [gxe.ExpectColumnValuesToBeBetween(column=c, min_value=1) for c in at_least_one or []]
        return found

    return build


def _keys_suite(
    schema: str,
    table: str,
    where: str,
    *not_null: str,
    unique: str | None = None,
    compound: list[str] | None = None,
    what: str = "",
) -> Suite:
    keys = TABLE_KEYS.get(f"{schema}.{table}", DEFAULT_KEYS)
    columns = sorted({*not_null, *(compound or []), *([unique] if unique else [])} - set(keys))
    return Suite(
        name="gx_keys",
        asset=key(schema, table),
        severity=dg.AssetCheckSeverity.ERROR,
        category=DATA_QUALITY,
        description=what
        or (
            f"keys of the partition's rows: {', '.join(not_null)} not null"
            + (f"; {unique} unique" if unique else "")
            + (f"; ({', '.join(compound)}) unique" if compound else "")
        ),
        columns=", ".join(columns),
        where=where,
        expectations=_keys(*not_null, compound=compound, unique=unique),
    )


def _values_suite(
    schema: str,
    table: str,
    where: str,
    sets: dict[str, list] | None = None,
    non_negative: list[str] | None = None,
    at_least_one: list[str] | None = None,
) -> Suite:
    keys = TABLE_KEYS.get(f"{schema}.{table}", DEFAULT_KEYS)
    columns = sorted({*(sets or {}), *(non_negative or []), *(at_least_one or [])} - set(keys))
    parts = [f"{c} in {{{', '.join(map(str, v))}}}" for c, v in (sets or {}).items()]
    parts += [f"{c} >= 0" for c in non_negative or []] + [f"{c} >= 1" for c in at_least_one or []]
    return Suite(
        name="gx_values",
        asset=key(schema, table),
        severity=dg.AssetCheckSeverity.WARN,
        category=DATA_QUALITY,
        description="accepted values of the partition's rows (nulls allowed): " + "; ".join(parts),
        columns=", ".join(columns),
        where=where,
        expectations=_values(sets, non_negative, at_least_one),
    )


def _volume_frame(con, partition: str, thresholds: Thresholds):
    """Aggregates computed in DuckDB: events per delivery day over the trailing window."""
    import pandas as pd

    start = trailing_start(partition, thresholds.trailing_days + 1)
    sql = (
        "SELECT delivery_date, count(*) AS events FROM staging.stg_trace__events\n"
        f"WHERE delivery_date BETWEEN DATE '{start}' AND {date_literal(partition)}\nGROUP BY 1 ORDER BY 1"
    )
    counts = {d.isoformat(): n for d, n in con.execute(sql).fetchall()}
    events = counts.pop(partition, 0)
    history = list(counts.values())
    mean = sum(history) / len(history) if history else None
    info = {
        "events": events,
        "history_days": len(history),
        "trailing_mean": mean,
        "trailing_counts": counts,
        "band": thresholds.volume_band,
    }
    judged = len(history) >= thresholds.volume_min_history_days and mean is not None
    if judged:
        info["min_events"] = mean * (1 - thresholds.volume_band)
        info["max_events"] = mean * (1 + thresholds.volume_band)
        info["deviation"] = (events - mean) / mean if mean else 0.0
    info["judged"] = judged
    return pd.DataFrame({"delivery_date": [partition], "events": [events]}), info, sql


def _volume_expectations(gxe, t: Thresholds, info: dict | None = None) -> list:
    if not info or not info.get("judged"):
        return []
    return [
        gxe.ExpectColumnValuesToBeBetween(
            column="events", min_value=info["min_events"], max_value=info["max_events"]
        )
    ]


# Only the category leaves DuckDB (computed there against the partition window), not the timestamp.
TIMING_COLUMNS = (
    "CASE WHEN event_timestamp < {date}::TIMESTAMPTZ THEN 'late' "
    "WHEN event_timestamp >= {date}::TIMESTAMPTZ + INTERVAL 1 DAY + INTERVAL {skew} MINUTE "
    "THEN 'future' ELSE 'in_window' END AS timing"
)

STAGING = "staging"
STAGING_VIEWS = [
    "stg_trace__events",
    "stg_trace__user_requests",
    "stg_trace__plans",
    "stg_trace__model_calls",
    "stg_trace__tool_selections",
    "stg_trace__tool_calls",
    "stg_trace__tool_results",
    "stg_trace__policy_checks",
    "stg_trace__confirmation_requests",
    "stg_trace__confirmation_responses",
    "stg_trace__side_effects",
    "stg_trace__rollbacks",
    "stg_trace__errors",
    "stg_trace__final_results",
    "stg_trace__feedback",
]

STAGING_SUITES: list[Suite] = [
    *[
        _keys_suite(STAGING, view, BY_DELIVERY_DATE, "event_id", "trace_id", unique="event_id")
        for view in STAGING_VIEWS
    ],
    _values_suite(
        STAGING, "stg_trace__events", BY_DELIVERY_DATE, {"event_type": EVENT_TYPES}, non_negative=["sequence"]
    ),
    _values_suite(
        STAGING,
        "stg_trace__model_calls",
        BY_DELIVERY_DATE,
        {"purpose": MODEL_PURPOSES, "status": MODEL_STATUSES},
        non_negative=["input_tokens", "output_tokens", "latency_ms"],
    ),
    _values_suite(
        STAGING,
        "stg_trace__tool_calls",
        BY_DELIVERY_DATE,
        {"access": ACCESS_CLASSES, "mode": MODES},
        at_least_one=["attempt"],
    ),
    _values_suite(
        STAGING,
        "stg_trace__tool_results",
        BY_DELIVERY_DATE,
        {"status": TOOL_RESULT_STATUSES},
        non_negative=["latency_ms"],
    ),
    _values_suite(STAGING, "stg_trace__policy_checks", BY_DELIVERY_DATE, {"decision": POLICY_DECISIONS}),
    _values_suite(
        STAGING, "stg_trace__confirmation_responses", BY_DELIVERY_DATE, {"decision": CONFIRMATION_DECISIONS}
    ),
    _values_suite(STAGING, "stg_trace__side_effects", BY_DELIVERY_DATE, {"operation": OPERATIONS}),
    _values_suite(STAGING, "stg_trace__rollbacks", BY_DELIVERY_DATE, {"status": ROLLBACK_STATUSES}),
    _values_suite(STAGING, "stg_trace__final_results", BY_DELIVERY_DATE, {"status": FINAL_STATUSES}),
    _values_suite(STAGING, "stg_trace__feedback", BY_DELIVERY_DATE, {"rating": [-1, 0, 1]}),
    Suite(
        name="gx_timestamps",
        asset=key(STAGING, "stg_trace__events"),
        severity=dg.AssetCheckSeverity.ERROR,
        category=TRAIL_COMPLETENESS,
        description="event timestamps inside the partition's day (+ gx.future_skew_minutes); events from before the "
        "day are flagged late and allowed up to gx.late_max_share; none may lie in the future",
        columns=TIMING_COLUMNS,
        where=BY_DELIVERY_DATE,
        expectations=lambda gxe, t: [
            gxe.ExpectColumnValuesToBeInSet(column="timing", value_set=["in_window", "late"]),
            gxe.ExpectColumnValuesToBeInSet(
                column="timing", value_set=["in_window"], mostly=1 - t.late_max_share
            ),
        ],
        threshold=lambda t: t.late_max_share,
        threshold_key="gx.late_max_share",
    ),
    Suite(
        name="gx_volume",
        asset=key(STAGING, "stg_trace__events"),
        severity=dg.AssetCheckSeverity.ERROR,
        category=TRAIL_COMPLETENESS,
        description="the partition's event count within the trailing mean × (1 ± volume.band), the mean over the "
        "previous trailing_days delivery days that have events (not judged with fewer than "
        "volume.min_history_days of them)",
        columns="",
        where="",
        expectations=_volume_expectations,
        frame=_volume_frame,
        threshold=lambda t: t.volume_band,
        threshold_key="volume.band",
        observed="volume_deviation",
    ),
    Suite(
        name="gx_model_version_share",
        asset=key(STAGING, "stg_trace__model_calls"),
        severity=dg.AssetCheckSeverity.WARN,
        category=AGENT_COMPLIANCE,
        description="share of the partition's model calls that carry a model_version (blank counts as missing) "
        ">= gx.model_version_min_share",
        columns="nullif(trim(model_version), '') AS model_version",
        where=BY_DELIVERY_DATE,
        expectations=lambda gxe, t: [
            gxe.ExpectColumnValuesToNotBeNull(column="model_version", mostly=t.model_version_min_share)
        ],
        threshold=lambda t: t.model_version_min_share,
        threshold_key="gx.model_version_min_share",
        observed="share_expected",
    ),
]

MARTS = "marts"
MART_SUITES: list[Suite] = [
    _keys_suite(
        "intermediate",
        "int_confirmations",
        BY_PARTITION_TRACES,
        "trace_id",
        "confirmation_id",
        compound=["tenant_id", "trace_id", "confirmation_id"],
    ),
    _keys_suite(
        MARTS,
        "fct_tool_calls",
        BY_PARTITION_TRACES,
        "trace_id",
        "tool_call_id",
        compound=["tenant_id", "trace_id", "tool_call_id"],
    ),
    _values_suite(
        MARTS,
        "fct_tool_calls",
        BY_PARTITION_TRACES,
        {
            "access": ACCESS_CLASSES,
            "mode": MODES,
            "policy_decision": [*POLICY_DECISIONS, "none"],
            "confirmation_status": [*CONFIRMATION_DECISIONS, "no_response", "not_requested"],
            "result_status": [*TOOL_RESULT_STATUSES, "no_result"],
        },
        non_negative=["latency_ms", "side_effect_count"],
        at_least_one=["attempt"],
    ),
    _keys_suite(MARTS, "fct_model_calls", BY_PARTITION_TRACES, "event_id", "trace_id", unique="event_id"),
    _values_suite(
        MARTS,
        "fct_model_calls",
        BY_PARTITION_TRACES,
        {"purpose": MODEL_PURPOSES, "status": MODEL_STATUSES},
        non_negative=["input_tokens", "output_tokens", "total_tokens", "latency_ms"],
    ),
    Suite(
        name="gx_model_version_share",
        asset=key(MARTS, "fct_model_calls"),
        severity=dg.AssetCheckSeverity.WARN,
        category=AGENT_COMPLIANCE,
        description="share of the partition's model calls that carry a model_version >= gx.model_version_min_share",
        columns="nullif(trim(model_version), '') AS model_version",
        where=BY_PARTITION_TRACES,
        expectations=lambda gxe, t: [
            gxe.ExpectColumnValuesToNotBeNull(column="model_version", mostly=t.model_version_min_share)
        ],
        threshold=lambda t: t.model_version_min_share,
        threshold_key="gx.model_version_min_share",
        observed="share_expected",
    ),
    _keys_suite(
        MARTS,
        "fct_outcomes",
        BY_LAST_DELIVERY_DATE,
        "trace_id",
        "tenant_id",
        compound=["tenant_id", "trace_id"],
    ),
    _values_suite(
        MARTS,
        "fct_outcomes",
        BY_LAST_DELIVERY_DATE,
        {"final_status": [*FINAL_STATUSES, "no_final_result"]},
        non_negative=["input_tokens", "output_tokens", "total_tokens", "tool_call_count", "event_count"],
    ),
    Suite(
        name="gx_final_result_share",
        asset=key(MARTS, "fct_outcomes"),
        severity=dg.AssetCheckSeverity.ERROR,
        category=TRAIL_COMPLETENESS,
        description="share of the partition's traces that carry a final_result >= gx.final_result_min_share",
        columns="final_status",
        where=BY_LAST_DELIVERY_DATE,
        expectations=lambda gxe, t: [
            gxe.ExpectColumnValuesToNotBeInSet(
                column="final_status", value_set=["no_final_result"], mostly=t.final_result_min_share
            )
        ],
        threshold=lambda t: t.final_result_min_share,
        threshold_key="gx.final_result_min_share",
        observed="share_expected",
    ),
    _keys_suite(
        MARTS, "fct_permission_checks", BY_PARTITION_TRACES, "event_id", "trace_id", unique="event_id"
    ),
    _values_suite(MARTS, "fct_permission_checks", BY_PARTITION_TRACES, {"decision": POLICY_DECISIONS}),
    _keys_suite(
        MARTS,
        "fct_confirmations",
        BY_PARTITION_TRACES,
        "trace_id",
        "confirmation_id",
        compound=["tenant_id", "trace_id", "confirmation_id"],
    ),
    _values_suite(
        MARTS,
        "fct_confirmations",
        BY_PARTITION_TRACES,
        {"decision": [*CONFIRMATION_DECISIONS, "no_response"]},
        non_negative=["seconds_to_respond"],
    ),
    _keys_suite(MARTS, "fct_side_effects", BY_PARTITION_TRACES, "event_id", "trace_id", unique="event_id"),
    _values_suite(MARTS, "fct_side_effects", BY_PARTITION_TRACES, {"operation": OPERATIONS}),
]

ALL_SUITES = STAGING_SUITES + MART_SUITES


# --- running a suite ------------------------------------------------------------------------------


class GxRunner:
    """One ephemeral GX context (no files, no analytics) for the suites of one check step."""

    def __init__(self, partial_unexpected_count: int = 10):
        import great_expectations as gx
        import great_expectations.execution_engine.pandas_execution_engine as pandas_engine
        import great_expectations.expectations as gxe

        # GX fingerprints every pandas batch below HASH_THRESHOLD bytes by hashing the whole frame,
        # twice per validation, only to store it as a batch marker nobody here reads: 78% of the
        # time of a 1M-row suite. Threshold 0 skips the fingerprint; the validation is unchanged.
        pandas_engine.HASH_THRESHOLD = 0
        self.gxe = gxe
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = {"globally": False, "metric_calculations": False}
        self.datasource = self.context.data_sources.add_pandas("trace_platform_partition")
        self.partial_unexpected_count = partial_unexpected_count
        self._gx = gx
        self._validations = 0

    def validate(self, name: str, frame, expectations: list, keys: Sequence[str] = ()):
        self._validations += 1  # GX names must be unique within a context
        name = f"{name}#{self._validations}"
        asset = self.datasource.add_dataframe_asset(name=name)
        batch = asset.add_batch_definition_whole_dataframe("partition").get_batch(
            batch_parameters={"dataframe": frame}
        )
        suite = self.context.suites.add(self._gx.ExpectationSuite(name=name, expectations=expectations))
        result_format = {
            "result_format": "SUMMARY",
            "partial_unexpected_count": self.partial_unexpected_count,
        }
        if keys:  # failed rows are named by their key (partial_unexpected_index_list)
            result_format["unexpected_index_column_names"] = list(keys)
        try:
            return batch.validate(suite, result_format=result_format)
        finally:
            # GX's execution engine caches every batch's data (the partition frame) for the life
            # of the datasource: without this a check step held all its slices at once (7.4 GB
            # after four 10M-row suites). Drop the batch, its asset and suite after each run.
            manager = self.datasource.get_execution_engine().batch_manager
            manager._batch_data_cache.clear()
            manager.reset_batch_cache()
            self.datasource.delete_asset(name)
            self.context.suites.delete(name)
            del batch


def _plain(value: Any) -> Any:
    """A JSON-safe scalar (NaN/NaT become None, numpy scalars Python numbers)."""
    if value is None or isinstance(value, str | bool):
        return value
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value if isinstance(value, int | float | str) else str(value)


def _summarise(validation, limit: int, keys: Sequence[str] = ()) -> list[dict]:
    entries = []
    for result in validation.results:
        config = result.expectation_config
        kwargs = dict(config.kwargs)
        details = result.result or {}
        entry = {
            "expectation": config.type,
            "column": kwargs.get("column") or kwargs.get("column_list"),
            "success": bool(result.success),
            "element_count": details.get("element_count"),
            "unexpected_count": details.get("unexpected_count"),
            "unexpected_percent": details.get("unexpected_percent"),
            "unexpected_values": [_plain(v) for v in (details.get("partial_unexpected_list") or [])[:limit]],
            "examples": [
                "/".join(str(_plain(row.get(k))) for k in keys)
                for row in (details.get("partial_unexpected_index_list") or [])[:limit]
                if isinstance(row, dict)
            ]
            if keys
            else [],
        }
        for arg in ("value_set", "min_value", "max_value", "mostly"):
            if kwargs.get(arg) is not None:
                entry[arg] = (
                    [_plain(v) for v in kwargs[arg]] if isinstance(kwargs[arg], list) else _plain(kwargs[arg])
                )
        exception = (result.exception_info or {}) if hasattr(result, "exception_info") else {}
        if exception.get("raised_exception"):
            entry["exception"] = str(exception.get("exception_message"))[:500]
        entries.append(entry)
    return _redacted(entries)


def _redacted(entries: list[dict]) -> list[dict]:
    """The data values an entry copies (GX's unexpected values, an exception message that may quote
    them) through redact_text, all of a suite in one query: the metadata shown in Dagster and stored
    in audit.check_results never holds a secret a hostile trace put into a checked column
    (docs/security.md). Ordinary values (statuses, numbers) are unchanged."""
    values = [v for e in entries for v in e["unexpected_values"]] + [e.get("exception") for e in entries]
    redacted = iter(redact_values(values))
    for entry in entries:
        entry["unexpected_values"] = [next(redacted) for _ in entry["unexpected_values"]]
    for entry in entries:
        message = next(redacted)
        if message is not None:
            entry["exception"] = message
    return entries


def _unexpected_share(entry: dict) -> float:
    return (entry.get("unexpected_percent") or 0.0) / 100


def run_suite(
    runner: GxRunner, con, suite: Suite, partition: str, thresholds: Thresholds
) -> dg.AssetCheckResult:
    """Fetches the suite's partition slice (or aggregates), validates it with GX, summarises the result."""
    info: dict = {}
    if suite.frame is not None:
        frame, info, sql = suite.frame(con, partition, thresholds)
        expectations = suite.expectations(runner.gxe, thresholds, info)
    else:
        sql = suite.slice_sql(partition, thresholds)
        frame = con.execute(sql).df()
        expectations = suite.expectations(runner.gxe, thresholds)
    entries = []
    if expectations:
        validation = runner.validate(f"{suite.table}.{suite.name}", frame, expectations, suite.keys)
        entries = _summarise(validation, thresholds.example_keys, suite.keys)
        passed = bool(validation.success)
    else:
        passed = True  # nothing to judge (e.g. not enough volume history): reported in the metadata
    failed = [e for e in entries if not e["success"]]
    if suite.observed == "share_expected":
        observed = 1 - _unexpected_share(entries[0]) if entries else 1.0
    elif suite.observed == "volume_deviation":
        observed = info.get("deviation", 0.0)
    else:
        observed = max((_unexpected_share(e) for e in entries), default=0.0)
    threshold = suite.threshold(thresholds) if suite.threshold else None
    extra: dict[str, Any] = {
        "suite": f"{suite.table}.{suite.name}",
        "rows_validated": len(frame),
        "expectations_evaluated": len(entries),
        "expectations_failed": len(failed),
        "results": md_table(
            ["expectation", "column", "ok", "unexpected", "%", "unexpected values", "example keys"],
            [
                [
                    e["expectation"],
                    e["column"],
                    "yes" if e["success"] else "NO",
                    e["unexpected_count"],
                    "" if e["unexpected_percent"] is None else f"{e['unexpected_percent']:.2f}",
                    ", ".join(map(str, e["unexpected_values"][:5])),
                    ", ".join(e["examples"][:5]),
                ]
                for e in entries
            ],
        )
        if entries
        else "no expectation evaluated",
        "failed_expectations": failed,
        "key_columns": list(suite.keys),
        "examples": sorted({v for e in failed for v in e["examples"]})[: thresholds.example_keys],
    }
    if suite.name == "gx_timestamps" and len(frame):
        counts = frame["timing"].value_counts().to_dict()
        extra.update(
            late_events=int(counts.get("late", 0)),
            future_events=int(counts.get("future", 0)),
            late_share=float(counts.get("late", 0) / len(frame)),
        )
    if info:
        extra.update({k: v for k, v in info.items() if k != "judged"})
        extra["judged"] = bool(info.get("judged"))
    description = (
        f"{suite.name}: {len(entries) - len(failed)}/{len(entries)} expectations met on {len(frame)} row(s)"
    )
    if suite.frame is not None and not info.get("judged", True):
        description = (
            f"{suite.name}: not judged, {info.get('history_days', 0)} day(s) of history "
            f"(< volume.min_history_days {thresholds.volume_min_history_days})"
        )
    return dg.AssetCheckResult(
        check_name=suite.name,
        asset_key=suite.asset,
        passed=passed,
        severity=suite.severity,
        description=description,
        metadata=check_metadata(
            kind="gx",
            category=suite.category,
            partition=partition,
            observed=observed,
            threshold=threshold,
            threshold_key=suite.threshold_key,
            sql=sql,
            **extra,
        ),
    )


def _run(context: dg.AssetCheckExecutionContext, warehouse: DuckDBResource, suites: list[Suite]) -> Iterator:
    selected = context.selected_asset_check_keys
    wanted = [s for s in suites if dg.AssetCheckKey(s.asset, s.name) in selected]
    thresholds = load_thresholds()
    partition = context.partition_key
    runner = GxRunner(partial_unexpected_count=thresholds.example_keys)
    with warehouse_connection(warehouse) as con:
        for suite in wanted:
            yield run_suite(runner, con, suite, partition, thresholds)


def _check_op(name: str, suites: list[Suite], description: str) -> dg.AssetChecksDefinition:
    @dg.multi_asset_check(
        specs=[suite.spec for suite in suites],
        name=name,
        description=description,
        can_subset=True,
        op_tags=CHECK_OP_TAGS,
        pool="duckdb_writer",
    )
    def _checks(context: dg.AssetCheckExecutionContext, warehouse: DuckDBResource):
        yield from _run(context, warehouse, suites)

    return _checks


gx_staging_checks = _check_op(
    "gx_staging_checks", STAGING_SUITES, "GX suites on the staging views, per delivery-day partition."
)
gx_marts_checks = _check_op(
    "gx_marts_checks", MART_SUITES, "GX suites on the marts (and int_confirmations), per partition of traces."
)
