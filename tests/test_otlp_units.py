"""Units of the OTLP path: the SQL decoding macros, the landing listing and sensor fingerprint, and
the docs staying in step with the SQL (docs/otlp.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest

from trace_platform.defs.ingest.loader import SQL_DIR, _split_statements
from trace_platform.lib.landing import (
    list_partition_files,
    list_partition_keys,
    partition_fingerprint,
    partition_folders,
)

DOCS = Path(__file__).resolve().parents[1] / "docs" / "otlp.md"


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    for statement in _split_statements((SQL_DIR / "otlp_macros.sql").read_text()):
        c.execute(statement)
    yield c
    c.close()


def one(con, expr: str, *values):
    """Evaluates expr over a one-row table of JSON values v0, v1, ... (macros see columns, as in the
    real pipeline, not constants)."""
    columns = ", ".join(f"?::JSON AS v{k}" for k in range(len(values)))
    con.execute(f"CREATE OR REPLACE TEMP TABLE v AS SELECT {columns}", [json.dumps(x) for x in values])
    return con.execute(f"SELECT {expr} FROM v").fetchone()[0]


@pytest.mark.parametrize(
    "value, width, expected",
    [
        ("4BF92F3577B34DA6A3CE929D0E0E4736", 32, "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("S/kvNXezTaajzpKdDg5HNg==", 32, "4bf92f3577b34da6a3ce929d0e0e4736"),  # base64
        ("S_kvNXezTaajzpKdDg5HNg", 32, "4bf92f3577b34da6a3ce929d0e0e4736"),  # URL-safe, unpadded
        ("00f067aa0ba902b7", 16, "00f067aa0ba902b7"),
        ("APBnqgupArc=", 16, "00f067aa0ba902b7"),
        ("", 16, None),  # empty: absent (a root's parent)
        ("00000000000000000000000000000000", 32, "invalid"),  # all zeros
        ("4bf92f3577b34da6", 32, "invalid"),  # a span id where a trace id goes
        ("zz", 16, "invalid"),
        (123, 16, "invalid"),
    ],
)
def test_ids(con, value, width, expected):
    assert one(con, f"otlp_id(v0, {width})", value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("1795161600123456789", 1795161600123456789),
        (1795161600123456789, 1795161600123456789),
        ("0", None),
        (0, None),
        ("2026-11-20T08:00:00.5Z", 1795161600500000000),
        ("yesterday", -1),
        (True, -1),
        (
            {"low": 1795161600123456789 % 2**32 - 2**32, "high": 1795161600123456789 // 2**32},
            1795161600123456789,
        ),
    ],
)
def test_nanos(con, value, expected):
    assert one(con, "otlp_nanos(v0)", value) == expected


def test_nanos_become_microsecond_instants(con):
    assert (
        str(one(con, "otlp_ts(otlp_nanos(v0))", "1795161600123456789")) == "2026-11-20 08:00:00.123456+00:00"
    )


@pytest.mark.parametrize(
    "value, kind",
    [
        (3, "CLIENT"),
        ("3", "CLIENT"),
        ("SPAN_KIND_CLIENT", "CLIENT"),
        ("client", "CLIENT"),
        (0, "UNSPECIFIED"),
        ("SPAN_KIND_SERVER", "SERVER"),
        (9, None),
        ("RPC", None),
    ],
)
def test_span_kinds(con, value, kind):
    assert one(con, "otlp_span_kind(v0)", value) == kind


@pytest.mark.parametrize(
    "value, code",
    [
        (2, "ERROR"),
        ("STATUS_CODE_ERROR", "ERROR"),
        ("error", "ERROR"),
        (1, "OK"),
        ("STATUS_CODE_UNSET", "UNSET"),
        (7, None),
        ("STATUS_CODE_MAYBE", None),
    ],
)
def test_status_codes(con, value, code):
    assert one(con, "otlp_status_code(v0)", value) == code


@pytest.mark.parametrize(
    "value, decoded, bad",
    [
        ({"stringValue": "x"}, "x", None),
        ({"intValue": "12"}, 12, None),
        ({"intValue": 12}, 12, None),
        ({"int_value": "-3"}, -3, None),
        ({"doubleValue": 0.5}, 0.5, None),
        ({"doubleValue": "2.5"}, 2.5, None),
        ({"doubleValue": "NaN"}, "nan", None),
        ({"boolValue": True}, True, None),
        ({"bytesValue": "AAEC"}, "AAEC", None),
        ({}, None, None),
        ({"arrayValue": {"values": [{"stringValue": "stop"}, {"intValue": "1"}]}}, ["stop", 1], None),
        ({"arrayValue": {}}, [], None),
        (
            {
                "kvlistValue": {
                    "values": [
                        {"key": "a", "value": {"intValue": "1"}},
                        {"key": "a", "value": {"intValue": "2"}},
                    ]
                }
            },
            {"a": 1},
            None,
        ),
        ({"intValue": "1.5"}, None, "bad_int_value"),
        ({"intValue": "12abc"}, None, "bad_int_value"),
        ({"boolValue": "yes"}, None, "bad_bool_value"),
        ({"stringValue": 5}, None, "bad_string_value"),
        ({"color": "red"}, None, "unknown_value_type"),
        (5, None, "not_an_anyvalue"),
    ],
)
def test_anyvalues(con, value, decoded, bad):
    result = one(con, "otlp_anyvalue(v0)", value)
    assert (json.loads(result) if result is not None else None) == decoded
    assert one(con, "otlp_av_bad(v0)", value) == bad


def test_nested_anyvalue_five_levels_as_a_genai_choice_body(con):
    body = {
        "kvlistValue": {
            "values": [
                {"key": "index", "value": {"intValue": "0"}},
                {
                    "key": "message",
                    "value": {
                        "kvlistValue": {
                            "values": [
                                {
                                    "key": "tool_calls",
                                    "value": {
                                        "arrayValue": {
                                            "values": [
                                                {
                                                    "kvlistValue": {
                                                        "values": [
                                                            {"key": "id", "value": {"stringValue": "call_1"}},
                                                            {
                                                                "key": "function",
                                                                "value": {
                                                                    "kvlistValue": {
                                                                        "values": [
                                                                            {
                                                                                "key": "name",
                                                                                "value": {
                                                                                    "stringValue": "get_weather"
                                                                                },
                                                                            }
                                                                        ]
                                                                    }
                                                                },
                                                            },
                                                        ]
                                                    }
                                                }
                                            ]
                                        }
                                    },
                                }
                            ]
                        }
                    },
                },
            ]
        }
    }
    assert json.loads(one(con, "otlp_anyvalue(v0)", body)) == {
        "index": 0,
        "message": {"tool_calls": [{"id": "call_1", "function": {"name": "get_weather"}}]},
    }
    # one level more than decoded: kept in its OTLP form, not lost
    deeper = {"arrayValue": {"values": [body]}}
    decoded = json.loads(one(con, "otlp_anyvalue(v0)", deeper))
    assert decoded[0]["message"]["tool_calls"][0]["function"] == {
        "kvlistValue": {"values": [{"key": "name", "value": {"stringValue": "get_weather"}}]}
    }


def test_arguments_become_objects(con):
    assert json.loads(one(con, "otlp_as_object(v0)", '{"a": 1}')) == {"a": 1}
    assert json.loads(one(con, "otlp_as_object(v0)", {"a": 1})) == {"a": 1}
    assert json.loads(one(con, "otlp_as_object(v0)", "{'python': 'repr'}")) == {"value": "{'python': 'repr'}"}
    assert json.loads(one(con, "otlp_as_object(v0)", "[1, 2]")) == {"value": [1, 2]}


def test_listing_includes_the_otlp_folder_and_the_sensor_fingerprints_it(tmp_path):
    day = "2026-11-20"
    (tmp_path / day).mkdir()
    (tmp_path / day / "a.jsonl").write_text("")
    (tmp_path / "otlp" / day).mkdir(parents=True)
    for name in ("traces.json", "logs.jsonl.gz", "b.json.gz", "notes.txt"):
        (tmp_path / "otlp" / day / name).write_text("")
    (tmp_path / "otlp" / "2026-11-21").mkdir()
    listing = list_partition_files(tmp_path, day)
    assert [f.relative_name for f in listing.files] == [
        f"{day}/a.jsonl",
        f"otlp/{day}/b.json.gz",
        f"otlp/{day}/logs.jsonl.gz",
        f"otlp/{day}/traces.json",
    ]
    assert [f.source_format for f in listing.files] == ["native", "otlp", "otlp", "otlp"]
    assert listing.ignored == ["otlp/notes.txt"]
    assert list_partition_keys(tmp_path) == [day, "2026-11-21"]  # an OTLP-only day is a partition
    assert partition_folders(tmp_path, "2026-11-21") == [tmp_path / "otlp" / "2026-11-21"]
    before = partition_fingerprint(listing)
    (tmp_path / "otlp" / day / "traces.json").write_text("{}\n")
    assert partition_fingerprint(list_partition_files(tmp_path, day)) != before


def test_docs_name_every_convention_attribute_and_quarantine_reason():
    docs = DOCS.read_text()
    sql = "".join(p.read_text() for p in SQL_DIR.glob("otlp_*.sql"))
    attributes = set(re.findall(r"'(trace_platform\.[a-z_]+\.[a-z_]+)'", sql))
    assert len(attributes) > 25
    # named in full, or as `.field` next to its prefix (`trace_platform.policy.decision` (with `.name`, ...))
    undocumented = {
        a
        for a in attributes
        if a not in docs and not (a.rsplit(".", 1)[0] in docs and f"`.{a.rsplit('.', 1)[1]}`" in docs)
    }
    assert undocumented == set()
    reasons = set(re.findall(r"'(otlp_(?:bad|not|unsupported)[a-z_]*)", sql))
    assert {"otlp_bad_span", "otlp_bad_attribute", "otlp_not_a_request", "otlp_unsupported_signal"} <= reasons
    assert {r for r in reasons if f"`{r}" not in docs} == set()
    # the <field> / <why> parts: the bad_field CASEs of otlp_parse.sql and the AnyValue checks
    parse = (SQL_DIR / "otlp_parse.sql").read_text()
    macros = (SQL_DIR / "otlp_macros.sql").read_text()
    cases = [parse[:end][-2000:] for end in [m.start() for m in re.finditer("AS bad_field", parse)]]
    cases.append(macros[macros.index("MACRO otlp_av_bad") :][:2000].split("END;")[0])
    fields = set(re.findall(r"'otlp_bad_[a-z_]+:([A-Za-z_]+)'", sql)).union(
        *(re.findall(r"THEN '([A-Za-z_]+)'", c) for c in cases)
    )
    assert {"trace_id", "start_time", "no_trace_context", "bad_int_value", "scopeSpans", "key"} <= fields
    assert {f for f in fields if f"`{f}`" not in docs} == set()
