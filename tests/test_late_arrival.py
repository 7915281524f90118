"""Late events: a trace split over two delivery days gets the same facts whichever day runs first."""

from __future__ import annotations

import copy

import pytest

from dbt_support import Trace, load_and_build, rows, write_day

DAY1, DAY2 = "2026-11-20", "2026-11-21"
MODELED = ["marts.fct_tool_calls", "marts.fct_permission_checks", "marts.fct_confirmations",
           "marts.fct_side_effects", "marts.fct_model_calls", "marts.fct_outcomes", "marts.dim_tools",
           "marts.dim_agents", "marts.dim_models", "audit.audit_violations", "audit.audit_rule_summary",
           "eval.eval_trace_labels"]


def _deliveries() -> dict[str, list[dict]]:
    split = Trace("late-result", day=DAY1)
    split.request()
    split.model_call()
    split.call("late-result.c", requires_confirmation=True)
    split.check("late-result.c")
    split.confirm("late-result.c")
    cut = len(split.events)
    split.result("late-result.c")       # the result, the side effect and the end of the run
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
    mid_way = {(r, k) for r, k in rows(in_order, "select rule_id, coalesce(tool_call_id, trace_id) "
                                                 "from audit.audit_violations where trace_id = 'late-result'")}
    assert mid_way == {("R1", "late-result"), ("R4", "late-result.c")}  # incomplete after day 1 only
    load_and_build(in_order, landing, [DAY2])
    load_and_build(reverse, landing, [DAY2, DAY1])

    first, second = _digest(in_order), _digest(reverse)
    for table in MODELED:
        assert first[table] == second[table], table

    outcome = rows(in_order, "select final_status, feedback_rating, tool_call_count, retry_count, breach_count "
                             "from marts.fct_outcomes where trace_id = 'late-result'")
    assert outcome == [("success", 1, 1, 0, 0)]
    retried = rows(in_order, "select chain_root_tool_call_id, executed from marts.fct_tool_calls "
                             "where tool_call_id = 'late-retry.c2'")
    assert retried == [("late-retry.c1", True)]
    assert rows(in_order, "select final_status from marts.fct_outcomes where trace_id = 'conflicted'") == [("success",)]
    assert rows(in_order, "select count(*) from audit.audit_violations") == [(0,)]


def test_rerunning_a_partition_changes_nothing(tmp_path, landing):
    warehouse = tmp_path / "rerun.duckdb"
    load_and_build(warehouse, landing, [DAY1, DAY2])
    before = _digest(warehouse)
    load_and_build(warehouse, landing, [DAY2])
    assert _digest(warehouse) == before
    pending = rows(warehouse, "select count(*) from intermediate.int_trace_changes where is_pending")
    assert pending == [(0,)]
