"""Raw payload retention: payloads, attributes and quarantined raw lines of delivery days older than
TRACE_PLATFORM_RAW_PAYLOAD_RETENTION_DAYS are purged after the build, and only those; a trace rebuilt
after its payloads were purged still builds (with the documented trade-off)."""

from __future__ import annotations

import json

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource
from dbt_support import Trace, load_and_build, rows, write_day

from trace_platform.defs.ingest.loader import ingest_partition
from trace_platform.defs.ingest.retention import (
    RAW_PAYLOAD_RETENTION,
    purge_raw_payloads,
    raw_payload_retention,
)
from trace_platform.lib import settings
from trace_platform.lib.duckdb_functions import register_redaction
from trace_platform.lib.landing import LandingError

DAYS = ["2026-11-18", "2026-11-19", "2026-11-20"]
CARD = "4111 1111 1111 1111"


def _day_events(day: str) -> list[dict]:
    t = Trace(f"t-{day}", day=day)
    t.add(
        "user_request",
        {"text": f"my card is {CARD}, mail me at bob.{day}@example.com", "intent": "pay"},
        attributes={"cookie": f"session-{day}-secret"},
    )
    t.call("c1", "charge", arguments={"card": CARD, "password": f"pw-{day}", "amount": 5})
    t.check("c1")
    t.result("c1")
    t.side_effect("c1")
    t.final()
    return t.events


def _landing(root, days=DAYS):
    for day in days:
        write_day(root / "landing", day, _day_events(day))
        with (root / "landing" / day / "events.jsonl").open("a") as handle:
            handle.write('{"broken": "line with a secret pw-quarantined-' + day + '"\n')
    return root / "landing"


def _ingest(warehouse, landing, days=DAYS):
    for day in days:  # one connection per day, as the nightly job does
        con = duckdb.connect(str(warehouse))
        try:
            ingest_partition(con, landing, day)
        finally:
            con.close()


def _purge(warehouse, partition, retention_days):
    con = duckdb.connect(str(warehouse))
    try:
        register_redaction(con)
        return purge_raw_payloads(con, partition, retention_days)
    finally:
        con.close()


def _raw_text_by_day(warehouse) -> dict[str, str]:
    found: dict[str, str] = {}
    for day, text in rows(
        warehouse,
        """
            SELECT delivery_date::VARCHAR, concat_ws(' ', payload, attributes, extra_fields) FROM raw.trace_events
            UNION ALL SELECT delivery_date::VARCHAR, raw_line FROM raw.quarantine""",
    ):
        found[day] = found.get(day, "") + " " + (text or "")
    return found


@pytest.fixture
def loaded(tmp_path):
    landing = _landing(tmp_path)
    warehouse = tmp_path / "warehouse.duckdb"
    _ingest(warehouse, landing)
    return warehouse, landing


def test_days_older_than_the_window_are_purged_and_only_those(loaded):
    warehouse, _ = loaded
    report = _purge(warehouse, DAYS[2], 1)  # cutoff = 2026-11-19: only 2026-11-18 is older
    assert (str(report.cutoff_date), report.days_purged) == ("2026-11-19", ["2026-11-18"])
    assert (report.payloads_redacted, report.attributes_removed, report.quarantine_lines_cleared) == (2, 1, 1)
    assert report.overdue == 0

    text = _raw_text_by_day(warehouse)
    old = text["2026-11-18"]
    for secret in (
        CARD,
        "bob.2026-11-18@example.com",
        "pw-2026-11-18",
        "session-2026-11-18-secret",
        "pw-quarantined-2026-11-18",
    ):
        assert secret not in old
    assert "[REDACTED:card]" in old and "[REDACTED:email]" in old
    for day in DAYS[1:]:  # within the window: untouched
        assert CARD in text[day] and f"pw-{day}" in text[day] and f"pw-quarantined-{day}" in text[day]

    # structure kept: payloads are still objects with their ids; accounting (R9) still adds up
    assert rows(
        warehouse,
        "SELECT count(*) FROM raw.trace_events WHERE delivery_date = '2026-11-18' "
        "AND (json_type(payload) <> 'OBJECT' OR attributes IS NOT NULL)",
    ) == [(0,)]
    assert rows(
        warehouse,
        "SELECT payload->>'$.tool_call_id', payload->>'$.arguments.amount' FROM raw.trace_events "
        "WHERE delivery_date = '2026-11-18' AND event_type = 'tool_call'",
    ) == [("c1", "5")]
    assert rows(
        warehouse,
        "SELECT reason, raw_line, raw_line_bytes > 0 FROM raw.quarantine WHERE delivery_date = '2026-11-18'",
    ) == [("invalid_json", None, True)]
    assert rows(
        warehouse,
        "SELECT count(*) FROM raw.ingest_files WHERE lines_read <> blank_lines + events_loaded "
        "+ duplicates_dropped + lines_quarantined",
    ) == [(0,)]
    assert rows(
        warehouse,
        "SELECT delivery_date::VARCHAR, retention_days, cutoff_date::VARCHAR, "
        "quarantine_lines_cleared FROM raw.payload_retention",
    ) == [("2026-11-18", 1, "2026-11-19", 1)]


@pytest.mark.slow
def test_purging_is_idempotent_and_a_reingested_day_is_purged_again(loaded):
    warehouse, landing = loaded
    _purge(warehouse, DAYS[2], 0)
    before = rows(warehouse, "SELECT * EXCLUDE (ingested_at) FROM raw.trace_events ORDER BY event_id")
    again = _purge(warehouse, DAYS[2], 0)
    assert again.days_purged == [] and again.overdue == 0
    assert rows(warehouse, "SELECT * EXCLUDE (ingested_at) FROM raw.trace_events ORDER BY event_id") == before

    _ingest(warehouse, landing, [DAYS[0]])  # an old day re-run: unredacted again ...
    assert CARD in _raw_text_by_day(warehouse)[DAYS[0]]
    report = _purge(warehouse, DAYS[0], 0)  # ... and purged again, whatever partition the run is for
    assert report.reference_date.isoformat() == DAYS[2] and report.days_purged == [DAYS[0]]
    assert CARD not in _raw_text_by_day(warehouse)[DAYS[0]]
    assert rows(warehouse, "SELECT * EXCLUDE (ingested_at) FROM raw.trace_events ORDER BY event_id") == before


def test_keep_purges_nothing_and_the_setting_is_validated(loaded, monkeypatch):
    warehouse, _ = loaded
    before = _raw_text_by_day(warehouse)
    report = _purge(warehouse, DAYS[2], None)
    assert report.days_purged == [] and report.metadata()["retention_days"] == "keep (no purge)"
    assert _raw_text_by_day(warehouse) == before

    env = settings.RAW_PAYLOAD_RETENTION_ENV
    monkeypatch.delenv(env, raising=False)
    assert settings.raw_payload_retention_days() == settings.DEFAULT_RAW_PAYLOAD_RETENTION_DAYS == 7
    for value, expected in (("30", 30), (" 0 ", 0), ("keep", None), ("FOREVER", None)):
        monkeypatch.setenv(env, value)
        assert settings.raw_payload_retention_days() == expected
    for hostile in ("-1", "7; DROP TABLE raw.trace_events", "1e3", "７", "999999", "seven", "7 days"):
        monkeypatch.setenv(env, hostile)
        with pytest.raises(ValueError, match=env):
            settings.raw_payload_retention_days()
    with pytest.raises(ValueError):
        _purge(warehouse, DAYS[2], -3)
    with pytest.raises(LandingError, match="expected YYYY-MM-DD"):
        _purge(warehouse, "2026-11-20'; DROP TABLE raw.trace_events; --", 1)
    assert rows(warehouse, "SELECT count(*) > 0 FROM raw.trace_events") == [(True,)]


@pytest.mark.slow
def test_the_asset_runs_after_the_dbt_models_and_checks_the_window(loaded, monkeypatch):
    warehouse, _ = loaded
    monkeypatch.setenv(settings.RAW_PAYLOAD_RETENTION_ENV, "1")
    result = dg.materialize(
        [raw_payload_retention],
        partition_key=DAYS[2],
        resources={"warehouse": DuckDBResource(database=str(warehouse))},
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("raw__payload_retention")
    assert materialization.metadata["days_purged"].data == [DAYS[0]]
    (check,) = result.get_asset_check_evaluations()
    assert (check.asset_key, check.check_name, check.passed) == (
        RAW_PAYLOAD_RETENTION,
        "raw_payloads_within_retention",
        True,
    )

    from trace_platform.definitions import defs

    nightly = defs.resolve_job_def("nightly_trace_job")
    structure = nightly.graph.dependency_structure
    upstream = {
        o.node.name
        for outs in structure.input_to_upstream_outputs_for_node("raw__payload_retention").values()
        for o in outs
    }
    assert upstream == {"trace_warehouse_models"}  # a failed dbt build skips the purge


@pytest.mark.slow
def test_a_trace_rebuilt_after_its_payloads_were_purged(tmp_path):
    """The documented trade-off: a late call event rebuilds its trace's calls from purged (redacted)
    payloads. Structure survives (every fact, every rule that needs no secret value); a difference
    that lay only in a redacted value (here R10: card A approved, card B run) is no longer seen.
    A late rating does not rebuild the calls, so R10 survives it."""
    day1, day2, day3 = "2026-11-19", "2026-11-20", "2026-11-21"
    t = Trace("late", day=day1)
    t.request("pay with 4242 4242 4242 4242")
    t.call("c1", "charge", requires_confirmation=True, arguments={"card": "5105105105105100", "amount": 5})
    t.check("c1")
    t.confirm("c1", arguments={"card": "4242424242424242", "amount": 5})
    t.result("c1")
    t.side_effect("c1")
    t.final()
    write_day(tmp_path / "landing", day1, t.events)
    warehouse = tmp_path / "warehouse.duckdb"
    load_and_build(warehouse, tmp_path / "landing", [day1])
    assert rows(warehouse, "SELECT rule_id FROM audit.audit_violations") == [("R10",)]
    facts_before = rows(
        warehouse,
        "SELECT tool_call_id, executed, result_status, side_effect_count, "
        "arguments::VARCHAR FROM marts.fct_tool_calls",
    )

    assert _purge(warehouse, day2, 0).days_purged == [day1]
    late = Trace("late", day=day2)
    late.events = [dict(e) for e in t.events]
    feedback = late.add("feedback", {"rating": 1})
    write_day(tmp_path / "landing", day2, [feedback])
    load_and_build(warehouse, tmp_path / "landing", [day2])

    assert rows(warehouse, "SELECT feedback_rating, event_count FROM marts.fct_outcomes") == [
        (1, len(t.events) + 1)
    ]
    assert (
        rows(
            warehouse,
            "SELECT tool_call_id, executed, result_status, side_effect_count, "
            "arguments::VARCHAR FROM marts.fct_tool_calls",
        )
        == facts_before
    )
    assert json.loads(facts_before[0][4]) == {"card": "[REDACTED:card]", "amount": 5}
    # a rating is not a call event: the calls keep the facts built from the unpurged payloads
    assert rows(warehouse, "SELECT rule_id FROM audit.audit_violations") == [("R10",)]

    # a rollback logged late is: the calls are rebuilt from the purged payloads
    later = Trace("late", day=day3)
    later.events = [dict(e) for e in late.events]
    rollback = later.add(
        "rollback", {"tool_call_id": "c1", "resource_type": "payment", "resource_id": "p-1", "status": "ok"}
    )
    write_day(tmp_path / "landing", day3, [rollback])
    load_and_build(warehouse, tmp_path / "landing", [day3])
    assert rows(warehouse, "SELECT rolled_back FROM marts.fct_tool_calls") == [(True,)]
    # the trade-off: both cards now read [REDACTED:card] upstream too, so R10 no longer fires
    assert rows(warehouse, "SELECT rule_id FROM audit.audit_violations") == []
