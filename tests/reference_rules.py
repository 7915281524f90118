"""The independent reference implementation of audit rules R1–R8 and R10 (and the findings R6U and
R7T), written from the spec: the one Python reference of the rules in the tests.

Plain Python over the events of each trace, sharing nothing with the dbt models, so tests can
compare `audit.audit_violations` with it key by key (tests/test_reference_rules.py,
tests/test_nightly_job.py), and check the sample generator's expected breaches against it
(tests/test_generator.py, on the landing files, without the warehouse). Keys: R1/R7 by trace,
R2–R6/R6U/R10 by tool call (R6: the side effect's tool_call_id), R8 by the model call's event_id,
each within its tenant: a trace is (tenant_id, trace_id), and a trace_id used by more than one
tenant is finding R7T, once per tenant (the spec's "Tenant scope").
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import duckdb

EXECUTING_RESULT = {"ok", "error", "timeout"}
AUTHORISING = {"allow", "require_confirmation"}


def load_events(warehouse: Path) -> list[dict]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            "SELECT event_id, event_type, tenant_id, trace_id, span_id, parent_span_id, sequence, payload "
            "FROM raw.trace_events"
        ).fetchall()
    finally:
        con.close()
    return [
        {
            "event_id": r[0],
            "event_type": r[1],
            "tenant_id": r[2],
            "trace_id": r[3],
            "span_id": r[4],
            "parent_span_id": r[5],
            "sequence": r[6],
            "payload": json.loads(r[7]),
        }
        for r in rows
    ]


def json_equal(a, b) -> bool:
    """Equality of JSON values: key order ignored, but true is not 1 (as Python's == would say)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def _text(value) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _trace_breaches(trace_id: str, events: list[dict]) -> set[tuple]:
    found: set[tuple] = set()
    by_type: dict[str, list[dict]] = defaultdict(list)
    for e in sorted(events, key=lambda e: (e["sequence"], e["event_id"])):
        by_type[e["event_type"]].append(e)

    # R1 complete run
    if len(by_type["user_request"]) != 1 or len(by_type["final_result"]) != 1:
        found.add(("R1", trace_id, None, None))

    # R7 well-formed trace
    sequences = sorted(e["sequence"] for e in events)
    spans = {e["span_id"] for e in events}
    if sequences != list(range(len(events))) or any(
        e.get("parent_span_id") is not None and e["parent_span_id"] not in spans for e in events
    ):
        found.add(("R7", trace_id, None, None))

    # R8 model identity
    for e in by_type["model_call"]:
        if not (_text(e["payload"].get("model")) and _text(e["payload"].get("model_version"))):
            found.add(("R8", trace_id, None, e["event_id"]))

    def of_call(event_type: str) -> dict[str, list[dict]]:
        grouped: dict[str, list[dict]] = defaultdict(list)
        for e in by_type[event_type]:
            grouped[e["payload"].get("tool_call_id")].append(e)
        return grouped

    calls: dict[str, dict] = {}
    for e in by_type["tool_call"]:
        calls.setdefault(e["payload"].get("tool_call_id"), e)  # the first request of an id counts
    results, effects = of_call("tool_result"), of_call("side_effect")
    checks, responses = of_call("policy_check"), of_call("confirmation_response")
    shown = {
        e["payload"].get("confirmation_id"): e["payload"]["arguments"]
        for e in by_type["confirmation_request"]
        if "arguments" in e["payload"]
    }

    def chain_root(call_id: str) -> str:
        seen, current = {call_id}, call_id
        while True:
            previous = calls[current]["payload"].get("retry_of")
            if previous not in calls or previous in seen:
                return current
            seen.add(previous)
            current = previous

    def executed(call_id: str) -> bool:
        call = calls.get(call_id)
        return (
            bool(call)
            and call["payload"].get("mode") == "execute"
            and (
                any(r["payload"].get("status") in EXECUTING_RESULT for r in results[call_id])
                or bool(effects[call_id])
            )
        )

    for call_id, call in calls.items():
        payload = call["payload"]
        covering = {call_id, chain_root(call_id)}
        own_and_root_checks = [c for cid in covering for c in checks[cid]]
        decisions = {c["payload"].get("decision") for c in own_and_root_checks}

        # R4 one result
        if payload.get("mode") == "execute" and len(results[call_id]) != 1:
            found.add(("R4", trace_id, call_id, None))
        if payload.get("mode") == "suggest" and results[call_id]:
            found.add(("R4", trace_id, call_id, None))

        # R5 no bypass
        if "deny" in decisions and (
            any(r["payload"].get("status") == "ok" for r in results[call_id]) or effects[call_id]
        ):
            found.add(("R5", trace_id, call_id, None))

        if not executed(call_id):
            continue
        # R6U unknown access (a finding): an executed call whose access class nothing tells
        if payload.get("access") not in ("read_only", "state_changing"):
            found.add(("R6U", trace_id, call_id, None))
        point = (results[call_id] or effects[call_id])[0]["sequence"]

        # R2 authorised write
        if payload.get("access") == "state_changing" and not any(
            c["payload"].get("decision") in AUTHORISING and c["sequence"] < point for c in own_and_root_checks
        ):
            found.add(("R2", trace_id, call_id, None))

        approvals = [
            r
            for cid in covering
            for r in responses[cid]
            if r["payload"].get("decision") == "approved" and r["sequence"] < point
        ]
        # R3 confirmed write
        if (
            payload.get("requires_confirmation") is True or "require_confirmation" in decisions
        ) and not approvals:
            found.add(("R3", trace_id, call_id, None))

        # R10 approved what ran
        for approval in approvals:
            confirmation_id = approval["payload"].get("confirmation_id")
            if confirmation_id in shown and not json_equal(shown[confirmation_id], payload.get("arguments")):
                found.add(("R10", trace_id, call_id, None))

    # R6 honest access
    for call_id, side_effects in list(effects.items()):
        if not side_effects:
            continue  # an empty group left by a lookup above
        call = calls.get(call_id)
        if not (call and executed(call_id) and call["payload"].get("access") == "state_changing"):
            found.add(("R6", trace_id, call_id, None if call_id is not None else side_effects[0]["event_id"]))
    return found


def reference_breaches(events: list[dict]) -> set[tuple]:
    """(rule_id, tenant_id, trace_id, tool_call_id, event_id) for every breach, keyed as the warehouse
    keys them."""
    traces: dict[tuple[str, str], list[dict]] = defaultdict(list)
    tenants: dict[str, set[str]] = defaultdict(set)
    for e in events:
        traces[(e["tenant_id"], e["trace_id"])].append(e)
        tenants[e["trace_id"]].add(e["tenant_id"])
    found: set[tuple] = set()
    for (tenant_id, trace_id), trace_events in traces.items():
        found |= {(rule, tenant_id, *key) for rule, *key in _trace_breaches(trace_id, trace_events)}
        if len(tenants[trace_id]) > 1:
            found.add(("R7T", tenant_id, trace_id, None, None))
    return found


def warehouse_breaches(warehouse: Path) -> set[tuple]:
    """The same tuples from audit.audit_violations (event_id kept where it is the key: R8, or an R6
    side effect without a tool_call_id)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            "SELECT rule_id, tenant_id, trace_id, tool_call_id, event_id FROM audit.audit_violations"
        ).fetchall()
    finally:
        con.close()
    return {
        (
            rule,
            tenant,
            trace,
            None if rule in ("R1", "R7", "R7T", "R8") else call,
            event if rule == "R8" or (rule == "R6" and call is None) else None,
        )
        for rule, tenant, trace, call, event in rows
    }
