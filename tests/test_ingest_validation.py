"""Line validation: one test per quarantine reason, plus line accounting edge cases (R9)."""

from __future__ import annotations

import pytest

from tests.ingest_support import DROP, event, ingest, line, query, write_lines
from trace_platform.lib.settings import IngestLimits

DAY = "2026-11-20"


def reasons(db) -> list[tuple]:
    return query(db, "SELECT line_number, reason FROM raw.quarantine ORDER BY line_number")


def accounting(db) -> tuple:
    return query(
        db,
        "SELECT lines_read, blank_lines, events_loaded, duplicates_dropped, lines_quarantined "
        "FROM raw.ingest_files",
    )[0]


@pytest.fixture
def landing(tmp_path):
    return tmp_path / "landing"


@pytest.fixture
def db(tmp_path):
    return tmp_path / "wh.duckdb"


@pytest.mark.parametrize(
    ("bad_line", "expected_reason"),
    [
        ('{"event_id": "x", "event_type": ', "invalid_json"),
        ('{"a": 1,}', "invalid_json"),  # strict JSON: no trailing commas
        ("not json at all", "invalid_json"),
        ("[1, 2, 3]", "not_an_object"),
        ('"a string"', "not_an_object"),
        (line(event(schema_version=DROP)), "missing_field:schema_version"),
        (line(event(event_id=DROP)), "missing_field:event_id"),
        (line(event(event_type=DROP)), "missing_field:event_type"),
        (line(event(timestamp=DROP)), "missing_field:timestamp"),
        (line(event(trace_id=DROP)), "missing_field:trace_id"),
        (line(event(span_id=DROP)), "missing_field:span_id"),
        (line(event(sequence=DROP)), "missing_field:sequence"),
        (line(event(tenant_id=DROP)), "missing_field:tenant_id"),
        (line(event(agent=DROP)), "missing_field:agent"),
        (line(event(payload=DROP)), "missing_field:payload"),
        (line(event(agent={"name": "a"})), "missing_field:agent.version"),
        (line(event(schema_version=1)), "bad_type:schema_version"),
        (line(event(event_id=7)), "bad_type:event_id"),
        (line(event(event_id=None)), "bad_type:event_id"),
        (line(event(event_id="")), "bad_value:event_id"),
        (line(event(event_id="x" * 129)), "bad_value:event_id"),
        (line(event(sequence="3")), "bad_type:sequence"),
        (line(event(sequence=1.5)), "bad_type:sequence"),
        (line(event(sequence=-1)), "bad_value:sequence"),
        (line(event(parent_span_id=5)), "bad_type:parent_span_id"),
        (line(event(agent="bot")), "bad_type:agent"),
        (line(event(agent={"name": 1, "version": "1"})), "bad_type:agent.name"),
        (line(event(payload=[])), "bad_type:payload"),
        (line(event(attributes="x")), "bad_type:attributes"),
        (line(event(schema_version="2")), "unsupported_schema_version"),
        (line(event(event_type="telepathy")), "unknown_event_type"),
        (line(event(timestamp="2026-11-20T01:00:00")), "bad_timestamp"),  # no offset
        (line(event(timestamp="2026-11-20 01:00:00Z")), "bad_timestamp"),
        (line(event(timestamp="2026-02-30T01:00:00Z")), "bad_timestamp"),
        (line(event(timestamp="yesterday")), "bad_timestamp"),
    ],
)
def test_quarantine_reason(landing, db, bad_line, expected_reason):
    write_lines(landing, DAY, "a.jsonl", [line(event("ok")), bad_line])
    report = ingest(db, landing, DAY)
    assert reasons(db) == [(2, expected_reason)]
    assert report.events_loaded == 1 and report.lines_quarantined == 1
    raw = query(db, "SELECT raw_line FROM raw.quarantine")[0][0]
    assert raw == bad_line


def test_valid_optional_fields_and_unknown_fields_are_kept(landing, db):
    ev = event(attributes={"k": [1, {"z": None}]}, x_custom={"a": 1}, **{"weird/key": 2})
    write_lines(
        landing,
        DAY,
        "a.jsonl",
        [line(ev), line(event("e2", timestamp="2026-11-20T03:00:00+02:00", attributes=None))],
    )
    ingest(db, landing, DAY)
    rows = query(
        db,
        "SELECT event_id, attributes, extra_fields, event_timestamp::VARCHAR FROM raw.trace_events "
        "ORDER BY event_id",
    )
    assert rows[0][1] == '{"k":[1,{"z":null}]}'
    assert rows[0][2] in ('{"x_custom":{"a":1},"weird/key":2}', '{"weird/key":2,"x_custom":{"a":1}}')
    assert rows[1][1] is None and rows[1][2] is None
    assert rows[1][3] == "2026-11-20 01:00:00+00"


def test_invalid_utf8_quarantines_only_that_line(landing, db):
    write_lines(landing, DAY, "a.jsonl", [line(event("e1")), b'{"event_id": "\xff\xfe"}', line(event("e2"))])
    ingest(db, landing, DAY)
    assert reasons(db) == [(2, "invalid_utf8")]
    assert accounting(db) == (3, 0, 2, 0, 1)


def test_line_too_long_is_quarantined_with_a_preview(landing, db):
    big = line(event("big", payload={"blob": "x" * 5000}))
    write_lines(landing, DAY, "a.jsonl", [line(event("e1")), big, line(event("e2"))])
    limits = IngestLimits(max_line_bytes=1000, quarantine_line_chars=100)
    ingest(db, landing, DAY, limits=limits)
    assert reasons(db) == [(2, "line_too_long")]
    raw_line, raw_bytes = query(db, "SELECT raw_line, raw_line_bytes FROM raw.quarantine")[0]
    assert len(raw_line) == 100 and raw_bytes == len(big)
    assert accounting(db) == (3, 0, 2, 0, 1)


def test_blank_lines_crlf_and_final_newline(landing, db):
    content = (line(event("e1")) + "\r\n\n   \t\r\n" + line(event("e2")) + "\n").encode()
    (landing / DAY).mkdir(parents=True)
    (landing / DAY / "a.jsonl").write_bytes(content)
    ingest(db, landing, DAY)
    assert accounting(db) == (4, 2, 2, 0, 0)


def test_no_final_newline_and_empty_file(landing, db):
    write_lines(landing, DAY, "a.jsonl", [line(event("e1")), line(event("e2"))], trailing_newline=False)
    write_lines(landing, DAY, "b.jsonl", [])
    ingest(db, landing, DAY)
    rows = query(db, "SELECT source_file, lines_read, events_loaded FROM raw.ingest_files ORDER BY 1")
    assert rows == [(f"{DAY}/a.jsonl", 2, 2), (f"{DAY}/b.jsonl", 0, 0)]


def test_duplicates_identical_and_reordered_are_dropped_conflicts_quarantined(landing, db):
    original = event("e1", payload={"steps": ["a"], "n": 1})
    reordered = dict(reversed(list(original.items())))
    changed = event("e1", payload={"steps": ["b"], "n": 1})
    write_lines(landing, DAY, "a.jsonl", [line(original), line(original), json_spaced(reordered)])
    write_lines(landing, DAY, "b.jsonl", [line(changed)])
    report = ingest(db, landing, DAY)
    assert report.events_loaded == 1 and report.duplicates_dropped == 2 and report.lines_quarantined == 1
    assert query(db, "SELECT source_file, line_number, reason, raw_line FROM raw.quarantine") == [
        (f"{DAY}/b.jsonl", 1, "conflict", line(changed))
    ]
    assert query(db, "SELECT source_file, line_number FROM raw.trace_events") == [(f"{DAY}/a.jsonl", 1)]


def test_crafted_strings_cannot_make_a_conflict_look_like_a_duplicate(landing, db):
    original = event("e1", payload={"a": "x\u001e$.payload.b=s:y"})
    forged = event("e1", payload={"a": "x", "b": "y"})
    write_lines(landing, DAY, "a.jsonl", [line(original), line(forged)])
    report = ingest(db, landing, DAY)
    assert (report.events_loaded, report.duplicates_dropped) == (1, 0)
    assert reasons(db) == [(2, "conflict")]


def json_spaced(obj) -> str:
    import json

    return json.dumps(obj, indent=None, separators=(" , ", " : "))


def test_invalid_line_with_an_event_id_does_not_take_part_in_dedupe(landing, db):
    write_lines(landing, DAY, "a.jsonl", [line(event("e1", timestamp="bad")), line(event("e1"))])
    ingest(db, landing, DAY)
    assert reasons(db) == [(1, "bad_timestamp")]
    assert query(db, "SELECT line_number FROM raw.trace_events") == [(2,)]


def test_every_file_balances_r9(landing, db):
    write_lines(landing, DAY, "a.jsonl", [line(event("e1")), "", "{", line(event("e1")), "[]"])
    ingest(db, landing, DAY)
    lines_read, blank, loaded, dups, quarantined = accounting(db)
    assert lines_read == blank + loaded + dups + quarantined == 5
    assert (blank, loaded, dups, quarantined) == (1, 1, 1, 2)


def test_bare_carriage_return_and_nul_bytes_keep_line_numbers(landing, db):
    whitespace_cr = line(event("e2")).replace(",", ",\r", 1)  # \r as JSON whitespace: valid
    in_string_cr = line(event("e3", payload={"text": "a\rb"})).replace("\\r", "\r")  # raw \r in a string
    write_lines(
        landing,
        DAY,
        "a.jsonl",
        [line(event("e1")), whitespace_cr, in_string_cr, '{"x": "\x00"}', line(event("e4"))],
    )
    ingest(db, landing, DAY)
    assert reasons(db) == [(3, "invalid_json"), (4, "invalid_json")]
    assert query(db, "SELECT event_id, line_number FROM raw.trace_events ORDER BY 2") == [
        ("e1", 1),
        ("e2", 2),
        ("e4", 5),
    ]


def test_lines_between_reader_buffer_and_limit_load(landing, db):
    big = line(event("big", payload={"blob": "x" * 3_000_000}))
    write_lines(landing, DAY, "a.jsonl", [big, line(event("e2"))])
    report = ingest(db, landing, DAY)
    assert report.events_loaded == 2
