"""Native traces with planted secrets and personal data, for two tenants, loaded through the real
ingestion and dbt build once per test session (shared by the redaction and export tests)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import duckdb
from dbt_support import Trace, load_and_build, write_day

DAY = "2026-11-20"
TENANTS = ("acme", "globex")

PRIVATE_KEY_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKjMzEfYyjiWA4R4"


@dataclass(frozen=True)
class Planted:
    """One secret: its value, the placeholder label expected where it was, and where it was put."""

    name: str
    value: str
    label: str


def secrets_for(tenant: str) -> dict[str, Planted]:
    """Distinct secrets per tenant (so an export can be checked for the other tenant's)."""
    a = tenant == "acme"
    items = [
        ("email", f"jane.doe+{tenant}@example.org", "email"),
        ("user_email", f"user.{tenant}@mail.example.com", "email"),
        ("principal_email", f"ops.{tenant}@corp.example.net", "email"),
        ("phone_intl", "+44 20 7946 0958" if a else "+49 151 2345 6789", "phone"),
        ("phone_us", "(555) 867-5309" if a else "(555) 123-4567", "phone"),
        ("phone_field", "4915112345678" if a else "4915187654321", "phone"),
        ("card_spaced", "4539 1488 0343 6467" if a else "6011-1111-1111-1117", "card"),
        ("card_plain", "5555555555554444" if a else "4012888888881881", "card"),
        ("card_bare_number", "4111111111111111" if a else "4000056655665556", "card"),
        ("iban_spaced", "DE89 3704 0044 0532 0130 00" if a else "FR14 2004 1010 0505 0001 3M02 606", "iban"),
        ("iban_compact", "GB29NWBK60161331926819" if a else "NL91ABNA0417164300", "iban"),
        ("openai_key", f"sk-proj-{tenant}T3stK3yAbCdEfGhIjKlMnOp12", "api_key"),
        ("anthropic_key", f"sk-ant-api03-{tenant}ZyXwVuTsRqPoNmLkJiHg9876", "api_key"),
        ("stripe_key", f"sk_live_51{tenant}AbCdEfGhIjKlMnOp", "api_key"),
        ("github_token", f"ghp_{tenant}A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6", "api_key"),
        ("aws_key_id", "AKIAIOSFODNN7EXAMPL3" if a else "AKIAZZZZGLOBEX000001", "api_key"),
        ("slack_token", f"xoxb-123456789012-{tenant}GHIJKL", "api_key"),
        (
            "google_key",
            "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q" if a else "AIzaSyZ9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J",
            "api_key",
        ),
        (
            "jwt",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ" + tenant + "IiwiaWF0IjoxNTE2MjM5MDIyfQ."
            "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
            "jwt",
        ),
        ("bearer", f"9f8e7d6c5b4a3f2e1d0c{tenant}", "credentials"),
        ("bearer_text", f"Zm9vYmFyYmF6cXV4{tenant}Q2", "bearer_token"),
        ("password_field", f"Tr0ub4dor&3horse-{tenant}", "secret"),
        ("api_key_field", f"my-internal-key-{tenant}-000111", "secret"),
        ("nested_secret", f"s3cr3tValue!{tenant}", "secret"),
        ("numeric_token", "99887766" if a else "55443322", "secret"),
        ("camel_password", f"CamelCase!Pw{tenant}", "secret"),
        ("credentials_object", f"nested-pass-{tenant}-42", "secret"),
        ("password_phrase", f"Hunter2Secret{tenant}", "secret"),
        ("password_assignment", f"pw-assign-{tenant}-77", "secret"),
        ("url_password", f"P4ssw0rdInUrl{tenant}", "password"),
        ("private_key", PRIVATE_KEY_BODY + tenant.upper(), "private_key"),
        ("r10_card_shown", "4242424242424242" if a else "378282246310005", "card"),
        ("r10_card_run", "5105105105105100" if a else "371449635398431", "card"),
        ("retry_password_1", f"first-attempt-pw-{tenant}", "secret"),
        ("retry_password_2", f"second-attempt-pw-{tenant}", "secret"),
        ("output_password", f"out-pw-{tenant}-5150", "secret"),
    ]
    return {name: Planted(name, value, label) for name, value, label in items}


# Values that look a little like secrets but are not: they must reach the marts unchanged.
NOT_SECRETS = {
    "order_number": "1234567812345678",  # 16 digits, fails the Luhn check
    "uuid": "123e4567-e89b-12d3-a456-426614174000",
    "iso_date": "2026-11-20T01:02:03Z",
    "version": "v10.4.12",
    "short_number": "12345",
    "ip": "192.168.100.200",
    "amount": "1,234,567.89",
}


def _pem(body: str) -> str:
    return "-----BEGIN RSA PRIVATE KEY-----\n" + body + "\n-----END RSA PRIVATE KEY-----"


def tenant_traces(tenant: str) -> list[Trace]:
    s = {k: v.value for k, v in secrets_for(tenant).items()}
    traces = []

    t = Trace(f"{tenant}-secrets", tenant_id=tenant, day=DAY)
    t.add(
        "user_request",
        {
            "text": (
                f"Hi, I'm {s['email']}, call me at {s['phone_intl']} or {s['phone_us']}. My card is "
                f"{s['card_spaced']}, IBAN {s['iban_spaced']}. Oh and my password is {s['password_phrase']}. "
                f"Order {NOT_SECRETS['order_number']} from {NOT_SECRETS['iso_date']}."
            ),
            "intent": "refund_order",
            "channel": "web",
        },
        user_id=s["user_email"],
    )
    t.add("plan", {"steps": ["look up", "refund"], "reasoning": f"use key {s['openai_key']}"})
    t.add(
        "model_call",
        {
            "provider": "openai",
            "model": "gpt-x",
            "model_version": "2026-01-01",
            "purpose": "planning",
            "input_tokens": 10,
            "output_tokens": 5,
            "latency_ms": 20,
            "finish_reason": "stop",
            "status": "error",
            "error": {"type": "auth_error", "message": f"bad token {s['jwt']}"},
        },
    )
    arguments = {
        "order_id": NOT_SECRETS["order_number"],
        "request_uuid": NOT_SECRETS["uuid"],
        "since": NOT_SECRETS["iso_date"],
        "client_version": NOT_SECRETS["version"],
        "quantity": NOT_SECRETS["short_number"],
        "ip": NOT_SECRETS["ip"],
        "amount_text": NOT_SECRETS["amount"],
        "customer_email": s["email"],
        "card": int(s["card_bare_number"]),
        "card_text": s["card_plain"],
        "password": s["password_field"],
        "phone": int(s["phone_field"]),
        "iban": s["iban_compact"],
        "nested": {
            "api_key": s["api_key_field"],
            "deep": {"client_secret": s["nested_secret"], "list": [{"token": int(s["numeric_token"])}]},
        },
        "userPassword": s["camel_password"],
        "credentials": {"user": "svc", "pass": s["credentials_object"]},
        "headers": {"Authorization": f"Bearer {s['bearer']}"},
        "note": (
            f"line one\nuse {s['anthropic_key']} and {s['stripe_key']}; aws {s['aws_key_id']}\t"
            f'slack {s["slack_token"]} google {s["google_key"]} "gh" {s["github_token"]}'
        ),
        "script": f"curl -H 'Authorization: Bearer {s['bearer']}' && export PASSWORD={s['password_assignment']}",
        "text_bearer": f"use bearer {s['bearer_text']} please",
        "db_url": f"postgres://admin:{s['url_password']}@db.internal:5432/app",
        "pem": _pem(s["private_key"]),
        "is_secret": False,
        "next_token": None,
        "max_tokens": 100,
    }
    t.call("c1", "refund_order", arguments=arguments)
    t.add(
        "policy_check",
        {
            "check_id": "chk1",
            "tool_call_id": "c1",
            "policy": "refunds@3",
            "permission": "orders:write",
            "principal": s["principal_email"],
            "decision": "require_confirmation",
            "reason": f"refund for {s['email']} needs approval",
        },
    )
    t.add(
        "confirmation_request",
        {
            "confirmation_id": "conf1",
            "tool_call_id": "c1",
            "prompt": f"Charge card {s['card_plain']} and email {s['email']}?",
            "arguments": arguments,
        },
    )
    t.add(
        "confirmation_response",
        {
            "confirmation_id": "conf1",
            "tool_call_id": "c1",
            "decision": "approved",
            "responder": s["user_email"],
        },
    )
    t.add(
        "tool_result",
        {
            "tool_call_id": "c1",
            "status": "ok",
            "output": {"token": s["jwt"], "aws": s["aws_key_id"], "card": s["card_plain"]},
            "latency_ms": 5,
        },
    )
    t.add(
        "side_effect",
        {
            "tool_call_id": "c1",
            "resource_type": "customer",
            "resource_id": f"customer:{s['email']}",
            "operation": "update",
            "reversible": True,
            "rollback_ref": f"rb-{s['iban_compact']}",
        },
    )
    t.add(
        "error", {"error_type": "warning", "message": f"card {s['card_plain']} flagged", "recoverable": True}
    )
    t.add(
        "final_result",
        {
            "status": "success",
            "output": f"Done. Receipt sent to {s['email']}; token {s['github_token']} rotated; "
            f"call {s['phone_us']}.",
        },
    )
    t.add(
        "feedback",
        {"rating": 1, "comment": f"thanks, reach me at {s['phone_intl']}"},
        attributes={"session_cookie": s["jwt"], "ip": "10.0.0.1"},
    )
    traces.append(t)

    # R10 with secrets: the user approved card A, the call ran with card B. Redacted, both read
    # [REDACTED:card]; the audit must still see that they differ.
    r10 = Trace(f"{tenant}-r10", tenant_id=tenant, day=DAY)
    r10.request(f"pay with my card {s['r10_card_shown']}")
    r10.call(
        "c1", "charge_card", requires_confirmation=True, arguments={"card": s["r10_card_run"], "amount": 5}
    )
    r10.check("c1")
    r10.confirm("c1", arguments={"card": s["r10_card_shown"], "amount": 5})
    r10.result("c1")
    r10.side_effect("c1")
    r10.final()
    traces.append(r10)

    # A retry whose arguments differ only in a password: eval must label it bad_parameters.
    retry = Trace(f"{tenant}-retry", tenant_id=tenant, day=DAY)
    retry.request("log in to the billing portal")
    retry.call(
        "c1", "portal_login", access="read_only", arguments={"user": "svc", "password": s["retry_password_1"]}
    )
    retry.result("c1", "error", "unauthorized")
    retry.call(
        "c2",
        "portal_login",
        access="read_only",
        attempt=2,
        retry_of="c1",
        arguments={"user": "svc", "password": s["retry_password_2"]},
    )
    retry.result("c2")
    retry.add(
        "final_result",
        {"status": "success", "output": {"summary": "logged in", "password": s["output_password"]}},
    )
    traces.append(retry)
    return traces


def all_secrets() -> dict[str, list[Planted]]:
    return {tenant: list(secrets_for(tenant).values()) for tenant in TENANTS}


@functools.cache
def _build(root: str) -> Path:
    root_path = Path(root)
    events = [e for tenant in TENANTS for trace in tenant_traces(tenant) for e in trace.events]
    write_day(root_path / "landing", DAY, events)
    warehouse = root_path / "warehouse.duckdb"
    load_and_build(warehouse, root_path / "landing", [DAY])
    return warehouse


_ROOT: list[Path] = []


def planted_warehouse(tmp_path_factory) -> Path:
    """The warehouse built from the planted traces; built once per session."""
    if not _ROOT:
        _ROOT.append(tmp_path_factory.mktemp("planted_secrets"))
    return _build(str(_ROOT[0]))


def string_columns(con: duckdb.DuckDBPyConnection, schemas: tuple[str, ...]) -> dict[str, list[str]]:
    """Every table / view of the schemas with its VARCHAR, JSON and VARCHAR[]-like columns."""
    found: dict[str, list[str]] = {}
    for schema, table, column, data_type in con.execute(
        "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema IN (SELECT unnest(?)) ORDER BY 1, 2, ordinal_position",
        [list(schemas)],
    ).fetchall():
        found.setdefault(f'"{schema}"."{table}"', [])
        if "VARCHAR" in data_type or "JSON" in data_type or "STRUCT" in data_type or "MAP" in data_type:
            found[f'"{schema}"."{table}"'].append(column)
    return found


def secrets_found(
    con: duckdb.DuckDBPyConnection, relation: str, columns: list[str], secrets: list[str]
) -> list[tuple[str, str]]:
    """(column, secret) for every planted secret found in any of the columns, in any row."""
    if not columns:
        return []
    hits = []
    for column in columns:
        rows = con.execute(
            f"SELECT DISTINCT s FROM {relation}, unnest(?::VARCHAR[]) AS u(s) "
            f'WHERE contains("{column}"::VARCHAR, s)',
            [secrets],
        ).fetchall()
        hits += [(column, r[0]) for r in rows]
    return hits
