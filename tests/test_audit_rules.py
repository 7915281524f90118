"""Each audit rule, positive and negative, on tiny hand-written traces built through the real
ingestion and dbt project (one build for all cases, one trace per case)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from dbt_support import Trace, load_and_build, rows, write_day

DAY = "2026-11-20"
Case = Callable[[Trace], None]
CASES: dict[str, tuple[Case, set[tuple[str, str]]]] = {}


def case(name: str, *expected: tuple[str, str]):
    """Registers a trace builder and the (rule_id, key) breaches it must produce, no more."""

    def register(build: Case) -> Case:
        CASES[name] = (build, set(expected))
        return build

    return register


def _wrap(t: Trace, body: Callable[[], None]) -> None:
    t.request()
    body()
    t.final()


@case("clean_write")
def _(t):
    _wrap(t, lambda: (t.model_call(), t.authorised_write("c")))


# R1 complete run ---------------------------------------------------------------------------------
@case("r1_missing_final_result", ("R1", "r1_missing_final_result"))
def _(t):
    t.request()
    t.authorised_write("c")


@case("r1_two_user_requests", ("R1", "r1_two_user_requests"))
def _(t):
    t.request()
    _wrap(t, lambda: None)


# R2 authorised write -------------------------------------------------------------------------------
@case("r2_no_policy_check", ("R2", "r2_no_policy_check.c"))
def _(t):
    _wrap(
        t,
        lambda: (
            t.call("r2_no_policy_check.c"),
            t.result("r2_no_policy_check.c"),
            t.side_effect("r2_no_policy_check.c"),
        ),
    )


@case("r2_check_after_execution", ("R2", "r2_check_after_execution.c"))
def _(t):
    c = "r2_check_after_execution.c"
    _wrap(t, lambda: (t.call(c), t.result(c), t.check(c), t.side_effect(c)))


@case(
    "r2_side_effect_only_counts_as_execution",
    ("R2", "r2_side_effect_only.c"),
    ("R4", "r2_side_effect_only.c"),
)
def _(t):
    c = "r2_side_effect_only.c"
    _wrap(t, lambda: (t.call(c), t.side_effect(c)))


@case("r2_read_only_needs_no_check")
def _(t):
    c = "r2_read_only.c"
    _wrap(t, lambda: (t.call(c, "lookup_order", access="read_only"), t.result(c)))


@case("r2_retry_covered_by_first_attempt")
def _(t):
    def body():
        t.call("r2_retry.c1")
        t.check("r2_retry.c1")
        t.result("r2_retry.c1", "timeout", "timeout")
        t.call("r2_retry.c2", attempt=2, retry_of="r2_retry.c1")
        t.result("r2_retry.c2")
        t.side_effect("r2_retry.c2")

    _wrap(t, body)


@case("r2_not_executed_when_cancelled")
def _(t):
    c = "r2_cancelled.c"
    _wrap(t, lambda: (t.call(c), t.result(c, "cancelled")))


# R3 confirmed write --------------------------------------------------------------------------------
@case("r3_required_but_not_confirmed", ("R3", "r3_unconfirmed.c"))
def _(t):
    c = "r3_unconfirmed.c"
    _wrap(t, lambda: (t.call(c, requires_confirmation=True), t.check(c), t.result(c), t.side_effect(c)))


@case("r3_rejected_but_ran", ("R3", "r3_rejected.c"))
def _(t):
    c = "r3_rejected.c"
    _wrap(
        t,
        lambda: (
            t.call(c, requires_confirmation=True),
            t.check(c),
            t.confirm(c, "rejected"),
            t.result(c),
            t.side_effect(c),
        ),
    )


@case("r3_policy_requires_confirmation", ("R3", "r3_policy.c"))
def _(t):
    c = "r3_policy.c"
    _wrap(t, lambda: (t.call(c), t.check(c, "require_confirmation"), t.result(c), t.side_effect(c)))


@case("r3_approved_after_execution", ("R3", "r3_late_approval.c"))
def _(t):
    c = "r3_late_approval.c"
    _wrap(t, lambda: (t.call(c, requires_confirmation=True), t.check(c), t.result(c), t.confirm(c)))


@case("r3_policy_confirmation_approved")
def _(t):
    c = "r3_ok.c"
    _wrap(
        t,
        lambda: (t.call(c), t.check(c, "require_confirmation"), t.confirm(c), t.result(c), t.side_effect(c)),
    )


@case("r3_rejected_and_cancelled")
def _(t):
    c = "r3_cancelled.c"
    _wrap(
        t,
        lambda: (
            t.call(c, requires_confirmation=True),
            t.check(c),
            t.confirm(c, "expired"),
            t.result(c, "cancelled"),
        ),
    )


@case("r3_retry_covered_by_first_attempts_approval")
def _(t):
    def body():
        t.call("r3_retry.c1", requires_confirmation=True)
        t.check("r3_retry.c1")
        t.confirm("r3_retry.c1")
        t.result("r3_retry.c1", "timeout", "timeout")
        t.call("r3_retry.c2", requires_confirmation=True, attempt=2, retry_of="r3_retry.c1")
        t.result("r3_retry.c2")
        t.side_effect("r3_retry.c2")

    _wrap(t, body)


# R4 one result -------------------------------------------------------------------------------------
@case("r4_missing_result", ("R4", "r4_missing.c"))
def _(t):
    c = "r4_missing.c"
    _wrap(t, lambda: (t.call(c), t.check(c)))


@case("r4_two_results", ("R4", "r4_two.c"))
def _(t):
    c = "r4_two.c"
    _wrap(
        t,
        lambda: (t.call(c, "lookup_order", access="read_only"), t.result(c, "error", "timeout"), t.result(c)),
    )


@case("r4_suggest_with_result", ("R4", "r4_suggest.c"))
def _(t):
    c = "r4_suggest.c"
    _wrap(t, lambda: (t.call(c, mode="suggest"), t.result(c)))


@case("r4_suggest_without_result")
def _(t):
    _wrap(t, lambda: t.call("r4_suggest_ok.c", mode="suggest"))


# R5 no bypass --------------------------------------------------------------------------------------
@case("r5_denied_but_ok", ("R5", "r5_ok.c"), ("R2", "r5_ok.c"))
def _(t):
    c = "r5_ok.c"
    _wrap(t, lambda: (t.call(c), t.check(c, "deny"), t.result(c)))


@case("r5_denied_but_side_effect", ("R5", "r5_effect.c"), ("R2", "r5_effect.c"))
def _(t):
    c = "r5_effect.c"
    _wrap(t, lambda: (t.call(c), t.check(c, "deny"), t.result(c, "denied"), t.side_effect(c)))


@case("r5_denied_and_stopped")
def _(t):
    c = "r5_clean.c"
    _wrap(t, lambda: (t.call(c), t.check(c, "deny"), t.result(c, "denied")))


@case("r5_retry_of_denied_call", ("R5", "r5_retry.c2"), ("R2", "r5_retry.c2"))
def _(t):
    def body():
        t.call("r5_retry.c1")
        t.check("r5_retry.c1", "deny")
        t.result("r5_retry.c1", "denied")
        t.call("r5_retry.c2", attempt=2, retry_of="r5_retry.c1")
        t.result("r5_retry.c2")

    _wrap(t, body)


# R6 honest access ----------------------------------------------------------------------------------
@case("r6_read_only_side_effect", ("R6", "r6_read.c"))
def _(t):
    c = "r6_read.c"
    _wrap(t, lambda: (t.call(c, "lookup_order", access="read_only"), t.result(c), t.side_effect(c)))


@case("r6_side_effect_without_call", ("R6", "r6_ghost.c"))
def _(t):
    _wrap(t, lambda: t.side_effect("r6_ghost.c"))


@case("r6_side_effect_of_suggestion", ("R6", "r6_suggest.c"))
def _(t):
    c = "r6_suggest.c"
    _wrap(t, lambda: (t.call(c, mode="suggest"), t.side_effect(c)))


# R7 well-formed trace ------------------------------------------------------------------------------
@case("r7_sequence_gap", ("R7", "r7_sequence_gap"))
def _(t):
    _wrap(t, lambda: t.model_call())
    t.events[-1]["sequence"] += 1


@case("r7_sequence_not_from_zero", ("R7", "r7_sequence_not_from_zero"))
def _(t):
    _wrap(t, lambda: t.model_call())
    for event in t.events:
        event["sequence"] += 1


@case("r7_unknown_parent_span", ("R7", "r7_unknown_parent_span"))
def _(t):
    _wrap(t, lambda: t.add("plan", {"steps": ["a"]}, parent="no-such-span"))


# R7T a trace_id used by two tenants (the spec's "Tenant scope") ------------------------------------
COLLISION = "r7t_tenant_collision"


@case(COLLISION, ("R3", "r7t.c"), ("R7T", COLLISION), ("R1", COLLISION), ("R7", COLLISION))
def _(t):
    # Tenant acme runs an unconfirmed 9,000 EUR write that requires confirmation (R3). Tenant globex
    # logs an approval under acme's trace_id and tool_call_id: it must not cover acme's call. Its two
    # events form a trace of globex's own (no request or result: R1; sequence not from 0: R7), and
    # the shared trace_id is finding R7T for both tenants.
    t.request()
    t.call("r7t.c", requires_confirmation=True, arguments={"amount_eur": 9000})
    t.check("r7t.c")
    t.result("r7t.c")
    t.side_effect("r7t.c")
    t.final()
    t.confirm("r7t.c", arguments={"amount_eur": 9000})
    for sequence, event in enumerate(t.events[-2:], start=1):
        event["tenant_id"] = "globex"
        event["sequence"] = sequence  # 1 and 2: before acme's tool_result (3)


# R8 model identity ---------------------------------------------------------------------------------
@case("r8_missing_model_version", ("R8", "r8_missing_model_version-e1"))
def _(t):
    _wrap(t, lambda: t.model_call(model_version=...))


@case("r8_empty_model", ("R8", "r8_empty_model-e1"))
def _(t):
    _wrap(t, lambda: t.model_call(model=""))


# R10 approved what ran -----------------------------------------------------------------------------
@case("r10_arguments_differ", ("R10", "r10_differ.c"))
def _(t):
    c = "r10_differ.c"
    _wrap(
        t,
        lambda: (
            t.call(c, requires_confirmation=True, arguments={"order_id": 42, "amount": 10}),
            t.check(c),
            t.confirm(c, arguments={"order_id": 42, "amount": 100}),
            t.result(c),
            t.side_effect(c),
        ),
    )


@case("r10_key_order_and_number_form_ignored")
def _(t):
    c = "r10_same.c"
    _wrap(
        t,
        lambda: (
            t.call(
                c, requires_confirmation=True, arguments={"order_id": 42, "amount": 10, "note": {"x": [1, 2]}}
            ),
            t.check(c),
            t.confirm(c, arguments={"note": {"x": [1.0, 2]}, "amount": 10.0, "order_id": 42}),
            t.result(c),
            t.side_effect(c),
        ),
    )


@case("r10_crafted_string_cannot_forge_equal_arguments", ("R10", "r10_forged.c"))
def _(t):
    c = "r10_forged.c"
    _wrap(
        t,
        lambda: (
            t.call(c, requires_confirmation=True, arguments={"order_id": "42", "amount": "1000"}),
            t.check(c),
            t.confirm(c, arguments={"order_id": "42\u001e$.amount=s:1000"}),
            t.result(c),
            t.side_effect(c),
        ),
    )


@case("r10_no_arguments_shown")
def _(t):
    c = "r10_none.c"
    _wrap(
        t,
        lambda: (
            t.call(c, requires_confirmation=True),
            t.check(c),
            t.confirm(c),
            t.result(c),
            t.side_effect(c),
        ),
    )


@case("r10_retry_ran_other_arguments", ("R10", "r10_retry.c2"))
def _(t):
    def body():
        t.call("r10_retry.c1", requires_confirmation=True, arguments={"order_id": 42})
        t.check("r10_retry.c1")
        t.confirm("r10_retry.c1", arguments={"order_id": 42})
        t.result("r10_retry.c1", "error", "invalid_parameters")
        t.call(
            "r10_retry.c2",
            requires_confirmation=True,
            arguments={"order_id": 43},
            attempt=2,
            retry_of="r10_retry.c1",
        )
        t.result("r10_retry.c2")
        t.side_effect("r10_retry.c2")

    _wrap(t, body)


def build_rule_cases_warehouse(root):
    """All cases as one delivery day, ingested and built once."""
    events = []
    for name, (build, _) in CASES.items():
        trace = Trace(name, day=DAY)
        build(trace)
        events += trace.events
    write_day(root / "landing", DAY, events)
    load_and_build(root / "warehouse.duckdb", root / "landing", [DAY])
    return root / "warehouse.duckdb"


@pytest.fixture(scope="module")
def warehouse(audit_warehouse):
    return audit_warehouse


def _breaches(warehouse, trace_id: str) -> set[tuple[str, str]]:
    found = rows(
        warehouse,
        f"""
        select rule_id, case when rule_id in ('R1', 'R7', 'R7T') then trace_id
                             when rule_id = 'R8' then event_id else tool_call_id end
        from audit.audit_violations where trace_id = '{trace_id}'""",
    )
    return set(found)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_rule_case(warehouse, name):
    _, expected = CASES[name]
    assert _breaches(warehouse, name) == expected


def test_every_rule_has_positive_and_negative_cases():
    rules = {rule for _, expected in CASES.values() for rule, _ in expected}
    assert rules == {"R1", "R2", "R3", "R4", "R5", "R6", "R7", "R7T", "R8", "R10"}
    clean = [name for name, (_, expected) in CASES.items() if not expected]
    for rule in ("r2", "r3", "r4", "r5", "r10"):
        assert any(name.startswith(rule) for name in clean), rule


@pytest.mark.slow
def test_violation_rows_carry_context(warehouse):
    detail, severity, tenant, partition = rows(
        warehouse,
        """
        select detail, severity, tenant_id, detected_in_partition::varchar from audit.audit_violations
        where rule_id = 'R10' and trace_id = 'r10_arguments_differ'""",
    )[0]
    assert "differ" in detail and severity == "high" and tenant == "acme" and partition == DAY


@pytest.mark.slow
def test_fact_tables_answer_the_review_questions(warehouse):
    # Which state-changing actions ran without authorisation / confirmation?
    unauthorised = {
        r[0]
        for r in rows(
            warehouse,
            """
        select tool_call_id from marts.fct_tool_calls
        where executed and access = 'state_changing' and not authorised_before_execution""",
        )
    }
    assert {"r2_no_policy_check.c", "r2_check_after_execution.c", "r5_ok.c"} <= unauthorised
    assert "r2_retry.c2" not in unauthorised  # covered by its first attempt's check
    mismatched = {
        r[0]
        for r in rows(
            warehouse, "select tool_call_id from marts.fct_tool_calls where approved_arguments_match = false"
        )
    }
    assert mismatched == {"r10_differ.c", "r10_retry.c2", "r10_forged.c"}
    reversible = rows(warehouse, "select count(*) from marts.fct_side_effects where can_still_roll_back")[0][
        0
    ]
    assert reversible > 0


@pytest.mark.slow
def test_tenants_sharing_a_trace_id_stay_apart(warehouse, tmp_path):
    """Issue 17: tenant B's approval under tenant A's trace_id used to turn A's unconfirmed call into
    `approved_before_execution = true`, hide A's R3, and carry tenant B into A's rows."""
    assert rows(
        warehouse,
        f"""select tenant_id, approved_before_execution, confirmation_required
        from marts.fct_tool_calls where trace_id = '{COLLISION}'""",
    ) == [("acme", False, True)]
    assert rows(
        warehouse,
        f"""select rule_id, tenant_id from audit.audit_violations
        where trace_id = '{COLLISION}' order by 1, 2""",
    ) == [("R1", "globex"), ("R3", "acme"), ("R7", "globex"), ("R7T", "acme"), ("R7T", "globex")]
    assert rows(
        warehouse,
        f"""select tenant_id, event_count from marts.fct_outcomes
        where trace_id = '{COLLISION}' order by 1""",
    ) == [("acme", 6), ("globex", 2)]
    assert rows(
        warehouse,
        f"""select tenant_id, decision from marts.fct_confirmations
        where trace_id = '{COLLISION}'""",
    ) == [("globex", "approved")]
    assert rows(
        warehouse,
        f"""select tenant_id from eval.eval_trace_labels
        where trace_id = '{COLLISION}' order by 1""",
    ) == [("acme",), ("globex",)]
    detail = rows(
        warehouse,
        f"select detail from audit.audit_violations where rule_id = 'R7T' and tenant_id = 'acme'"
        f" and trace_id = '{COLLISION}'",
    )[0][0]
    assert "globex" not in detail and "1 other tenant" in detail

    # Tenant acme's export holds none of globex's rows (every exported table is checked).
    import shutil

    import duckdb

    from trace_platform.lib.export import export_tenant

    copy = tmp_path / "copy.duckdb"
    shutil.copy(warehouse, copy)
    con = duckdb.connect(str(copy))
    try:
        report = export_tenant(con, "acme", tmp_path / "export")
        for parquet in (tmp_path / "export").glob("*.parquet"):
            tenants = (
                con.execute(
                    f"select distinct tenant_id from read_parquet('{parquet}') where tenant_id is not null"
                ).fetchall()
                if "tenant_id"
                in [c[0] for c in con.execute(f"describe select * from read_parquet('{parquet}')").fetchall()]
                else []
            )
            assert tenants in ([], [("acme",)]), (parquet.name, tenants)
        assert report.tables
    finally:
        con.close()
