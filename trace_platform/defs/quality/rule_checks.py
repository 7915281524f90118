"""One Dagster asset check per audit rule R1-R8 and R10 and finding R7T, on the mart its breaches are about.

Breach counts and rates are computed set-based in DuckDB from `audit.audit_violations` (breaches,
by `detected_in_partition`) and `marts.fct_outcomes` (the units: traces, their tool calls and model
calls, by `last_delivery_date` — the same day a trace's breaches are detected in). The trailing rate
uses the same tables over the last `trailing_days` delivery days.

| rule | asset | why there |
|---|---|---|
| R1, R7, R7T | marts/fct_outcomes | trace-level facts: one row per trace |
| R2, R3, R4, R5, R10 | marts/fct_tool_calls | keyed by tool call |
| R6 | marts/fct_side_effects | a side effect without an honest executed write |
| R8 | marts/fct_model_calls | keyed by the model call |

Trail-completeness rules (R1, R4, R7, R7T) fail with ERROR when the partition's rate exceeds
`rules.<R>.max_rate`; agent-compliance rules fail with WARN. None of them blocks (R9 and the schema
contract are the blocking checks).
"""

from collections import defaultdict

import dagster as dg
from dagster_duckdb import DuckDBResource

from trace_platform.defs.quality.common import (
    AUDIT_VIOLATIONS,
    CHECK_OP_TAGS,
    FCT_MODEL_CALLS,
    FCT_OUTCOMES,
    FCT_SIDE_EFFECTS,
    FCT_TOOL_CALLS,
    OWNER,
    RULES,
    check_metadata,
    date_literal,
    partitioned_check_spec,
    rate,
    trailing_start,
    warehouse_connection,
)
from trace_platform.defs.quality.thresholds import load_thresholds

RULE_ASSETS: dict[str, dg.AssetKey] = {
    "R1": FCT_OUTCOMES,
    "R7": FCT_OUTCOMES,
    "R7T": FCT_OUTCOMES,
    "R2": FCT_TOOL_CALLS,
    "R3": FCT_TOOL_CALLS,
    "R4": FCT_TOOL_CALLS,
    "R5": FCT_TOOL_CALLS,
    "R10": FCT_TOOL_CALLS,
    "R6": FCT_SIDE_EFFECTS,
    "R8": FCT_MODEL_CALLS,
}

# The unit a rule's rate is over, by the seed's key column (as in audit.audit_rule_summary).
UNIT_BY_KEY_COLUMN = {"trace_id": "traces", "tool_call_id": "tool_calls", "event_id": "model_calls"}


def _spec(rule_id: str) -> dg.AssetCheckSpec:
    rule = RULES[rule_id]
    severity = "ERROR" if rule.check_severity == dg.AssetCheckSeverity.ERROR else "WARN (never blocking)"
    return partitioned_check_spec(
        rule.check_name,
        asset=RULE_ASSETS[rule_id],
        additional_deps=[AUDIT_VIOLATIONS] if RULE_ASSETS[rule_id] != AUDIT_VIOLATIONS else [],
        description=f"{rule_id} {rule.name} ({rule.category}): {rule.statement} "
        f"Fails with {severity} when the partition's breach rate over {UNIT_BY_KEY_COLUMN[rule.key_column]} "
        f"exceeds rules.{rule_id}.max_rate in thresholds.yaml.",
        metadata={"rule_id": rule_id, "category": rule.category, "owner": OWNER},
    )


RULE_CHECK_SPECS = [_spec(rule_id) for rule_id in RULE_ASSETS]
CHECK_NAME_TO_RULE = {RULES[r].check_name: r for r in RULE_ASSETS}

UNITS_SQL = """
SELECT last_delivery_date AS day,
       count(*) AS traces,
       coalesce(sum(tool_call_count), 0) AS tool_calls,
       coalesce(sum(model_call_count), 0) AS model_calls
FROM marts.fct_outcomes
WHERE last_delivery_date BETWEEN $start::DATE AND $partition::DATE
GROUP BY 1
"""

BREACHES_SQL = """
SELECT rule_id, detected_in_partition AS day, count(*) AS breaches
FROM audit.audit_violations
WHERE detected_in_partition BETWEEN $start::DATE AND $partition::DATE
GROUP BY ALL
"""

EXAMPLES_SQL = """
SELECT rule_id, trace_id, tool_call_id, event_id
FROM audit.audit_violations
WHERE detected_in_partition = $partition::DATE
QUALIFY row_number() OVER (PARTITION BY rule_id ORDER BY trace_id, tool_call_id NULLS FIRST, event_id) <= $n
ORDER BY rule_id, trace_id, tool_call_id NULLS FIRST, event_id
"""


def example_key(key_column: str, trace_id: str, tool_call_id: str | None, event_id: str | None) -> str:
    """How an example breach is named: trace_id, trace_id/tool_call_id, or the model call's event_id."""
    if key_column == "trace_id":
        return trace_id
    if key_column == "tool_call_id":
        return f"{trace_id}/{tool_call_id}" if tool_call_id is not None else f"{trace_id}/event:{event_id}"
    return event_id or trace_id


def listing_sql(rule_id: str, partition: str) -> str:
    return (
        f"SELECT * FROM audit.audit_violations\nWHERE rule_id = '{rule_id}' "
        f"AND detected_in_partition = {date_literal(partition)}\nORDER BY trace_id, tool_call_id, event_id;"
    )


def evaluate_rules(con, partition: str, rule_ids: list[str], thresholds) -> list[dg.AssetCheckResult]:
    """The rule checks for one partition (pure SQL + arithmetic; unit-testable with any connection)."""
    params = {"partition": partition, "start": trailing_start(partition, thresholds.trailing_days)}
    units_by_day = {
        row[0].isoformat(): {"traces": row[1], "tool_calls": row[2], "model_calls": row[3]}
        for row in con.execute(UNITS_SQL, params).fetchall()
    }
    breaches: dict[str, dict[str, int]] = defaultdict(dict)
    for rule_id, day, n in con.execute(BREACHES_SQL, params).fetchall():
        breaches[rule_id][day.isoformat()] = n
    examples: dict[str, list[str]] = defaultdict(list)
    for rule_id, trace_id, tool_call_id, event_id in con.execute(
        EXAMPLES_SQL, {"partition": partition, "n": thresholds.example_keys}
    ).fetchall():
        examples[rule_id].append(example_key(RULES[rule_id].key_column, trace_id, tool_call_id, event_id))

    results = []
    for rule_id in rule_ids:
        rule = RULES[rule_id]
        unit = UNIT_BY_KEY_COLUMN[rule.key_column]
        units = units_by_day.get(partition, {}).get(unit, 0)
        count = breaches[rule_id].get(partition, 0)
        trailing_units = sum(day.get(unit, 0) for day in units_by_day.values())
        trailing_count = sum(breaches[rule_id].values())
        breach_rate = rate(count, units)
        max_rate = thresholds.rule_max_rate[rule_id]
        results.append(
            dg.AssetCheckResult(
                check_name=rule.check_name,
                asset_key=RULE_ASSETS[rule_id],
                passed=breach_rate <= max_rate,
                severity=rule.check_severity,
                description=f"{count} {rule_id} breach(es) over {units} {unit} ({breach_rate:.2%}); "
                f"threshold {max_rate:.2%}",
                metadata=check_metadata(
                    kind="audit_rule",
                    category=rule.category,
                    partition=partition,
                    observed=breach_rate,
                    threshold=max_rate,
                    threshold_key=f"rules.{rule_id}.max_rate",
                    sql=listing_sql(rule_id, partition),
                    rule_id=rule_id,
                    unit=unit,
                    units=units,
                    breach_count=count,
                    breach_rate=float(breach_rate),
                    trailing_days=thresholds.trailing_days,
                    trailing_breach_count=trailing_count,
                    trailing_units=trailing_units,
                    trailing_breach_rate=float(rate(trailing_count, trailing_units)),
                    examples=examples.get(rule_id, []),
                ),
            )
        )
    return results


@dg.multi_asset_check(
    specs=RULE_CHECK_SPECS,
    name="audit_rule_checks",
    description="Audit rules R1-R8 and R10 and finding R7T per partition, from audit.audit_violations and the marts.",
    can_subset=True,
    op_tags=CHECK_OP_TAGS,
    pool="duckdb_writer",
)
def audit_rule_checks(context: dg.AssetCheckExecutionContext, warehouse: DuckDBResource):
    partition = context.partition_key
    selected = {check_key.name for check_key in context.selected_asset_check_keys}
    rule_ids = [CHECK_NAME_TO_RULE[name] for name in CHECK_NAME_TO_RULE if name in selected]
    thresholds = load_thresholds()
    with warehouse_connection(warehouse) as con:
        results = evaluate_rules(con, partition, rule_ids, thresholds)
    yield from results
