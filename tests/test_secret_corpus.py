"""An adversarial corpus of secrets and personal data, as a held-out corpus would plant them: every
secret kind of docs/security.md in provider, label and structure variants, in every free-text and
JSON place of native v1 events (request text, intent, channel, plan, model-call fields, tool version,
arguments, tool outputs and errors, policy principal and reason, confirmation prompt / shown
arguments / responder, side effects, rollbacks, error events, final output as text and as JSON,
feedback, attributes, unknown top-level fields), also JSON-escaped, beside line faults (invalid
UTF-8, CRLF, BOM, NUL, blank lines, an empty file, a truncated gzip, a hostile file name).

The real ingestion and dbt build run once (module fixture); then every column of every table of
marts, audit and eval, and every column of a tenant export, is scanned for every planted value and
its distinctive forms. Values that only look like secrets must arrive unchanged, and every line
must be accounted for."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import duckdb
import pytest
from dbt_support import load_and_build

from trace_platform.lib.export import export_tenant

pytestmark = pytest.mark.integration

DAY = "2026-12-03"
TENANT = "advco"
OTHER_TENANT = "otherco"

VALUE_SECRETS = [
    ("openai_sk", "sk-" + "T3BlbkFJ" + "abcdefghijklmnopqrstuvwx0123"),
    ("openai_proj", "sk-proj-" + "Zq8xN2vLp4RtY7uWm1Kc3Hs5Jd6Fg9Ab0Ce"),
    ("anthropic", "sk-ant-api03-" + "Xy7Qw3Er5Ty8Ui1Op4As6Df9Gh2Jk0Lz-Mn_Bv3AA"),
    ("aws_akia", "AKIA" + "Q3EGRTZP7VJ5KX2M"),
    ("aws_asia", "ASIA" + "Y34FZKBOKMUTVV7B"),
    ("github_ghp", "ghp_" + "Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9St1Uv3Wx5"),
    ("github_gho", "gho_" + "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo8"),
    ("github_pat", "github_pat_" + "11ABCDEFG0" + "x" * 20 + "_" + "Yb" * 29),
    ("slack_xoxb", "xoxb-" + "2048123456789-4096123456789-" + "QwErTyUiOpAsDfGhJkLzXcVb"),
    ("slack_xoxp", "xoxp-" + "1111222233-4444555566-7777888899-" + "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"),
    ("stripe_sk", "sk_live_" + "51HqLyjWDarjtT1zdp7dcQwErTy"),
    ("stripe_rk", "rk_live_" + "51HqLyjWDarjtT1zdp7dcAsDfGh"),
    ("google_aiza", "AIza" + "SyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI"),
    ("gitlab", "glpat-" + "Xk9-Wm2_Pq7Lz4Rt8Vb3"),
    (
        "jwt",
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImFkdiJ9.eyJzdWIiOiJhZHZjby11c2VyIiwiZXhwIjoxOTAwMDAwMDAwfQ."
        "Qm9ndXNTaWduYXR1cmVGb3JBZHZlcnNhcmlhbFRlc3Q",
    ),
    ("email_plus", "Jane.Doe+billing@mail.Example-Corp.co.uk"),
    ("email_upper", "ALICE.SMITH@EXAMPLE.COM"),
    ("email_sub", "ops_team@eu.west.corp.example.io"),
    ("card_visa_spaces", "4539 1488 0343 6467"),
    ("card_mc_dashes", "5425-2334-3010-9903"),
    ("card_amex", "3714 496353 98431"),
    ("card_plain", "6011000990139424"),
    ("card_19", "6304 0000 0000 0000 018"),
    ("phone_uk", "+44 20 7946 0123"),
    ("phone_de", "+49 (0)30 90182734"),
    ("phone_us", "+1 (415) 555-0142"),
    ("phone_fr", "+33 6 12 34 56 78"),
    ("phone_00", "0044 20 7946 0999"),
    ("phone_in", "+91 98765 43210"),
    ("iban_de_spaced", "DE89 3704 0044 0532 0130 00"),
    ("iban_gb_compact", "GB82WEST12345698765432"),
    ("iban_lower", "fr1420041010050500013m02606"),
    ("iban_lower_spaced", "nl91 abna 0417 1643 00"),
    ("iban_es_spaced", "ES91 2100 0418 4502 0005 1332"),
    ("pem_body", "MIIEpAIBAAKCAQEAadvPrivKeyBodyQwErTyUiOp1234567890"),
]

# secrets recognisable only by their label: (name, template with {v}, value)
LABELLED = [
    ("text_password_colon", "password: {v}", "Pw-Colon-8841x"),
    ("text_passwd_eq", "passwd={v}", "Pw-Eq-9931y"),
    ("text_pwd", "pwd: {v}", "Pw-Pwd-7721z"),
    ("text_phrase", "my password is {v}", "Pw-Phrase-6611q"),
    ("text_secret_phrase", "my secret is {v}", "Sec-Phrase-5511r"),
    ("text_cli_flag", "mysql --password {v} -h db", "Pw-Cli-4411s"),
    ("text_env", "export AWS_SECRET_ACCESS_KEY={v}", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYADVKEY0001"),
    ("text_aws_secret_label", "aws secret access key: {v}", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYADVKEY0002"),
    ("text_url_userpass", "connect https://admin:{v}@db.example.com:5432/app", "Pw-Url-3311t"),
    ("text_query_apikey", "GET https://api.example.com/v1/items?api_key={v}&page=2", "qk-ApiKey-2211u"),
    ("text_query_token", "GET https://api.example.com/cb?access_token={v}&x=1", "qk-Token-1111v"),
    ("text_query_password", "GET https://api.example.com/login?user=bob&password={v}", "qk-Pw-0011w"),
    ("text_query_key", "https://maps.example.com/js?key={v}&v=3", "qk-Key-9911a"),
    ("text_query_sig", "https://bucket.s3.amazonaws.com/f?X-Amz-Signature={v}&X-Amz-Date=1", "qk-Sig-8811b"),
    ("text_bearer", "Authorization: Bearer {v}", "brr-Tok-7711c-QwErTy"),
    ("text_bearer_short", "use Bearer {v} for it", "bt7711d"),
    ("text_basic", "Authorization: Basic {v}", "YWRtaW46UHctQmFzaWMtNjYxMWU="),
    ("text_client_secret", "client_secret: {v}", "cs-Text-5511f"),
    ("text_token_eq", "token={v}", "tk-Text-4411g"),
    ("text_json_in_text", '{{"password": "{v}"}}', "Pw-JsonText-3311h"),
    ("text_xapikey", "X-API-Key: {v}", "xak-Text-2211i"),
    ("text_cookie", "Cookie: session={v}", "ck-Text-1111j"),
]

# JSON key-based secrets in arguments: (name, key path builder)
JSON_KEYS = [
    "password",
    "passwd",
    "pwd",
    "secret",
    "api_key",
    "apiKey",
    "token",
    "access_token",
    "client_secret",
    "Authorization",
    "pass",
    "db_pass",
    "x-api-key",
    "privateKey",
    "refresh_token",
    "session_id_secret",
    "AWS_SECRET_ACCESS_KEY",
    "SecretAccessKey",
    "pin",
    "passPhrase",
    "Cookie",
    "set-cookie",
    "ssn",
    "cvv",
    "sig",
    "signature",
    "credential",
]

NOT_SECRETS = {
    "luhn_invalid_16": "4111111111111112",
    "luhn_invalid_spaced": "4539 1488 0343 6468",
    "uuid": "9b2f7c1e-4d3a-4f6b-8a2c-1e5d7f9b3c0a",
    "trace_hex": "4bf92f3577b34da6a3ce929d0e0e4736",
    "span_hex": "00f067aa0ba902b7",
    "version": "v2.14.3-rc.1",
    "semver": "1.0.0",
    "timestamp": "2026-12-03T01:02:03.123456Z",
    "ts_offset": "2026-12-03T01:02:03+01:00",
    "epoch_ms": "1764723723123",
    "ip": "10.20.30.40",
    "amount": "12,345.67",
    "sha1": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "date_eu": "03-12-2026",
    "order_id": "ORD-2026-000123",
}


def jk_value(key: str) -> str:
    return f"JkVal-{key.replace('_', '').replace('-', '')}-73Q"


def planted() -> dict[str, str]:
    """Every planted secret by name."""
    out = dict(VALUE_SECRETS)
    out.update({name: value for name, _template, value in LABELLED})
    out.update({f"jk_{key}": jk_value(key) for key in JSON_KEYS})
    out.update(STRUCT_SECRETS)
    out.update(FAULT_SECRETS)
    out.update(IDENTIFIER_SECRETS)
    return out


# Secrets in identifiers the marts carry as columns: the session id and the tool name.
IDENTIFIER_SECRETS = {
    "session_email": "ident.user@ident.example.com",
    "tool_name_key": "sk_live_51IdentToolNameAbCdEf",
}


def identifier_trace() -> list[dict]:
    s = IDENTIFIER_SECRETS
    session, tool = f"sess-{s['session_email']}", f"tool_{s['tool_name_key']}"
    ev = []

    def add(t, p):
        ev.append(envelope("adv-ident", len(ev), t, p, session_id=session))

    add("user_request", {"text": "identifiers", "intent": "x"})
    add(
        "tool_call",
        {
            "tool_call_id": "c1",
            "tool_name": tool,
            "arguments": {"q": 1},
            "access": "state_changing",
            "mode": "execute",
            "attempt": 1,
            "retry_of": None,
            "requires_confirmation": False,
        },
    )
    add(
        "policy_check",
        {
            "check_id": "k1",
            "tool_call_id": "c1",
            "policy": "p@1",
            "permission": "x:write",
            "principal": "svc",
            "decision": "allow",
            "reason": "ok",
        },
    )
    add("tool_result", {"tool_call_id": "c1", "status": "ok", "output": "done", "latency_ms": 3})
    add(
        "side_effect",
        {
            "tool_call_id": "c1",
            "resource_type": "ticket",
            "resource_id": "t-1",
            "operation": "create",
            "reversible": False,
            "rollback_ref": None,
        },
    )
    add("final_result", {"status": "success", "output": "done"})
    return ev


# Secrets recognisable by the structure around them (arguments of adv-struct, adv-escaped).
STRUCT_SECRETS = {
    "deep_secret": "DeepNest-Val-551",
    "auth_basic_pass": "AuthBasicPass-552",
    "header_pair": "HdrPair-Val-553",
    "header_obj_auth": "HdrObjAuth-554",
    "value_before_name": "ValBeforeName-555",
    "creds_object_pass": "CredsObjPass-556",
    "array_of_passwords": "ArrPw-557",
    "escaped_email": "esc.user@escaped.example.org",
    "escaped_slash_url_pw": "EscSlashPw-558",
    "yaml_like": "YamlLike-Pw-559",
    "kv_list_secret": "KvList-Secret-560",
    "cli_args_list": "CliArgsPw-561",
    "embedded_json_pw": "EmbeddedJsonPw-562",
    "escaped_key_pw": "EscKeyPw-563",
}


# Secrets inside lines that are quarantined (they must not surface in the analyst schemas either)
# or inside lines that load despite CRLF / BOM / an escaped NUL.
FAULT_SECRETS = {
    "bad_utf8_line": "sk_live_51BadUtf8KeyQwErTyUiOp",
    "crlf_email": "crlf.ops@crlf.example.com",
    "bom_email": "bom.user@bom.example.com",
    "escaped_nul_email": "nul.esc@nul.example.com",
}


def envelope(
    trace_id,
    seq,
    event_type,
    payload,
    *,
    span=None,
    user_id="u-1",
    session_id="sess-adv",
    attributes=None,
    extra=None,
):
    span_id = span or ("root" if event_type in ("user_request", "final_result", "feedback") else f"s{seq}")
    e = {
        "schema_version": "1",
        "event_id": f"{trace_id}-e{seq}",
        "event_type": event_type,
        "timestamp": f"{DAY}T01:{seq // 60:02d}:{seq % 60:02d}.000000Z",
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": None if span_id == "root" else "root",
        "sequence": seq,
        "session_id": session_id,
        "tenant_id": TENANT,
        "user_id": user_id,
        "agent": {"name": "adv-bot", "version": "3.1.4"},
        "payload": payload,
    }
    if attributes is not None:
        e["attributes"] = attributes
    if extra:
        e.update(extra)
    return e


def text_trace(trace_id, text, json_value, user_id="u-1"):
    """Every place of one trace carries `text` (free text) / `json_value` (JSON)."""
    ev = []

    def add(t, p, **kw):
        ev.append(envelope(trace_id, len(ev), t, p, **kw))

    add(
        "user_request",
        {"text": f"Hello, {text} thanks", "intent": f"intent {text}", "channel": f"web {text}"},
        user_id=user_id,
    )
    add("plan", {"steps": [f"step {text}", "two"], "reasoning": f"reason {text}"})
    add(
        "model_call",
        {
            "provider": "openai",
            "model": "gpt-x",
            "model_version": "2026-01-01",
            "purpose": "planning",
            "input_tokens": 10,
            "output_tokens": 5,
            "latency_ms": 20,
            "finish_reason": f"stop {text}",
            "status": "error",
            "error": {"type": f"auth {text}", "message": f"msg {text}"},
        },
    )
    add(
        "tool_selection",
        {"tool_call_id": "c1", "tool_name": "do_it", "candidates": ["do_it"], "rationale": f"because {text}"},
    )
    add(
        "tool_call",
        {
            "tool_call_id": "c1",
            "tool_name": "do_it",
            "tool_version": f"1.0 {text}",
            "arguments": json_value,
            "access": "state_changing",
            "mode": "execute",
            "attempt": 1,
            "retry_of": None,
            "requires_confirmation": True,
        },
    )
    add(
        "policy_check",
        {
            "check_id": "k1",
            "tool_call_id": "c1",
            "policy": "p@1",
            "permission": "x:write",
            "principal": f"principal {text}",
            "decision": "require_confirmation",
            "reason": f"reason {text}",
        },
    )
    add(
        "confirmation_request",
        {
            "confirmation_id": "f1",
            "tool_call_id": "c1",
            "prompt": f"Proceed with {text}?",
            "arguments": json_value,
        },
    )
    add(
        "confirmation_response",
        {"confirmation_id": "f1", "tool_call_id": "c1", "decision": "approved", "responder": f"resp {text}"},
    )
    add(
        "tool_result",
        {
            "tool_call_id": "c1",
            "status": "error",
            "output": {"echo": text, "args": json_value},
            "error": {"type": f"err {text}", "message": f"emsg {text}"},
            "latency_ms": 3,
        },
    )
    add(
        "side_effect",
        {
            "tool_call_id": "c1",
            "resource_type": "thing",
            "resource_id": f"res:{text}",
            "operation": "update",
            "reversible": True,
            "rollback_ref": f"rb:{text}",
        },
    )
    add(
        "rollback",
        {
            "tool_call_id": "c1",
            "resource_type": "thing",
            "resource_id": f"res:{text}",
            "status": "ok",
            "reason": f"rollback {text}",
        },
    )
    add(
        "error",
        {
            "error_type": f"etype {text}",
            "message": f"error {text}",
            "recoverable": True,
            "tool_call_id": "c1",
        },
    )
    add("final_result", {"status": "success", "output": f"Done: {text}"})
    add(
        "feedback",
        {"rating": 1, "comment": f"comment {text}"},
        attributes={"note": text, "j": json_value},
        extra={"x_extra_field": text},
    )
    return ev


def json_output_trace(trace_id, text, json_value):
    """final_result.output and tool output as JSON objects."""
    ev = []

    def add(t, p, **kw):
        ev.append(envelope(trace_id, len(ev), t, p, **kw))

    add("user_request", {"text": "json outputs", "intent": "x"})
    add(
        "tool_call",
        {
            "tool_call_id": "c1",
            "tool_name": "read_it",
            "arguments": {"q": 1},
            "access": "read_only",
            "mode": "execute",
            "attempt": 1,
            "retry_of": None,
            "requires_confirmation": False,
        },
    )
    add("tool_result", {"tool_call_id": "c1", "status": "ok", "output": json_value, "latency_ms": 3})
    add("final_result", {"status": "success", "output": json_value})
    return ev


def json_args_for(value):
    return {
        "note": f"use {value} now",
        "nested": {"a": [{"b": f"x {value}"}], "c": {"d": {"e": value}}},
        "list": [value, "plain"],
        "order": NOT_SECRETS["order_id"],
    }


def escaped_lines() -> list[str]:
    """Raw lines written by hand: \\u0040 in emails, \\/ in URLs, \\u escapes inside a key and inside
    provider keys and card numbers."""
    s = STRUCT_SECRETS
    email = s["escaped_email"].replace("@", "\\u0040")
    url = f"https:\\/\\/bob:{s['escaped_slash_url_pw']}@h.example.com\\/x"
    aws = "AKIA\\u0051" + "3EGRTZP7VJ5KX2M"  # AKIAQ3EGRTZP7VJ5KX2M with the Q escaped
    card = "4539\\u00201488\\u00200343\\u00206467"  # 4539 1488 0343 6467
    text = f"{email} {url} {aws} {card}"
    lines = []
    for event in text_trace("adv-escaped", "ESCTEXT", {"marker": "ESCARG"}):
        line = json.dumps(event).replace("ESCTEXT", text)
        line = line.replace(
            '"ESCARG"',
            f'"{email}", "url": "{url}", "k": "{aws}", "c": "{card}", '
            f'"pass\\u0077ord": "{s["escaped_key_pw"]}"',
        )
        lines.append(line)
    return lines


def build_events() -> list[dict]:
    events = []
    for name, value in VALUE_SECRETS:
        text = (
            f"-----BEGIN RSA PRIVATE KEY-----\n{value}\n-----END RSA PRIVATE KEY-----"
            if name == "pem_body"
            else value
        )
        events += text_trace(f"adv-v-{name}", text, json_args_for(text))
        events += json_output_trace(f"adv-vo-{name}", text, {"result": text, "inner": {"k": [text]}})
    for name, template, value in LABELLED:
        text = template.format(v=value)
        events += text_trace(f"adv-l-{name}", text, json_args_for(text))
        events += json_output_trace(f"adv-lo-{name}", text, {"result": text})
    s = STRUCT_SECRETS
    struct_args = {
        "secret": {"a": {"b": {"c": {"d": s["deep_secret"]}}}},
        "auth": {"basic": {"user": "svc", "pass": s["auth_basic_pass"]}},
        "headers": [["Authorization", s["header_pair"]], ["Accept", "json"]],
        "header_list": [{"name": "Authorization", "value": s["header_obj_auth"]}],
        "params": [{"value": s["value_before_name"], "name": "password"}],
        "db": {
            "credentials": {
                "username": "x",
                "password": s["creds_object_pass"],
                "extra": {"more": {"k": "v"}},
            }
        },
        "passwords": [s["array_of_passwords"], "second"],
        "config": f"db:\n  password: {s['yaml_like']}\n",
        "kv": [{"key": "client_secret", "value": s["kv_list_secret"]}],
        "argv": ["--password", s["cli_args_list"], "--host", "db"],
        "embedded": json.dumps({"password": s["embedded_json_pw"]}),
    }
    events += text_trace("adv-keys-flat", "keys", {key: jk_value(key) for key in JSON_KEYS})
    events += text_trace(
        "adv-keys-nested", "nested keys", {"level1": {key: jk_value(key) for key in JSON_KEYS}}
    )
    events += text_trace("adv-struct", "struct", struct_args)
    events += json_output_trace("adv-struct-out", "x", struct_args)
    pretty = json_output_trace("adv-struct-pretty", "x", {})
    pretty[-1]["payload"]["output"] = json.dumps(struct_args, indent=2)  # final output: pretty JSON text
    events += pretty
    events += identifier_trace()
    # the negatives, in arguments and in the request text
    events += text_trace("adv-negatives", " ".join(NOT_SECRETS.values()), dict(NOT_SECRETS))
    return events


def _fault_event(trace_id: str, text: str, tenant: str = TENANT) -> dict:
    event = envelope(trace_id, 0, "user_request", {"text": text, "intent": "f"})
    event["tenant_id"] = tenant
    return event


def write_landing(landing: Path) -> dict[str, int]:
    """The corpus as landing files; returns file name -> lines written."""
    folder = landing / DAY
    folder.mkdir(parents=True)
    lines = [json.dumps(e) for e in build_events()]
    half = len(lines) // 2
    written = {}
    hostile = "corpus part;1 'q' \u00fc $(x) ...jsonl"
    (folder / hostile).write_text("\n".join(lines[:half]) + "\n")
    written[hostile] = half
    with gzip.open(folder / "corpus part 2.jsonl.gz", "wt") as handle:
        handle.write("\n".join(lines[half:]) + "\n")
    written["corpus part 2.jsonl.gz"] = len(lines) - half
    escaped = escaped_lines()
    (folder / "escaped.jsonl").write_text("\n".join(escaped) + "\n")
    written["escaped.jsonl"] = len(escaped)
    f = FAULT_SECRETS
    good = json.dumps(_fault_event("adv-f-utf8a", "fine")).encode()
    bad = (
        json.dumps(_fault_event("adv-f-utf8b", "bad XX"))
        .encode()
        .replace(b"XX", b"\xff\xfe " + f["bad_utf8_line"].encode())
    )
    (folder / "utf8.jsonl").write_bytes(good + b"\n" + bad + b"\n")
    written["utf8.jsonl"] = 2
    crlf = "\r\n".join(
        json.dumps(_fault_event(f"adv-f-crlf{i}", f"crlf {f['crlf_email']}")) for i in range(3)
    )
    (folder / "crlf.jsonl").write_bytes((crlf + "\r\n").encode())
    written["crlf.jsonl"] = 3
    (folder / "bom.jsonl").write_bytes(
        b"\xef\xbb\xbf" + json.dumps(_fault_event("adv-f-bom", f["bom_email"])).encode() + b"\n"
    )
    written["bom.jsonl"] = 1
    nul = json.dumps(_fault_event("adv-f-nul", "nulZZ")).encode().replace(b"ZZ", b"\x00")
    escnul = json.dumps(_fault_event("adv-f-escnul", "a\u0000b " + f["escaped_nul_email"])).encode()
    (folder / "nul.jsonl").write_bytes(nul + b"\n" + escnul + b"\n\n   \n")
    written["nul.jsonl"] = 4
    (folder / "empty.jsonl").write_bytes(b"")
    written["empty.jsonl"] = 0
    gz = gzip.compress(
        ("\n".join(json.dumps(_fault_event(f"adv-f-gz{i}", "gz")) for i in range(20)) + "\n").encode()
    )
    (folder / "truncated.jsonl.gz").write_bytes(gz[: len(gz) // 2])
    # another tenant: its rows must not be in the export
    (folder / "other.jsonl").write_text(
        json.dumps(_fault_event("adv-other", "other tenant", OTHER_TENANT)) + "\n"
    )
    written["other.jsonl"] = 1
    return written


def needles(value: str) -> set[str]:
    """The value and its distinctive forms: without separators, without a well-known prefix, the
    local part of an email."""
    out = {value}
    compact = re.sub(r"[\s().-]", "", value)
    if len(compact) >= 8:
        out.add(compact)
    for prefix in (
        "sk-proj-",
        "sk-ant-api03-",
        "sk-",
        "ghp_",
        "gho_",
        "github_pat_",
        "xoxb-",
        "xoxp-",
        "sk_live_",
        "rk_live_",
        "glpat-",
        "AKIA",
        "ASIA",
        "AIza",
    ):
        if value.startswith(prefix) and len(value) - len(prefix) >= 10:
            out.add(value[len(prefix) :])
    if "@" in value:
        out.add(value.split("@")[0] + "@")
    return out


NEEDLES = {n: name for name, value in planted().items() for n in needles(value)}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("secret_corpus")
    written = write_landing(root / "landing")
    warehouse = root / "warehouse.duckdb"
    load_and_build(warehouse, root / "landing", [DAY])
    con = duckdb.connect(str(warehouse))
    try:
        export_tenant(con, TENANT, root / "export")
    finally:
        con.close()
    con = duckdb.connect(str(warehouse), read_only=True)
    yield con, root, written
    con.close()


def _hits(con, relation: str, columns: list[str]) -> set[tuple[str, str]]:
    found = set()
    for column in columns:
        for (needle,) in con.execute(
            f"SELECT DISTINCT u.s FROM {relation}, unnest(?::VARCHAR[]) AS u(s) "
            f'WHERE contains(lower("{column}"::VARCHAR), lower(u.s))',
            [sorted(NEEDLES)],
        ).fetchall():
            found.add((column, NEEDLES[needle]))
    return found


def test_every_secret_reached_the_raw_zone(corpus):
    con, _root, _written = corpus
    raw = con.execute(
        "SELECT string_agg(concat_ws(' ', payload, user_id, session_id, attributes, extra_fields), ' ') "
        "FROM raw.trace_events"
    ).fetchone()[0]
    quarantined = con.execute("SELECT string_agg(raw_line, ' ') FROM raw.quarantine").fetchone()[0]
    decoded = raw.replace("\\u0040", "@").replace("\\/", "/").replace("\\u0051", "Q").replace("\\u0020", " ")
    missing = [name for name, value in planted().items() if value not in decoded and value not in quarantined]
    assert missing == []


def test_no_planted_secret_in_any_column_of_marts_audit_eval(corpus):
    con, _root, _written = corpus
    columns: dict[str, list[str]] = {}
    for schema, table, column in con.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE table_schema IN ('marts', 'audit', 'eval') ORDER BY ALL"
    ).fetchall():
        columns.setdefault(f'"{schema}"."{table}"', []).append(column)
    assert len(columns) >= 13 and sum(map(len, columns.values())) > 200
    leaks = sorted(
        (relation, column, name)
        for relation, cols in columns.items()
        for column, name in _hits(con, relation, cols)
    )
    assert leaks == []
    # and the redaction happened where the secrets were (the scan is not vacuous)
    (request,) = con.execute(
        "SELECT request_text FROM marts.fct_outcomes WHERE trace_id = 'adv-v-iban_lower'"
    ).fetchone()
    assert request == "Hello, [REDACTED:iban] thanks"


def test_no_planted_secret_and_no_other_tenant_in_the_export(corpus):
    con, root, _written = corpus
    files = sorted((root / "export").glob("*.parquet"))
    assert len(files) >= 9
    leaks = []
    for path in files:
        relation = f"read_parquet('{path}')"
        cols = [
            c
            for (c,) in con.execute(f"SELECT column_name FROM (DESCRIBE SELECT * FROM {relation})").fetchall()
        ]
        leaks += [(path.name, column, name) for column, name in _hits(con, relation, cols)]
        if "tenant_id" in cols:
            assert con.execute(f"SELECT DISTINCT tenant_id FROM {relation}").fetchall() in (
                [],
                [(TENANT,)],
            ), path.name
    assert leaks == []


def test_placeholders_and_structure(corpus):
    con, _root, _written = corpus
    (arguments,) = con.execute(
        "SELECT arguments::VARCHAR FROM marts.fct_tool_calls WHERE trace_id = 'adv-struct'"
    ).fetchone()
    args = json.loads(arguments)
    assert args["secret"] == args["auth"] == args["passwords"] == "[REDACTED:secret]"
    assert args["headers"] == [["Authorization", "[REDACTED:secret]"], ["Accept", "json"]]
    assert args["header_list"] == [{"name": "Authorization", "value": "[REDACTED:secret]"}]
    assert args["params"] == [{"value": "[REDACTED:secret]", "name": "password"}]
    assert args["argv"] == ["--password", "[REDACTED:secret]", "--host", "db"]
    assert args["kv"] == [{"key": "client_secret", "value": "[REDACTED:secret]"}]
    assert json.loads(args["embedded"]) == {"password": "[REDACTED:secret]"}
    (final,) = con.execute(
        "SELECT final_output FROM marts.fct_outcomes WHERE trace_id = 'adv-struct-out'"
    ).fetchone()
    final = json.loads(final)  # a JSON final output stays JSON, redacted by key
    assert final["secret"] == final["auth"] == "[REDACTED:secret]"
    assert final["db"]["credentials"] == "[REDACTED:secret]"
    (escaped,) = con.execute(
        "SELECT arguments::VARCHAR FROM marts.fct_tool_calls WHERE trace_id = 'adv-escaped'"
    ).fetchone()
    assert json.loads(escaped) == {
        "marker": "[REDACTED:email]",
        "url": "https://bob:[REDACTED:password]@h.example.com/x",
        "k": "[REDACTED:api_key]",
        "c": "[REDACTED:card]",
        "password": "[REDACTED:secret]",
    }
    keys = json.loads(
        con.execute(
            "SELECT arguments::VARCHAR FROM marts.fct_tool_calls WHERE trace_id = 'adv-keys-flat'"
        ).fetchone()[0]
    )
    assert keys == {key: "[REDACTED:secret]" for key in JSON_KEYS}


def test_look_alikes_arrive_unchanged(corpus):
    con, _root, _written = corpus
    (arguments, shown) = con.execute(
        "SELECT t.arguments::VARCHAR, c.arguments_shown::VARCHAR FROM marts.fct_tool_calls t "
        "JOIN marts.fct_confirmations c USING (trace_id, tool_call_id) WHERE trace_id = 'adv-negatives'"
    ).fetchone()
    assert json.loads(arguments) == json.loads(shown) == NOT_SECRETS
    (request, intent) = con.execute(
        "SELECT request_text, intent FROM marts.fct_outcomes WHERE trace_id = 'adv-negatives'"
    ).fetchone()
    joined = " ".join(NOT_SECRETS.values())
    assert request == f"Hello, {joined} thanks"
    assert intent == f"intent {joined}"
    (resource_id,) = con.execute(
        "SELECT resource_id FROM marts.fct_side_effects WHERE trace_id = 'adv-negatives'"
    ).fetchone()
    assert resource_id == f"res:{joined}"


def test_every_line_is_accounted_for(corpus):
    con, _root, written = corpus
    files = {
        Path(name).name: (status, read, blank, loaded, dup, quarantined)
        for name, status, read, blank, loaded, dup, quarantined in con.execute(
            "SELECT source_file, file_status, lines_read, blank_lines, events_loaded, duplicates_dropped, "
            "lines_quarantined FROM raw.ingest_files"
        ).fetchall()
    }
    for name, (_status, read, blank, loaded, dup, quarantined) in files.items():
        assert read == blank + loaded + dup + quarantined, name
    for name, lines in written.items():
        assert files[name][1] == lines, name
    assert files["utf8.jsonl"] == ("loaded", 2, 0, 1, 0, 1)
    assert files["nul.jsonl"] == ("loaded", 4, 2, 1, 0, 1)  # a raw NUL is invalid JSON; \\u0000 loads
    assert files["crlf.jsonl"][3] == 3 and files["bom.jsonl"][3] == 1
    assert files["truncated.jsonl.gz"][0] == "quarantined"
    reasons = dict(
        con.execute(
            "SELECT source_file, string_agg(reason, ',' ORDER BY line_number) FROM raw.quarantine GROUP BY 1"
        ).fetchall()
    )
    reasons = {Path(k).name: v for k, v in reasons.items()}
    assert reasons == {
        "utf8.jsonl": "invalid_utf8",
        "nul.jsonl": "invalid_json",
        "truncated.jsonl.gz": "corrupt_gzip",
    }
    loaded = con.execute("SELECT count(*) FROM raw.trace_events").fetchone()[0]
    assert loaded == sum(row[3] for row in files.values())
