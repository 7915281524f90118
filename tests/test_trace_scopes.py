"""The two scopes of the trace-scoped models (macros/trace_changes.sql).

A 'calls' model rebuilds a trace only when the trace's call events changed, so it must read
nothing else; a 'trace' model rebuilds it when any event changed. The commonest late event, a
rating delivered the next morning, must therefore update the trace's outcome and audit facts,
leave its calls as they were built, and still give the facts of a fresh build in any day order.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import duckdb
import pytest
from dbt_support import DBT, Trace, dbt_env, load_and_build, rows, write_day

from trace_platform.defs.ingest.loader import ingest_partition
from trace_platform.defs.transform.project import DBT_PROJECT_DIR, ensure_manifest

DAY1, DAY2 = "2026-11-20", "2026-11-21"
CALL_MODELS = {
    "int_tool_call_chains",
    "int_confirmations",
    "int_tool_call_lifecycle",
    "fct_tool_calls",
    "fct_permission_checks",
    "fct_confirmations",
    "fct_side_effects",
    "fct_model_calls",
}
MODELED = [
    "marts.fct_tool_calls",
    "marts.fct_permission_checks",
    "marts.fct_confirmations",
    "marts.fct_side_effects",
    "marts.fct_model_calls",
    "marts.fct_outcomes",
    "marts.dim_tools",
    "marts.dim_models",
    "audit.audit_violations",
    "audit.audit_rule_summary",
    "eval.eval_trace_labels",
    "intermediate.int_trace_facts",
]


def _call_event_types() -> set[str]:
    macros = (DBT_PROJECT_DIR / "macros" / "trace_changes.sql").read_text()
    body = re.search(r"macro call_event_types\(\).*?return\(\[(.*?)\]\)", macros, re.S).group(1)
    return set(re.findall(r"'(\w+)'", body))


@pytest.fixture(scope="module")
def nodes() -> dict[str, dict]:
    manifest = json.loads(ensure_manifest().read_text())
    return {node["name"]: node for node in manifest["nodes"].values() if node["resource_type"] == "model"}


def test_calls_models_read_only_call_events(nodes):
    scoped = {name: node for name, node in nodes.items() if "trace_scoped" in node["tags"]}
    calls = {name for name, node in scoped.items() if node["config"].get("trace_scope") == "calls"}
    assert calls == CALL_MODELS
    assert all(node["config"].get("trace_scope") in (None, "trace", "calls") for node in scoped.values())
    call_types = _call_event_types()
    assert "feedback" not in call_types and "tool_call" in call_types
    for name in calls:
        for upstream_id in nodes[name]["depends_on"]["nodes"]:
            upstream = upstream_id.split(".")[-1]
            if upstream in calls or upstream == "int_trace_changes":
                continue
            assert upstream.startswith("stg_trace__") and upstream != "stg_trace__events", (name, upstream)
            # a per-type staging view: the one event type it selects must be a call event
            selected = set(re.findall(r"event_type = '(\w+)'", nodes[upstream]["raw_code"]))
            assert selected and selected <= call_types, (name, upstream, selected)


def test_trace_models_read_calls_models_by_delivery_day(nodes):
    """pending_traces_only() assumes every pending trace's rows were rewritten in this run, which a
    'calls' model does not do for a trace whose calls did not change."""
    for name, node in nodes.items():
        if "trace_scoped" not in node["tags"] or node["config"].get("trace_scope") == "calls":
            continue
        for model, predicate in re.findall(r"ref\('(\w+)'\)\s*\}\}(.*?)(?=ref\(|$)", node["raw_code"], re.S):
            if model in CALL_MODELS:
                assert "pending_traces_only" not in predicate, (name, model)
                assert "pending_trace_events_only" in predicate, (name, model)


def _day1_trace(trace_id: str) -> Trace:
    trace = Trace(trace_id, day=DAY1)
    trace.request()
    trace.model_call()
    trace.authorised_write(f"{trace_id}.c1")
    trace.final()
    return trace


def _landing(root: Path) -> Path:
    rated = _day1_trace("rated-late")  # its rating arrives with day 2
    rating = rated.add("feedback", {"rating": -1})
    retried = _day1_trace("retried-late")  # one more call, logged with day 2
    cut = len(retried.events)
    retried.call("retried-late.c2", "lookup_order", access="read_only")
    retried.result("retried-late.c2", "error", "not_applicable")
    steady = _day1_trace("steady")  # nothing more
    fresh = Trace("day2", day=DAY2)
    fresh.request()
    fresh.final()
    write_day(root, DAY1, [e for e in rated.events if e is not rating] + retried.events[:cut] + steady.events)
    write_day(root, DAY2, [rating] + retried.events[cut:] + fresh.events)
    return root


def _ingest(warehouse: Path, landing: Path, day: str) -> None:
    con = duckdb.connect(str(warehouse))
    try:
        ingest_partition(con, landing, day)
    finally:
        con.close()


def _digest(warehouse: Path) -> dict[str, list]:
    """Every modeled table, without model_build_seq (which build wrote a row differs by design)."""
    digest = {}
    for table in MODELED:
        columns = [name for name, *_ in rows(warehouse, f"describe {table}") if name != "model_build_seq"]
        digest[table] = sorted(rows(warehouse, f"select {', '.join(columns)} from {table}"), key=repr)
    return digest


def _build_with_debug_log(warehouse: Path, day: str) -> str:
    """A nightly `dbt build` of `day` (as load_and_build runs it) that keeps dbt's debug log."""
    logs = warehouse.parent / "dbt_logs"
    subprocess.run(
        [
            DBT,
            "--log-level-file",
            "debug",
            "build",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(warehouse.parent / "dbt_target"),
            "--log-path",
            str(logs),
        ],
        env=dbt_env(warehouse, day),
        capture_output=True,
        text=True,
        check=True,
    )
    return (logs / "dbt.log").read_text()


@pytest.mark.slow
def test_a_late_rating_rebuilds_the_outcome_but_not_the_calls(tmp_path):
    landing = _landing(tmp_path / "landing")
    warehouse = tmp_path / "in_order" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    load_and_build(warehouse, landing, [DAY1])
    built = "select trace_id, max(model_build_seq) from {} group by 1 order by 1"
    day1_seqs = {
        table: rows(warehouse, built.format(table))
        for table in (
            "intermediate.int_tool_call_lifecycle",
            "intermediate.int_tool_call_chains",
            "intermediate.int_trace_facts",
        )
    }
    assert rows(
        warehouse, "select feedback_rating from marts.fct_outcomes where trace_id = 'rated-late'"
    ) == [(None,)]

    _ingest(warehouse, landing, DAY2)
    log = _build_with_debug_log(warehouse, DAY2)
    # the lookups about the pending traces run once per build (macros/invocation_cache.sql), not
    # once per trace-scoped node: the change-log position once, each kind of day list per scope
    assert len(re.findall(r"(?<!\()select coalesce\(max\(changes_logged_through\), 0\) from", log)) == 1
    assert (
        len(
            re.findall(
                r"select distinct unnest\(generate_series\(first_delivery_date, last_delivery_date", log
            )
        )
        == 2
    )
    assert len(re.findall(r"exists\(select 1 from pending", log)) == 2
    changes = dict(rows(warehouse, "select trace_id, call_event_count from intermediate.int_trace_changes"))
    assert changes["rated-late"] == changes["steady"] > 0  # the rating is not a call event
    for table, before in day1_seqs.items():
        after = dict(rows(warehouse, built.format(table)))
        before = dict(before)
        # the rated trace's calls were not rebuilt, its facts were; the retried trace's calls were
        assert after["steady"] == before["steady"], table
        assert after["retried-late"] > before["retried-late"], table
        if table == "intermediate.int_trace_facts":
            assert after["rated-late"] > before["rated-late"]
        else:
            assert after["rated-late"] == before["rated-late"], table
    # ...while its outcome, facts and audit dating follow the rating
    assert rows(
        warehouse,
        "select feedback_rating, tool_call_count, breach_count from marts.fct_outcomes "
        "where trace_id = 'rated-late'",
    ) == [(-1, 1, 0)]
    assert rows(
        warehouse,
        "select last_delivery_date::varchar, feedback_count from intermediate.int_trace_facts "
        "where trace_id = 'rated-late'",
    ) == [(DAY2, 1)]
    assert rows(
        warehouse, "select tool_call_count from marts.fct_outcomes where trace_id = 'retried-late'"
    ) == [(2,)]
    assert rows(
        warehouse, "select count(*) from intermediate.int_trace_changes where is_pending or calls_pending"
    ) == [(0,)]

    reverse = tmp_path / "reverse" / "warehouse.duckdb"
    reverse.parent.mkdir()
    load_and_build(reverse, landing, [DAY2, DAY1])
    fresh = tmp_path / "fresh" / "warehouse.duckdb"  # both days loaded, then one build from scratch
    fresh.parent.mkdir()
    for day in (DAY1, DAY2):
        _ingest(fresh, landing, day)
    subprocess.run(
        [
            DBT,
            "build",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(fresh.parent / "dbt_target"),
        ],
        env=dbt_env(fresh),
        capture_output=True,
        text=True,
        check=True,
    )
    expected = _digest(fresh)
    assert _digest(warehouse) == expected
    assert _digest(reverse) == expected
