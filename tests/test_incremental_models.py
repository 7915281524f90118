"""The incremental machinery of the trace-scoped models, beyond the late-arrival cases:

* a model that gains a column still builds on an existing warehouse (the delete of the rebuilt
  traces is a before_begin pre-hook, outside the transaction in which dbt alters the table:
  macros/rebuild_scope.sql);
* eval_trace_labels relabels traces that did not change when their intent's median moves, so its
  labels equal a fresh build's whatever the order of the days (models/eval/eval_trace_labels.sql).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
from dbt_support import DBT, Trace, dbt_env, load_and_build, rows, write_day

from trace_platform.defs.ingest.loader import ingest_partition
from trace_platform.defs.transform.project import DBT_PROJECT_DIR

# dbt builds: not in `make test-fast`
pytestmark = pytest.mark.slow

DAY1, DAY2 = "2026-11-20", "2026-11-21"


def _trace(trace_id: str, day: str, tool_calls: int, intent: str = "refund_order") -> list[dict]:
    trace = Trace(trace_id, day=day)
    trace.request(intent=intent)
    for n in range(tool_calls):
        call_id = f"{trace_id}.c{n}"
        trace.call(call_id, "lookup_order", access="read_only", arguments={"order_id": n})
        trace.result(call_id)
    trace.final()
    return trace.events


def test_a_trace_scoped_model_that_gains_a_column_builds_on_an_existing_warehouse(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    early = _trace("t-early", DAY1, 2)
    write_day(landing, DAY1, early[:-1] + _trace("t-day1", DAY1, 1))
    write_day(landing, DAY2, early[-1:] + _trace("t-day2", DAY2, 1))  # t-early ends a day late
    load_and_build(warehouse, landing, [DAY1])

    # The same project with one more column in a trace-scoped model, as an upgrade would bring.
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    model = project / "models" / "intermediate" / "int_trace_facts.sql"
    text = model.read_text()
    anchor = "(select max(changes_logged_through) from {{ ref('int_trace_changes') }}) as model_build_seq"
    assert anchor in text
    model.write_text(text.replace(anchor, anchor + ",\n    42 as column_added_by_upgrade"))

    con = duckdb.connect(str(warehouse))
    try:
        ingest_partition(con, landing, DAY2)
    finally:
        con.close()
    build = subprocess.run(
        [
            DBT,
            "build",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--target-path",
            str(tmp_path / "target"),
        ],
        env=dbt_env(warehouse),
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stdout[-4000:]

    # The rebuilt traces carry the new column; the untouched one keeps NULL (a full refresh fills it).
    assert rows(
        warehouse,
        "SELECT trace_id, column_added_by_upgrade FROM intermediate.int_trace_facts ORDER BY trace_id",
    ) == [("t-day1", None), ("t-day2", 42), ("t-early", 42)]
    assert rows(
        warehouse,
        "SELECT trace_id, final_result_count FROM intermediate.int_trace_facts WHERE trace_id = 't-early'",
    ) == [("t-early", 1)]
    # A rebuilt call keeps the delivery day of its own tool_call event.
    assert rows(
        warehouse, "SELECT trace_id, delivery_date::VARCHAR FROM marts.fct_tool_calls GROUP BY ALL ORDER BY 1"
    ) == [("t-day1", DAY1), ("t-day2", DAY2), ("t-early", DAY1)]
    # t-early's late event is a final result, not a call event: day 2 rebuilt its facts, not its
    # calls, and the calls marts rebuilt (and tested) t-day2 alone.
    assert rows(
        warehouse, "SELECT trace_id, calls_changed FROM intermediate.int_rebuild_scope ORDER BY trace_id"
    ) == [("t-day2", True), ("t-early", False)]
    # Nightly tests of a trace-scoped mart look at what the build rebuilt: the days in
    # int_rebuild_days (a semi-join lets DuckDB skip the other days' row groups) and, for a calls
    # mart, the traces whose calls changed.
    compiled = [
        path.read_text()
        for path in (tmp_path / "target" / "compiled").rglob("*.sql")
        if path.parent.name == "_marts.yml"
    ]
    scoped = [sql for sql in compiled if '"fct_tool_calls" where delivery_date in' in sql]
    assert scoped and all(
        '"fct_tool_calls" where delivery_date in (select delivery_date from intermediate.int_rebuild_days) '
        "and trace_id in (select trace_id from intermediate.int_rebuild_scope where calls_changed)" in sql
        for sql in scoped
    )


def _labels(warehouse: Path) -> list[tuple]:
    return rows(
        warehouse, "SELECT * EXCLUDE (first_delivery_date) FROM eval.eval_trace_labels ORDER BY trace_id"
    )


def test_eval_labels_follow_a_moved_intent_median_in_any_day_order(tmp_path):
    # Day 1: five one-call traces and one three-call trace: median 1, so three calls are inefficient.
    day1 = [event for n in range(5) for event in _trace(f"a{n}", DAY1, 1)] + _trace("slow", DAY1, 3)
    # Day 2: seven more three-call traces; the median becomes 3 and "slow" is no longer inefficient,
    # although none of its events changed.
    day2 = [event for n in range(7) for event in _trace(f"b{n}", DAY2, 3)]

    in_order = tmp_path / "in_order"
    write_day(in_order / "landing", DAY1, day1)
    write_day(in_order / "landing", DAY2, day2)
    load_and_build(in_order / "warehouse.duckdb", in_order / "landing", [DAY1])
    assert rows(
        in_order / "warehouse.duckdb",
        "SELECT inefficient_path, intent_median_tool_calls "
        "FROM eval.eval_trace_labels WHERE trace_id = 'slow'",
    ) == [(True, 1.0)]
    load_and_build(in_order / "warehouse.duckdb", in_order / "landing", [DAY2])
    assert rows(
        in_order / "warehouse.duckdb",
        "SELECT inefficient_path, inefficient_path_reason, "
        "intent_median_tool_calls FROM eval.eval_trace_labels WHERE trace_id = 'slow'",
    ) == [(False, None, 3.0)]

    reversed_order = tmp_path / "reversed"
    write_day(reversed_order / "landing", DAY1, day1)
    write_day(reversed_order / "landing", DAY2, day2)
    load_and_build(reversed_order / "warehouse.duckdb", reversed_order / "landing", [DAY2, DAY1])

    labels = _labels(in_order / "warehouse.duckdb")
    assert len(labels) == 13
    assert labels == _labels(reversed_order / "warehouse.duckdb")
    assert all(median == 3.0 for _, _, _, median, *_ in labels)
