"""OTLP traces through ingestion and the dbt project: the golden twin, the marts, finding R6U.

One warehouse for the module: a delivery day holding the golden run twice (native events in
`<landing>/<day>/`, OTLP in `<landing>/otlp/<day>/`), the other OTLP fixtures, and a native trace
with an executed call of unknown access class.
"""

from __future__ import annotations

import shutil

import pytest
from dbt_support import Trace, load_and_build, rows, write_day

from tests.otlp_support import DAY, FIXTURES, copy_fixture

# dbt builds: not in `make test-fast`
pytestmark = pytest.mark.slow

GOLDEN_OTLP = "7d3c2b1a0f9e8d7c6b5a493827161504"
GOLDEN_NATIVE = "golden-native"
TRACE_GENAI = "5b8efff798038103d269b633813fc60c"
TRACE_OI = "a3ce929d0e0e47364bf92f3577b34da6"
TRACE_LOGS = "0af7651916cd43dd8448eb211c80319c"
TRACE_BAD = "11112222333344445555666677778888"

# Columns that name the delivery, not the fact: event ids and the trace id itself.
NOT_FACTS = {"trace_id", "request_event_id", "event_id", "violation_id"}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    root = tmp_path_factory.mktemp("otlp_marts")
    landing = root / "landing"
    (landing / DAY).mkdir(parents=True)
    shutil.copy(FIXTURES / "golden" / "native.jsonl", landing / DAY / "golden_native.jsonl")
    copy_fixture(landing, DAY, "golden/otlp.jsonl", "golden_otlp.jsonl")
    for name in ("genai_agent_run.jsonl", "openinference_run.json", "genai_logs.jsonl.gz", "malformed.jsonl"):
        copy_fixture(landing, DAY, name)
    unknown = Trace("native-unknown-access", day=DAY)
    unknown.request()
    unknown.call("nu.c1", "export_report", access="unknown")
    unknown.result("nu.c1")
    unknown.call("nu.c2", "export_report", access="unknown", mode="suggest")
    unknown.final()
    write_day(landing, DAY, unknown.events, name="unknown_access.jsonl")
    load_and_build(root / "warehouse.duckdb", landing, [DAY])
    return root / "warehouse.duckdb"


def _facts(warehouse, table: str, trace_id: str, order_by: str) -> tuple[list[str], list[tuple]]:
    columns = [
        r[0]
        for r in rows(
            warehouse,
            f"select column_name from information_schema.columns "
            f"where table_schema || '.' || table_name = '{table}' order by ordinal_position",
        )
    ]
    kept = [c for c in columns if c not in NOT_FACTS]
    found = rows(
        warehouse, f"select {', '.join(kept)} from {table} where trace_id = '{trace_id}' order by {order_by}"
    )
    return kept, found


@pytest.mark.parametrize(
    "table, order_by",
    [
        ("marts.fct_outcomes", "trace_id"),
        ("marts.fct_tool_calls", "tool_call_id"),
        ("marts.fct_model_calls", "called_at"),
        ("marts.fct_permission_checks", "check_id"),
        ("marts.fct_side_effects", "resource_id"),
        ("marts.fct_confirmations", "confirmation_id"),
        ("eval.eval_trace_labels", "trace_id"),
    ],
)
def test_golden_run_yields_the_same_facts_from_native_events_and_from_otlp(warehouse, table, order_by):
    columns, native = _facts(warehouse, table, GOLDEN_NATIVE, order_by)
    _, otlp = _facts(warehouse, table, GOLDEN_OTLP, order_by)
    assert len(native) == len(otlp)
    if table != "marts.fct_confirmations":  # the run asks for no confirmation
        assert native, table
    for native_row, otlp_row in zip(native, otlp, strict=False):
        differing = {c: (n, o) for c, n, o in zip(columns, native_row, otlp_row, strict=False) if n != o}
        assert differing == {}, f"{table}: {differing}"


def test_golden_run_facts_are_the_expected_ones(warehouse):
    outcome = rows(
        warehouse,
        "select final_status, request_text, intent, tool_call_count, executed_write_count, "
        "model_call_count, input_tokens, output_tokens, breach_count, duration_ms, step_count "
        "from marts.fct_outcomes where trace_id = ?".replace("?", f"'{GOLDEN_OTLP}'"),
    )
    assert outcome == [("success", "Cancel order 7", "cancel_order", 1, 1, 2, 1360, 64, 0, 6000, 4)]
    call = rows(
        warehouse,
        f"select tool_name, access, mode, arguments::varchar, policy_decision, authorised_before_execution, "
        f"result_status, executed, side_effect_count from marts.fct_tool_calls where trace_id = '{GOLDEN_OTLP}'",
    )
    assert call == [
        ("cancel_order", "state_changing", "execute", '{"order_id":7}', "allow", True, "ok", True, 1)
    ]
    assert rows(
        warehouse,
        f"select count(*) from audit.audit_violations where trace_id in ('{GOLDEN_OTLP}', '{GOLDEN_NATIVE}')",
    ) == [(0,)]


def test_otlp_model_calls_tool_calls_tokens_and_errors_reach_the_marts(warehouse):
    models = rows(
        warehouse,
        f"select provider, model, model_version, input_tokens, output_tokens, total_tokens, status "
        f"from marts.fct_model_calls where trace_id = '{TRACE_GENAI}' order by called_at",
    )
    assert models == [
        ("openai", "gpt-4o", "gpt-4o-2024-08-06", 812, 64, 876, "ok"),
        ("openai", "gpt-4o", "gpt-4o-2024-08-06", 901, 41, 942, "ok"),
        ("openai", "gpt-4o", "gpt-4o-2024-08-06", 1020, 33, 1053, "ok"),
    ]
    calls = rows(
        warehouse,
        f"select tool_call_id, tool_name, arguments::varchar, access, executed, result_status, "
        f"policy_decision, confirmation_status, approved_before_execution, approved_arguments_match, "
        f"side_effect_count from marts.fct_tool_calls where trace_id = '{TRACE_GENAI}' order by requested_at",
    )
    assert calls == [
        (
            "call_lookup_1",
            "lookup_order",
            '{"order_id":42}',
            "read_only",
            True,
            "ok",
            "none",
            "not_requested",
            False,
            None,
            0,
        ),
        (
            "call_refund_2",
            "refund_order",
            '{"order_id":42,"amount":19.99,"currency":"EUR"}',
            "state_changing",
            True,
            "ok",
            "require_confirmation",
            "approved",
            True,
            True,
            1,
        ),
        (
            "call_notify_3",
            "notify_customer",
            '{"channel":"email","order_id":42}',
            "unknown",
            True,
            "error",
            "none",
            "not_requested",
            False,
            None,
            0,
        ),
    ]
    outcome = rows(
        warehouse,
        f"select final_status, user_id, session_id, tenant_id, agent_name, agent_version, "
        f"input_tokens, output_tokens, error_count, tool_call_count "
        f"from marts.fct_outcomes where trace_id = '{TRACE_GENAI}'",
    )
    assert outcome == [("success", "u-981", "conv-77", "acme", "refund-agent", "2.3.0", 2733, 138, 2, 3)]
    oi = rows(
        warehouse,
        f"select model_call_count, input_tokens, output_tokens, error_count, tool_call_count, planned_step_count "
        f"from marts.fct_outcomes where trace_id = '{TRACE_OI}'",
    )
    # the CHAIN span is loaded as a step, which is not a plan: no planned steps
    assert oi == [(3, 714, 83, 2, 2, None)]
    suggested = rows(
        warehouse,
        f"select tool_name, mode, executed, result_status from marts.fct_tool_calls "
        f"where trace_id = '{TRACE_OI}' order by tool_name",
    )
    assert suggested == [
        ("book_table", "suggest", False, "no_result"),
        ("get_weather", "execute", True, "ok"),
    ]
    assert rows(
        warehouse,
        f"select rating from marts.fct_outcomes o join staging.stg_trace__feedback f using (trace_id) "
        f"where trace_id = '{TRACE_LOGS}'",
    ) == [(1,)]


def test_unknown_access_is_a_finding_of_its_own_kind(warehouse):
    found = set(
        rows(
            warehouse,
            "select rule_id, trace_id, coalesce(tool_call_id, event_id) from audit.audit_violations "
            "where trace_id <> 'golden-native'",
        )
    )
    logs_model_call = rows(
        warehouse, f"select event_id from marts.fct_model_calls where trace_id = '{TRACE_LOGS}'"
    )[0][0]
    bad_model_call = rows(
        warehouse, f"select event_id from marts.fct_model_calls where trace_id = '{TRACE_BAD}'"
    )[0][0]
    assert found == {
        ("R6U", TRACE_GENAI, "call_notify_3"),  # executed, nothing tells its access class
        ("R6U", TRACE_OI, "call_w1"),  # OpenInference TOOL span: no access attribute
        ("R6U", "native-unknown-access", "nu.c1"),  # native events may say `unknown` too
        ("R8", TRACE_LOGS, logs_model_call),  # a request model only: no served version
        ("R8", TRACE_BAD, bad_model_call),
    }
    # never treated as read-only or state-changing: R2 and R6 stay silent, the suggestion is no finding
    detail = rows(
        warehouse,
        "select category, severity, detail from audit.audit_violations "
        "where rule_id = 'R6U' and tool_call_id = 'call_notify_3'",
    )
    assert detail == [
        (
            "trail_completeness",
            "medium",
            "executed call to notify_customer has no known access class (access unknown): "
            "R2 and R6 cannot judge whether it changed state",
        )
    ]
    summary = rows(
        warehouse,
        "select sum(breach_count), sum(unit_count) from audit.audit_rule_summary where rule_id = 'R6U'",
    )
    assert summary[0][0] == 3
