"""Each redaction rule of trace_platform/config/redaction.yaml, positive and negative, alone and
within the whole rule set; the JSON mode; the configuration loader. No dbt: an in-memory DuckDB."""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

import duckdb
import pytest
import yaml

from trace_platform import redaction

CONFIG = yaml.safe_load(redaction.DEFAULT_PATH.read_text())
RAW_RULES = {raw["id"]: raw for raw in CONFIG["rules"]}

PEM = (
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n"
    "VJTUt9Us8cKjMzEfYyjiWA4R4==\n-----END PRIVATE KEY-----"
)
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)

# rule id -> (positives: input -> expected output with only this rule on, negatives: left unchanged
# by the WHOLE rule set). Text rules take text; json_key rules take JSON documents.
TEXT_CASES: dict[str, tuple[dict[str, str], list[str]]] = {
    "private_key": (
        {
            f"key: {PEM} end": "key: [REDACTED:private_key] end",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA": "[REDACTED:private_key]",
        },
        [
            "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----",
            "paste your BEGIN PRIVATE KEY block here",
        ],
    ),
    "jwt": (
        {f"token {JWT} ok": "token [REDACTED:jwt] ok"},
        ["eyJustkidding.eyJust.kidding", "header.payload.signature", "see eyJ docs"],
    ),
    "provider_api_key": (
        {
            "sk-proj-abcdefghijklmnopqrstuvwx1234": "[REDACTED:api_key]",
            "key=sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWx": "key=[REDACTED:api_key]",
            "sk_live_51HqAbCdEfGhIjKlMnOp": "[REDACTED:api_key]",
            "rk_test_AbCdEfGhIjKlMnOpQr": "[REDACTED:api_key]",
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789 x": "[REDACTED:api_key] x",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789AB": "[REDACTED:api_key]",
            "glpat-AbCdEfGhIjKlMnOpQrSt": "[REDACTED:api_key]",
            "xoxb-123456789012-AbCdEfGhIjKl": "[REDACTED:api_key]",
            "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q": "[REDACTED:api_key]",
            "aws AKIAIOSFODNN7EXAMPLE.": "aws [REDACTED:api_key].",
            "SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG": "[REDACTED:api_key]",
            "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH": "[REDACTED:api_key]",
            "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX": "https://[REDACTED:api_key]",
        },
        [
            "task-force-alpha-bravo-charlie-delta-echo",
            "ask-me-anything-about-the-product-line",
            "sk-short",
            "the desk-123 ticket",
            "AKIA is a prefix",
            "skip_live_wire_abcdefghijklmnop",
            "hf_short",
            "gh_pages branch",
            "https://hooks.slack.com/help",
        ],
    ),
    "url_credentials": (
        {
            "postgres://admin:s3cret@db:5432/app": "postgres://admin:[REDACTED:password]@db:5432/app",
            "see https://bob:pa55w0rd@example.com/x": "see https://bob:[REDACTED:password]@example.com/x",
        },
        ["https://example.com:8443/path?a=1", "http://user@host/path", "redis://cache:6379/0"],
    ),
    "url_query_secret": (
        {
            "GET /v1/items?api_key=qk123&page=2": "GET /v1/items?api_key=[REDACTED:secret]&page=2",
            "https://maps.example.com/js?key=abc123&v=3": "https://maps.example.com/js?key=[REDACTED:secret]&v=3",
            "f?X-Amz-Credential=AKIAX%2F2026&X-Amz-Signature=ab12cd&X-Amz-Date=1": "f?X-Amz-Credential=[REDACTED:secret]&X-Amz-Signature=[REDACTED:secret]&X-Amz-Date=1",
            "cb?code=4/0Axyz&state=s": "cb?code=[REDACTED:secret]&state=s",
        },
        ["https://example.com/search?q=monkey&page=2&sort_key=name", "?zip_code=10115&lang=en"],
    ),
    "authorization_header": (
        {
            "Authorization: Basic dXNlcjpwYXNz": "Authorization: [REDACTED:credentials]",
            "authorization=abc123": "authorization=[REDACTED:credentials]",
            '"Authorization": "Bearer abc"': '"Authorization": "[REDACTED:credentials]"',
        },
        ["authorization was granted by the manager", "the Authorization header is missing"],
    ),
    "cookie_header": (
        {
            "Cookie: session=ck1; theme=dark\nHost: x": "Cookie: [REDACTED:cookie]\nHost: x",
            "set-cookie: sid=abc; HttpOnly": "set-cookie: [REDACTED:cookie]",
        },
        ["the cookie banner was shown", "cookies: 3"],
    ),
    "bearer_token_short": (
        {
            "use Bearer bt7711d now": "use Bearer [REDACTED:bearer_token] now",
            "bearer abc123": "Bearer [REDACTED:bearer_token]",
        },
        ["the bearer of bad news", "bearer bonds", "Bearer", "bearer 2fa"],
    ),
    "bearer_token": (
        {
            "use Bearer abcdefghijkl123 now": "use Bearer [REDACTED:bearer_token] now",
            "bearer dGVzdDp0ZXN0dGVzdA==": "bearer [REDACTED:bearer_token]",
        },
        ["the bearer of bad news", "bearer bonds", "Bearer"],
    ),
    "secret_assignment": (
        {
            "password=hunter2": "password=[REDACTED:secret]",
            "db_password: 'hunter2'": "db_password: '[REDACTED:secret]'",
            '{"api_key": "abc123"}': '{"api_key": "[REDACTED:secret]"}',
            "client_secret => xyz": "client_secret => [REDACTED:secret]",
            "{'pin': 1234}": "{'pin': [REDACTED:secret]}",
            "export GITHUB_TOKEN=abc; echo": "export GITHUB_TOKEN=[REDACTED:secret]; echo",
            "AccountName=x;AccountKey=abc==;": "AccountName=x;AccountKey=[REDACTED:secret];",
            "aws_secret_access_key = wJalrXUtnFEMI": "aws_secret_access_key = [REDACTED:secret]",
            '{"password": 123456}': '{"password": [REDACTED:secret]}',
            "aws secret access key: wJalrXUtnFEMI/K7": "aws secret access key: [REDACTED:secret]",
        },
        [
            "max_tokens: 4096",
            "tokens=5",
            "token_type: refresh",
            "secretary: Jane",
            "passwordless: true",
            '{"is_secret": false, "next_token": null}',
            "password_reset_url: later",
        ],
    ),
    "secret_name_value_pair": (
        {
            '{"name": "password", "value": "hunter2"}': '{"name": "password", "value": "[REDACTED:secret]"}',
            '[{"field":"API_KEY","value":"abc"}]': '[{"field":"API_KEY","value":"[REDACTED:secret]"}]',
            '{"name":"Authorization","value":"Basic dXNlcg=="}': '{"name":"Authorization","value":"[REDACTED:secret]"}',
            '{"value": "hunter2", "name": "password"}': '{"value": "[REDACTED:secret]", "name": "password"}',
        },
        ['{"name": "username", "value": "bob"}', '{"name": "password_hint", "value": "dog"}'],
    ),
    "secret_in_list": (
        {
            '["Authorization", "abc123"]': '["Authorization", "[REDACTED:secret]"]',
            '["--password", "hunter2", "--host", "db"]': '["--password", "[REDACTED:secret]", "--host", "db"]',
            '[["X-Api-Key","k1"],["Accept","json"]]': '[["X-Api-Key","[REDACTED:secret]"],["Accept","json"]]',
        },
        ['["password", "email", "name"]', '["--host", "db"]', '["Accept", "json"]'],
    ),
    "secret_cli_flag": (
        {
            "mysql --password hunter2 -h db": "mysql --password [REDACTED:secret] -h db",
            "aws configure --aws-secret-access-key wJalr/K7 --region x": "aws configure --aws-secret-access-key [REDACTED:secret] --region x",
            "run -token abc": "run -token [REDACTED:secret]",
        },
        ["--password-stdin < file", "pass --no-token -v", "use --token-file path"],
    ),
    "secret_phrase": (
        {
            "my password is hunter2!": "my password is [REDACTED:secret]",
            "my secret is hunter2": "my secret is [REDACTED:secret]",
            "the API key was k-123": "the API key was [REDACTED:secret]",
            "The PIN was 4821": "The PIN was [REDACTED:secret]",
        },
        ["the password field is empty", "reset your password", "pin the issue"],
    ),
    "email": (
        {
            "mail alice.smith+tag@example.co.uk now": "mail [REDACTED:email] now",
            "José <josé@exämple.de>": "José <[REDACTED:email]>",
        },
        ["user@localhost", "@handle", "foo@bar", "pkg@1.2.3", "a @ b.com"],
    ),
    "iban": (
        {
            "IBAN DE89 3704 0044 0532 0130 00.": "IBAN [REDACTED:iban].",
            "to GB29NWBK60161331926819": "to [REDACTED:iban]",
            "FR1420041010050500013M02606": "[REDACTED:iban]",
            "de89370400440532013000": "[REDACTED:iban]",
            "iban nl91 abna 0417 1643 00 ok": "iban [REDACTED:iban] ok",
            "ES91 2100 0418 4502 0005 1332 para": "[REDACTED:iban] para",
            "AT61 1904 3002 3457 3201 from": "[REDACTED:iban] from",
        },
        [
            "DE89370400440532013001",
            "AB12CDEF3456GHIJ",
            "US12 3456 7890",
            "ISO8601 timestamps",
            "XX89370400440532013000",
            "DE8937040044053201300",
        ],
    ),
    "card_number": (
        {
            "card 4111 1111 1111 1111": "card [REDACTED:card]",
            "4111-1111-1111-1111": "[REDACTED:card]",
            "amex 3782 822463 10005": "amex [REDACTED:card]",
            "5555555555554444,": "[REDACTED:card],",
            "6011111111111117": "[REDACTED:card]",
            "6304 0000 0000 0000 018": "[REDACTED:card]",
            "diners 3056 930902 5904": "diners [REDACTED:card]",
        },
        [
            "order 1234567812345678",
            "4111 1111 1111 1112",
            "0000 0000 0000 0000",
            "123456789012",
            "41111111111111111111",
            "since 1763600000000",
            "ns 1763600000000000000",
            "ORD4111111111111111",
        ],
    ),
    "phone_international": (
        {
            "call +1 (555) 123-4567": "call [REDACTED:phone]",
            "+44 20 7946 0958": "[REDACTED:phone]",
            "+4915112345678": "[REDACTED:phone]",
            "+49 (0)30 90182734, +1 415 555 2671 +1 415 555 2672": "[REDACTED:phone], [REDACTED:phone] [REDACTED:phone]",
        },
        ["+5 points", "C++ 20", "+1.5%", "UTC+01:00"],
    ),
    "phone_number": (
        {
            "(555) 867-5309": "[REDACTED:phone]",
            "555-123-4567": "[REDACTED:phone]",
            "555.123.4567": "[REDACTED:phone]",
            "030 1234567": "[REDACTED:phone]",
            "020 7946 0958": "[REDACTED:phone]",
            "07700 900123": "[REDACTED:phone]",
            "06 12 34 56 78": "[REDACTED:phone]",
            "0044 20 7946 0958": "[REDACTED:phone]",
            "call 0049 (30) 1234567": "call [REDACTED:phone]",
            "tel:030 1234567": "tel:[REDACTED:phone]",
            "Room 12 020 7946 0958": "Room 12 [REDACTED:phone]",
            "v1.0 0044 20 7946 0999": "v1.0 [REDACTED:phone]",
        },
        [
            "123e4567-e89b-12d3-a456-426614174000",
            "2026-11-20",
            "2026-11-20T01:02:03+01:00",
            "2026-11-20 12:34:56",
            "1.2.3",
            "v10.4.12",
            "12345",
            "192.168.100.200",
            "1763600000",
            "1,234,567.89",
            "+5 points",
            "C++ 20",
            "00:05:00",
            "ORD-2026-000123",
            "02-03-2026",
            "02/03/2026",
            "+1.5%",
            "UTC+01:00",
            "tel: 42",
            "room 0123",
            "4539 1488 0343 6468",
            "4111 0111 0222 0333",
        ],
    ),
    "phone_labeled": (
        {
            "phone: 5551234567": "phone: [REDACTED:phone]",
            "Tel. 030/1234567": "Tel. [REDACTED:phone]",
            "mobile number 0151 2345678": "mobile number [REDACTED:phone]",
            '"cell": "5551234567"': '"cell": "[REDACTED:phone]"',
            '{"phone":5551234567}': '{"phone":[REDACTED:phone]}',
        },
        ["hotel 12345678", "phone: n/a", "cell 42", "telemetry 1234567 events"],
    ),
}

JSON_CASES: dict[str, tuple[dict[str, object], list[object]]] = {
    "secret_fields": (
        {
            '{"password":"x1"}': {"password": "[REDACTED:secret]"},
            '{"db_password":5}': {"db_password": "[REDACTED:secret]"},
            '{"apiKey":"k","x-api-key":"k2"}': {
                "apiKey": "[REDACTED:secret]",
                "x-api-key": "[REDACTED:secret]",
            },
            '{"Authorization":"Bearer x"}': {"Authorization": "[REDACTED:secret]"},
            '{"credentials":{"a":{"b":1}}}': {"credentials": "[REDACTED:secret]"},
            '{"client_secret":["a","b"]}': {"client_secret": "[REDACTED:secret]"},
            '{"a":[{"access_token":"t"}]}': {"a": [{"access_token": "[REDACTED:secret]"}]},
            '{"passwords":["a","b"],"db_pass":"p","pass":"q","x-amz-sig":"s","signature":"t"}': {
                "passwords": "[REDACTED:secret]",
                "db_pass": "[REDACTED:secret]",
                "pass": "[REDACTED:secret]",
                "x-amz-sig": "[REDACTED:secret]",
                "signature": "[REDACTED:secret]",
            },
            '{"secret":{"a":{"b":{"c":{"d":{"e":"deep"}}}}}}': {"secret": "[REDACTED:secret]"},
        },
        [
            {"max_tokens": 100},
            {"tokens": 5},
            {"token_count": 3},
            {"password_hint": "the dog"},
            {"is_secret": True},
            {"next_token": None},
            {"secretary": "Jane"},
            {"author": "x"},
            {"keys": ["a"]},
            {"bypass": "x"},
            {"compass": "n"},
            {"passenger": "Ann"},
            {"design": "flat"},
        ],
    ),
    "phone_fields": (
        {
            '{"mobile":4915112345678}': {"mobile": "[REDACTED:phone]"},
            '{"tel":"030/1234567"}': {"tel": "[REDACTED:phone]"},
            '{"contact":{"phone_number":"5551234567"}}': {"contact": {"phone_number": "[REDACTED:phone]"}},
        },
        [
            {"hotel": "1234567"},
            {"phone_verified": True},
            {"mobile_app": "ios"},
            {"phone": "n/a"},
            {"cell": "B2"},
        ],
    ),
}


def _connection(rule_ids: list[str] | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the macros of the whole default rule set, or of some rules only."""
    con = duckdb.connect()
    if rule_ids is None:
        redaction.register(con)
    else:
        rules = redaction.parse_rules({"version": 1, "rules": [RAW_RULES[i] for i in rule_ids]})
        for statement in redaction.macro_sql(rules):
            con.execute(statement)
    return con


@pytest.fixture(scope="module")
def full():
    con = _connection()
    yield con
    con.close()


# The values reach the macros as a column (unnest of a list parameter), as in the models. A
# constant argument made DuckDB fold the whole rule set at plan time: ~0.2 s a value, not ~0.05.
def texts(con, values: list) -> list:
    return [
        out
        for (out,) in con.execute(
            "SELECT redact_text(v) FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS u(v, i) ORDER BY i", [values]
        ).fetchall()
    ]


def text(con, value):
    return texts(con, [value])[0]


def as_jsons(con, values: list[str]) -> list:
    return [
        None if out is None else json.loads(out)
        for (out,) in con.execute(
            "SELECT redact_json(v::JSON)::VARCHAR FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS u(v, i) "
            "ORDER BY i",
            [values],
        ).fetchall()
    ]


def as_json(con, value: str):
    return as_jsons(con, [value])[0]


def test_every_rule_of_the_config_has_cases():
    assert set(TEXT_CASES) | set(JSON_CASES) == set(RAW_RULES)
    for raw in CONFIG["rules"]:
        assert raw["description"].strip() and raw["enabled"] is True, raw["id"]


@pytest.mark.parametrize("rule_id", list(TEXT_CASES))
def test_text_rule_positives(rule_id, full):
    positives, _ = TEXT_CASES[rule_id]
    alone = _connection([rule_id])
    try:
        values = list(positives)
        for value, alone_out, full_out in zip(values, texts(alone, values), texts(full, values), strict=True):
            assert alone_out == positives[value], value
            # and within the whole rule set: replaced too (perhaps by an earlier rule's label)
            assert full_out != value and "[REDACTED:" in full_out, value
    finally:
        alone.close()


@pytest.mark.parametrize("rule_id", list(TEXT_CASES))
def test_text_rule_negatives_are_left_alone_by_every_rule(rule_id, full):
    _, negatives = TEXT_CASES[rule_id]
    for value, out in zip(negatives, texts(full, negatives), strict=True):
        assert out == value


@pytest.mark.parametrize("rule_id", list(JSON_CASES))
def test_json_key_rules(rule_id, full):
    positives, negatives = JSON_CASES[rule_id]
    alone = _connection([rule_id])
    try:
        values = list(positives)
        for value, alone_out, full_out in zip(
            values, as_jsons(alone, values), as_jsons(full, values), strict=True
        ):
            assert alone_out == positives[value], value
            assert full_out == positives[value], value
        for value, out in zip(negatives, as_jsons(full, [json.dumps(v) for v in negatives]), strict=True):
            assert out == value
    finally:
        alone.close()


def test_known_false_positives_documented_in_security_md(full):
    # over-redaction we accept (docs/security.md, "Known false positives"); kept here so the
    # documentation stays true
    assert text(full, "the password is incorrect") == "the password is [REDACTED:secret]"
    assert text(full, "icon@2x.png") == "[REDACTED:email]"
    assert text(full, "git@github.com:org/repo.git").startswith("[REDACTED:email]")
    assert text(full, "SKU 123-456-7890") == "SKU [REDACTED:phone]"
    assert text(full, "order 4111111111111111") == "order [REDACTED:card]"  # a Luhn-valid order number
    assert as_json(full, '{"page_token": "abc"}') == {"page_token": "[REDACTED:secret]"}
    assert as_json(full, '{"oauth": "google"}') == {"oauth": "[REDACTED:secret]"}
    assert text(full, "token: expired") == "token: [REDACTED:secret]"
    # an IBAN with a wrong check digit is no IBAN, but its tail may read as a Luhn-valid 18-digit
    # card number in groups of 4 (1 in 10 of them); otherwise it is kept
    assert text(full, "DE89 3704 0044 0532 0130 01") == "DE89 [REDACTED:card]"
    assert text(full, "DE89 3704 0044 0532 0130 02") == "DE89 3704 0044 0532 0130 02"
    # the secret phrase also takes "the token / secret is" literally
    assert text(full, "the token is expired") == "the token is [REDACTED:secret]"
    # a two-element list naming a secret field and another field
    assert text(full, '["password", "email"]') == '["password", "[REDACTED:secret]"]'
    # a URL query parameter named key / code is taken for a credential
    assert text(full, "?key=color&code=blue") == "?key=[REDACTED:secret]&code=[REDACTED:secret]"
    # a lower-case hex id of an IBAN country's length that starts with its code and passes mod-97
    # (Belgian IBANs have 16 characters, like a span id: about 1 in 60,000 random 16-hex ids)
    assert text(full, "span be30fea83537c7fe") == "span [REDACTED:iban]"


def test_known_false_negatives_documented_in_security_md(full):
    for value in (
        "5551234567",  # a bare 10-digit phone number without a label
        "my secret was told to nobody",  # only one word is masked: "my secret was [REDACTED:secret] to nobody"
        "ORD4111111111111111",  # a card number glued to letters
        "secret key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",  # an AWS secret key without ':' or '='
        "Bearer abcdef",  # a bearer token under 12 characters without a digit
        "ref 2026 020 7946 0958",
    ):  # a national number right after a number of 4+ digits
        if value.startswith("my secret was"):
            assert text(full, value) == "my secret was [REDACTED:secret] to nobody"
        else:
            assert text(full, value) == value
    value: object = "deep"
    for level in range(redaction.JSON_KEY_NESTING + 1):  # 1 + JSON_KEY_NESTING levels: still masked whole
        value = {f"k{level}": value}
    assert as_json(full, json.dumps({"credentials": value})) == {"credentials": "[REDACTED:secret]"}
    deep = {"credentials": {"k": value}}  # one level more: left to the members' own keys
    assert as_json(full, json.dumps(deep)) == deep


def test_redaction_is_idempotent_and_keeps_nulls(full):
    samples = [p for positives, _ in TEXT_CASES.values() for p in positives]
    # every sample in one query per pass (planning the rule set costs more than running it)
    once = texts(full, samples)
    twice = texts(full, once)
    for value, first, second in zip(samples, once, twice, strict=True):
        assert second == first, value
    assert text(full, None) is None
    assert full.execute("SELECT redact_json(NULL::JSON)").fetchone()[0] is None
    assert text(full, "") == ""


def test_json_keeps_its_structure_types_and_escapes(full):
    document = {
        "to": "bob@example.com",
        "note": 'line1\nalice@x.com "q" \\ tab\there \u00e9 \u0001carol@x.org',
        "card": 4111111111111111,
        "cards": [4111111111111111, 4111111111111111, 5500005555555559],
        "order": 1234567812345678,
        "ratio": 1.5,
        "ok": True,
        "none": None,
        "list": [1, "a@b.co", {"pin": 1234}],
        "password": "x",
        "unicode_key_é": "plain",
    }
    out = as_json(full, json.dumps(document))
    assert out == {
        "to": "[REDACTED:email]",
        "note": 'line1\n[REDACTED:email] "q" \\ tab\there \u00e9 \u0001[REDACTED:email]',
        "card": "[REDACTED:card]",
        "cards": ["[REDACTED:card]"] * 3,
        "order": 1234567812345678,
        "ratio": 1.5,
        "ok": True,
        "none": None,
        "list": [1, "[REDACTED:email]", {"pin": "[REDACTED:secret]"}],
        "password": "[REDACTED:secret]",
        "unicode_key_é": "plain",
    }
    # scalars and whitespace-formatted documents
    assert as_json(full, '"mail bob@example.com"') == "mail [REDACTED:email]"
    assert as_json(full, "4111111111111111") == "[REDACTED:card]"
    assert as_json(full, '{ "password" :\n "x" }') == {"password": "[REDACTED:secret]"}
    assert as_json(full, "[]") == [] and as_json(full, "{}") == {}


def test_random_documents_stay_valid_json_and_lose_every_planted_value(full):
    rng = random.Random(7)
    secrets = [
        "bob@example.com",
        "4111 1111 1111 1111",
        "+44 20 7946 0958",
        "GB29NWBK60161331926819",
        "sk-proj-abcdefghijklmnopqrstuvwx1234",
        JWT,
    ]
    noise = string.ascii_letters + string.digits + ' \n\t"\\/{}[]:,.-_@+'

    def value(depth):
        kind = rng.randrange(6 if depth < 3 else 4)
        if kind == 0:
            return "".join(rng.choice(noise) for _ in range(rng.randrange(12)))
        if kind == 1:
            # glued to a letter a card number is not recognised (a known false negative): no "x" here
            return (
                rng.choice(["", " ", "\n", "(", '"'])
                + rng.choice(secrets)
                + rng.choice(["", "\n", "\\", '"', " y"])
            )
        if kind == 2:
            return rng.choice([0, -3, 1.25, 4111111111111111, 1234567812345678, True, False, None])
        if kind == 3:
            return rng.choice(["password", "phone", "x"]) + "".join(
                rng.choice(string.ascii_letters) for _ in range(3)
            )
        if kind == 4:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        return {
            rng.choice(["password", "token", "note", "a", "b", "phone", "c d"]) + str(i): value(depth + 1)
            for i in range(rng.randrange(4))
        }

    documents = [json.dumps({"k": value(0), "l": value(0)}) for _ in range(400)]
    out = full.execute(
        "SELECT d, redact_json(d::JSON)::VARCHAR FROM unnest(?::VARCHAR[]) AS t(d)", [documents]
    ).fetchall()
    for _, redacted in out:
        json.loads(redacted)  # valid JSON, always
        for secret in secrets:
            assert secret not in redacted and json.dumps(secret)[1:-1] not in redacted


# ---- configuration --------------------------------------------------------------------------------


def _write(tmp_path: Path, rules: list[dict]) -> Path:
    path = tmp_path / "redaction.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "rules": rules}))
    return path


def test_the_config_path_comes_from_the_environment(tmp_path, monkeypatch):
    rule = dict(RAW_RULES["email"])
    path = _write(tmp_path, [rule, {**RAW_RULES["card_number"], "enabled": False}])
    monkeypatch.setenv(redaction.ENV_VAR, str(path))
    assert redaction.config_path() == path
    con = duckdb.connect()
    redaction.register(con)
    assert text(con, "bob@example.com 4111111111111111") == "[REDACTED:email] 4111111111111111"
    monkeypatch.delenv(redaction.ENV_VAR)
    assert redaction.config_path() == redaction.DEFAULT_PATH


def test_a_custom_rule_and_a_disabled_rule(tmp_path):
    custom = {
        "id": "employee_id",
        "description": "internal employee numbers",
        "kind": "regex",
        "pattern": r"\bEMP-[0-9]{6}\b",
        "replacement": "[REDACTED:employee]",
        "enabled": True,
    }
    path = _write(tmp_path, [custom, {**RAW_RULES["email"], "enabled": False}])
    con = duckdb.connect()
    redaction.register(con, path)
    assert text(con, "EMP-123456 bob@example.com") == "[REDACTED:employee] bob@example.com"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"id": "Bad Id"}, "id must match"),
        ({"kind": "magic"}, "kind must be one of"),
        ({"pattern": "(unclosed"}, "bad pattern"),
        ({"replacement": 'x" || 1'}, "replacement must be"),
        ({"replacement": "\\3"}, "refers to group 3"),
        ({"enabled": "yes"}, "enabled must be"),
        ({"surprise": 1}, "unknown field"),
        ({"validate": "luhn"}, "validate is for kind validated"),
    ],
)
def test_malformed_rules_are_rejected_with_the_rule_named(tmp_path, change, message):
    rule = {**RAW_RULES["url_credentials"], **change}
    with pytest.raises(redaction.RedactionConfigError, match=message):
        redaction.load_rules(_write(tmp_path, [rule]))


def test_malformed_files_are_rejected(tmp_path):
    with pytest.raises(redaction.RedactionConfigError, match="duplicate"):
        redaction.load_rules(_write(tmp_path, [RAW_RULES["email"], RAW_RULES["email"]]))
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [")
    with pytest.raises(redaction.RedactionConfigError):
        redaction.load_rules(bad)
    with pytest.raises(redaction.RedactionConfigError, match="version: 1"):
        redaction.parse_rules({"rules": []})
    with pytest.raises(redaction.RedactionConfigError, match="No such file"):
        redaction.load_rules(tmp_path / "missing.yaml")
    with pytest.raises(redaction.RedactionConfigError, match="validate must be"):
        redaction.parse_rules({"version": 1, "rules": [{**RAW_RULES["iban"], "validate": "crc"}]})
    with pytest.raises(redaction.RedactionConfigError, match="groups only"):
        redaction.parse_rules(
            {"version": 1, "rules": [{**RAW_RULES["secret_fields"], "key_pattern": "(pass)"}]}
        )


def test_a_quote_in_a_pattern_cannot_break_out_of_the_sql(tmp_path):
    # patterns are SQL string literals: a quote is escaped, never executed
    rule = {
        "id": "quoted",
        "description": "x",
        "kind": "regex",
        "pattern": "it's'\\); DROP TABLE t; --",
        "replacement": "[REDACTED:q]",
        "enabled": True,
    }
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT 1 AS x")
    redaction.register(con, _write(tmp_path, [rule]))
    assert text(con, "it's'); DROP TABLE t; -- end") == "[REDACTED:q] end"
    assert con.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_the_python_side_connections_get_the_macros():
    # dbt's connections do not need them: the models call the generated dbt macros
    # (tests/test_redaction_macros.py)
    from trace_platform.lib.duckdb_functions import register

    con = duckdb.connect()
    register(con)
    assert text(con, "bob@example.com") == "[REDACTED:email]"
    assert con.execute('SELECT canonical_json(\'{"b":1,"a":2}\')').fetchone()[0] == '{"a":2,"b":1}'


def test_the_security_doc_describes_every_rule():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "security.md").read_text()
    for raw in CONFIG["rules"]:
        assert f"`{raw['id']}`" in doc and f"`{raw['replacement']}`" in doc, raw["id"]
    assert redaction.ENV_VAR in doc and "TRACE_PLATFORM_RAW_PAYLOAD_RETENTION_DAYS" in doc
