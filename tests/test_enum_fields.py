"""Closed payload fields and free identifiers (issue 17, defect 6: secrets in enumeration-like fields).

A hostile producer puts secrets where the format expects a value of a closed set (tool_result.status,
final_result.status, tool_call.mode, policy / confirmation decisions, side_effect.operation,
rollback.status, feedback.rating, model_call.purpose, tool_call.access) and in free identifiers the
marts carry as columns (agent name and version, model provider / model / version, policy, permission,
resource type). docs/trace-format.md ("Closed payload fields") says what each unknown value does:

- quarantined at ingestion with `bad_value:<event_type>.<field>` (natively) or
  `otlp_bad_attribute:bad_value:<attribute>` (OTLP: the attribute, its span loads without it);
- model_call.purpose -> `other`, tool_call.access -> `unknown` in staging (the original stays in raw).

Free identifiers leave through redact_text; check metadata (GX unexpected values, drift keys,
audit.check_results) is redacted too. The end-to-end test ingests, builds dbt, runs every GX suite,
the raw-zone and rule checks, records them in audit.check_results, and scans marts, audit, eval and
the check metadata for every planted secret.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dbt_support import Trace, load_and_build, write_day
from redaction_support import secrets_for

from tests.ingest_support import event, ingest, line, query, write_lines
from tests.otlp_support import attrs, i, s, span, traces_request, write_otlp
from trace_platform.defs.ingest.loader import read_sql

DAY = "2026-11-20"
SECRETS = {name: p.value for name, p in secrets_for("acme").items()}

# event type -> (payload field, a valid payload); the closed fields ingestion quarantines
FULL = {
    "model_call": {
        "provider": "openai",
        "model": "gpt-x",
        "model_version": "2026-01-01",
        "purpose": "planning",
        "input_tokens": 1,
        "output_tokens": 1,
        "latency_ms": 1,
        "finish_reason": "stop",
        "status": "ok",
    },
    "tool_call": {
        "tool_call_id": "c1",
        "tool_name": "refund",
        "arguments": {},
        "access": "read_only",
        "mode": "execute",
        "attempt": 1,
        "retry_of": None,
        "requires_confirmation": False,
    },
    "tool_result": {"tool_call_id": "c1", "status": "ok", "output": None, "latency_ms": 1},
    "policy_check": {
        "check_id": "k1",
        "tool_call_id": "c1",
        "policy": "p@1",
        "permission": "x:read",
        "principal": "u1",
        "decision": "allow",
        "reason": "r",
    },
    "confirmation_response": {
        "confirmation_id": "f1",
        "tool_call_id": "c1",
        "decision": "approved",
        "responder": "u1",
    },
    "side_effect": {
        "tool_call_id": "c1",
        "resource_type": "order",
        "resource_id": "o1",
        "operation": "update",
        "reversible": True,
    },
    "rollback": {
        "tool_call_id": "c1",
        "resource_type": "order",
        "resource_id": "o1",
        "status": "ok",
        "reason": "r",
    },
    "final_result": {"status": "success", "output": "done"},
    "feedback": {"rating": 1},
}
QUARANTINED = [  # (event type, field, hostile value)
    ("tool_result", "status", f"https://admin:{SECRETS['url_password']}@db.internal"),
    ("final_result", "status", SECRETS["openai_key"]),
    ("model_call", "status", SECRETS["anthropic_key"]),
    ("rollback", "status", SECRETS["email"]),
    ("tool_call", "mode", SECRETS["phone_intl"]),
    ("policy_check", "decision", SECRETS["jwt"]),
    ("confirmation_response", "decision", SECRETS["iban_spaced"]),
    ("side_effect", "operation", SECRETS["google_key"]),
    ("feedback", "rating", int(SECRETS["card_bare_number"])),
]
MAPPED = [  # (event type, field, hostile value, what staging makes of it)
    ("model_call", "purpose", SECRETS["slack_token"], "other"),
    ("tool_call", "access", SECRETS["github_token"], "unknown"),
]


def _r9(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(read_sql("check_r9.sql"), {"partition": DAY}).fetchall()
    finally:
        con.close()


# --- ingestion: native ------------------------------------------------------------------------------


def test_unknown_closed_values_are_quarantined_with_their_reason_and_every_line_counts(tmp_path):
    lines, expected = [], []
    for n, (event_type, field, value) in enumerate(QUARANTINED):
        lines.append(
            line(event(f"bad-{n}", event_type=event_type, payload={**FULL[event_type], field: value}))
        )
        expected.append(f"bad_value:{event_type}.{field}")
        # absent and null are allowed: the audit reports what is missing
        lines.append(
            line(event(f"null-{n}", event_type=event_type, payload={**FULL[event_type], field: None}))
        )
        expected.append("loaded")
        lines.append(line(event(f"ok-{n}", event_type=event_type, payload=FULL[event_type])))
        expected.append("loaded")
    for n, (event_type, field, value, _) in enumerate(MAPPED):
        lines.append(
            line(event(f"mapped-{n}", event_type=event_type, payload={**FULL[event_type], field: value}))
        )
        expected.append("loaded")
    # the envelope is checked first: a bad envelope keeps its envelope reason
    lines.append(
        line(
            event(
                "both",
                event_type="tool_result",
                sequence=-1,
                payload={**FULL["tool_result"], "status": "nope"},
            )
        )
    )
    expected.append("bad_value:sequence")
    lines.append("")
    landing, db = tmp_path / "landing", tmp_path / "wh.duckdb"
    write_lines(landing, DAY, "a.jsonl", lines)
    report = ingest(db, landing, DAY)

    outcome = {n: "loaded" for (n,) in query(db, "SELECT line_number FROM raw.trace_events")}
    outcome.update(dict(query(db, "SELECT line_number, reason FROM raw.quarantine")))
    assert [outcome[n] for n in range(1, len(expected) + 1)] == expected
    # R9: every line accounted for, and the blocking check's SQL agrees
    assert (report.lines_read, report.blank_lines) == (len(lines), 1)
    assert (
        report.lines_read
        == report.blank_lines + report.events_loaded + report.duplicates_dropped + report.lines_quarantined
    )
    assert report.lines_quarantined == len(QUARANTINED) + 1
    assert all(row[-1] for row in _r9(db))
    assert report.quarantined_by_reason == {
        **{f"bad_value:{t}.{f}": 1 for t, f, _ in QUARANTINED},
        "bad_value:sequence": 1,
    }
    # the mapped fields keep their original value in the raw zone only
    raw = dict(query(db, "SELECT event_id, payload FROM raw.trace_events WHERE event_id LIKE 'mapped-%'"))
    assert [json.loads(raw[f"mapped-{n}"])[f] for n, (_, f, _, _) in enumerate(MAPPED)] == [
        v for _, _, v, _ in MAPPED
    ]


# --- ingestion: OTLP ---------------------------------------------------------------------------------

TID = "4bf92f3577b34da6a3ce929d0e0e4736"
ROOT, TOOL, MODEL = "a0a0a0a0a0a0a0a0", "b0b0b0b0b0b0b0b0", "c0c0c0c0c0c0c0c0"
OTLP_BAD = {  # convention attribute -> hostile value (all quarantined as the attribute)
    "trace_platform.outcome.status": SECRETS["password_phrase"],
    "trace_platform.tool.mode": SECRETS["aws_key_id"],
    "trace_platform.tool.result_status": f"https://svc:{SECRETS['retry_password_1']}@h.example.com",
    "trace_platform.policy.decision": SECRETS["bearer_text"],
    "trace_platform.confirmation.decision": SECRETS["user_email"],
    "trace_platform.side_effect.operation": SECRETS["principal_email"],
}
OTLP_IDENT = {  # free identifiers: loaded, redacted in the marts
    "gen_ai.provider.name": SECRETS["openai_key"],
    "gen_ai.request.model": f"gpt-{SECRETS['email']}",
    "trace_platform.model.version": SECRETS["anthropic_key"],
    "trace_platform.policy.permission": f"orders:{SECRETS['github_token']}",
    "trace_platform.policy.name": f"refunds@{SECRETS['slack_token']}",
    "trace_platform.side_effect.resource_type": SECRETS["google_key"],
}
OTLP_AGENT_VERSION = f"1.0+{SECRETS['stripe_key']}"


def otlp_request() -> dict:
    tool_attrs = [
        *attrs(
            gen_ai__operation__name=s("execute_tool"),
            gen_ai__tool__name=s("refund_order"),
            gen_ai__tool__call__id=s("oc1"),
            trace_platform__tool__access=s(SECRETS["card_plain"]),
            trace_platform__side_effect__resource_id=s("r-1"),
            trace_platform__policy__check_id=s("ok1"),
        ),
        *[{"key": k, "value": s(v)} for k, v in OTLP_BAD.items() if k != "trace_platform.outcome.status"],
        *[{"key": k, "value": s(v)} for k, v in OTLP_IDENT.items() if k.startswith("trace_platform.")],
        {"key": "trace_platform.confirmation.prompt", "value": s("go?")},
    ]
    model_attrs = [
        *attrs(gen_ai__operation__name=s("chat"), trace_platform__model__purpose=s(SECRETS["jwt"])),
        *[{"key": k, "value": s(v)} for k, v in OTLP_IDENT.items() if k.startswith("gen_ai.")],
        {"key": "trace_platform.model.version", "value": s(OTLP_IDENT["trace_platform.model.version"])},
    ]
    feedback = {
        "name": "trace_platform.feedback",
        "timeUnixNano": str(1795161600_000_000_000 + 5_000_000_000),
        "attributes": [{"key": "trace_platform.feedback.rating", "value": i(7)}],
    }
    rollback = {
        "name": "trace_platform.rollback",
        "timeUnixNano": str(1795161600_000_000_000 + 4_000_000_000),
        "attributes": [
            {"key": "trace_platform.rollback.status", "value": s(SECRETS["iban_compact"])},
            {"key": "trace_platform.rollback.resource_id", "value": s("r-1")},
        ],
    }
    return traces_request(
        span(
            TID,
            ROOT,
            "run",
            0,
            9,
            attributes=[
                {
                    "key": "trace_platform.outcome.status",
                    "value": s(OTLP_BAD["trace_platform.outcome.status"]),
                }
            ],
            events=[feedback],
        ),
        span(TID, MODEL, "chat", 1, 2, parent=ROOT, attributes=model_attrs),
        span(
            TID,
            TOOL,
            "execute_tool refund_order",
            3,
            4,
            parent=ROOT,
            attributes=tool_attrs,
            events=[rollback],
        ),
        resource=attrs(
            service__name=s("otlp-bot"),
            trace_platform__tenant__id=s("acme"),
            trace_platform__agent__version=s(OTLP_AGENT_VERSION),
        ),
    )


def test_otlp_unknown_convention_values_quarantine_the_attribute_and_the_span_loads(tmp_path):
    landing, db = tmp_path / "landing", tmp_path / "wh.duckdb"
    write_otlp(landing, DAY, "a.jsonl", [otlp_request()])
    report = ingest(db, landing, DAY)
    reasons = sorted(r for (r,) in query(db, "SELECT reason FROM raw.quarantine"))
    assert reasons == sorted(
        [f"otlp_bad_attribute:bad_value:{k}" for k in OTLP_BAD]
        + [
            "otlp_bad_attribute:bad_value:trace_platform.feedback.rating",
            "otlp_bad_attribute:bad_value:trace_platform.rollback.status",
        ]
    )
    assert all(row[-1] for row in _r9(db))
    assert report.lines_read == report.blank_lines + report.events_loaded + report.lines_quarantined
    payloads = {t: json.loads(p) for t, p in query(db, "SELECT event_type, payload FROM raw.trace_events")}
    # the spans load without the quarantined attributes: the defaults and what the span states apply
    assert payloads["final_result"]["status"] == "success"
    assert payloads["tool_call"]["mode"] == "execute" and payloads["tool_call"]["access"] == "unknown"
    assert payloads["tool_result"]["status"] == "ok"
    assert payloads["model_call"]["purpose"] == "other"  # stated but unknown: other, as natively
    assert payloads["side_effect"]["operation"] is None and payloads["rollback"]["status"] is None
    assert payloads["confirmation_request"]["prompt"] == "go?"
    # span attributes state a policy check or a confirmation response through their decision: none
    # without it; a span event keeps its event, without the value (as a native event without it)
    assert not {"policy_check", "confirmation_response"} & set(payloads)
    assert payloads["feedback"]["rating"] is None
    # the hostile values are in raw.quarantine only
    loaded = " ".join(
        v
        for (v,) in query(
            db, "SELECT concat_ws(' ', payload, attributes, extra_fields) FROM raw.trace_events"
        )
    )
    assert [k for k, v in OTLP_BAD.items() if v in loaded] == []


# --- check metadata -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_gx_unexpected_values_and_drift_keys_leave_the_metadata_redacted():
    """Values loaded before ingestion checked them (or any other way into a checked column): the
    GX summary names them redacted, in Dagster and in audit.check_results."""
    from trace_platform.defs.quality.check_results import record_rows, row_for
    from trace_platform.defs.quality.common import metadata_to_plain
    from trace_platform.defs.quality.gx_suites import ALL_SUITES, GxRunner, run_suite
    from trace_platform.defs.quality.schema_checks import drift_result
    from trace_platform.defs.quality.thresholds import load_thresholds

    hostile = [SECRETS["openai_key"], f"x {SECRETS['email']}", SECRETS["jwt"]]
    con = duckdb.connect()
    con.execute("CREATE SCHEMA staging")
    con.execute(
        "CREATE TABLE staging.stg_trace__tool_results AS SELECT 'e' || i AS event_id, 't' AS trace_id, "
        "v AS status, 1.0 AS latency_ms, DATE '2026-11-20' AS delivery_date "
        "FROM (SELECT unnest(?) AS v, unnest(range(3)) AS i)",
        [hostile],
    )
    suite = next(
        s for s in ALL_SUITES if s.name == "gx_values" and s.table == "staging.stg_trace__tool_results"
    )
    result = run_suite(GxRunner(), con, suite, DAY, load_thresholds())
    plain = metadata_to_plain(result.metadata)
    assert not result.passed
    assert sorted(plain["failed_expectations"][0]["unexpected_values"]) == sorted(
        ["[REDACTED:api_key]", "x [REDACTED:email]", "[REDACTED:jwt]"]
    )
    # drift: a payload key that is a secret, an unknown top-level field that is one
    con.execute("CREATE SCHEMA raw")
    con.execute(
        "CREATE TABLE raw.trace_events AS SELECT 'e1' AS event_id, 'plan' AS event_type, "
        "json_object('steps', [], ?, 1) AS payload, json_object(?, 2) AS extra_fields, "
        "DATE '2026-11-20' AS delivery_date",
        [SECRETS["stripe_key"], SECRETS["user_email"]],
    )
    drift = drift_result(con, DAY, load_thresholds())
    evaluations = [
        dg.AssetCheckEvaluation(
            asset_key=r.asset_key,
            check_name=r.check_name,
            passed=r.passed,
            metadata=r.metadata,
            severity=r.severity,
            description=r.description,
        )
        for r in (result, drift)
    ]
    shown = json.dumps([[metadata_to_plain(r.metadata), r.description] for r in (result, drift)])
    assert "[REDACTED:api_key]" in shown and "[REDACTED:email]" in shown
    rows = [
        row_for(e, run_id="r1", job_name=None, run_partition=DAY, step_key=None, timestamp=0)
        for e in evaluations
    ]
    record_rows(con, rows)
    stored = " ".join(
        m
        for (m,) in con.execute(
            "SELECT concat_ws(' ', metadata, description) FROM audit.check_results"
        ).fetchall()
    )
    for value in (*hostile, SECRETS["stripe_key"], SECRETS["user_email"], SECRETS["email"]):
        assert value not in shown and value not in stored, value


def test_check_results_redacts_whatever_a_check_copied():
    from trace_platform.defs.quality.check_results import record_rows, row_for

    evaluation = dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(["marts", "fct_outcomes"]),
        check_name="some_dbt_test",
        passed=False,
        metadata={"failing": [SECRETS["openai_key"]], "note": f"seen {SECRETS['email']}", "count": 3},
        description=f"failed for {SECRETS['jwt']}",
    )
    con = duckdb.connect()
    record_rows(
        con, [row_for(evaluation, run_id="r1", job_name=None, run_partition=DAY, step_key=None, timestamp=0)]
    )
    metadata, description = con.execute("SELECT metadata, description FROM audit.check_results").fetchone()
    assert json.loads(metadata) == {
        "count": 3,
        "failing": ["[REDACTED:api_key]"],
        "note": "seen [REDACTED:email]",
    }
    assert description == "failed for [REDACTED:jwt]"


# --- end to end ------------------------------------------------------------------------------------------

AGENT = (f"bot-{SECRETS['user_email']}", f"2.0-{SECRETS['jwt']}")


def native_traces() -> list[Trace]:
    """One trace with a secret in every closed field and free identifier, and clean controls."""
    t = Trace("enum-hostile", agent=AGENT, day=DAY)
    t.request()
    t.model_call(
        provider=SECRETS["stripe_key"],
        model=f"model {SECRETS['email']}",
        model_version=f"https://svc:{SECRETS['url_password']}@models.example.com/v1",
        purpose=SECRETS["slack_token"],
    )
    t.model_call(status=SECRETS["anthropic_key"])  # quarantined
    t.call("c1", access=SECRETS["github_token"])  # access -> unknown
    t.add(
        "policy_check",
        {
            "check_id": "k1",
            "tool_call_id": "c1",
            "policy": f"refunds@{SECRETS['aws_key_id']}",
            "permission": f"orders:write {SECRETS['google_key']}",
            "principal": "u1",
            "decision": "allow",
            "reason": "ok",
        },
    )
    t.check("c1", decision=SECRETS["jwt"])  # quarantined
    t.add("confirmation_request", {"confirmation_id": "f1", "tool_call_id": "c1", "prompt": "ok?"})
    t.add(
        "confirmation_response",
        {
            "confirmation_id": "f1",
            "tool_call_id": "c1",
            "decision": SECRETS["iban_spaced"],
            "responder": "u1",
        },
    )  # quarantined
    t.result("c1", status=f"https://admin:{SECRETS['url_password']}@db.internal")  # quarantined
    t.result("c1", status="ok")
    t.add(
        "side_effect",
        {
            "tool_call_id": "c1",
            "resource_type": SECRETS["openai_key"],
            "resource_id": "o-1",
            "operation": "update",
            "reversible": True,
        },
    )
    t.add(
        "side_effect",
        {
            "tool_call_id": "c1",
            "resource_type": "order",
            "resource_id": "o-2",
            "operation": SECRETS["card_spaced"],
            "reversible": True,
        },
    )  # quarantined
    t.add(
        "rollback",
        {
            "tool_call_id": "c1",
            "resource_type": "order",
            "resource_id": "o-1",
            "status": SECRETS["phone_us"],
            "reason": "r",
        },
    )  # quarantined
    t.add("final_result", {"status": SECRETS["openai_key"], "output": "done"})  # quarantined
    t.add("feedback", {"rating": int(SECRETS["card_bare_number"])})  # quarantined
    # a write with a secret permission that the policy did not authorise: R2 still fires
    w = Trace("enum-r2", agent=AGENT, day=DAY)
    w.request()
    w.call("c1")
    w.add(
        "policy_check",
        {
            "check_id": "k1",
            "tool_call_id": "c1",
            "policy": "p@1",
            "permission": SECRETS["stripe_key"],
            "principal": "u1",
            "decision": "deny",
            "reason": "no",
        },
    )
    w.result("c1")
    w.final()
    clean = Trace("enum-clean", day=DAY)
    clean.request()
    clean.model_call()
    clean.authorised_write("c1")
    clean.final()
    return [t, w, clean]


def needles() -> dict[str, str]:
    out = {f"{t}.{f}": str(v) for t, f, v in QUARANTINED}
    out.update({f"{t}.{f}": v for t, f, v, _ in MAPPED})
    out.update({f"otlp:{k}": v for k, v in {**OTLP_BAD, **OTLP_IDENT}.items()})
    out.update(
        {
            "otlp:agent.version": OTLP_AGENT_VERSION,
            "otlp:access": SECRETS["card_plain"],
            "otlp:purpose": SECRETS["jwt"],
            "otlp:rollback.status": SECRETS["iban_compact"],
        }
    )
    # and the secret parts of the free identifiers (the rest of such a value may stay)
    for name in (
        "user_email",
        "jwt",
        "email",
        "url_password",
        "aws_key_id",
        "google_key",
        "stripe_key",
        "openai_key",
        "anthropic_key",
        "github_token",
        "slack_token",
        "iban_spaced",
        "card_spaced",
        "phone_us",
        "card_bare_number",
        "phone_intl",
        "principal_email",
        "card_plain",
        "iban_compact",
        "password_phrase",
        "retry_password_1",
        "bearer_text",
    ):
        out[name] = SECRETS[name]
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from trace_platform.defs.quality.check_results import record_rows, row_for
    from trace_platform.defs.quality.gx_suites import ALL_SUITES, GxRunner, run_suite
    from trace_platform.defs.quality.rule_checks import RULE_ASSETS, evaluate_rules
    from trace_platform.defs.quality.schema_checks import contract_result, drift_result, quarantine_result
    from trace_platform.defs.quality.thresholds import load_thresholds
    from trace_platform.lib.duckdb_functions import register

    root = tmp_path_factory.mktemp("enum_fields")
    landing = root / "landing"
    write_day(landing, DAY, [e for t in native_traces() for e in t.events])
    write_otlp(landing, DAY, "run.jsonl", [otlp_request()])
    warehouse = root / "warehouse.duckdb"
    load_and_build(warehouse, landing, [DAY])

    thresholds = load_thresholds()
    con = duckdb.connect(str(warehouse))
    try:
        register(con)
        con.execute("SET TimeZone = 'UTC'")
        runner = GxRunner(partial_unexpected_count=thresholds.example_keys)
        results = [run_suite(runner, con, suite, DAY, thresholds) for suite in ALL_SUITES]
        results += [
            contract_result(con, DAY),
            drift_result(con, DAY, thresholds),
            quarantine_result(con, DAY, thresholds),
        ]
        results += evaluate_rules(con, DAY, list(RULE_ASSETS), thresholds)
        evaluations = [
            dg.AssetCheckEvaluation(
                asset_key=r.asset_key,
                check_name=r.check_name,
                passed=r.passed,
                metadata=r.metadata,
                severity=r.severity,
                description=r.description,
            )
            for r in results
        ]
        record_rows(
            con,
            [
                row_for(
                    e,
                    run_id="enum-run",
                    job_name="nightly_trace_job",
                    run_partition=DAY,
                    step_key="checks",
                    timestamp=0,
                )
                for e in evaluations
            ],
        )
    finally:
        con.close()
    con = duckdb.connect(str(warehouse), read_only=True)
    yield con, results
    con.close()


@pytest.mark.integration
def test_no_secret_from_an_enumeration_or_identifier_reaches_marts_audit_eval_or_check_metadata(built):
    con, results = built
    found = needles()
    leaks = []
    tables = con.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE table_schema IN ('marts', 'audit', 'eval') ORDER BY ALL"
    ).fetchall()
    assert {"check_results", "audit_rule_summary", "fct_model_calls", "dim_agents"} <= {
        t for _, t, _ in tables
    }
    for schema, table, column in tables:
        hits = con.execute(
            f'SELECT DISTINCT u.n FROM "{schema}"."{table}", unnest(?::VARCHAR[]) AS u(n) '
            f'WHERE contains("{column}"::VARCHAR, u.n)',
            [sorted(set(found.values()))],
        ).fetchall()
        leaks += [(f"{schema}.{table}.{column}", n) for (n,) in hits]
    assert leaks == []
    # what Dagster shows: every check's metadata and description
    from trace_platform.defs.quality.common import metadata_to_plain

    shown = json.dumps([[r.description, metadata_to_plain(r.metadata)] for r in results], default=str)
    assert [name for name, value in found.items() if value in shown] == []
    recorded = con.execute("SELECT count(*) FROM audit.check_results WHERE run_id = 'enum-run'").fetchone()[0]
    assert recorded == len(results)


@pytest.mark.integration
def test_the_values_arrive_mapped_or_redacted_and_the_audit_still_sees_the_real_ones(built):
    con, _ = built
    # the raw zone: quarantined lines with their reasons, every line accounted for
    reasons = dict(con.execute("SELECT reason, count(*) FROM raw.quarantine GROUP BY 1").fetchall())
    assert reasons == {
        "bad_value:model_call.status": 1,
        "bad_value:policy_check.decision": 1,
        "bad_value:confirmation_response.decision": 1,
        "bad_value:tool_result.status": 1,
        "bad_value:side_effect.operation": 1,
        "bad_value:rollback.status": 1,
        "bad_value:final_result.status": 1,
        "bad_value:feedback.rating": 1,
        **{f"otlp_bad_attribute:bad_value:{k}": 1 for k in OTLP_BAD},
        "otlp_bad_attribute:bad_value:trace_platform.feedback.rating": 1,
        "otlp_bad_attribute:bad_value:trace_platform.rollback.status": 1,
    }
    assert all(row[-1] for row in con.execute(read_sql("check_r9.sql"), {"partition": DAY}).fetchall())
    # mapped in staging, the original only in raw
    assert con.execute(
        "SELECT purpose FROM staging.stg_trace__model_calls WHERE trace_id = 'enum-hostile' "
        "AND provider IS NOT NULL AND provider <> 'openai'"
    ).fetchall() == [("other",)]
    assert con.execute(
        "SELECT access FROM marts.fct_tool_calls WHERE trace_id = 'enum-hostile'"
    ).fetchall() == [("unknown",)]
    # redacted where they leave, real upstream
    assert con.execute(
        "SELECT provider, model, model_version, agent_version FROM marts.fct_model_calls "
        "WHERE trace_id = 'enum-hostile'"
    ).fetchall() == [
        (
            "[REDACTED:api_key]",
            "model [REDACTED:email]",
            "https://svc:[REDACTED:password]@models.example.com/v1",
            "2.0-[REDACTED:jwt]",
        )
    ]
    assert con.execute(
        "SELECT provider FROM staging.stg_trace__model_calls WHERE trace_id = 'enum-hostile' "
        "AND provider <> 'openai'"
    ).fetchall() == [(SECRETS["stripe_key"],)]
    assert con.execute(
        "SELECT DISTINCT agent_name, agent_version FROM audit.audit_rule_summary "
        "WHERE agent_version LIKE '2.0-%'"
    ).fetchall() == [("[REDACTED:email]", "2.0-[REDACTED:jwt]")]
    assert con.execute(
        "SELECT permission FROM marts.fct_permission_checks WHERE trace_id = 'enum-r2'"
    ).fetchall() == [("[REDACTED:api_key]",)]
    assert con.execute(
        "SELECT resource_type FROM marts.fct_side_effects WHERE trace_id = 'enum-hostile'"
    ).fetchall() == [("[REDACTED:api_key]",)]
    # the rules still judge: the denied write that ran (R5), the executed call of unknown access (R6U),
    # the trace whose final result was quarantined (R1)
    rules = set(
        con.execute(
            "SELECT rule_id, trace_id FROM audit.audit_violations WHERE trace_id LIKE 'enum-%'"
        ).fetchall()
    )
    assert {("R5", "enum-r2"), ("R6U", "enum-hostile"), ("R1", "enum-hostile")} <= rules
    assert not {r for r in rules if r[1] == "enum-clean"}
    # the OTLP run: identifiers redacted in the marts
    assert con.execute(
        "SELECT provider, agent_version FROM marts.fct_model_calls WHERE trace_id = ?", [TID]
    ).fetchall() == [("[REDACTED:api_key]", "1.0+[REDACTED:api_key]")]
