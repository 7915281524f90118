"""The v1 JSON Schema (trace_platform/schemas/agent-trace-event-v1.schema.json).

The schema's top level is the envelope, which is what ingestion enforces; `$defs/strict_event`
adds the documented payloads, which are advisory. Checked here: the schema is valid, every event
type's documented example passes both, each envelope rule rejects, payload departures fail only
the strict variant, and the envelope schema agrees line by line with the real ingestion
(parse_lines.sql) — with the few differences documented in docs/trace-format.md pinned down.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from tests.ingest_support import DROP, event, ingest, line, query, write_lines

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = ROOT / "trace_platform" / "schemas" / "agent-trace-event-v1.schema.json"
PARSE_LINES_SQL = ROOT / "trace_platform" / "defs" / "ingest" / "sql" / "parse_lines.sql"
FORMAT_DOC = ROOT / "docs" / "trace-format.md"
DAY = "2026-11-20"

SCHEMA = json.loads(SCHEMA_PATH.read_text())
ENVELOPE = Draft202012Validator(SCHEMA)
STRICT = Draft202012Validator(
    {"$ref": f"{SCHEMA['$id']}#/$defs/strict_event"},
    registry=Registry().with_resource(SCHEMA["$id"], Resource.from_contents(SCHEMA)),
)

EVENT_TYPES = (
    "user_request",
    "plan",
    "model_call",
    "tool_selection",
    "tool_call",
    "tool_result",
    "policy_check",
    "confirmation_request",
    "confirmation_response",
    "side_effect",
    "rollback",
    "error",
    "final_result",
    "feedback",
)

# One documented payload per event type, every documented field present.
FULL_PAYLOADS: dict[str, dict] = {
    "user_request": {
        "text": "Refund order 42, it arrived broken",
        "intent": "refund_order",
        "channel": "web",
    },
    "plan": {"steps": ["look up order 42", "refund order 42"], "reasoning": "order is eligible for a refund"},
    "model_call": {
        "provider": "openai",
        "model": "gpt-x",
        "model_version": "2026-01-01",
        "purpose": "planning",
        "input_tokens": 812,
        "output_tokens": 64,
        "latency_ms": 431.5,
        "finish_reason": "stop",
        "status": "ok",
    },
    "tool_selection": {
        "tool_call_id": "c1",
        "tool_name": "refund_order",
        "candidates": ["refund_order", "lookup_order"],
        "rationale": "user asked for a refund",
    },
    "tool_call": {
        "tool_call_id": "c1",
        "tool_name": "refund_order",
        "tool_version": "2.3.0",
        "arguments": {"order_id": 42, "amount": 19.99},
        "access": "state_changing",
        "mode": "execute",
        "attempt": 1,
        "retry_of": None,
        "requires_confirmation": True,
    },
    "tool_result": {"tool_call_id": "c1", "status": "ok", "output": {"refund_id": "rf-7"}, "latency_ms": 120},
    "policy_check": {
        "check_id": "chk-1",
        "tool_call_id": "c1",
        "policy": "refunds@3",
        "permission": "orders:write",
        "principal": "u1",
        "decision": "require_confirmation",
        "reason": "amount above auto limit",
    },
    "confirmation_request": {
        "confirmation_id": "conf-1",
        "tool_call_id": "c1",
        "prompt": "Refund 19.99 for order 42?",
        "arguments": {"order_id": 42, "amount": 19.99},
    },
    "confirmation_response": {
        "confirmation_id": "conf-1",
        "tool_call_id": "c1",
        "decision": "approved",
        "responder": "u1",
    },
    "side_effect": {
        "tool_call_id": "c1",
        "resource_type": "refund",
        "resource_id": "rf-7",
        "operation": "create",
        "reversible": True,
        "rollback_ref": "cancel-refund:rf-7",
    },
    "rollback": {
        "tool_call_id": "c1",
        "resource_type": "refund",
        "resource_id": "rf-7",
        "status": "ok",
        "reason": "user changed their mind",
    },
    "error": {
        "error_type": "tool_timeout",
        "message": "refund service did not answer",
        "recoverable": True,
        "tool_call_id": "c1",
    },
    "final_result": {"status": "success", "output": "Your refund of 19.99 is on its way."},
    "feedback": {"rating": 1, "comment": "quick and correct"},
}

# Further documented shapes: optional fields left out, other enum values, retries, errors.
MORE_PAYLOADS: list[tuple[str, dict]] = [
    ("user_request", {"text": "hi"}),
    ("plan", {"steps": []}),
    (
        "model_call",
        {
            **FULL_PAYLOADS["model_call"],
            "purpose": "other",
            "status": "error",
            "output_tokens": 0,
            "error": {"type": "rate_limited", "message": "429"},
        },
    ),
    ("tool_selection", {"tool_call_id": "c2", "tool_name": "lookup_order", "candidates": []}),
    (
        "tool_call",
        {
            "tool_call_id": "c2",
            "tool_name": "lookup_order",
            "arguments": {},
            "access": "read_only",
            "mode": "suggest",
            "attempt": 1,
            "retry_of": None,
            "requires_confirmation": False,
        },
    ),
    ("tool_call", {**FULL_PAYLOADS["tool_call"], "tool_call_id": "c1-r2", "attempt": 2, "retry_of": "c1"}),
    (
        "tool_result",
        {
            "tool_call_id": "c1",
            "status": "timeout",
            "output": None,
            "latency_ms": 30000,
            "error": {"type": "timeout", "message": "no answer in 30 s"},
        },
    ),
    (
        "tool_result",
        {
            "tool_call_id": "c1",
            "status": "denied",
            "output": "policy",
            "latency_ms": 0,
            "error": {"type": "denied", "message": "deny"},
        },
    ),
    ("policy_check", {**FULL_PAYLOADS["policy_check"], "decision": "deny"}),
    ("confirmation_request", {"confirmation_id": "conf-2", "tool_call_id": "c1", "prompt": "Go ahead?"}),
    (
        "confirmation_request",
        {"confirmation_id": "conf-3", "tool_call_id": "c1", "prompt": "Go?", "arguments": None},
    ),
    ("confirmation_response", {**FULL_PAYLOADS["confirmation_response"], "decision": "expired"}),
    (
        "side_effect",
        {
            "tool_call_id": "c1",
            "resource_type": "email",
            "resource_id": "msg-1",
            "operation": "send",
            "reversible": False,
        },
    ),
    ("rollback", {**FULL_PAYLOADS["rollback"], "status": "error"}),
    ("error", {"error_type": "planner", "message": "no plan", "recoverable": False}),
    ("final_result", {"status": "abandoned", "output": ""}),
    ("feedback", {"rating": -1}),
    ("feedback", {"rating": 0, "comment": ""}),
]

# Envelope-valid events whose payload departs from the documented shape: ingestion loads them
# (the audit models report what matters), the strict variant rejects them.
PAYLOAD_DEPARTURES: list[tuple[str, str, dict]] = [
    ("empty_payload", "tool_call", {}),
    ("user_request_no_text", "user_request", {"intent": "refund_order"}),
    ("plan_steps_not_array", "plan", {"steps": "look up order"}),
    (
        "model_call_no_model_version",
        "model_call",
        {k: v for k, v in FULL_PAYLOADS["model_call"].items() if k != "model_version"},
    ),
    ("model_call_blank_model", "model_call", {**FULL_PAYLOADS["model_call"], "model": "  "}),
    ("model_call_bad_purpose", "model_call", {**FULL_PAYLOADS["model_call"], "purpose": "chat"}),
    ("model_call_negative_tokens", "model_call", {**FULL_PAYLOADS["model_call"], "input_tokens": -1}),
    ("tool_call_bad_access", "tool_call", {**FULL_PAYLOADS["tool_call"], "access": "write"}),
    ("tool_call_attempt_0", "tool_call", {**FULL_PAYLOADS["tool_call"], "attempt": 0}),
    ("tool_call_retry_without_retry_of", "tool_call", {**FULL_PAYLOADS["tool_call"], "attempt": 2}),
    ("tool_call_first_attempt_with_retry_of", "tool_call", {**FULL_PAYLOADS["tool_call"], "retry_of": "c0"}),
    ("tool_call_arguments_not_object", "tool_call", {**FULL_PAYLOADS["tool_call"], "arguments": [42]}),
    (
        "tool_call_confirmation_flag_not_boolean",
        "tool_call",
        {**FULL_PAYLOADS["tool_call"], "requires_confirmation": "yes"},
    ),
    ("tool_result_error_without_error", "tool_result", {**FULL_PAYLOADS["tool_result"], "status": "error"}),
    (
        "policy_check_policy_without_version",
        "policy_check",
        {**FULL_PAYLOADS["policy_check"], "policy": "refunds"},
    ),
    ("error_recoverable_not_boolean", "error", {**FULL_PAYLOADS["error"], "recoverable": "no"}),
    # the closed fields left out or null: loaded (the audit reports what is missing)
    ("tool_result_without_status", "tool_result", {"tool_call_id": "c1", "output": None, "latency_ms": 1}),
    ("tool_call_mode_null", "tool_call", {**FULL_PAYLOADS["tool_call"], "mode": None}),
    ("feedback_rating_null", "feedback", {"rating": None}),
    # the two closed fields the warehouse maps instead of quarantining ('other' / 'unknown')
    (
        "model_call_bad_purpose_secret",
        "model_call",
        {**FULL_PAYLOADS["model_call"], "purpose": "sk-live-abc"},
    ),
    ("tool_call_access_number", "tool_call", {**FULL_PAYLOADS["tool_call"], "access": 1}),
]

# Envelope-valid events whose closed payload field (docs/trace-format.md, "Closed payload fields")
# holds a value outside its set: ingestion quarantines them with the reason, both schemas reject.
PAYLOAD_VALUE_BREACHES: list[tuple[str, str, dict, str]] = [
    (
        "model_call_bad_status",
        "model_call",
        {**FULL_PAYLOADS["model_call"], "status": "failed"},
        "bad_value:model_call.status",
    ),
    (
        "tool_call_bad_mode",
        "tool_call",
        {**FULL_PAYLOADS["tool_call"], "mode": "run"},
        "bad_value:tool_call.mode",
    ),
    (
        "tool_call_mode_wrong_case",
        "tool_call",
        {**FULL_PAYLOADS["tool_call"], "mode": "Execute"},
        "bad_value:tool_call.mode",
    ),
    (
        "tool_result_bad_status",
        "tool_result",
        {**FULL_PAYLOADS["tool_result"], "status": "failed"},
        "bad_value:tool_result.status",
    ),
    (
        "tool_result_status_secret",
        "tool_result",
        {**FULL_PAYLOADS["tool_result"], "status": "https://admin:hunter2@db.example.com"},
        "bad_value:tool_result.status",
    ),
    (
        "tool_result_status_empty",
        "tool_result",
        {**FULL_PAYLOADS["tool_result"], "status": ""},
        "bad_value:tool_result.status",
    ),
    (
        "tool_result_status_array",
        "tool_result",
        {**FULL_PAYLOADS["tool_result"], "status": ["ok"]},
        "bad_value:tool_result.status",
    ),
    (
        "tool_result_status_object",
        "tool_result",
        {**FULL_PAYLOADS["tool_result"], "status": {"ok": True}},
        "bad_value:tool_result.status",
    ),
    (
        "policy_check_bad_decision",
        "policy_check",
        {**FULL_PAYLOADS["policy_check"], "decision": "maybe"},
        "bad_value:policy_check.decision",
    ),
    (
        "policy_check_decision_boolean",
        "policy_check",
        {**FULL_PAYLOADS["policy_check"], "decision": True},
        "bad_value:policy_check.decision",
    ),
    (
        "confirmation_response_bad_decision",
        "confirmation_response",
        {**FULL_PAYLOADS["confirmation_response"], "decision": "yes"},
        "bad_value:confirmation_response.decision",
    ),
    (
        "side_effect_bad_operation",
        "side_effect",
        {**FULL_PAYLOADS["side_effect"], "operation": "upsert"},
        "bad_value:side_effect.operation",
    ),
    (
        "rollback_bad_status",
        "rollback",
        {**FULL_PAYLOADS["rollback"], "status": "partial"},
        "bad_value:rollback.status",
    ),
    (
        "final_result_bad_status",
        "final_result",
        {"status": "done", "output": "ok"},
        "bad_value:final_result.status",
    ),
    (
        "final_result_status_number",
        "final_result",
        {"status": 1, "output": "ok"},
        "bad_value:final_result.status",
    ),
    ("feedback_rating_2", "feedback", {"rating": 2}, "bad_value:feedback.rating"),
    ("feedback_rating_fraction", "feedback", {"rating": 0.5}, "bad_value:feedback.rating"),
    ("feedback_rating_string", "feedback", {"rating": "1"}, "bad_value:feedback.rating"),
    ("feedback_rating_boolean", "feedback", {"rating": True}, "bad_value:feedback.rating"),
    ("feedback_rating_card_number", "feedback", {"rating": 4111111111111111}, "bad_value:feedback.rating"),
]

# Closed fields written in other JSON spellings of a valid value: loaded, and valid for both schemas.
PAYLOAD_VALUE_SPELLINGS: list[tuple[str, str]] = [
    (
        "feedback_rating_1.0",
        line(event("SPELL", event_type="feedback", payload={"rating": 1})).replace(
            '"rating":1', '"rating":1.0'
        ),
    ),
    (
        "feedback_rating_minus_0",
        line(event("SPELL", event_type="feedback", payload={"rating": 0})).replace(
            '"rating":0', '"rating":-0'
        ),
    ),
    (
        "feedback_rating_1e0",
        line(event("SPELL", event_type="feedback", payload={"rating": 1})).replace(
            '"rating":1', '"rating":1e0'
        ),
    ),
    (
        "tool_call_mode_escaped",
        line(event("SPELL", event_type="tool_call", payload=FULL_PAYLOADS["tool_call"])).replace(
            '"mode":"execute"', '"mode":"exec\\u0075te"'
        ),
    ),
]

# (name, event) pairs breaking exactly one envelope rule; ingestion quarantines each.
ENVELOPE_BREACHES: list[tuple[str, dict]] = [
    *[
        (f"missing_{f}", event(**{f: DROP}))
        for f in (
            "schema_version",
            "event_id",
            "event_type",
            "timestamp",
            "trace_id",
            "span_id",
            "sequence",
            "tenant_id",
            "agent",
            "payload",
        )
    ],
    ("missing_agent.name", event(agent={"version": "1.0.0"})),
    ("missing_agent.version", event(agent={"name": "support-bot"})),
    ("schema_version_number", event(schema_version=1)),
    ("schema_version_2", event(schema_version="2")),
    ("schema_version_1.0", event(schema_version="1.0")),
    ("event_id_number", event(event_id=7)),
    ("event_id_null", event(event_id=None)),
    ("event_id_empty", event(event_id="")),
    ("event_id_129_chars", event(event_id="x" * 129)),
    ("event_id_129_code_points", event(event_id="\U0001f600" * 129)),
    ("event_type_null", event(event_type=None)),
    ("event_type_unknown", event(event_type="telepathy")),
    ("event_type_wrong_case", event(event_type="Plan")),
    ("timestamp_number", event(timestamp=1763600400)),
    ("timestamp_without_offset", event(timestamp="2026-11-20T01:00:00")),
    ("timestamp_space_separator", event(timestamp="2026-11-20 01:00:00Z")),
    ("timestamp_without_seconds", event(timestamp="2026-11-20T01:00Z")),
    ("timestamp_offset_without_colon", event(timestamp="2026-11-20T01:00:00+0100")),
    ("timestamp_empty_fraction", event(timestamp="2026-11-20T01:00:00.Z")),
    ("timestamp_feb_30", event(timestamp="2026-02-30T01:00:00Z")),
    ("timestamp_feb_29_common_year", event(timestamp="2023-02-29T01:00:00Z")),
    ("timestamp_feb_29_1900", event(timestamp="1900-02-29T01:00:00Z")),
    ("timestamp_apr_31", event(timestamp="2026-04-31T01:00:00Z")),
    ("timestamp_month_13", event(timestamp="2026-13-01T01:00:00Z")),
    ("timestamp_hour_25", event(timestamp="2026-11-20T25:00:00Z")),
    ("timestamp_minute_60", event(timestamp="2026-11-20T01:60:00Z")),
    ("timestamp_leap_second", event(timestamp="2026-12-31T23:59:60Z")),
    ("timestamp_non_ascii_digit", event(timestamp="2026-11-20T01:00:0\u0661Z")),
    ("timestamp_trailing_newline", event(timestamp="2026-11-20T01:00:00Z\n")),
    ("timestamp_leading_space", event(timestamp=" 2026-11-20T01:00:00Z")),
    ("timestamp_words", event(timestamp="yesterday")),
    ("trace_id_number", event(trace_id=1)),
    ("span_id_null", event(span_id=None)),
    ("parent_span_id_number", event(parent_span_id=5)),
    ("sequence_string", event(sequence="3")),
    ("sequence_fraction", event(sequence=1.5)),
    ("sequence_boolean", event(sequence=True)),
    ("sequence_null", event(sequence=None)),
    ("sequence_negative", event(sequence=-1)),
    ("sequence_beyond_bigint", event(sequence=2**63)),
    ("sequence_beyond_uint64", event(sequence=2**64)),
    ("session_id_object", event(session_id={})),
    ("tenant_id_null", event(tenant_id=None)),
    ("user_id_array", event(user_id=["u1"])),
    ("agent_string", event(agent="support-bot")),
    ("agent_null", event(agent=None)),
    ("agent_name_number", event(agent={"name": 1, "version": "1.0.0"})),
    ("agent_version_null", event(agent={"name": "support-bot", "version": None})),
    ("payload_array", event(payload=[])),
    ("payload_null", event(payload=None)),
    ("payload_string", event(payload="steps")),
    ("attributes_string", event(attributes="x")),
    ("attributes_array", event(attributes=[])),
    ("empty_object", {}),
]

# Envelope-valid variations beyond the per-type examples.
ENVELOPE_VARIANTS: list[tuple[str, dict]] = [
    ("optional_fields_absent", event(parent_span_id=DROP, session_id=DROP, user_id=DROP)),
    ("optional_fields_null", event(parent_span_id=None, session_id=None, user_id=None)),
    ("optional_fields_strings", event(parent_span_id="s0", session_id="sess-1", user_id="")),
    ("attributes_object", event(attributes={"k": [1, {"z": None}]})),
    ("attributes_null", event(attributes=None)),
    ("unknown_top_level_fields", event(x_custom={"a": 1}, **{"weird/key": 2})),
    ("agent_extra_keys", event(agent={"name": "support-bot", "version": "1.0.0", "build": "abc"})),
    ("empty_ids", event(trace_id="", span_id="", tenant_id="")),
    ("event_id_1_char", event(event_id="x")),
    ("event_id_128_chars", event(event_id="y" * 128)),
    ("event_id_128_code_points", event(event_id="\U0001f601" * 128)),
    ("event_id_combining_marks", event(event_id="e\u0301" * 64)),
    ("sequence_large", event(sequence=2**63 - 1)),
    ("timestamp_no_fraction", event(timestamp="2026-11-20T01:00:00Z")),
    ("timestamp_nanoseconds", event(timestamp="2026-11-20T01:00:00.123456789Z")),
    ("timestamp_lower_case", event(timestamp="2026-11-20t01:00:00.5z")),
    ("timestamp_positive_offset", event(timestamp="2026-11-20T03:00:00+02:00")),
    ("timestamp_negative_offset", event(timestamp="2026-11-19T20:30:00-05:30")),
    ("timestamp_max_offset", event(timestamp="2026-11-19T20:30:00-23:59")),
    ("timestamp_leap_day", event(timestamp="2024-02-29T23:59:59.999999Z")),
    ("timestamp_leap_day_2000", event(timestamp="2000-02-29T00:00:00Z")),
    ("timestamp_year_0000", event(timestamp="0000-01-01T00:00:00Z")),
    ("timestamp_year_9999", event(timestamp="9999-12-31T23:59:59Z")),
]

# Where the envelope schema and ingestion knowingly disagree (docs/trace-format.md, "JSON Schema").
# (name, raw line, ingestion's outcome: "loaded" or a quarantine reason, envelope schema verdict)
_BASE = line(event("KNOWN"))
KNOWN_DIFFERENCES: list[tuple[str, str, str, bool]] = [
    ("sequence_written_1.0", _BASE.replace('"sequence":0', '"sequence":1.0'), "bad_type:sequence", True),
    ("sequence_written_1e2", _BASE.replace('"sequence":0', '"sequence":1e2'), "bad_type:sequence", True),
    ("timestamp_hour_24", line(event("KNOWN", timestamp="2026-11-20T24:00:00Z")), "loaded", False),
    (
        "timestamp_offset_hour_24",
        line(event("KNOWN", timestamp="2026-11-20T01:00:00+24:00")),
        "loaded",
        False,
    ),
    (
        "timestamp_offset_minute_60",
        line(event("KNOWN", timestamp="2026-11-20T01:00:00+05:60")),
        "loaded",
        False,
    ),
    ("duplicate_key_last_is_bad", _BASE[:-1] + ',"sequence":-1}', "loaded", False),
    ("duplicate_key_first_is_bad", '{"sequence":-1,' + _BASE[1:], "bad_value:sequence", True),
    (
        "lone_surrogate_escape",
        line(event("KNOWN", payload={"text": "x"})).replace('"x"', '"\\ud800"'),
        "invalid_json",
        True,
    ),
]


def _typed(event_type: str, payload: dict, event_id: str = "e1") -> dict:
    return event(event_id, event_type=event_type, payload=payload)


def _strict_json(text: str):
    """RFC 8259 JSON only: Python's json also accepts NaN and Infinity, which are not JSON."""

    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


# The schema itself --------------------------------------------------------------------------------
def test_schema_is_a_valid_draft_2020_12_schema():
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(SCHEMA)
    assert ENVELOPE.is_valid(_typed("plan", FULL_PAYLOADS["plan"]))  # refs resolve
    assert STRICT.is_valid(_typed("plan", FULL_PAYLOADS["plan"]))


def test_schema_covers_every_event_type_once():
    assert tuple(SCHEMA["properties"]["event_type"]["enum"]) == EVENT_TYPES
    branches = SCHEMA["$defs"]["payload_by_event_type"]["allOf"]
    selected = [b["if"]["properties"]["event_type"]["const"] for b in branches]
    assert selected == list(EVENT_TYPES)
    for event_type, branch in zip(EVENT_TYPES, branches, strict=False):
        assert branch["then"]["properties"]["payload"]["$ref"] == f"#/$defs/{event_type}_payload"
        assert f"{event_type}_payload" in SCHEMA["$defs"]


def test_schema_says_payloads_are_advisory_except_the_closed_fields():
    assert "ADVISORY" in SCHEMA["description"] and "strict_event" in SCHEMA["description"]
    # the top level (what ingestion enforces) asks the payload to be an object, and the closed
    # payload fields to hold one of their values (absent or null allowed)
    assert SCHEMA["properties"]["payload"]["type"] == "object"
    assert set(SCHEMA["properties"]["payload"]) <= {"description", "$comment", "type"}
    assert SCHEMA["allOf"] == [{"$ref": "#/$defs/closed_payload_values"}]
    assert not {"anyOf", "oneOf", "if", "then", "else", "$ref"} & set(SCHEMA)
    closed = {}
    for branch in SCHEMA["$defs"]["closed_payload_values"]["allOf"]:
        ((field, rule),) = branch["then"]["properties"]["payload"]["properties"].items()
        closed[f"{branch['if']['properties']['event_type']['const']}.{field}"] = rule["enum"]
    # the same sets as the advisory payload shapes, plus null
    for name, values in closed.items():
        event_type, field = name.split(".")
        assert values == [*SCHEMA["$defs"][f"{event_type}_payload"]["properties"][field]["enum"], None], name
    # and exactly the reasons parse_lines.sql can give for them
    assert {f"bad_value:{n}" for n in closed} == {
        c
        for c in _envelope_reason_codes()
        if c.startswith("bad_value:") and not c.endswith(("event_id", "sequence"))
    }


# Valid events -----------------------------------------------------------------------------------
@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_documented_event_of_every_type_is_valid(event_type):
    ev = _typed(event_type, FULL_PAYLOADS[event_type])
    assert list(ENVELOPE.iter_errors(ev)) == []
    assert list(STRICT.iter_errors(ev)) == []


@pytest.mark.parametrize(
    ("event_type", "payload"), MORE_PAYLOADS, ids=[f"{t}-{i}" for i, (t, _) in enumerate(MORE_PAYLOADS)]
)
def test_further_documented_shapes_are_valid(event_type, payload):
    ev = _typed(event_type, payload)
    assert list(ENVELOPE.iter_errors(ev)) == []
    assert list(STRICT.iter_errors(ev)) == []


@pytest.mark.parametrize(("name", "ev"), ENVELOPE_VARIANTS, ids=[n for n, _ in ENVELOPE_VARIANTS])
def test_envelope_variants_are_valid(name, ev):
    assert list(ENVELOPE.iter_errors(ev)) == []
    assert list(STRICT.iter_errors(ev)) == []


def test_every_example_line_in_the_format_doc_is_a_strictly_valid_event():
    examples = []
    for block in re.findall(r"```json\n(.*?)```", FORMAT_DOC.read_text(), flags=re.S):
        examples += [json.loads(text) for text in block.splitlines() if text.startswith("{")]
    assert {ev["event_type"] for ev in examples} == set(EVENT_TYPES)
    for ev in examples:
        assert list(STRICT.iter_errors(ev)) == [], ev


# Invalid events ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "ev"), ENVELOPE_BREACHES, ids=[n for n, _ in ENVELOPE_BREACHES])
def test_envelope_breach_is_rejected(name, ev):
    assert not ENVELOPE.is_valid(ev)
    assert not STRICT.is_valid(ev)


@pytest.mark.parametrize("value", [[], "event", 1, None, True])
def test_non_object_is_rejected(value):
    assert not ENVELOPE.is_valid(value)


@pytest.mark.parametrize(
    ("name", "event_type", "payload"), PAYLOAD_DEPARTURES, ids=[n for n, _, _ in PAYLOAD_DEPARTURES]
)
def test_payload_departure_fails_only_the_strict_schema(name, event_type, payload):
    ev = _typed(event_type, payload)
    assert ENVELOPE.is_valid(ev)
    errors = list(STRICT.iter_errors(ev))
    assert errors, "the strict schema should reject this payload"


@pytest.mark.parametrize(
    ("name", "event_type", "payload", "reason"),
    PAYLOAD_VALUE_BREACHES,
    ids=[n for n, _, _, _ in PAYLOAD_VALUE_BREACHES],
)
def test_closed_payload_value_breach_fails_both_schemas(name, event_type, payload, reason):
    ev = _typed(event_type, payload)
    assert not ENVELOPE.is_valid(ev)
    assert not STRICT.is_valid(ev)


def test_closed_payload_value_breaches_are_quarantined_with_their_reason(tmp_path):
    lines = [line(_typed(t, p, f"breach-{i}")) for i, (_, t, p, _) in enumerate(PAYLOAD_VALUE_BREACHES)]
    lines += [text.replace('"SPELL"', f'"spell-{i}"') for i, (_, text) in enumerate(PAYLOAD_VALUE_SPELLINGS)]
    outcome, report = _ingest_lines(tmp_path, lines)
    expected = [reason for _, _, _, reason in PAYLOAD_VALUE_BREACHES] + ["loaded"] * len(
        PAYLOAD_VALUE_SPELLINGS
    )
    assert [outcome[n] for n in range(1, len(lines) + 1)] == expected
    assert report.lines_read == report.events_loaded + report.lines_quarantined
    for name, text in PAYLOAD_VALUE_SPELLINGS:
        assert ENVELOPE.is_valid(json.loads(text)) and STRICT.is_valid(json.loads(text)), name


# Agreement with the real ingestion --------------------------------------------------------------
def _envelope_reason_codes() -> set[str]:
    """Every per-line reason code parse_lines.sql can produce for a JSON value."""
    codes = set(re.findall(r"THEN '([a-z_.:]+)'", PARSE_LINES_SQL.read_text()))
    return codes - {"blank", "valid", "quarantined", "invalid_json"}


def _corpus() -> list[tuple[str, str]]:
    """(name, line) pairs, each line a JSON value with its own event_id (no dedupe in play)."""
    items: list[tuple[str, object]] = []
    items += [(f"valid_{t}", _typed(t, FULL_PAYLOADS[t])) for t in EVENT_TYPES]
    items += [(f"valid_{t}_{i}", _typed(t, p)) for i, (t, p) in enumerate(MORE_PAYLOADS)]
    items += [(f"payload_departure_{n}", _typed(t, p)) for n, t, p in PAYLOAD_DEPARTURES]
    items += [(f"payload_value_breach_{n}", _typed(t, p)) for n, t, p, _ in PAYLOAD_VALUE_BREACHES]
    items += ENVELOPE_VARIANTS
    items += ENVELOPE_BREACHES
    items += [
        ("array", []),
        ("array_of_event", [event()]),
        ("string", "event"),
        ("number", 1),
        ("null", None),
        ("boolean", True),
    ]
    corpus = []
    for name, value in items:
        if isinstance(value, dict) and isinstance(value.get("event_id"), str) and name not in _KEEP_EVENT_ID:
            value = {**value, "event_id": name}  # names are unique
        corpus.append((name, line(value)))
    return corpus


# Lines whose event_id is the point of the test: kept verbatim (they are unique in the corpus).
_KEEP_EVENT_ID = {
    "event_id_empty",
    "event_id_129_chars",
    "event_id_129_code_points",
    "event_id_1_char",
    "event_id_128_chars",
    "event_id_128_code_points",
    "event_id_combining_marks",
}


def _ingest_lines(tmp_path: Path, lines: list[str]) -> tuple[dict[int, str], object]:
    """Ingests the lines as one landing file; returns {line_number: 'loaded' or reason}."""
    landing, db = tmp_path / "landing", tmp_path / "wh.duckdb"
    write_lines(landing, DAY, "corpus.jsonl", lines)
    report = ingest(db, landing, DAY)
    outcome = {n: "loaded" for (n,) in query(db, "SELECT line_number FROM raw.trace_events")}
    for n, reason in query(db, "SELECT line_number, reason FROM raw.quarantine"):
        assert n not in outcome
        outcome[n] = reason
    return outcome, report


def test_envelope_schema_accepts_exactly_what_ingestion_loads(tmp_path):
    corpus = _corpus()
    names = [n for n, _ in corpus]
    assert len(set(names)) == len(names)
    outcome, report = _ingest_lines(tmp_path, [text for _, text in corpus])
    assert report.duplicates_dropped == 0 and report.blank_lines == 0
    assert sorted(outcome) == list(range(1, len(corpus) + 1))

    disagreements = []
    for number, (name, text) in enumerate(corpus, start=1):
        value = _strict_json(text)
        schema_says = ENVELOPE.is_valid(value)
        if schema_says != (outcome[number] == "loaded"):
            errors = [e.message for e in ENVELOPE.iter_errors(value)][:2]
            disagreements.append(
                f"line {number} {name}: ingestion {outcome[number]}, schema {schema_says} {errors}"
            )
    assert disagreements == []

    # the corpus exercises every envelope reason code ingestion has
    assert _envelope_reason_codes() <= set(outcome.values()), _envelope_reason_codes() - set(outcome.values())
    # and every event type loads
    loaded_types = {
        _strict_json(text).get("event_type")
        for n, (_, text) in enumerate(corpus, start=1)
        if outcome[n] == "loaded"
    }
    assert set(EVENT_TYPES) <= loaded_types


def test_known_differences_between_schema_and_ingestion(tmp_path):
    """Pinned on purpose: each is explained in docs/trace-format.md. When one of these starts to
    fail, ingestion or the schema changed: update the doc's list (and this one)."""
    lines = [
        text.replace('"KNOWN"', f'"known-{i}"', 1) for i, (_, text, _, _) in enumerate(KNOWN_DIFFERENCES)
    ]
    outcome, _ = _ingest_lines(tmp_path, lines)
    for number, ((name, _, expected_outcome, schema_says), text) in enumerate(
        zip(KNOWN_DIFFERENCES, lines, strict=False), 1
    ):
        assert outcome[number] == expected_outcome, name
        assert ENVELOPE.is_valid(json.loads(text)) is schema_says, name
