"""OTLP/JSON ingestion (docs/otlp.md) through the real loader: decoding, mapping, quarantine, R9."""

from __future__ import annotations

import json

import pytest

from tests.ingest_support import event, ingest, line, query, table_digest, write_lines
from tests.otlp_support import DAY, attrs, b, copy_fixture, i, s, span, traces_request, write_otlp
from trace_platform.defs.ingest.loader import read_sql

D2 = "2026-11-21"
FIXTURE_FILES = ("genai_agent_run.jsonl", "openinference_run.json", "genai_logs.jsonl.gz", "malformed.jsonl")
TRACE_GENAI = "5b8efff798038103d269b633813fc60c"  # written in upper case in the fixture
TRACE_OI = "a3ce929d0e0e47364bf92f3577b34da6"  # written in base64 in the fixture
TRACE_LOGS = "0af7651916cd43dd8448eb211c80319c"
TRACE_BAD = "11112222333344445555666677778888"


def r9(db, day=DAY):
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(read_sql("check_r9.sql"), {"partition": day}).fetchall()
    finally:
        con.close()


def payloads(db, trace_id, event_type=None):
    sql = "SELECT sequence, event_type, payload FROM raw.trace_events WHERE trace_id = ?"
    params = [trace_id]
    if event_type:
        sql += " AND event_type = ?"
        params.append(event_type)
    return [(seq, kind, json.loads(p)) for seq, kind, p in query(db, sql + " ORDER BY sequence", params)]


@pytest.fixture(scope="module")
def fixtures_db(tmp_path_factory):
    root = tmp_path_factory.mktemp("otlp")
    landing = root / "landing"
    for name in FIXTURE_FILES:
        copy_fixture(landing, DAY, name)
    db = root / "wh.duckdb"
    report = ingest(db, landing, DAY)
    return db, landing, report


def test_every_fixture_file_balances_r9_and_every_record_is_accounted_for(fixtures_db):
    db, _, report = fixtures_db
    rows = r9(db)
    assert [r[0] for r in rows] == sorted(f"otlp/{DAY}/{n}" for n in FIXTURE_FILES)
    assert all(r[-1] for r in rows), rows
    stats = {
        r[0].rsplit("/", 1)[1]: r[1:]
        for r in query(
            db,
            (
                "SELECT source_file, physical_lines, requests, spans, spans_quarantined, log_records, "
                "log_records_quarantined, records_mapped FROM raw.otlp_ingest_files"
            ),
        )
    }
    assert stats == {
        "genai_agent_run.jsonl": (2, 2, 7, 0, 0, 0, 7),
        "openinference_run.json": (418, 1, 7, 0, 0, 0, 7),  # pretty-printed: one request over 418 lines
        "genai_logs.jsonl.gz": (3, 3, 3, 0, 5, 1, 7),
        "malformed.jsonl": (9, 4, 6, 4, 0, 0, 2),
    }
    assert report.otlp["spans"] == 23 and report.otlp["records_mapped"] == 23
    assert (
        report.lines_read
        == report.blank_lines + report.events_loaded + report.duplicates_dropped + report.lines_quarantined
    )
    assert query(db, "SELECT DISTINCT source_format FROM raw.trace_events") == [("otlp",)]


def test_malformed_input_is_quarantined_at_the_smallest_unit(fixtures_db):
    db, _, _ = fixtures_db
    rows = query(
        db,
        "SELECT line_number, reason, try(json_extract_string(raw_line, '$.path')) FROM raw.quarantine "
        "WHERE source_file LIKE '%malformed.jsonl' ORDER BY 1, 3",
    )
    assert rows == [
        (1, "invalid_json", None),
        (2, "otlp_bad_attribute:bad_int_value", "resourceSpans[0].scopeSpans[0].spans[0].attributes[2]"),
        (2, "otlp_bad_attribute:key", "resourceSpans[0].scopeSpans[0].spans[0].attributes[3]"),
        (2, "otlp_bad_span:trace_id", "resourceSpans[0].scopeSpans[0].spans[1]"),
        (2, "otlp_bad_span_event:name", "resourceSpans[0].scopeSpans[0].spans[2].events[0]"),
        (2, "otlp_bad_span:start_time", "resourceSpans[0].scopeSpans[0].spans[3]"),
        (2, "otlp_bad_span:status", "resourceSpans[0].scopeSpans[0].spans[4]"),
        (2, "otlp_bad_span:not_an_object", "resourceSpans[0].scopeSpans[0].spans[5]"),
        (4, "otlp_unsupported_signal", ""),
        (6, "otlp_bad_resource:scopeSpans", "resourceSpans[0]"),
        (7, "otlp_bad_scope:spans", "resourceSpans[0].scopeSpans[0]"),
        (8, "otlp_not_a_request", "[0]"),
        (8, "otlp_not_a_request", "[1]"),
        (9, "otlp_not_a_request", ""),
    ]
    # the bad span's siblings load, the root without its two broken attributes
    assert [(k, p) for _, k, p in payloads(db, TRACE_BAD)] == [
        ("user_request", {"text": "hello", "intent": None, "channel": None}),
        (
            "model_call",
            {
                "provider": None,
                "model": "m1",
                "model_version": None,
                "purpose": "other",
                "input_tokens": 5,
                "output_tokens": 2,
                "latency_ms": 1000.0,
                "finish_reason": None,
                "status": "ok",
                "error": None,
            },
        ),
        ("final_result", {"status": "success", "output": "hi"}),
    ]
    root_attributes = json.loads(
        query(
            db,
            "SELECT attributes FROM raw.trace_events WHERE trace_id = ? AND event_type = 'user_request'",
            [TRACE_BAD],
        )[0][0]
    )
    assert root_attributes == {"input.value": "hello", "output.value": "hi", "fine.count": 3}
    # the quarantined unit is kept as delivered
    raw = json.loads(
        query(db, "SELECT raw_line FROM raw.quarantine WHERE reason = 'otlp_bad_span:trace_id'")[0][0]
    )
    assert raw["unit"]["traceId"] == "not-a-trace-id"
    # blank line 3 and the empty request {} on line 5 are blank items
    assert query(
        db, "SELECT blank_lines FROM raw.ingest_files WHERE source_file LIKE '%malformed.jsonl'"
    ) == [(2,)]


def test_ids_are_normalised_to_lowercase_hex_from_either_case_or_base64(fixtures_db):
    db, _, _ = fixtures_db
    traces = {r[0] for r in query(db, "SELECT DISTINCT trace_id FROM raw.trace_events")}
    assert traces == {TRACE_GENAI, TRACE_OI, TRACE_LOGS, TRACE_BAD}
    spans = {
        r[0]
        for r in query(db, "SELECT DISTINCT span_id FROM raw.trace_events WHERE trace_id = ?", [TRACE_OI])
    }
    assert spans == {f"{n:016x}" for n in range(0xA1, 0xA8)}
    assert query(
        db,
        "SELECT DISTINCT parent_span_id FROM raw.trace_events WHERE trace_id = ? "
        "AND span_id = '00000000000000a3'",
        [TRACE_OI],
    ) == [("00000000000000a2",)]


def test_genai_semantic_conventions_current_and_deprecated_names(fixtures_db):
    db, _, _ = fixtures_db
    calls = [p for _, _, p in payloads(db, TRACE_GENAI, "model_call")]
    assert [
        (
            c["provider"],
            c["model"],
            c["model_version"],
            c["input_tokens"],
            c["output_tokens"],
            c["finish_reason"],
            c["purpose"],
        )
        for c in calls
    ] == [
        ("openai", "gpt-4o", "gpt-4o-2024-08-06", 812, 64, "tool_calls", "tool_selection"),  # current names
        (
            "openai",
            "gpt-4o",
            "gpt-4o-2024-08-06",
            901,
            41,
            "tool_calls",
            "tool_selection",
        ),  # gen_ai.system, prompt_tokens
        ("openai", "gpt-4o", "gpt-4o-2024-08-06", 1020, 33, "stop", "other"),
    ]
    kinds = [k for _, k, _ in payloads(db, TRACE_GENAI)]
    assert kinds == [
        "user_request",
        "model_call",
        "tool_selection",
        "tool_call",
        "tool_result",
        "model_call",
        "tool_selection",
        "tool_call",
        "policy_check",
        "confirmation_request",
        "confirmation_response",
        "side_effect",
        "tool_result",
        "tool_call",
        "error",
        "tool_result",
        "model_call",
        "final_result",
    ]
    tool_calls = {p["tool_call_id"]: p for _, _, p in payloads(db, TRACE_GENAI, "tool_call")}
    assert tool_calls["call_lookup_1"]["arguments"] == {"order_id": 42}
    assert tool_calls["call_lookup_1"]["access"] == "read_only"  # MCP readOnlyHint
    assert tool_calls["call_refund_2"]["access"] == "state_changing"  # trace_platform.tool.access
    assert tool_calls["call_refund_2"]["requires_confirmation"] is True
    assert tool_calls["call_notify_3"]["access"] == "unknown"  # nothing tells it: never read_only
    results = {p["tool_call_id"]: p for _, _, p in payloads(db, TRACE_GENAI, "tool_result")}
    assert results["call_lookup_1"]["output"] == {"order_id": 42, "status": "delivered", "total": 19.99}
    assert results["call_notify_3"]["status"] == "error"
    assert results["call_notify_3"]["error"] == {
        "type": "SmtpTimeout",
        "message": "mail relay did not answer within 250 ms",
    }
    [error] = [p for _, _, p in payloads(db, TRACE_GENAI, "error")]
    assert error["error_type"] == "SmtpTimeout" and error["tool_call_id"] == "call_notify_3"
    first, last = (
        payloads(db, TRACE_GENAI, "user_request")[0][2],
        payloads(db, TRACE_GENAI, "final_result")[0][2],
    )
    assert first == {
        "text": "Please refund order 42, it arrived broken",
        "intent": "refund_order",
        "channel": None,
    }
    assert last == {"status": "success", "output": "Your refund of 19.99 EUR is on its way."}
    envelope = query(
        db,
        "SELECT DISTINCT tenant_id, agent_name, agent_version, session_id, user_id "
        "FROM raw.trace_events WHERE trace_id = ?",
        [TRACE_GENAI],
    )
    assert envelope == [("acme", "refund-agent", "2.3.0", "conv-77", "u-981")]


def test_convention_policy_confirmation_and_side_effect(fixtures_db):
    db, _, _ = fixtures_db
    by_type = {
        k: p
        for _, k, p in payloads(db, TRACE_GENAI)
        if k in ("policy_check", "confirmation_request", "confirmation_response", "side_effect")
    }
    assert by_type["policy_check"] == {
        "check_id": "4444444444444444-policy",
        "tool_call_id": "call_refund_2",
        "policy": "refunds@3",
        "permission": "orders:write",
        "principal": "u-981",
        "decision": "require_confirmation",
        "reason": "refunds always need the customer's consent",
    }
    assert by_type["confirmation_request"]["arguments"] == {
        "order_id": 42,
        "amount": 19.99,
        "currency": "EUR",
    }
    assert by_type["confirmation_response"] == {
        "confirmation_id": "conf-4",
        "tool_call_id": "call_refund_2",
        "decision": "approved",
        "responder": "u-981",
    }
    assert by_type["side_effect"] == {
        "tool_call_id": "call_refund_2",
        "resource_type": "refund",
        "resource_id": "rf-7",
        "operation": "create",
        "reversible": True,
        "rollback_ref": "refunds/rf-7/cancel",
    }


def test_openinference_spans(fixtures_db):
    db, _, _ = fixtures_db
    events = payloads(db, TRACE_OI)
    assert [k for _, k, _ in events] == [
        "user_request",
        "plan",
        "model_call",
        "tool_selection",
        "tool_selection",
        "tool_call",
        "tool_call",
        "tool_result",
        "model_call",
        "model_call",
        "error",
        "policy_check",
        "final_result",
    ]
    selections = [p for _, k, p in events if k == "tool_selection"]
    assert [(p["tool_call_id"], p["tool_name"], p["candidates"]) for p in selections] == [
        ("call_w1", "get_weather", ["book_table", "get_weather"]),
        ("call_b2", "book_table", ["book_table", "get_weather"]),
    ]
    calls = {p["tool_name"]: p for _, k, p in events if k == "tool_call"}
    # the TOOL span carries no call id: linked to the requested call by name and order
    assert calls["get_weather"] == {
        "tool_call_id": "call_w1",
        "tool_name": "get_weather",
        "tool_version": None,
        "arguments": {"city": "Paris"},
        "access": "unknown",
        "mode": "execute",
        "attempt": 1,
        "retry_of": None,
        "requires_confirmation": False,
    }
    # requested, but no span ran it: a suggestion, never claimed executed
    assert (calls["book_table"]["mode"], calls["book_table"]["arguments"]) == (
        "suggest",
        {"city": "Paris", "time": "20:00", "people": 2},
    )
    models = [p for _, k, p in events if k == "model_call"]
    assert [(m["model"], m["input_tokens"], m["output_tokens"], m["status"]) for m in models] == [
        ("gpt-4o-mini-2024-07-18", 312, 58, "ok"),
        ("gpt-4o-mini-2024-07-18", 402, 25, "ok"),
        ("gpt-4o-mini-2024-07-18", None, None, "error"),
    ]
    assert models[2]["error"] == {"type": "error", "message": "429 Too Many Requests"}
    [guard] = [p for _, k, p in events if k == "policy_check"]
    assert (guard["policy"], guard["decision"]) == ("pii_output_guardrail", "allow")
    # no tenant anywhere: the documented default, recorded as such
    assert query(
        db,
        "SELECT DISTINCT tenant_id, json_extract_string(extra_fields, '$.otlp.tenant_source'), "
        "session_id, user_id, agent_name FROM raw.trace_events WHERE trace_id = ?",
        [TRACE_OI],
    ) == [("unassigned", "default", "sess-oi-1", "u-5", "TravelAgent")]
    # the CHAIN span is a step of the run, and keeps the span's original attributes
    chain_attrs = json.loads(
        query(
            db,
            "SELECT attributes FROM raw.trace_events WHERE trace_id = ? AND event_type = 'plan'",
            [TRACE_OI],
        )[0][0]
    )
    assert chain_attrs["openinference.span.kind"] == "CHAIN"


def test_logs_request_with_genai_events(fixtures_db):
    db, _, _ = fixtures_db
    events = payloads(db, TRACE_LOGS)
    assert [k for _, k, _ in events] == [
        "user_request",
        "plan",
        "model_call",
        "tool_selection",
        "tool_call",
        "error",
        "tool_result",
        "final_result",
        "feedback",
    ]
    assert events[3][2] == {"tool_call_id": "call_t1", "tool_name": "track_shipment", "candidates": []}
    assert events[5][2]["error_type"] == "CarrierApiError" and events[5][2]["tool_call_id"] == "call_t1"
    assert events[8][2] == {"rating": 1, "comment": "quick and painless"}  # snake_case request
    note = query(
        db,
        "SELECT extra_fields FROM raw.trace_events WHERE trace_id = ? AND event_type = 'plan'",
        [TRACE_LOGS],
    )
    provenance = json.loads(note[0][0])["otlp"]
    assert provenance["mapping"] == "note" and provenance["event_name"] == "gen_ai.user.message"
    assert provenance["body"] == {"content": "Where is my parcel?"}
    assert query(db, "SELECT reason FROM raw.quarantine WHERE source_file LIKE '%genai_logs.jsonl.gz'") == [
        ("otlp_bad_log_record:no_trace_context",)
    ]


def test_sequences_are_contiguous_and_parents_resolve(fixtures_db):
    db, _, _ = fixtures_db
    rows = query(
        db,
        "SELECT trace_id, count(*), min(sequence), max(sequence), count(DISTINCT sequence) "
        "FROM raw.trace_events GROUP BY 1",
    )
    assert all(n == distinct == hi + 1 and lo == 0 for _, n, lo, hi, distinct in rows), rows
    orphans = query(
        db,
        "SELECT e.event_id FROM raw.trace_events AS e WHERE e.parent_span_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM raw.trace_events AS p WHERE p.trace_id = e.trace_id "
        "AND p.span_id = e.parent_span_id)",
    )
    assert orphans == []


@pytest.mark.slow
def test_variants_decode_alike(tmp_path):
    """Ints as strings or numbers, times as strings or numbers, enum names or integers, ids in any case."""
    tid = "4bf92f3577b34da6a3ce929d0e0e4736"

    def request(variant: int) -> dict:
        chat = span(
            tid if variant == 0 else tid.upper(),
            "00f067aa0ba902b7",
            "chat",
            1,
            2,
            parent="a0a0a0a0a0a0a0a0",
            kind=3 if variant == 0 else "SPAN_KIND_CLIENT",
            status={"code": 2, "message": "boom"}
            if variant == 0
            else {"code": "STATUS_CODE_ERROR", "message": "boom"},
            attributes=attrs(
                gen_ai__operation__name=s("chat"),
                gen_ai__request__model=s("m"),
                gen_ai__usage__input_tokens=i(7, as_string=variant == 0),
                gen_ai__usage__output_tokens=i(3, as_string=variant != 0),
            ),
        )
        if variant == 1:
            chat["startTimeUnixNano"] = int(chat["startTimeUnixNano"])
            chat["endTimeUnixNano"] = int(chat["endTimeUnixNano"])
        root = span(tid, "a0a0a0a0a0a0a0a0", "run", 0, 3)
        return traces_request(chat, root)

    digests = []
    for variant in (0, 1):
        landing = tmp_path / f"l{variant}"
        write_otlp(landing, DAY, "a.jsonl", [request(variant)])
        db = tmp_path / f"w{variant}.duckdb"
        ingest(db, landing, DAY)
        digests.append(
            query(
                db,
                "SELECT event_id, event_type, event_timestamp, sequence, payload FROM raw.trace_events "
                "ORDER BY event_id",
            )
        )
    assert digests[0] == digests[1]
    model = json.loads([r for r in digests[0] if r[1] == "model_call"][0][4])
    assert (model["input_tokens"], model["output_tokens"], model["status"]) == (7, 3, "error")


@pytest.mark.slow
def test_reingest_is_idempotent_and_a_redelivery_on_a_later_day_is_a_duplicate(tmp_path):
    landing = tmp_path / "landing"
    copy_fixture(landing, DAY, "genai_agent_run.jsonl")
    copy_fixture(landing, D2, "genai_agent_run.jsonl", "again.jsonl")
    db = tmp_path / "wh.duckdb"
    ingest(db, landing, DAY)
    first = {t: table_digest(db, t) for t in ("raw.trace_events", "raw.quarantine", "raw.ingest_files")}
    ingest(db, landing, DAY)
    assert {t: table_digest(db, t) for t in first} == first
    report = ingest(db, landing, D2)
    assert (report.events_loaded, report.duplicates_dropped, report.lines_quarantined) == (0, 18, 0)
    assert all(r[-1] for r in r9(db, D2))


@pytest.mark.slow
def test_a_changed_redelivery_is_a_conflict_kept_with_the_mapped_event(tmp_path):
    tid = "4bf92f3577b34da6a3ce929d0e0e4736"
    root = span(tid, "a0a0a0a0a0a0a0a0", "run", 0, 3, attributes=attrs(input__value=s("hi")))
    changed = span(tid, "a0a0a0a0a0a0a0a0", "run", 0, 3, attributes=attrs(input__value=s("hello")))
    landing = tmp_path / "landing"
    write_otlp(landing, DAY, "a.jsonl", [traces_request(root)])
    write_otlp(landing, D2, "b.jsonl", [traces_request(changed)])
    db = tmp_path / "wh.duckdb"
    ingest(db, landing, D2)
    ingest(db, landing, DAY)  # the earlier day wins, whatever the order
    assert query(
        db,
        "SELECT delivery_date::VARCHAR, payload->>'$.text' FROM raw.trace_events "
        "WHERE event_type = 'user_request'",
    ) == [(DAY, "hi")]
    # both events of the changed span (user_request and final_result carry its attributes)
    conflicts = query(
        db, "SELECT delivery_date::VARCHAR, reason, raw_line FROM raw.quarantine ORDER BY event_id"
    )
    assert [(d, r, json.loads(raw)["event_type"]) for d, r, raw in conflicts] == [
        (D2, "conflict", "final_result"),
        (D2, "conflict", "user_request"),
    ]
    assert json.loads(conflicts[1][2])["payload"]["text"] == "hello"
    assert all(r[-1] for d in (DAY, D2) for r in r9(db, d))


@pytest.mark.slow
def test_a_trace_split_over_two_days_is_sequenced_over_both_in_any_order(tmp_path):
    tid = "4bf92f3577b34da6a3ce929d0e0e4736"
    chat = span(
        tid,
        "00f067aa0ba902b7",
        "chat",
        1,
        2,
        parent="a0a0a0a0a0a0a0a0",
        attributes=attrs(gen_ai__operation__name=s("chat"), gen_ai__request__model=s("m")),
    )
    root = span(tid, "a0a0a0a0a0a0a0a0", "run", 0, 3)  # exported later, with the next day's batch
    results = []
    for order in ((DAY, D2), (D2, DAY)):
        landing = tmp_path / f"l{order[0]}"
        write_otlp(landing, DAY, "a.jsonl", [traces_request(chat)])
        write_otlp(landing, D2, "b.jsonl", [traces_request(root)])
        db = tmp_path / f"w{order[0]}.duckdb"
        for day in order:
            ingest(db, landing, day)
        results.append(
            query(
                db,
                "SELECT sequence, event_type, delivery_date::VARCHAR FROM raw.trace_events ORDER BY sequence",
            )
        )
        changed = query(
            db, "SELECT DISTINCT trace_id, delivery_date::VARCHAR FROM raw.trace_change_log ORDER BY 2"
        )
        assert changed == [(tid, DAY), (tid, D2)]
    assert (
        results[0] == results[1] == [(0, "user_request", D2), (1, "model_call", DAY), (2, "final_result", D2)]
    )


@pytest.mark.slow
def test_native_and_otlp_files_of_a_day_load_in_one_publish(tmp_path):
    landing = tmp_path / "landing"
    write_lines(landing, DAY, "native.jsonl", [line(event("n1"))])
    copy_fixture(landing, DAY, "genai_agent_run.jsonl")
    db = tmp_path / "wh.duckdb"
    report = ingest(db, landing, DAY)
    assert report.files == 2 and report.events_loaded == 19
    assert query(db, "SELECT source_format, count(*) FROM raw.trace_events GROUP BY 1 ORDER BY 1") == [
        ("native", 1),
        ("otlp", 18),
    ]
    assert query(db, "SELECT count(DISTINCT change_seq) FROM raw.trace_change_log") == [(1,)]
    assert all(r[-1] for r in r9(db))


def test_invalid_utf8_and_gzip_damage_stay_line_and_file_level(tmp_path):
    tid = "4bf92f3577b34da6a3ce929d0e0e4736"
    landing = tmp_path / "landing"
    good = json.dumps(traces_request(span(tid, "a0a0a0a0a0a0a0a0", "run", 0, 3))).encode()
    folder = landing / "otlp" / DAY
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_bytes(good + b"\n" + b'{"resourceSpans": "\xff\xfe"}\n')
    (folder / "b.json.gz").write_bytes(b"\x1f\x8b\x08\x00broken")
    db = tmp_path / "wh.duckdb"
    ingest(db, landing, DAY)
    assert query(db, "SELECT source_file, line_number, reason FROM raw.quarantine ORDER BY 1") == [
        (f"otlp/{DAY}/a.jsonl", 2, "invalid_utf8"),
        (f"otlp/{DAY}/b.json.gz", None, "corrupt_gzip"),
    ]
    assert query(db, "SELECT count(*) FROM raw.trace_events") == [(2,)]
    assert all(r[-1] for r in r9(db))


def test_mcp_annotations_and_invalid_access_values(tmp_path):
    tid = "4bf92f3577b34da6a3ce929d0e0e4736"

    def tool(sid, start, **extra):
        return span(
            tid,
            sid,
            "execute_tool t",
            start,
            start + 0.5,
            parent="a0a0a0a0a0a0a0a0",
            attributes=attrs(
                gen_ai__operation__name=s("execute_tool"),
                gen_ai__tool__name=s(f"t{sid[-1]}"),
                gen_ai__tool__call__id=s(f"c{sid[-1]}"),
                **extra,
            ),
        )

    request = traces_request(
        span(tid, "a0a0a0a0a0a0a0a0", "run", 0, 9),
        tool("b000000000000001", 1, mcp__tool__annotations__readOnlyHint=b(True)),
        tool("b000000000000002", 2, mcp__tool__annotations__readOnlyHint=b(False)),
        tool("b000000000000003", 3, mcp__tool__annotations__destructiveHint=b(False)),
        tool("b000000000000004", 4, trace_platform__tool__access=s("admin")),
        tool("b000000000000005", 5),
        tool(
            "b000000000000006",
            6,
            trace_platform__tool__access=s("read_only"),
            mcp__tool__annotations__destructiveHint=b(True),
        ),
    )
    landing = tmp_path / "landing"
    write_otlp(landing, DAY, "a.jsonl", [request])
    db = tmp_path / "wh.duckdb"
    ingest(db, landing, DAY)
    got = dict(
        query(
            db,
            "SELECT payload->>'$.tool_call_id', payload->>'$.access' FROM raw.trace_events "
            "WHERE event_type = 'tool_call'",
        )
    )
    assert got == {
        "c1": "read_only",
        "c2": "state_changing",
        "c3": "state_changing",
        "c4": "unknown",
        "c5": "unknown",
        "c6": "read_only",
    }


def test_a_line_may_hold_an_array_of_requests_with_protobuf_field_names_after_a_bom(tmp_path):
    tid = "4bf92f3577b34da6a3ce929d0e0e4736"
    snake = {
        "trace_id": tid,
        "span_id": "00f067aa0ba902b7",
        "parent_span_id": "a0a0a0a0a0a0a0a0",
        "name": "chat",
        "kind": "SPAN_KIND_CLIENT",
        "start_time_unix_nano": "1795161601000000000",
        "end_time_unix_nano": "1795161602000000000",
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"string_value": "chat"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"int_value": "9"}},
        ],
        "status": {"code": "STATUS_CODE_OK"},
    }
    root = span(tid, "a0a0a0a0a0a0a0a0", "run", 0, 3)
    requests = [
        {"resource_spans": [{"resource": {"attributes": []}, "scope_spans": [{"spans": [snake]}]}]},
        traces_request(root),
    ]
    landing = tmp_path / "landing"
    path = write_otlp(landing, DAY, "a.json", [requests])
    path.write_bytes("\ufeff".encode() + path.read_bytes())
    db = tmp_path / "wh.duckdb"
    ingest(db, landing, DAY)
    assert query(
        db, "SELECT event_type, payload->>'$.input_tokens' FROM raw.trace_events ORDER BY sequence"
    ) == [("user_request", None), ("model_call", "9"), ("final_result", None)]
    assert query(db, "SELECT requests, spans, records_mapped FROM raw.otlp_ingest_files") == [(2, 2, 2)]
    assert all(r[-1] for r in r9(db))
