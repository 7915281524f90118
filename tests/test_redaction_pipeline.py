"""Secrets and personal data planted in native events (arguments, outputs, requests, prompts, final
results, nested JSON, secret-named keys) never reach the analyst schemas: every VARCHAR / JSON
column of every table and view in marts, audit and eval is scanned for every planted value.
Redaction does not change any audit or eval result (they are computed on the real values)."""

from __future__ import annotations

import json
import re

import duckdb
import pytest
from dbt_support import rows
from redaction_support import (
    NOT_SECRETS,
    TENANTS,
    all_secrets,
    planted_warehouse,
    secrets_for,
    secrets_found,
    string_columns,
)

pytestmark = pytest.mark.integration

ANALYST_SCHEMAS = ("marts", "audit", "eval")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return planted_warehouse(tmp_path_factory)


def _needles() -> list[str]:
    """Every planted value, plus its separator-free form (a card or IBAN must not survive either way)."""
    needles = set()
    for planted in (p for values in all_secrets().values() for p in values):
        needles.add(planted.value)
        compact = re.sub(r"[\s().-]", "", planted.value)
        if len(compact) >= 8:
            needles.add(compact)
    return sorted(needles)


def test_the_planted_secrets_reached_the_raw_zone(warehouse):
    # the scan below is meaningful only if the values were loaded in the first place
    loaded = " ".join(
        r[0]
        for r in rows(warehouse, "SELECT concat_ws(' ', payload, user_id, attributes) FROM raw.trace_events")
    )
    for tenant in TENANTS:
        for planted in secrets_for(tenant).values():
            assert planted.value in loaded, planted.name


def test_no_planted_secret_in_any_column_of_marts_audit_eval(warehouse):
    needles = _needles()
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        relations = string_columns(con, ANALYST_SCHEMAS)
        assert {
            '"marts"."fct_tool_calls"',
            '"marts"."fct_outcomes"',
            '"marts"."fct_confirmations"',
            '"audit"."audit_violations"',
            '"eval"."eval_trace_labels"',
        } <= set(relations)
        scanned = 0
        leaks = []
        for relation, columns in relations.items():
            leaks += [
                (relation, column, secret)
                for column, secret in secrets_found(con, relation, columns, needles)
            ]
            scanned += len(columns)
    finally:
        con.close()
    assert scanned > 50
    assert leaks == []


def test_placeholders_stand_where_the_secrets_were(warehouse):
    request, final, user = rows(
        warehouse,
        "SELECT request_text, final_output, user_id FROM marts.fct_outcomes WHERE trace_id = 'acme-secrets'",
    )[0]
    for label in ("email", "phone", "card", "iban", "secret"):
        assert f"[REDACTED:{label}]" in request, label
    assert request.count("[REDACTED:phone]") == 2
    assert "my password is [REDACTED:secret]" in request
    assert "[REDACTED:email]" in final and "[REDACTED:api_key]" in final
    assert user == "[REDACTED:email]"

    (arguments,) = rows(
        warehouse,
        "SELECT arguments::VARCHAR FROM marts.fct_tool_calls "
        "WHERE trace_id = 'acme-secrets' AND tool_call_id = 'c1'",
    )[0]
    args = json.loads(arguments)  # still a JSON object, every member in place
    assert args["password"] == args["userPassword"] == "[REDACTED:secret]"
    assert args["nested"]["api_key"] == args["nested"]["deep"]["client_secret"] == "[REDACTED:secret]"
    assert args["nested"]["deep"]["list"] == [{"token": "[REDACTED:secret]"}]
    assert args["credentials"] == "[REDACTED:secret]"
    assert args["headers"] == {"Authorization": "[REDACTED:secret]"}
    assert args["card"] == "[REDACTED:card]"  # was a bare JSON number
    assert args["card_text"] == "[REDACTED:card]"
    assert args["phone"] == "[REDACTED:phone]"
    assert args["iban"] == "[REDACTED:iban]"
    assert args["customer_email"] == "[REDACTED:email]"
    assert args["db_url"] == "postgres://admin:[REDACTED:password]@db.internal:5432/app"
    assert args["pem"].startswith("[REDACTED:private_key]")
    assert args["note"].count("[REDACTED:api_key]") == 6 and args["note"].startswith("line one\nuse ")
    assert "Authorization: [REDACTED:credentials]" in args["script"]
    assert "PASSWORD=[REDACTED:secret]" in args["script"]
    assert args["text_bearer"] == "use bearer [REDACTED:bearer_token] please"
    # JSON booleans / nulls / counters under secret-like keys are no secrets and keep their type
    assert args["is_secret"] is False and args["next_token"] is None and args["max_tokens"] == 100

    prompt, shown, responder = rows(
        warehouse,
        "SELECT prompt, arguments_shown::VARCHAR, responder "
        "FROM marts.fct_confirmations WHERE trace_id = 'acme-secrets'",
    )[0]
    assert prompt == "Charge card [REDACTED:card] and email [REDACTED:email]?"
    assert json.loads(shown) == args
    assert responder == "[REDACTED:email]"

    principal, reason = rows(
        warehouse, "SELECT principal, reason FROM marts.fct_permission_checks WHERE trace_id = 'acme-secrets'"
    )[0]
    assert principal == "[REDACTED:email]"
    assert reason == "refund for [REDACTED:email] needs approval"
    resource_id, rollback_ref = rows(
        warehouse,
        "SELECT resource_id, rollback_ref FROM marts.fct_side_effects WHERE trace_id = 'acme-secrets'",
    )[0]
    assert (resource_id, rollback_ref) == ("customer:[REDACTED:email]", "rb-[REDACTED:iban]")

    (final_object,) = rows(
        warehouse, "SELECT final_output FROM marts.fct_outcomes WHERE trace_id = 'acme-retry'"
    )[0]
    assert json.loads(final_object) == {"summary": "logged in", "password": "[REDACTED:secret]"}


def test_look_alikes_that_are_no_secrets_reach_the_marts_unchanged(warehouse):
    (arguments,) = rows(
        warehouse,
        "SELECT arguments::VARCHAR FROM marts.fct_tool_calls "
        "WHERE trace_id = 'acme-secrets' AND tool_call_id = 'c1'",
    )[0]
    args = json.loads(arguments)
    assert args["order_id"] == NOT_SECRETS["order_number"]
    assert args["request_uuid"] == NOT_SECRETS["uuid"]
    assert args["since"] == NOT_SECRETS["iso_date"]
    assert args["client_version"] == NOT_SECRETS["version"]
    assert args["quantity"] == NOT_SECRETS["short_number"]
    assert args["ip"] == NOT_SECRETS["ip"]
    assert args["amount_text"] == NOT_SECRETS["amount"]
    (request,) = rows(
        warehouse, "SELECT request_text FROM marts.fct_outcomes WHERE trace_id = 'acme-secrets'"
    )[0]
    assert f"Order {NOT_SECRETS['order_number']} from {NOT_SECRETS['iso_date']}." in request


def test_audit_and_eval_are_computed_on_the_real_values(warehouse):
    for tenant in TENANTS:
        # approved card A, ran card B: identical once redacted, still an R10 breach
        assert rows(
            warehouse, f"SELECT rule_id FROM audit.audit_violations WHERE trace_id = '{tenant}-r10'"
        ) == [("R10",)]
        (match,) = rows(
            warehouse,
            f"SELECT approved_arguments_match FROM marts.fct_tool_calls WHERE trace_id = '{tenant}-r10'",
        )[0]
        assert match is False
        shown, ran = rows(
            warehouse,
            f"""
            SELECT c.arguments_shown::VARCHAR, t.arguments::VARCHAR FROM marts.fct_confirmations c
            JOIN marts.fct_tool_calls t USING (trace_id, tool_call_id) WHERE trace_id = '{tenant}-r10'""",
        )[0]
        assert json.loads(shown) == json.loads(ran) == {"card": "[REDACTED:card]", "amount": 5}
        # the full arguments were shown and approved: no R10
        assert rows(
            warehouse,
            "SELECT count(*) FROM audit.audit_violations "
            f"WHERE trace_id = '{tenant}-secrets' AND rule_id = 'R10'",
        ) == [(0,)]
        # retried with a different password: bad_parameters, although both read [REDACTED:secret]
        bad, reason = rows(
            warehouse,
            "SELECT bad_parameters, bad_parameters_reason FROM eval.eval_trace_labels "
            f"WHERE trace_id = '{tenant}-retry'",
        )[0]
        assert bad and reason == "portal_login was retried with changed arguments"


def test_every_event_still_reaches_its_fact(warehouse):
    counts = dict(
        rows(
            warehouse,
            """
        SELECT 'calls', count(*) FROM marts.fct_tool_calls UNION ALL
        SELECT 'traces', count(*) FROM marts.fct_outcomes UNION ALL
        SELECT 'confirmations', count(*) FROM marts.fct_confirmations""",
        )
    )
    assert counts == {
        "calls": 4 * len(TENANTS),
        "traces": 3 * len(TENANTS),
        "confirmations": 2 * len(TENANTS),
    }
    assert rows(
        warehouse, "SELECT count(*) FROM marts.fct_tool_calls WHERE json_type(arguments) <> 'OBJECT'"
    ) == [(0,)]
