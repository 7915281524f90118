"""The two scopes of the trace-scoped models (macros/rebuild_scope.sql, int_rebuild_scope).

A 'calls' model rebuilds a trace only when the trace's call events changed (int_rebuild_scope
.calls_changed), so it must read nothing else; a 'trace' model rebuilds it when any event changed.
The commonest late event, a rating delivered the next morning, must therefore update the trace's
outcome and audit facts, leave its calls as they were built, and still give the facts of a fresh
build in any day order.
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
# The models a trace-scoped model reads to know what to rebuild, not data to rebuild from.
SCOPE_MODELS = {"int_rebuild_scope", "int_rebuild_days", "int_trace_changes"}
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
PRE_HOOK = re.compile(r"\{\{ delete_rebuilt_traces\('(\w+)'(, only_calls_changed=true)?\) \}\}")


def _call_event_types() -> set[str]:
    macros = (DBT_PROJECT_DIR / "macros" / "rebuild_scope.sql").read_text()
    body = re.search(r"macro call_event_types\(\).*?return\(\[(.*?)\]\)", macros, re.S).group(1)
    return set(re.findall(r"'(\w+)'", body))


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(ensure_manifest().read_text())


@pytest.fixture(scope="module")
def nodes(manifest) -> dict[str, dict]:
    return {node["name"]: node for node in manifest["nodes"].values() if node["resource_type"] == "model"}


@pytest.fixture(scope="module")
def scoped(nodes) -> dict[str, dict]:
    return {name: node for name, node in nodes.items() if "trace_scoped" in node["tags"]}


def _delete_hook(node: dict) -> tuple[str, bool]:
    """(day column, only_calls_changed) of the model's delete_rebuilt_traces pre-hook."""
    hooks = node["config"]["pre-hook"]
    assert len(hooks) == 1, (node["name"], hooks)
    # before dbt's transaction: DuckDB cannot commit a delete followed by the ALTER TABLE of a model
    # that gains a column (test_incremental_models.py)
    assert hooks[0]["transaction"] is False, node["name"]
    match = PRE_HOOK.fullmatch(hooks[0]["sql"].strip())
    assert match, (node["name"], hooks[0]["sql"])
    return match.group(1), bool(match.group(2))


def _scope_filters(code: str) -> list[str]:
    """What follows each read of int_rebuild_scope in a model: ')' for every trace in scope, or
    ' where calls_changed)' (the depends_on comment, which reads nothing, left out)."""
    code = "\n".join(line for line in code.splitlines() if not line.strip().startswith("-- depends_on:"))
    return re.findall(r"ref\('int_rebuild_scope'\) \}\}( where calls_changed\)|\))", code)


def test_the_trace_scoped_models_rebuild_the_traces_in_scope(scoped, nodes):
    """Each model appends the traces in scope after its pre-hook deleted its rows of them; the build
    that records a complete build (int_completed_builds) waits for every one of them."""
    assert len(scoped) == 13
    for name, node in scoped.items():
        assert node["config"]["materialized"] == "incremental", name
        expected_strategy = "delete+insert" if name == "eval_trace_labels" else "append"
        assert node["config"]["incremental_strategy"] == expected_strategy, name
        upstream = {u.split(".")[-1] for u in node["depends_on"]["nodes"]}
        assert {"int_rebuild_scope", "int_rebuild_days"} <= upstream, name
        day_column, _ = _delete_hook(node)
        # the delete's day column is a delivery day of the model's rows
        assert day_column in node["columns"] and day_column.endswith(
            ("delivery_date", "detected_in_partition")
        ), (name, day_column)
    completed = nodes["int_completed_builds"]
    assert completed["config"]["full_refresh"] is False
    upstream = {u.split(".")[-1] for u in completed["depends_on"]["nodes"]}
    assert upstream == set(scoped) | {"int_trace_changes"}


def test_calls_models_read_only_call_events(scoped, nodes):
    calls = {name for name, node in scoped.items() if _delete_hook(node)[1]}
    assert calls == CALL_MODELS
    call_types = _call_event_types()
    assert "feedback" not in call_types and "tool_call" in call_types
    for name in calls:
        # every read is of the traces whose call events changed
        filters = _scope_filters(nodes[name]["raw_code"])
        assert filters and set(filters) == {" where calls_changed)"}, (name, filters)
        for upstream_id in nodes[name]["depends_on"]["nodes"]:
            upstream = upstream_id.split(".")[-1]
            if upstream in calls or upstream in SCOPE_MODELS:
                continue
            assert upstream.startswith("stg_trace__") and upstream != "stg_trace__events", (name, upstream)
            # a per-type staging view: the one event type it selects must be a call event
            selected = set(re.findall(r"event_type = '(\w+)'", nodes[upstream]["raw_code"]))
            assert selected and selected <= call_types, (name, upstream, selected)


def test_trace_models_read_calls_models_by_delivery_day(scoped, nodes):
    """A 'trace' model rebuilds every trace in scope, so it reads all of their calls: those a 'calls'
    model rebuilt in this build and those it kept from an earlier one (the trace's calls did not
    change). Its reads of a calls model must therefore not narrow to calls_changed, and are pruned
    by the delivery days in int_rebuild_days."""
    trace_models = {name for name, node in scoped.items() if not _delete_hook(node)[1]}
    assert trace_models == set(scoped) - CALL_MODELS
    checked = 0
    for name in trace_models:
        code = nodes[name]["raw_code"]
        assert "calls_changed" not in code, name
        assert _scope_filters(code), name
        refs = list(re.finditer(r"ref\('(\w+)'\)", code))
        for n, ref in enumerate(refs):
            if ref.group(1) not in CALL_MODELS:
                continue
            # the read's text: up to the next model read that is not a scope model
            end = next((r.start() for r in refs[n + 1 :] if r.group(1) not in SCOPE_MODELS), len(code))
            read = code[ref.end() : end]
            assert "trace_id in (select trace_id from {{ ref('int_rebuild_scope') }})" in read, (name, ref[1])
            assert re.search(
                r"\b\w*delivery_date in \(select delivery_date from \{\{ ref\('int_rebuild_days'\) \}\}\)",
                read,
            ), (name, ref[1])
            checked += 1
    assert checked >= 3  # fct_outcomes, audit_violations and int_trace_eval_features read call lifecycles


def test_the_tests_of_a_trace_scoped_model_check_what_it_rebuilt(manifest, scoped):
    """A nightly build tests the rows it rebuilt, on the same scope as the model's delete: its days in
    int_rebuild_days, its traces in int_rebuild_scope (those whose calls changed, for a calls model)."""
    tested = set()
    for node in manifest["nodes"].values():
        attached = (node.get("attached_node") or "").split(".")[-1]
        if node["resource_type"] != "test" or attached not in scoped:
            continue
        day_column, only_calls = _delete_hook(scoped[attached])
        traces = "intermediate.int_rebuild_scope" + (" where calls_changed" if only_calls else "")
        assert node["config"]["where"] == (
            f"{day_column} in (select delivery_date from intermediate.int_rebuild_days) "
            f"and trace_id in (select trace_id from {traces})"
        ), node["name"]
        tested.add(attached)
    assert {"fct_tool_calls", "fct_outcomes", "audit_violations", "eval_trace_labels"} <= tested


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

    load_and_build(warehouse, landing, [DAY2])
    # day 2's build rebuilt the traces whose events changed; the calls of those whose call events did
    assert rows(
        warehouse, "select trace_id, calls_changed from intermediate.int_rebuild_scope order by trace_id"
    ) == [("day2", True), ("rated-late", False), ("retried-late", True)]
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
    # the build recorded itself as complete through the last publish: no trace is left to rebuild
    assert rows(
        warehouse,
        "select max(changes_built_through) = (select max(change_seq) from raw.trace_change_log) "
        "from intermediate.int_completed_builds",
    ) == [(True,)]
    assert rows(
        warehouse,
        "select count(*) from intermediate.int_trace_changes where greatest(changed_in_build, "
        "calls_changed_in_build) > (select max(changes_built_through) from intermediate.int_completed_builds)",
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
