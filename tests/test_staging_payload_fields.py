"""The staging views' typed payload fields (macros/payload_fields.sql).

Each view parses an event's payload once (one json_extract of every field's path) and types each
field from its extracted value. A value of the wrong JSON type must become NULL, never a cast error
or a converted value: payload departures are audit findings, not load failures.
"""

from __future__ import annotations

import duckdb
import pytest
from dbt_support import Trace, rows, run_dbt, write_day

from trace_platform.defs.ingest.loader import ingest_partition

# dbt builds: not in `make test-fast`
pytestmark = pytest.mark.slow

DAY = "2026-11-20"


def _build_staging(tmp_path, events: list[dict]):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    write_day(landing, DAY, events)
    con = duckdb.connect(str(warehouse))
    try:
        ingest_partition(con, landing, DAY)
    finally:
        con.close()
    run_dbt(warehouse, "run", "--select", "staging")
    return warehouse


def test_typed_fields_keep_their_json_type_rules(tmp_path):
    trace = Trace("t-types")
    trace.request()
    trace.model_call(model="m-int", input_tokens=12, output_tokens=7.6, latency_ms=250)
    # (a status outside its closed set, e.g. 3, is quarantined at ingestion: bad_value:model_call.status)
    trace.model_call(
        model="m-wrong",
        input_tokens="12",
        output_tokens=True,
        latency_ms="slow",
        status=...,
        finish_reason=None,
    )
    trace.model_call(
        model="m-missing",
        input_tokens=...,
        output_tokens=...,
        latency_ms=...,
        status=...,
        error={"type": "rate_limit", "message": "slow down"},
    )
    trace.call("c1", arguments={"order_id": 42, "note": "x"}, attempt=2, requires_confirmation=True)
    trace.add(
        "tool_call",
        {
            "tool_call_id": "c2",
            "tool_name": 5,
            "arguments": [1, 2],
            "attempt": 2.4,
            "requires_confirmation": "true",
        },
    )
    trace.final()
    warehouse = _build_staging(tmp_path, trace.events)

    model_calls = rows(
        warehouse,
        """
        select model, input_tokens, output_tokens, latency_ms, status, finish_reason, error_type, error_message
        from staging.stg_trace__model_calls order by sequence""",
    )
    assert model_calls == [
        ("m-int", 12, 8, 250.0, "ok", "stop", None, None),  # a double is rounded to a bigint
        (
            "m-wrong",
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        ),  # strings, booleans, numbers in the wrong place
        ("m-missing", None, None, None, None, "stop", "rate_limit", "slow down"),  # nested path
    ]

    tool_calls = rows(
        warehouse,
        """
        select tool_call_id, tool_name, arguments::varchar, attempt, requires_confirmation
        from staging.stg_trace__tool_calls order by sequence""",
    )
    assert tool_calls == [
        ("c1", "refund_order", '{"order_id":42,"note":"x"}', 2, True),
        ("c2", None, "[1,2]", 2, None),  # a number is not a tool name; "true" is not a boolean
    ]


def test_a_view_reads_each_payload_once(tmp_path):
    """The compiled staging SQL extracts all fields in one call per row (the point of the reader)."""
    trace = Trace("t-once")
    trace.request()
    trace.final()
    warehouse = _build_staging(tmp_path, trace.events)
    compiled = (
        warehouse.parent
        / "dbt_target"
        / "compiled"
        / "trace_platform"
        / "models"
        / "staging"
        / "stg_trace__model_calls.sql"
    ).read_text()
    assert compiled.count("json_extract(payload, [") == 1
    assert "json_type(payload," not in compiled and "payload ->>" not in compiled
    assert "'$.error.message'" in compiled
