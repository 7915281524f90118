"""Late events: a trace split over two delivery days gets the same facts whichever day runs first."""

from __future__ import annotations

import copy
import re

import pytest
from dbt_support import Trace, load_and_build, rows, run_dbt, write_day

# dbt builds: not in `make test-fast`
pytestmark = pytest.mark.slow

DAY1, DAY2 = "2026-11-20", "2026-11-21"
MODELED = [
    "marts.fct_tool_calls",
    "marts.fct_permission_checks",
    "marts.fct_confirmations",
    "marts.fct_side_effects",
    "marts.fct_model_calls",
    "marts.fct_outcomes",
    "marts.dim_tools",
    "marts.dim_agents",
    "marts.dim_models",
    "audit.audit_violations",
    "audit.audit_rule_summary",
    "eval.eval_trace_labels",
]


def _deliveries() -> dict[str, list[dict]]:
    split = Trace("late-result", day=DAY1)
    split.request()
    split.model_call()
    split.call("late-result.c", requires_confirmation=True)
    split.check("late-result.c")
    split.confirm("late-result.c")
    cut = len(split.events)
    split.result("late-result.c")  # the result, the side effect and the end of the run
    split.side_effect("late-result.c")  # arrive with the next delivery
    split.final()
    split.add("feedback", {"rating": 1})

    retry = Trace("late-retry", day=DAY1)
    retry.request()
    retry.call("late-retry.c1", "lookup_order", access="read_only")
    retry.result("late-retry.c1", "timeout", "timeout")
    retry_cut = len(retry.events)
    retry.call("late-retry.c2", "lookup_order", access="read_only", attempt=2, retry_of="late-retry.c1")
    retry.result("late-retry.c2")
    retry.final()

    whole = Trace("conflicted", day=DAY1)
    whole.request()
    whole.final()
    redelivered = copy.deepcopy(whole.events[1])
    redelivered["payload"]["status"] = "failure"  # a conflicting re-delivery: the first delivery wins

    return {
        DAY1: split.events[:cut] + retry.events[:retry_cut] + whole.events,
        DAY2: split.events[cut:] + retry.events[retry_cut:] + [redelivered],
    }


def _digest(warehouse) -> dict[str, list]:
    return {table: sorted(rows(warehouse, f"select * from {table}"), key=repr) for table in MODELED}


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    root = tmp_path_factory.mktemp("late_landing")
    for day, events in _deliveries().items():
        write_day(root, day, events)
    return root


def test_partition_order_does_not_change_the_facts(tmp_path, landing):
    in_order, reverse = tmp_path / "in_order.duckdb", tmp_path / "reverse.duckdb"
    load_and_build(in_order, landing, [DAY1])
    mid_way = {
        (r, k)
        for r, k in rows(
            in_order,
            "select rule_id, coalesce(tool_call_id, trace_id) "
            "from audit.audit_violations where trace_id = 'late-result'",
        )
    }
    assert mid_way == {("R1", "late-result"), ("R4", "late-result.c")}  # incomplete after day 1 only
    load_and_build(in_order, landing, [DAY2])
    load_and_build(reverse, landing, [DAY2, DAY1])

    first, second = _digest(in_order), _digest(reverse)
    for table in MODELED:
        assert first[table] == second[table], table

    outcome = rows(
        in_order,
        "select final_status, feedback_rating, tool_call_count, retry_count, breach_count "
        "from marts.fct_outcomes where trace_id = 'late-result'",
    )
    assert outcome == [("success", 1, 1, 0, 0)]
    retried = rows(
        in_order,
        "select chain_root_tool_call_id, executed from marts.fct_tool_calls "
        "where tool_call_id = 'late-retry.c2'",
    )
    assert retried == [("late-retry.c1", True)]
    assert rows(in_order, "select final_status from marts.fct_outcomes where trace_id = 'conflicted'") == [
        ("success",)
    ]
    assert rows(in_order, "select count(*) from audit.audit_violations") == [(0,)]


def test_rerunning_a_partition_changes_nothing(tmp_path, landing):
    warehouse = tmp_path / "rerun.duckdb"
    load_and_build(warehouse, landing, [DAY1, DAY2])
    before = _digest(warehouse)
    load_and_build(warehouse, landing, [DAY2])
    assert _digest(warehouse) == before
    # the re-delivered day changed no trace: the build rebuilt nothing ...
    assert rows(warehouse, "select count(*) from intermediate.int_rebuild_scope") == [(0,)]
    assert rows(warehouse, "select count(*) from intermediate.int_rebuild_days") == [(0,)]
    # ... and recorded itself as complete through the last publish: no trace is left pending
    assert rows(
        warehouse,
        "select changes_built_through = (select max(change_seq) from raw.trace_change_log) "
        "from intermediate.int_completed_builds order by changes_built_through desc limit 1",
    ) == [(True,)]
    assert rows(
        warehouse,
        "select count(*) from intermediate.int_trace_changes where changed_in_build > "
        "(select max(changes_built_through) from intermediate.int_completed_builds)",
    ) == [(0,)]


def test_a_build_of_part_of_the_models_records_no_complete_build(tmp_path, landing):
    """int_completed_builds gets a row only when every trace-scoped model was built: a selection that
    leaves one out would otherwise move the next build's scope past traces that model never rebuilt."""
    warehouse = tmp_path / "partial.duckdb"
    load_and_build(warehouse, landing, [DAY1])
    recorded = "select count(*) from intermediate.int_completed_builds"
    assert rows(warehouse, recorded) == [(1,)]
    run_dbt(warehouse, "build", "--select", "fct_tool_calls", "int_completed_builds")
    assert rows(warehouse, recorded) == [(1,)]
    run_dbt(warehouse, "build")
    assert rows(warehouse, recorded) == [(2,)]


DAY3 = "2026-11-22"


def _three_day_trace() -> tuple[list[list[dict]], Trace]:
    spread = Trace("spread", day=DAY1)
    spread.request()
    spread.call("spread.c", requires_confirmation=True)
    spread.check("spread.c")
    spread.confirm("spread.c")
    spread.result("spread.c")
    spread.side_effect("spread.c")
    spread.final()
    events = spread.events
    return [events[:2], events[2:5], events[5:]], spread


def test_redelivered_middle_day_rebuilds_the_traces_it_touches(tmp_path):
    """Day 2 is delivered again without the trace's events: only the change log tells the models
    which trace to rebuild (days 1 and 3 are not reloaded). The result must equal a fresh build
    of the final landing folder."""
    (first, middle, last), _ = _three_day_trace()
    other = Trace("bystander", day=DAY2)
    other.request()
    other.final()

    landing = tmp_path / "landing"
    write_day(landing, DAY1, first)
    write_day(landing, DAY2, middle + other.events)
    write_day(landing, DAY3, last)
    incremental = tmp_path / "incremental.duckdb"
    load_and_build(incremental, landing, [DAY1, DAY2, DAY3])
    assert rows(incremental, "select rule_id from audit.audit_violations where trace_id = 'spread'") == []

    (landing / DAY2 / "events.jsonl").unlink()
    write_day(landing, DAY2, other.events)  # re-delivery: the spread trace's middle events are gone
    load_and_build(incremental, landing, [DAY2])

    fresh = tmp_path / "fresh.duckdb"
    load_and_build(fresh, landing, [DAY1, DAY2, DAY3])
    assert _digest(incremental) == _digest(fresh)
    # the trace lost its policy check and confirmation: the rebuilt facts show it
    assert (
        rows(incremental, "select count(*) from audit.audit_violations where trace_id = 'spread'")[0][0] > 0
    )
    changes = rows(
        incremental,
        "select first_delivery_date::varchar, last_delivery_date::varchar, event_count "
        "from intermediate.int_trace_changes where trace_id = 'spread'",
    )
    assert changes == [(DAY1, DAY3, len(first) + len(last))]


def test_a_new_day_reads_only_the_days_its_traces_span(tmp_path):
    """The incremental build's staging reads are limited to the delivery days of the traces it
    rebuilds (int_rebuild_days)."""
    landing = tmp_path / "landing"
    for n, day in enumerate([DAY1, DAY2, DAY3]):
        trace = Trace(f"day{n}", day=day)
        trace.request()
        trace.final()
        write_day(landing, day, trace.events)
    (first, middle, _), _ = _three_day_trace()
    write_day(landing, DAY1, first)
    write_day(landing, DAY3, middle)  # a trace that started on day 1 continues on day 3
    warehouse = tmp_path / "warehouse.duckdb"
    load_and_build(warehouse, landing, [DAY1, DAY2, DAY3])

    # day 3's traces span days 1 and 3 (the spread trace) and 3 (its own): a range, so day 2 too
    assert _rebuild_days(warehouse) == [DAY1, DAY2, DAY3]
    assert _rebuild_scope(warehouse) == ["day2", "spread"]
    # every read of the events is pruned by those days: a semi-join, no date constants
    compiled = _compiled(tmp_path, "int_trace_facts")
    assert re.search(
        r'\bdelivery_date in \(select delivery_date from "\w+"\."intermediate"\."int_rebuild_days"\)',
        compiled,
    )
    assert "date '" not in compiled
    only_new = Trace("day3-only", day=DAY3)
    only_new.request()
    only_new.final()
    write_day(landing, DAY3, only_new.events, name="more.jsonl")
    load_and_build(warehouse, landing, [DAY3])
    # only the new trace changed (the others' fingerprints are the same): day 3 alone is read
    assert _rebuild_scope(warehouse) == ["day3-only"]
    assert _rebuild_days(warehouse) == [DAY3]
    # the same compiled SQL serves every night: the days are data, not part of the SQL
    assert _compiled(tmp_path, "int_trace_facts") == compiled


def _rebuild_days(warehouse) -> list[str]:
    return [
        day
        for (day,) in rows(
            warehouse, "select delivery_date::varchar from intermediate.int_rebuild_days order by 1"
        )
    ]


def _rebuild_scope(warehouse) -> list[str]:
    return [
        trace
        for (trace,) in rows(warehouse, "select trace_id from intermediate.int_rebuild_scope order by 1")
    ]


def _compiled(tmp_path, model: str) -> str:
    """The SQL dbt compiled for an intermediate model in the last build."""
    path = (
        tmp_path / "dbt_target" / "compiled" / "trace_platform" / "models" / "intermediate" / f"{model}.sql"
    )
    return path.read_text()


def test_rows_on_a_day_the_trace_left_are_deleted(tmp_path):
    """The nightly delete covers the days a trace's rows can carry (int_trace_changes.rows_first/
    last_delivery_date, into int_rebuild_days): the span it had when its rows were built, not only
    its span now. A re-delivered day 1 without the trace's calls moves its span to day 2 alone; the
    calls' rows, dated day 1, must still go."""
    moved = Trace("moved", day=DAY1)
    moved.request()
    moved.authorised_write("moved.c1")
    cut = len(moved.events)
    moved.final()
    bystander = Trace("bystander", day=DAY1)
    bystander.request()
    bystander.final()

    landing = tmp_path / "landing"
    write_day(landing, DAY1, moved.events[:cut] + bystander.events)
    write_day(landing, DAY2, moved.events[cut:])
    incremental = tmp_path / "incremental.duckdb"
    load_and_build(incremental, landing, [DAY1, DAY2])
    assert rows(incremental, "select count(*) from marts.fct_tool_calls where trace_id = 'moved'") == [(1,)]

    (landing / DAY1 / "events.jsonl").unlink()
    write_day(landing, DAY1, bystander.events)
    load_and_build(incremental, landing, [DAY1])
    # the trace's rows are deleted on every day they can carry, day 1 included, though its events
    # now lie on day 2 alone
    assert _rebuild_scope(incremental) == ["moved"]
    assert rows(
        incremental,
        "select calls_changed, first_delivery_date::varchar, rows_first_delivery_date::varchar "
        "from intermediate.int_rebuild_scope",
    ) == [(True, DAY2, DAY1)]
    assert _rebuild_days(incremental) == [DAY1, DAY2]

    fresh = tmp_path / "fresh" / "fresh.duckdb"
    fresh.parent.mkdir()
    load_and_build(fresh, landing, [DAY1, DAY2])
    assert rows(incremental, "select count(*) from marts.fct_tool_calls where trace_id = 'moved'") == [(0,)]
    assert _digest(incremental) == _digest(fresh)
