"""Checks on the raw zone, right after ingestion and before dbt: schema contract, drift, quarantine.

* `schema_contract` (raw/trace_events, ERROR, **blocking**): the raw tables have the columns and
  types the dbt models read, and every loaded event of the partition has schema_version "1" and a
  known event_type. A failure stops the run before dbt: the models must not build on a raw zone
  whose shape they do not understand.
* `schema_drift` (raw/trace_events, ERROR above `schema.drift_max_rate`, not blocking): events
  whose payload has keys the v1 format does not document for their event type, or a documented
  key holding another JSON type, reported per event type. JSON null is not drift (missing values
  are the rules' and GX's job); missing documented keys are reported for information only (R8 and
  the GX suites judge them). Unknown top-level fields are allowed by the format ("kept, never a
  reason to reject"): they are reported — per field, and which are new against the trailing
  window — but do not count as drift.
* `quarantine_rate` (raw/quarantine, ERROR, not blocking): the share of the partition's non-blank
  lines that were quarantined exceeds `ingest.quarantine_max_rate`, or a whole file was quarantined
  (e.g. a corrupt gzip): part of the trail did not make it into the warehouse.
"""

import dagster as dg
from dagster_duckdb import DuckDBResource

from trace_platform.defs.quality.common import (
    CHECK_OP_TAGS,
    RAW_EVENTS,
    RAW_QUARANTINE,
    TRAIL_COMPLETENESS,
    check_metadata,
    date_literal,
    md_table,
    partitioned_check_spec,
    rate,
    table_exists,
    trailing_start,
    warehouse_connection,
)
from trace_platform.defs.quality.thresholds import load_thresholds
from trace_platform.redaction import redact_values

# The column contract of the raw zone: what staging and the checks read (name -> DuckDB type).
RAW_CONTRACT: dict[str, dict[str, str]] = {
    "trace_events": {
        "event_id": "VARCHAR",
        "event_type": "VARCHAR",
        "schema_version": "VARCHAR",
        "event_timestamp": "TIMESTAMP WITH TIME ZONE",
        "trace_id": "VARCHAR",
        "span_id": "VARCHAR",
        "parent_span_id": "VARCHAR",
        "sequence": "BIGINT",
        "session_id": "VARCHAR",
        "tenant_id": "VARCHAR",
        "user_id": "VARCHAR",
        "agent_name": "VARCHAR",
        "agent_version": "VARCHAR",
        "payload": "JSON",
        "attributes": "JSON",
        "extra_fields": "JSON",
        "source_format": "VARCHAR",
        "source_file": "VARCHAR",
        "line_number": "BIGINT",
        "line_hash": "UBIGINT",
        "delivery_date": "DATE",
        "ingested_at": "TIMESTAMP WITH TIME ZONE",
    },
    "quarantine": {
        "delivery_date": "DATE",
        "source_file": "VARCHAR",
        "line_number": "BIGINT",
        "reason": "VARCHAR",
        "event_id": "VARCHAR",
        "raw_line": "VARCHAR",
        "raw_line_bytes": "BIGINT",
        "ingested_at": "TIMESTAMP WITH TIME ZONE",
    },
    "ingest_files": {
        "delivery_date": "DATE",
        "source_file": "VARCHAR",
        "file_bytes": "BIGINT",
        "content_sha256": "VARCHAR",
        "lines_read": "BIGINT",
        "blank_lines": "BIGINT",
        "events_loaded": "BIGINT",
        "duplicates_dropped": "BIGINT",
        "lines_quarantined": "BIGINT",
        "file_status": "VARCHAR",
        "load_id": "VARCHAR",
        "loaded_at": "TIMESTAMP WITH TIME ZONE",
    },
}

# The v1 payload of each event type (docs: /work/shared/spec, trace_platform/schemas): field ->
# (JSON type, required). JSON types: string, integer, number, boolean, object, array, any.
S, I, N, B, O, A, ANY = "string", "integer", "number", "boolean", "object", "array", "any"  # noqa: E741 (short type names keep the table readable)
PAYLOAD_SPEC: dict[str, dict[str, tuple[str, bool]]] = {
    "user_request": {"text": (S, True), "intent": (S, False), "channel": (S, False)},
    "plan": {"steps": (A, True), "reasoning": (S, False)},
    "model_call": {
        "provider": (S, True),
        "model": (S, True),
        "model_version": (S, True),
        "purpose": (S, True),
        "input_tokens": (I, True),
        "output_tokens": (I, True),
        "latency_ms": (N, True),
        "finish_reason": (S, True),
        "status": (S, True),
        "error": (O, False),
    },
    "tool_selection": {
        "tool_call_id": (S, True),
        "tool_name": (S, True),
        "candidates": (A, True),
        "rationale": (S, False),
    },
    "tool_call": {
        "tool_call_id": (S, True),
        "tool_name": (S, True),
        "tool_version": (S, False),
        "arguments": (O, True),
        "access": (S, True),
        "mode": (S, True),
        "attempt": (I, True),
        "retry_of": (S, True),
        "requires_confirmation": (B, True),
    },
    "tool_result": {
        "tool_call_id": (S, True),
        "status": (S, True),
        "output": (ANY, True),
        "error": (O, False),
        "latency_ms": (N, True),
    },
    "policy_check": {
        "check_id": (S, True),
        "tool_call_id": (S, True),
        "policy": (S, True),
        "permission": (S, True),
        "principal": (S, True),
        "decision": (S, True),
        "reason": (S, True),
    },
    "confirmation_request": {
        "confirmation_id": (S, True),
        "tool_call_id": (S, True),
        "prompt": (S, True),
        "arguments": (O, False),
    },
    "confirmation_response": {
        "confirmation_id": (S, True),
        "tool_call_id": (S, True),
        "decision": (S, True),
        "responder": (S, True),
    },
    "side_effect": {
        "tool_call_id": (S, True),
        "resource_type": (S, True),
        "resource_id": (S, True),
        "operation": (S, True),
        "reversible": (B, True),
        "rollback_ref": (S, False),
    },
    "rollback": {
        "tool_call_id": (S, True),
        "resource_type": (S, True),
        "resource_id": (S, True),
        "status": (S, True),
        "reason": (S, True),
    },
    "error": {
        "error_type": (S, True),
        "message": (S, True),
        "recoverable": (B, True),
        "tool_call_id": (S, False),
    },
    "final_result": {"status": (S, True), "output": (S, True)},
    "feedback": {"rating": (I, True), "comment": (S, False)},
}
EVENT_TYPES = tuple(PAYLOAD_SPEC)

# DuckDB json_type() names accepted for each JSON type (JSON null is accepted everywhere).
DUCKDB_JSON_TYPES = {
    S: ["VARCHAR"],
    I: ["BIGINT", "UBIGINT"],
    N: ["BIGINT", "UBIGINT", "DOUBLE"],
    B: ["BOOLEAN"],
    O: ["OBJECT"],
    A: ["ARRAY"],
    ANY: ["VARCHAR", "BIGINT", "UBIGINT", "DOUBLE", "BOOLEAN", "OBJECT", "ARRAY"],
}

CONTRACT_CHECK = partitioned_check_spec(
    "schema_contract",
    asset=RAW_EVENTS,
    blocking=True,
    description="Schema contract (trail completeness, ERROR, blocking): raw.trace_events, raw.quarantine and "
    "raw.ingest_files have the columns and types the models read, and every event of the partition has "
    "schema_version '1' and a known event_type. dbt does not run on a partition that fails it.",
)
DRIFT_CHECK = partitioned_check_spec(
    "schema_drift",
    asset=RAW_EVENTS,
    description="Schema drift (trail completeness, ERROR above schema.drift_max_rate): share of the partition's "
    "events with undocumented payload keys for their event type or a documented payload key of another "
    "JSON type, per event type. Unknown top-level fields (allowed by the format) are reported, new ones "
    "flagged, not judged.",
)
QUARANTINE_CHECK = partitioned_check_spec(
    "quarantine_rate",
    asset=RAW_QUARANTINE,
    description="Quarantine rate (trail completeness, ERROR above ingest.quarantine_max_rate): share of the "
    "partition's non-blank lines quarantined, and whole files quarantined (e.g. corrupt gzip).",
)
RAW_CHECK_SPECS = [CONTRACT_CHECK, DRIFT_CHECK, QUARANTINE_CHECK]


def _sql_list(items) -> str:
    return "[" + ", ".join(items) + "]"


def _payload_shape_sql() -> str:
    """Per event: the payload's keys and, in one parse, the JSON type of each documented key.

    json_keys and json_type with a constant path list parse each payload once (json_each, which
    materialises every key's value, was 20x slower on a 1M-event day). Lists are in spec order.
    """
    fields_case, types_case = [], []
    for event_type, fields in PAYLOAD_SPEC.items():
        names = list(fields)
        fields_case.append(f"WHEN '{event_type}' THEN {_sql_list(repr(n) for n in names)}")
        types_case.append(
            f"WHEN '{event_type}' THEN json_type(payload, {_sql_list(repr(f'$.{n}') for n in names)})"
        )
    accepted_case = [
        f"WHEN '{event_type}' THEN {_sql_list(_sql_list(repr(t) for t in DUCKDB_JSON_TYPES[j]) for j, _ in fields.values())}"
        for event_type, fields in PAYLOAD_SPEC.items()
    ]
    required_case = [
        f"WHEN '{event_type}' THEN {_sql_list(str(r).lower() for _, r in fields.values())}"
        for event_type, fields in PAYLOAD_SPEC.items()
    ]
    nl = "\n            "
    return f"""
    SELECT event_id, event_type, payload_is_object,
           CASE WHEN payload_is_object THEN json_keys(payload) ELSE [] END AS keys,
           CASE event_type {nl.join(fields_case)} ELSE [] END AS fields,
           CASE WHEN payload_is_object THEN CASE event_type {nl.join(types_case)} END END AS field_types,
           CASE event_type {nl.join(accepted_case)} END AS accepted_types,
           CASE event_type {nl.join(required_case)} END AS required
    FROM (SELECT event_id, event_type, payload, json_type(payload) = 'OBJECT' AS payload_is_object
          FROM raw.trace_events WHERE delivery_date = $partition::DATE)"""


# One scan of the partition's payloads, aggregated in DuckDB: per (event_type, finding, field) the
# events affected, the drifted events per type, example keys, and missing documented keys.
# A finding: an undocumented key for the event type, a documented key of another JSON type (JSON
# null is not drift), or a payload that is not an object. Missing keys are informational.
# Events are first grouped by shape (type, keys, key types): a day has few distinct shapes, so
# the list logic runs on those, not on every event; each shape keeps its smallest event ids
# (min(x, n)), which contain the partition's first example keys.
DRIFT_SQL = f"""
WITH shapes AS MATERIALIZED (
    SELECT event_type, payload_is_object, keys, fields, field_types, accepted_types, required,
           count(*) AS events, min(event_id, $examples) AS first_event_ids
    FROM ({_payload_shape_sql()}
    )
    GROUP BY ALL
),
judged AS MATERIALIZED (
    SELECT event_type, events, first_event_ids,
           CASE WHEN NOT payload_is_object THEN [{{'finding': 'not_an_object', 'field': 'payload'}}]
           ELSE list_concat(
               list_transform(list_filter(keys, k -> NOT list_contains(fields, k)),
                              k -> {{'finding': 'unknown_payload_key', 'field': k}}),
               list_transform(list_filter(range(1, len(fields) + 1),
                                          i -> field_types[i] IS NOT NULL AND field_types[i] <> 'NULL'
                                               AND NOT list_contains(accepted_types[i], field_types[i])),
                              i -> {{'finding': 'wrong_json_type', 'field': fields[i] || ':' || field_types[i]}}))
           END AS findings,
           CASE WHEN payload_is_object
                THEN list_transform(list_filter(range(1, len(fields) + 1),
                                                i -> required[i] AND field_types[i] IS NULL), i -> fields[i])
                ELSE [] END AS missing
    FROM shapes
),
drifted AS (SELECT * FROM judged WHERE len(findings) > 0)
SELECT 'finding' AS kind, event_type, f.finding AS finding, f.field AS field, sum(events)::BIGINT AS events
FROM drifted, unnest(findings) AS t(f) GROUP BY ALL
UNION ALL
SELECT 'drifted', event_type, NULL, NULL, sum(events)::BIGINT FROM drifted GROUP BY ALL
UNION ALL
SELECT 'example', NULL, NULL, event_id, NULL
FROM (SELECT DISTINCT unnest(first_event_ids) AS event_id FROM drifted ORDER BY event_id LIMIT $examples)
UNION ALL
SELECT 'missing', event_type, NULL, m, sum(events)::BIGINT FROM judged, unnest(missing) AS t(m) GROUP BY ALL
"""

# Unknown top-level fields of the partition, and whether the trailing window had them already.
TOP_LEVEL_SQL = """
WITH fields AS (
    SELECT delivery_date, unnest(json_keys(extra_fields)) AS field
    FROM raw.trace_events
    WHERE delivery_date BETWEEN $start::DATE AND $partition::DATE AND extra_fields IS NOT NULL
)
SELECT field,
       count(*) FILTER (WHERE delivery_date = $partition::DATE) AS events,
       count(*) FILTER (WHERE delivery_date < $partition::DATE) = 0 AS is_new
FROM fields GROUP BY field HAVING count(*) FILTER (WHERE delivery_date = $partition::DATE) > 0
ORDER BY events DESC, field
"""


def contract_result(con, partition: str) -> dg.AssetCheckResult:
    actual: dict[str, dict[str, str]] = {}
    for table, column, data_type in con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'raw' ORDER BY table_name, ordinal_position"
    ).fetchall():
        actual.setdefault(table, {})[column] = data_type
    column_problems = []
    for table, columns in RAW_CONTRACT.items():
        if table not in actual:
            column_problems.append(f"raw.{table}: table missing")
            continue
        for column, expected in columns.items():
            found = actual[table].get(column)
            if found is None:
                column_problems.append(f"raw.{table}.{column}: column missing (expected {expected})")
            elif found != expected:
                column_problems.append(f"raw.{table}.{column}: type {found}, expected {expected}")
    extra_columns = sorted(
        f"raw.{t}.{c}"
        for t, cols in actual.items()
        if t in RAW_CONTRACT
        for c in cols
        if c not in RAW_CONTRACT[t]
    )
    bad_events: list[tuple] = []
    events = 0
    if not any(p.startswith("raw.trace_events") for p in column_problems):
        events = con.execute(
            "SELECT count(*) FROM raw.trace_events WHERE delivery_date = $partition::DATE",
            {"partition": partition},
        ).fetchone()[0]
        bad_events = con.execute(
            "SELECT event_id, schema_version, event_type FROM raw.trace_events "
            "WHERE delivery_date = $partition::DATE "
            "AND (schema_version <> '1' OR NOT list_contains($types, event_type)) ORDER BY event_id",
            {"partition": partition, "types": list(EVENT_TYPES)},
        ).fetchall()
    breaches = len(column_problems) + len(bad_events)
    # the values come from the data (a raw zone written around ingestion): they leave redacted
    shown = [(e, *redact_values([v, t])) for e, v, t in bad_events[:10]]
    problems = column_problems + [f"event {e}: schema_version {v!r}, event_type {t!r}" for e, v, t in shown]
    return dg.AssetCheckResult(
        check_name=CONTRACT_CHECK.name,
        asset_key=RAW_EVENTS,
        passed=breaches == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        description="raw zone matches the contract" if breaches == 0 else f"{breaches} contract breach(es)",
        metadata=check_metadata(
            kind="schema",
            category=TRAIL_COMPLETENESS,
            partition=partition,
            observed=breaches,
            threshold=0,
            threshold_key=None,
            sql="SELECT table_name, column_name, data_type FROM information_schema.columns\n"
            "WHERE table_schema = 'raw' ORDER BY table_name, ordinal_position;",
            breach_count=breaches,
            events=events,
            events_breaking_contract=len(bad_events),
            problems=problems[:50],
            additional_columns=extra_columns,
            blocking=True,
        ),
    )


def drift_result(con, partition: str, thresholds) -> dg.AssetCheckResult:
    events_by_type = dict(
        con.execute(
            "SELECT event_type, count(*) FROM raw.trace_events WHERE delivery_date = $partition::DATE GROUP BY 1",
            {"partition": partition},
        ).fetchall()
    )
    rows_found = con.execute(
        DRIFT_SQL, {"partition": partition, "examples": thresholds.example_keys}
    ).fetchall()
    top_level = con.execute(
        TOP_LEVEL_SQL,
        {"partition": partition, "start": trailing_start(partition, thresholds.trailing_days + 1)},
    ).fetchall()
    with_extra_fields = con.execute(
        "SELECT count(*) FROM raw.trace_events WHERE delivery_date = $partition::DATE AND extra_fields IS NOT NULL",
        {"partition": partition},
    ).fetchone()[0]
    # payload keys and top-level field names are data: they leave redacted (docs/security.md)
    names = redact_values([r[3] for r in rows_found] + [f[0] for f in top_level])
    found_names, top_names = names[: len(rows_found)], names[len(rows_found) :]
    rows_found = [(*r[:3], name, r[4]) for r, name in zip(rows_found, found_names, strict=True)]
    top_level = [(name, *f[1:]) for f, name in zip(top_level, top_names, strict=True)]
    field_counts = {(t, finding, field): n for kind, t, finding, field, n in rows_found if kind == "finding"}
    drifted_by_type = {t: n for kind, t, _, _, n in rows_found if kind == "drifted"}
    examples = sorted(field for kind, _, _, field, _ in rows_found if kind == "example")
    missing = sorted((t, field, n) for kind, t, _, field, n in rows_found if kind == "missing")
    drifted = sum(drifted_by_type.values())
    events = sum(events_by_type.values())
    drift_rate = rate(drifted, events)
    rows = []
    for event_type in sorted(set(events_by_type) | set(drifted_by_type)):
        top = sorted(
            ((n, f"{finding}:{field}") for (t, finding, field), n in field_counts.items() if t == event_type),
            reverse=True,
        )[:5]
        rows.append(
            [
                event_type,
                events_by_type.get(event_type, 0),
                drifted_by_type.get(event_type, 0),
                ", ".join(f"{name} ({n})" for n, name in top) or "-",
            ]
        )
    date = date_literal(partition)
    return dg.AssetCheckResult(
        check_name=DRIFT_CHECK.name,
        asset_key=RAW_EVENTS,
        passed=drift_rate <= thresholds.drift_max_rate,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{drifted} of {events} events drift from the v1 payload shape ({drift_rate:.2%}); "
        f"threshold {thresholds.drift_max_rate:.2%}; {with_extra_fields} carry unknown top-level fields "
        f"({len([f for f in top_level if f[2]])} new)",
        metadata=check_metadata(
            kind="schema",
            category=TRAIL_COMPLETENESS,
            partition=partition,
            observed=drift_rate,
            threshold=thresholds.drift_max_rate,
            threshold_key="schema.drift_max_rate",
            sql=(
                "-- unknown top-level fields\n"
                f"SELECT event_id, event_type, json_keys(extra_fields) FROM raw.trace_events\n"
                f"WHERE delivery_date = {date} AND extra_fields IS NOT NULL;\n"
                "-- payload shape per event type (compare with docs/trace-format.md)\n"
                "SELECT event_type, entry.key, entry.type, count(*) FROM raw.trace_events, json_each(payload) AS entry\n"
                f"WHERE delivery_date = {date} GROUP BY ALL ORDER BY 1, 2;"
            ),
            events=events,
            breach_count=drifted,
            breach_rate=float(drift_rate),
            by_event_type=md_table(["event_type", "events", "drifted", "top findings"], rows),
            findings={f"{t}.{finding}:{field}": n for (t, finding, field), n in sorted(field_counts.items())},
            events_with_unknown_top_level_fields=with_extra_fields,
            unknown_top_level_fields={field: n for field, n, _ in top_level},
            new_top_level_fields=[field for field, _, is_new in top_level if is_new],
            missing_required_keys={f"{t}.{f}": n for t, f, n in missing},
            examples=examples,
        ),
    )


def quarantine_result(con, partition: str, thresholds) -> dg.AssetCheckResult:
    params = {"partition": partition}
    files, lines_read, blank, quarantined, quarantined_files = con.execute(
        "SELECT count(*), coalesce(sum(lines_read), 0), coalesce(sum(blank_lines), 0), "
        "coalesce(sum(lines_quarantined), 0), count(*) FILTER (WHERE file_status <> 'loaded') "
        "FROM raw.ingest_files WHERE delivery_date = $partition::DATE",
        params,
    ).fetchone()
    reasons = dict(
        con.execute(
            "SELECT reason, count(*) FROM raw.quarantine WHERE delivery_date = $partition::DATE "
            "GROUP BY 1 ORDER BY 2 DESC, 1",
            params,
        ).fetchall()
    )
    examples = [
        f"{f}:{line if line is not None else 'file'} ({reason})"
        for f, line, reason in con.execute(
            "SELECT source_file, line_number, reason FROM raw.quarantine WHERE delivery_date = $partition::DATE "
            "ORDER BY source_file, line_number NULLS FIRST LIMIT $n",
            {**params, "n": thresholds.example_keys},
        ).fetchall()
    ]
    content_lines = lines_read - blank
    quarantine_rate = rate(quarantined, content_lines)
    passed = quarantine_rate <= thresholds.quarantine_max_rate and quarantined_files == 0
    return dg.AssetCheckResult(
        check_name=QUARANTINE_CHECK.name,
        asset_key=RAW_QUARANTINE,
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{quarantined} of {content_lines} non-blank lines quarantined ({quarantine_rate:.2%}), "
        f"{quarantined_files} whole file(s); threshold {thresholds.quarantine_max_rate:.2%}",
        metadata=check_metadata(
            kind="ingest",
            category=TRAIL_COMPLETENESS,
            partition=partition,
            observed=quarantine_rate,
            threshold=thresholds.quarantine_max_rate,
            threshold_key="ingest.quarantine_max_rate",
            sql=f"SELECT * FROM raw.quarantine WHERE delivery_date = {date_literal(partition)}\n"
            "ORDER BY source_file, line_number;",
            files=files,
            non_blank_lines=content_lines,
            breach_count=quarantined,
            breach_rate=float(quarantine_rate),
            quarantined_files=quarantined_files,
            quarantined_by_reason=reasons,
            examples=examples,
        ),
    )


@dg.multi_asset_check(
    specs=RAW_CHECK_SPECS,
    name="raw_zone_checks",
    description="Schema contract (blocking), schema drift and quarantine rate of the partition's raw rows.",
    can_subset=True,
    op_tags=CHECK_OP_TAGS,
    pool="duckdb_writer",
)
def raw_zone_checks(context: dg.AssetCheckExecutionContext, warehouse: DuckDBResource):
    partition = context.partition_key
    selected = {check_key.name for check_key in context.selected_asset_check_keys}
    thresholds = load_thresholds()
    with warehouse_connection(warehouse) as con:
        ready = all(table_exists(con, "raw", table) for table in RAW_CONTRACT)
        if CONTRACT_CHECK.name in selected:
            yield contract_result(con, partition)
        for spec, evaluate in ((DRIFT_CHECK, drift_result), (QUARANTINE_CHECK, quarantine_result)):
            if spec.name not in selected:
                continue
            if ready:
                yield evaluate(con, partition, thresholds)
            else:  # the contract check reports which table is missing
                yield dg.AssetCheckResult(
                    check_name=spec.name,
                    asset_key=spec.asset_key,
                    passed=False,
                    severity=dg.AssetCheckSeverity.ERROR,
                    description="raw tables missing: see schema_contract",
                    metadata={"partition": partition},
                )
