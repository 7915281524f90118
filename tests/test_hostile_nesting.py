"""Deeply nested JSON through ingestion and the dbt build (issue 17, defects 1 and 2).

One valid event whose arguments nest 600+ levels deep used to stop modelling for its day and every
later one (a RecursionError in canonical_json, called by json_equal for R10), and one deeply
nested line with `,]` text failed the whole day's ingestion (a RecursionError in the
strict_json_valid UDF). Now every depth is compared and validated as JSON, so the night completes,
identical arguments are equal, and a same-content re-delivery is a duplicate.
"""

from __future__ import annotations

import json

import duckdb
import pytest
from dbt_support import Trace, load_and_build, rows
from otlp_support import attrs, s, span, traces_request, write_otlp

pytestmark = pytest.mark.integration

DAY, NEXT_DAY = "2026-11-20", "2026-11-21"


def nested_arguments(depth: int, reverse: bool = False) -> str:
    """JSON text of an arguments object `depth` levels deep, keys in one order or the other."""
    opens, closes = [], []
    for level in range(depth):
        if reverse:
            opens.append(f'{{"level": {level}, "child": ')
            closes.append("}")
        else:
            opens.append('{"child": ')
            closes.append(f', "level": {level}}}')
    return "".join(opens) + '{"order_id": 42}' + "".join(reversed(closes))


def confirmed_write(trace_id: str, depth: int) -> list[str]:
    """A confirmed, executed write whose confirmation shows the same deep arguments in another key
    order: R10 must find them equal. Returned as lines, the deep values spliced in as text."""
    t = Trace(trace_id)
    t.request()
    t.call("c", requires_confirmation=True, arguments={"placeholder": "call"})
    t.check("c")
    t.confirm("c", arguments={"placeholder": "shown"})
    t.result("c")
    t.side_effect("c")
    t.final()
    call, shown = nested_arguments(depth), nested_arguments(depth, reverse=True)
    return [
        json.dumps(e).replace('{"placeholder": "call"}', call).replace('{"placeholder": "shown"}', shown)
        for e in t.events
    ]


def test_deep_arguments_neither_stop_the_night_nor_forge_breaches(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    day1 = (
        confirmed_write("deep600", 600)
        + confirmed_write("deep1000", 1_000)
        + confirmed_write("deep5000", 5_000)
    )
    (landing / DAY).mkdir(parents=True)
    (landing / DAY / "events.jsonl").write_text("\n".join(day1) + "\n")

    # Day 2: the same deep tool_call re-delivered with its keys in another order (a duplicate, not
    # a conflict); a deep line that is not strict JSON (`,]` inside: the strict parser's path), a
    # deep line that is valid and holds `,}` text in a string; an OTLP line of the same kinds; and
    # an ordinary trace, so the night has work to model.
    redelivered = json.loads(day1[1].replace(nested_arguments(600), '"x"'))
    redelivered_line = json.dumps(redelivered, sort_keys=True).replace(
        '"arguments": "x"', '"arguments": ' + nested_arguments(600, reverse=True)
    )
    deep_invalid = '{"event_id": "bad", "payload": ' + "[" * 1_500 + "1," + "]" * 1_500 + "}"
    deep_text = confirmed_write("deep_text", 1_200)[1].replace('"order_id": 42', '"order_id": ", }, ]"')
    clean = Trace("clean", day=NEXT_DAY)
    clean.request()
    clean.final()
    (landing / NEXT_DAY).mkdir(parents=True)
    (landing / NEXT_DAY / "events.jsonl").write_text(
        "\n".join([redelivered_line, deep_invalid, deep_text, *map(json.dumps, clean.events)]) + "\n"
    )
    deep_otlp_value = '{"stringValue": "' + "[" * 1_500 + ",]" + '"}'
    otlp_line = json.dumps(
        traces_request(
            span("0" * 31 + "1", "1" * 16, "tool", 0, 1, attributes=attrs(gen_ai__tool__name=s("lookup")))
        )
    )
    write_otlp(
        landing,
        NEXT_DAY,
        "deep.jsonl",
        [
            "[" * 2_000 + "{" + ",]" * 10 + "]" * 2_000,
            otlp_line.replace('{"stringValue": "lookup"}', deep_otlp_value),
        ],
    )

    load_and_build(warehouse, landing, [DAY, NEXT_DAY])  # raises if ingestion or dbt build fails

    breaches = rows(warehouse, "select rule_id, trace_id from audit.audit_violations order by 1, 2")
    assert [b for b in breaches if b[1] in ("deep600", "deep1000", "deep5000")] == [], breaches
    assert rows(
        warehouse,
        """select trace_id, approved_arguments_match from marts.fct_tool_calls
                              where trace_id in ('deep600', 'deep1000', 'deep5000') order by 1""",
    ) == [("deep1000", True), ("deep5000", True), ("deep600", True)]
    accounting = rows(
        warehouse,
        """select delivery_date::varchar, sum(lines_read), sum(blank_lines),
               sum(events_loaded), sum(duplicates_dropped), sum(lines_quarantined)
        from raw.ingest_files group by 1 order by 1""",
    )
    for _, read, blank, loaded, duplicates, quarantined in accounting:
        assert read == blank + loaded + duplicates + quarantined
    assert accounting[1][4] == 1, accounting  # the re-delivery in another key order is a duplicate
    reasons = rows(
        warehouse,
        f"""select source_file, line_number, reason from raw.quarantine
                                  where delivery_date = '{NEXT_DAY}' order by 1, 2""",
    )
    assert [r[2] for r in reasons if r[0].endswith("events.jsonl")] == ["invalid_json"], reasons
    assert "conflict" not in {r[2] for r in reasons}
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert (
            con.execute("select count(*) from raw.trace_events where trace_id = 'deep_text'").fetchone()[0]
            == 1
        )
        assert (
            con.execute("select count(*) from marts.fct_outcomes where trace_id = 'clean'").fetchone()[0] == 1
        )
    finally:
        con.close()
