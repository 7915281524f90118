"""OTLP/JSON as real frameworks export it (docs/otlp.md), through the real loader and the dbt project.

The fixtures in tests/fixtures/otlp/frameworks/ imitate, file by file, Pydantic AI through Logfire,
the Vercel AI SDK (JavaScript exporter), Google ADK, Strands Agents (protobuf JSON mapping), the
OpenAI Agents SDK through OpenInference, OpenLLMetry, and the edge cases of OTLP/JSON itself
(generate.py writes them). Every span must be loaded or quarantined with a reason, and the model
calls, tool calls (names and arguments), tokens and errors must reach the marts.
"""

from __future__ import annotations

import json

import pytest
from dbt_support import load_and_build, rows

from tests.ingest_support import ingest, query
from tests.otlp_support import DAY, copy_fixture
from trace_platform.defs.ingest.loader import read_sql

FILES = (
    "pydantic_ai_logfire.jsonl",
    "vercel_ai_sdk.jsonl",
    "google_adk.jsonl",
    "strands_agents.jsonl",
    "openai_agents_openinference.jsonl",
    "openllmetry_traceloop.jsonl",
    "edge_cases.jsonl",
)
PYD2, PYD1 = "1f0e2d3c4b5a69788796a5b4c3d2e1f0", "2f0e2d3c4b5a69788796a5b4c3d2e1f0"
VERCEL4, VERCEL5 = "3c1d2e3f40516273849506172839aabb", "4c1d2e3f40516273849506172839aabb"
ADK, ADK_ERR = "5d1e2f30415263748596a7b8c9d0e1f2", "6d1e2f30415263748596a7b8c9d0e1f2"
STRANDS, STRANDS_ERR = (
    "7a1b2c3d4e5f60718293a4b5c6d7e8f9",
    "8a1b2c3d4e5f60718293a4b5c6d7e8f9",
)  # base64 in the file
OAI = "9e8d7c6b5a4938271605f4e3d2c1b0a9"  # upper case in the file
TLOOP, TLOOP_ERR = "aa1b2c3d4e5f60718293a4b5c6d7e8f0", "ab1b2c3d4e5f60718293a4b5c6d7e8f0"
EDGE, ORPHAN, EDGE_BAD = (
    "cc000000000000000000000000000001",
    "cc000000000000000000000000000002",
    "cc000000000000000000000000000003",
)


def _landing(root):
    landing = root / "landing"
    for name in FILES:
        copy_fixture(landing, DAY, "frameworks/" + name)
    return landing


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    root = tmp_path_factory.mktemp("otlp_frameworks")
    report = ingest(root / "wh.duckdb", _landing(root), DAY)
    return root / "wh.duckdb", report


def events(db, trace_id, event_type=None):
    sql = "SELECT event_type, payload FROM raw.trace_events WHERE trace_id = ?"
    params = [trace_id]
    if event_type:
        sql += " AND event_type = ?"
        params.append(event_type)
    return [(k, json.loads(p)) for k, p in query(db[0], sql + " ORDER BY sequence", params)]


def kinds(db, trace_id):
    return [k for k, _ in events(db, trace_id)]


def by_call(db, trace_id, event_type):
    found = [p for _, p in events(db, trace_id, event_type)]
    out = {p["tool_call_id"]: p for p in found}
    assert len(out) == len(found), f"one {event_type} per call: {found}"
    return out


def test_every_span_and_log_record_is_loaded_or_quarantined_with_a_reason(db):
    path, report = db
    checks = query(path, read_sql("check_r9.sql"), {"partition": DAY})
    assert [r[0] for r in checks] == sorted(f"otlp/{DAY}/{n}" for n in FILES) and all(
        r[-1] for r in checks
    ), checks
    stats = {
        r[0].rsplit("/", 1)[1]: r[1:]
        for r in query(
            path,
            (
                "SELECT source_file, requests, spans, spans_quarantined, log_records, log_records_quarantined, records_mapped "
                "FROM raw.otlp_ingest_files"
            ),
        )
    }
    assert stats == {
        "pydantic_ai_logfire.jsonl": (3, 11, 0, 2, 0, 13),
        "vercel_ai_sdk.jsonl": (2, 8, 0, 0, 0, 8),
        "google_adk.jsonl": (2, 11, 0, 0, 0, 11),
        "strands_agents.jsonl": (2, 9, 0, 0, 0, 9),
        "openai_agents_openinference.jsonl": (1, 7, 0, 0, 0, 7),
        "openllmetry_traceloop.jsonl": (2, 6, 0, 0, 0, 6),
        "edge_cases.jsonl": (5, 8, 2, 2, 1, 7),
    }
    assert (
        report.lines_read
        == report.blank_lines + report.events_loaded + report.duplicates_dropped + report.lines_quarantined
    )
    quarantined = query(
        path,
        "SELECT line_number, reason, json_extract_string(raw_line, '$.path') FROM raw.quarantine "
        "ORDER BY 1, 3",
    )
    assert quarantined == [
        (4, "otlp_bad_span:span_id", "resourceSpans[0].scopeSpans[0].spans[0]"),  # no spanId
        (4, "otlp_bad_span:start_time", "resourceSpans[0].scopeSpans[0].spans[1]"),  # "yesterday"
        (4, "otlp_bad_attribute:unknown_value_type", "resourceSpans[0].scopeSpans[0].spans[2].attributes[1]"),
        (4, "otlp_bad_attribute:key", "resourceSpans[0].scopeSpans[0].spans[2].attributes[3]"),
        (5, "not_an_object", None),  # 42
        (6, "not_an_object", None),  # a JSON string
        (7, "otlp_bad_log_record:no_trace_context", "resourceLogs[0].scopeLogs[0].logRecords[0]"),
    ]
    # the resource-only request is a blank item; the bad spans' sibling loads
    assert query(
        path, "SELECT blank_lines FROM raw.ingest_files WHERE source_file LIKE '%edge_cases.jsonl'"
    ) == [(1,)]
    assert kinds(db, EDGE_BAD) == ["user_request", "final_result"]


def test_pydantic_ai_logfire(db):
    # instrumentation v2: gen_ai.output.messages, and the same call again in the gen_ai.choice log record
    assert kinds(db, PYD2) == [
        "user_request",
        "plan",
        "model_call",
        "plan",
        "tool_selection",
        "plan",
        "tool_call",
        "tool_result",
        "model_call",
        "final_result",
    ]
    calls = by_call(db, PYD2, "tool_call")
    assert calls == {
        "call_pyd_1": {
            "tool_call_id": "call_pyd_1",
            "tool_name": "get_weather",
            "tool_version": None,
            "arguments": {"city": "Paris", "unit": "celsius"},
            "access": "unknown",
            "mode": "execute",
            "attempt": 1,
            "retry_of": None,
            "requires_confirmation": False,
        }
    }
    assert by_call(db, PYD2, "tool_result")["call_pyd_1"]["output"] == {"temp_c": 21, "sky": "sunny"}
    models = [p for _, p in events(db, PYD2, "model_call")]
    assert [
        (m["provider"], m["model"], m["model_version"], m["input_tokens"], m["output_tokens"], m["purpose"])
        for m in models
    ] == [
        ("openai", "gpt-4o", "gpt-4o-2024-08-06", 120, 18, "tool_selection"),
        ("openai", "gpt-4o", "gpt-4o-2024-08-06", 111, 22, "other"),
    ]
    assert events(db, PYD2, "user_request")[0][1]["text"] == "What's the weather in Paris?"
    assert events(db, PYD2, "final_result")[0][1] == {
        "status": "success",
        "output": "It is 21 °C and sunny in Paris ☀️",
    }
    # v1: the messages in a JSON `events` attribute; the history's assistant message is not a new request
    selections = [p for _, p in events(db, PYD1, "tool_selection")]
    assert [(p["tool_call_id"], p["tool_name"]) for p in selections] == [
        ("call_fx_1", "convert_currency"),
        ("call_fx_2", "convert_currency"),
    ]
    calls = by_call(db, PYD1, "tool_call")
    assert {k: (v["mode"], v["arguments"]) for k, v in calls.items()} == {
        "call_fx_1": ("execute", {"amount": 100, "from": "USD", "to": "EUR"}),
        "call_fx_2": ("execute", {"amount": 100, "from": "USD", "to": "EUR"}),
    }
    results = by_call(db, PYD1, "tool_result")
    assert (results["call_fx_1"]["status"], results["call_fx_1"]["error"]["type"]) == ("error", "ValueError")
    assert [p for _, p in events(db, PYD1, "error")] == [
        {
            "error_type": "ValueError",
            "message": "rates service unavailable",
            "recoverable": None,
            "tool_call_id": "call_fx_1",
        }
    ]
    assert events(db, PYD1, "user_request")[0][1]["text"] == "Convert 100 USD to EUR"
    assert query(
        db[0],
        "SELECT DISTINCT trace_id, agent_name, tenant_id FROM raw.trace_events WHERE trace_id IN (?, ?) "
        "ORDER BY 1",
        [PYD1, PYD2],
    ) == [(PYD2, "weather_agent", "initech"), (PYD1, "fx_agent", "initech")]


def test_vercel_ai_sdk(db):
    assert kinds(db, VERCEL4) == [
        "user_request",
        "model_call",
        "tool_selection",
        "tool_call",
        "tool_result",
        "model_call",
        "final_result",
    ]
    [call] = by_call(db, VERCEL4, "tool_call").values()
    assert (call["tool_call_id"], call["tool_name"], call["arguments"]) == (
        "call_v1",
        "weather",
        {"location": "San Francisco"},
    )
    assert by_call(db, VERCEL4, "tool_result")["call_v1"]["output"] == {
        "location": "San Francisco",
        "temperature": 18,
        "conditions": "fog",
    }
    models = [p for _, p in events(db, VERCEL4, "model_call")]
    assert [
        (m["provider"], m["model"], m["input_tokens"], m["output_tokens"], m["finish_reason"]) for m in models
    ] == [
        ("openai.chat", "gpt-4o-mini", 120, 25, "tool-calls"),
        ("openai.chat", "gpt-4o-mini", 110, 20, "stop"),
    ]
    assert events(db, VERCEL4, "user_request")[0][1]["text"] == "What is the weather in San Francisco?"
    # the root's times were written as the JavaScript exporter's {low, high} halves
    assert query(
        db[0],
        "SELECT strftime(event_timestamp AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%f') FROM raw.trace_events "
        "WHERE trace_id = ? AND event_type IN ('user_request', 'final_result') ORDER BY sequence",
        [VERCEL4],
    ) == [("2026-11-20T08:00:00.000000",), ("2026-11-20T08:00:02.500000",)]
    # AI SDK 5: input / output names, numeric nanoseconds, a tool that failed
    [call] = by_call(db, VERCEL5, "tool_call").values()
    assert (call["tool_name"], call["arguments"]) == ("create_ticket", {"priority": "P1", "title": "Outage"})
    result = by_call(db, VERCEL5, "tool_result")["toolu_01A"]
    assert (result["status"], result["error"]) == (
        "error",
        {"type": "AI_ToolExecutionError", "message": "Request failed with status code 503"},
    )
    assert [(m["input_tokens"], m["output_tokens"]) for _, m in events(db, VERCEL5, "model_call")] == [
        (250, 40),
        (260, 20),
    ]


def test_google_adk(db):
    assert kinds(db, ADK) == [
        "user_request",
        "plan",
        "model_call",
        "tool_selection",
        "tool_selection",
        "tool_call",
        "tool_call",
        "tool_result",
        "plan",
        "tool_result",
        "model_call",
        "final_result",
    ]
    calls = by_call(db, ADK, "tool_call")
    # the "execute_tool (merged)" span repeats the parallel calls: a step, not a third tool call
    assert {k: (v["tool_name"], v["arguments"], v["mode"]) for k, v in calls.items()} == {
        "adk-0f1": ("get_weather", {"city": "New York"}, "execute"),
        "adk-0f2": ("get_current_time", {"city": "New York"}, "execute"),
    }
    assert [p["steps"] for _, p in events(db, ADK, "plan")] == [
        ["invoke_agent weather_time_agent"],
        ["execute_tool (merged)"],
    ]
    # the calls the model asked for, from gcp.vertex.agent.llm_response
    selections = [p for _, p in events(db, ADK, "tool_selection")]
    assert [(p["tool_call_id"], p["tool_name"]) for p in selections] == [
        ("adk-0f1", "get_weather"),
        ("adk-0f2", "get_current_time"),
    ]
    models = [p for _, p in events(db, ADK, "model_call")]
    assert [
        (m["provider"], m["model"], m["input_tokens"], m["output_tokens"], m["purpose"]) for m in models
    ] == [
        ("gcp.vertex.agent", "gemini-2.0-flash", 291, 14, "tool_selection"),
        ("gcp.vertex.agent", "gemini-2.0-flash", 340, 19, "other"),
    ]
    assert by_call(db, ADK, "tool_result")["adk-0f1"]["output"] == {
        "status": "success",
        "report": "Sunny, 25 °C",
    }
    assert query(
        db[0], "SELECT DISTINCT agent_name, session_id FROM raw.trace_events WHERE trace_id = ?", [ADK]
    ) == [("weather_time_agent", "c5a0b5b4-2f7e-4bd4-9d2a-6a1f1e0f0b11")]
    result = by_call(db, ADK_ERR, "tool_result")["adk-9a1"]
    assert (result["status"], result["error"]["type"]) == ("error", "KeyError")
    assert [p["error_type"] for _, p in events(db, ADK_ERR, "error")] == ["KeyError"]


def test_strands_agents(db):
    assert kinds(db, STRANDS) == [
        "user_request",
        "plan",
        "model_call",
        "tool_selection",
        "tool_call",
        "tool_result",
        "plan",
        "model_call",
        "final_result",
    ]
    # arguments and result travel as span events (gen_ai.tool.message, gen_ai.choice), not attributes
    assert by_call(db, STRANDS, "tool_call")["tooluse_Q7x"]["arguments"] == {"expression": "17 * 23"}
    assert by_call(db, STRANDS, "tool_result")["tooluse_Q7x"]["output"] == [{"text": "391"}]
    # the requested call, from the chat span's gen_ai.choice event (Bedrock toolUse blocks); the
    # second chat's history (gen_ai.assistant.message) is not a new request
    [selection] = [p for _, p in events(db, STRANDS, "tool_selection")]
    assert (selection["tool_call_id"], selection["tool_name"]) == ("tooluse_Q7x", "calculator")
    models = [p for _, p in events(db, STRANDS, "model_call")]
    assert [
        (m["provider"], m["input_tokens"], m["output_tokens"], m["finish_reason"], m["purpose"])
        for m in models
    ] == [
        ("strands-agents", 950, 70, "tool_use", "tool_selection"),
        ("strands-agents", 950, 60, "end_turn", "other"),
    ]
    assert events(db, STRANDS, "user_request")[0][1]["text"] == "What is 17 * 23?"
    assert events(db, STRANDS, "final_result")[0][1] == {"status": "success", "output": "17 × 23 = 391"}
    # base64 ids, enum names for kinds and status codes
    assert query(
        db[0], "SELECT DISTINCT span_id FROM raw.trace_events WHERE trace_id = ? ORDER BY 1", [STRANDS]
    ) == [(f"{n:016x}",) for n in range(0x71, 0x77)]
    result = by_call(db, STRANDS_ERR, "tool_result")["tooluse_Z0"]
    assert (result["status"], result["error"]["message"]) == ("error", "division by zero")
    assert by_call(db, STRANDS_ERR, "tool_call")["tooluse_Z0"]["arguments"] == {"expression": "1 / 0"}
    assert events(db, STRANDS_ERR, "final_result")[0][1]["status"] == "failure"


def test_openai_agents_through_openinference(db):
    assert kinds(db, OAI) == [
        "user_request",
        "plan",
        "policy_check",
        "model_call",
        "tool_selection",
        "tool_selection",
        "tool_call",
        "tool_call",
        "tool_result",
        "error",
        "tool_result",
        "model_call",
        "final_result",
    ]
    calls = by_call(db, OAI, "tool_call")
    # TOOL spans carry no call id: linked to the requested calls by name
    assert {k: (v["tool_name"], v["arguments"], v["mode"]) for k, v in calls.items()} == {
        "call_oa_1": ("lookup_order", {"order_id": "A-1001"}, "execute"),
        "call_oa_2": ("cancel_order", {"order_id": "A-1002", "reason": "customer request"}, "execute"),
    }
    results = by_call(db, OAI, "tool_result")
    assert (results["call_oa_1"]["status"], results["call_oa_2"]["status"]) == ("ok", "error")
    assert results["call_oa_2"]["error"] == {
        "type": "agents.exceptions.UserError",
        "message": "Error running tool (non-fatal)",
    }
    models = [p for _, p in events(db, OAI, "model_call")]
    assert [(m["provider"], m["model"], m["input_tokens"], m["output_tokens"]) for m in models] == [
        ("openai", "gpt-4.1-2025-04-14", 312, 21),
        ("openai", "gpt-4.1-2025-04-14", 420, 33),
    ]
    [guard] = [p for _, p in events(db, OAI, "policy_check")]
    assert (guard["policy"], guard["decision"]) == ("Input guardrail: is_on_topic", "allow")
    assert query(
        db[0],
        "SELECT DISTINCT agent_name, session_id, user_id FROM raw.trace_events WHERE trace_id = ?",
        [OAI],
    ) == [("Support agent", "thread-881", "cust-19")]


def test_openllmetry(db):
    [call] = by_call(db, TLOOP, "tool_call").values()
    # traceloop.entity.input is {"args": [], "kwargs": {...}}: the keyword arguments are the call's
    assert (call["tool_call_id"], call["tool_name"], call["arguments"]) == (
        "call_tl_1",
        "refund_order",
        {"order_id": "42", "amount": 19.99},
    )
    assert by_call(db, TLOOP, "tool_result")["call_tl_1"]["output"] == {
        "refund_id": "rf-42",
        "status": "done",
    }
    models = [p for _, p in events(db, TLOOP, "model_call")]
    assert [
        (m["provider"], m["model_version"], m["input_tokens"], m["output_tokens"], m["finish_reason"])
        for m in models
    ] == [
        ("OpenAI", "gpt-4o-2024-08-06", 82, 17, "tool_calls"),
        ("Anthropic", "claude-3-5-haiku-20241022", 140, 15, "end_turn"),
    ]
    [selection] = [p for _, p in events(db, TLOOP, "tool_selection")]
    assert selection["candidates"] == ["refund_order"]
    # the workflow's output was json.dumps'ed: the string it holds
    assert events(db, TLOOP, "final_result")[0][1] == {
        "status": "success",
        "output": "Refunded 19.99 EUR for order 42.",
    }
    assert query(
        db[0],
        "SELECT DISTINCT session_id, user_id, tenant_id FROM raw.trace_events WHERE trace_id = ?",
        [TLOOP],
    ) == [("chat-7", "u-7", "hooli")]
    [model] = [p for _, p in events(db, TLOOP_ERR, "model_call")]
    assert (model["status"], model["error"]) == (
        "error",
        {"type": "RateLimitError", "message": "Error code: 429 - Rate limit reached"},
    )
    assert [p["error_type"] for _, p in events(db, TLOOP_ERR, "error")] == ["openai.RateLimitError", "error"]
    assert events(db, TLOOP_ERR, "final_result")[0][1]["status"] == "failure"


def test_otlp_json_edge_cases(db):
    path = db[0]
    [(attributes,)] = query(
        path,
        "SELECT attributes FROM raw.trace_events WHERE trace_id = ? AND event_type = 'user_request'",
        [EDGE],
    )
    a = json.loads(attributes)
    assert (a["empty_array"], a["empty_values"], a["empty_kvlist"]) == ([], [], {})
    assert (a["bytes"], a["nan"], a["dbl_str"], a["int_num"], a["int_neg"], a["flag"]) == (
        "aGVsbG8=",
        "nan",
        2.5,
        7,
        -3,
        True,
    )
    assert a["mixed"] == ["a", 1, 1.5, True, None] and a["no_value_given"] is None
    assert len(a["huge"]) == 200_000
    # decoded five levels deep, the rest kept in its OTLP form (not lost)
    assert a["deep"]["l0"]["l1"]["l2"]["l3"]["l4"]["kvlistValue"]["values"][0]["key"] == "l5"
    assert events(db, EDGE, "user_request")[0][1]["text"] == "Héllo, 世界! مرحبا 👋"
    assert kinds(db, EDGE) == ["user_request", "plan", "model_call", "plan", "error", "plan", "final_result"]
    [model] = [p for _, p in events(db, EDGE, "model_call")]
    assert (model["provider"], model["model"], model["input_tokens"], model["output_tokens"]) == (
        "ollama",
        "llama3.1:8b",
        12,
        8,
    )
    [error] = [p for _, p in events(db, EDGE, "error")]
    assert error == {
        "error_type": "TimeoutError",
        "message": "vector store slow; retried",
        "recoverable": True,
        "tool_call_id": None,
    }
    # a log record delivered without a resource takes the trace's service as agent
    assert query(path, "SELECT DISTINCT agent_name FROM raw.trace_events WHERE trace_id = ?", [EDGE]) == [
        ("edge-agent",)
    ]
    # the bare span (no kind, end, status or attributes) is a step ending at its start
    assert query(
        path,
        "SELECT attributes, json_extract_string(extra_fields, '$.otlp.kind'), "
        "json_extract(extra_fields, '$.otlp.end_time_unix_nano') = json_extract(extra_fields, '$.otlp.start_time_unix_nano') "
        "FROM raw.trace_events WHERE span_id = 'cc00000000000002'",
    ) == [(None, "UNSPECIFIED", True)]
    # an orphan span (its parent never arrived) still loads its tool call, without run boundaries
    assert kinds(db, ORPHAN) == ["tool_call", "tool_result"]
    assert events(db, ORPHAN, "tool_call")[0][1]["arguments"] == {"to": "a@example.com", "subject": "Hi"}
    assert query(
        path, "SELECT DISTINCT parent_span_id FROM raw.trace_events WHERE trace_id = ?", [ORPHAN]
    ) == [("cc000000000000ff",)]


@pytest.fixture(scope="module")
def marts(tmp_path_factory):
    root = tmp_path_factory.mktemp("otlp_frameworks_marts")
    load_and_build(root / "warehouse.duckdb", _landing(root), [DAY])
    return root / "warehouse.duckdb"


@pytest.mark.slow
def test_model_calls_tool_calls_tokens_and_errors_reach_the_marts(marts):
    tools = rows(
        marts,
        "select trace_id, tool_name, arguments::varchar, mode, executed, result_status "
        "from marts.fct_tool_calls order by trace_id, requested_at, tool_call_id",
    )
    assert tools == [
        (PYD2, "get_weather", '{"city":"Paris","unit":"celsius"}', "execute", True, "ok"),
        (PYD1, "convert_currency", '{"amount":100,"from":"USD","to":"EUR"}', "execute", True, "error"),
        (PYD1, "convert_currency", '{"amount":100,"from":"USD","to":"EUR"}', "execute", True, "ok"),
        (VERCEL4, "weather", '{"location":"San Francisco"}', "execute", True, "ok"),
        (VERCEL5, "create_ticket", '{"priority":"P1","title":"Outage"}', "execute", True, "error"),
        (ADK, "get_weather", '{"city":"New York"}', "execute", True, "ok"),
        (ADK, "get_current_time", '{"city":"New York"}', "execute", True, "ok"),
        (ADK_ERR, "get_weather", '{"city":"Atlantis"}', "execute", True, "error"),
        (STRANDS, "calculator", '{"expression":"17 * 23"}', "execute", True, "ok"),
        (STRANDS_ERR, "calculator", '{"expression":"1 / 0"}', "execute", True, "error"),
        (OAI, "lookup_order", '{"order_id":"A-1001"}', "execute", True, "ok"),
        (OAI, "cancel_order", '{"order_id":"A-1002","reason":"customer request"}', "execute", True, "error"),
        (TLOOP, "refund_order", '{"order_id":"42","amount":19.99}', "execute", True, "ok"),
        (
            ORPHAN,
            "send_email",
            '{"to":"[REDACTED:email]","subject":"Hi"}',
            "execute",
            True,
            "ok",
        ),  # marts are redacted
    ]
    models = rows(
        marts,
        "select trace_id, count(*), sum(input_tokens), sum(output_tokens), count(*) filter (where status = 'error') "
        "from marts.fct_model_calls group by 1 order by 1",
    )
    assert models == [
        (PYD2, 2, 231, 40, 0),
        (PYD1, 3, 300, 35, 0),
        (VERCEL4, 2, 230, 45, 0),
        (VERCEL5, 2, 510, 60, 0),
        (ADK, 2, 631, 33, 0),
        (ADK_ERR, 1, 120, 9, 0),
        (STRANDS, 2, 1900, 130, 0),
        (STRANDS_ERR, 1, 400, 30, 0),
        (OAI, 2, 732, 54, 0),
        (TLOOP, 2, 222, 32, 0),
        (TLOOP_ERR, 1, None, None, 1),
        (EDGE, 1, 12, 8, 0),
    ]
    # error_count: error events, failed tool results and failed model calls
    outcomes = rows(
        marts,
        "select trace_id, final_status, tool_call_count, model_call_count, error_count "
        "from marts.fct_outcomes order by 1",
    )
    assert outcomes == [
        (PYD2, "success", 1, 2, 0),
        (PYD1, "success", 2, 3, 2),
        (VERCEL4, "success", 1, 2, 0),
        (VERCEL5, "success", 1, 2, 2),
        (ADK, "success", 2, 2, 0),
        (ADK_ERR, "success", 1, 1, 2),
        (STRANDS, "success", 1, 2, 0),
        (STRANDS_ERR, "failure", 1, 1, 3),
        (OAI, "success", 2, 2, 2),
        (TLOOP, "success", 1, 2, 0),
        (TLOOP_ERR, "failure", 0, 1, 3),
        (EDGE, "success", 0, 1, 1),
        (ORPHAN, "no_final_result", 1, 0, 0),  # its root never arrived: R1 reports the incomplete run
        (EDGE_BAD, "success", 0, 0, 0),
    ]
