"""The Spark implementation of the redaction macros (spark__redact_text / spark__redact_json in
dbt_project/macros/redaction/redaction.sql, compiled from the same rules as the DuckDB one) gives
DuckDB's values: every value of a corpus runs through the generated Spark SQL on the test session's
SparkSession (tests/conftest.py `spark_lake`) and through the DuckDB TEMP macros, and the results
are compared value by value. The corpus: every rule's cases (tests/test_redaction_rules.py), the
planted secrets of the pipeline tests, the adversarial corpus (tests/test_secret_corpus.py: event
payloads as JSON and every string in them), JSON escapes, nested JSON, JSON that only DuckDB's
parser accepts (duplicate keys, trailing commas, NaN), non-JSON text, NULL, Unicode letters that
case-fold to ASCII (ſ, K), long values.

redact_text is compared for exact equality. redact_json too: the Spark form keeps key order and
writes minified JSON the way DuckDB's json() does, so no parse-and-compare is needed; JSON numbers
are the one exception, pinned in test_json_numbers_are_written_as_duckdb_writes_them."""

from __future__ import annotations

import json
import random
import re
import string

import duckdb
import jinja2
import pytest
from redaction_support import NOT_SECRETS, PRIVATE_KEY_BODY, secrets_for, tenant_traces
from test_redaction_rules import JSON_CASES, TEXT_CASES

from trace_platform import redaction
from trace_platform.redaction import compiler, dbt_macros

pytestmark = pytest.mark.spark

# Characters RE2 folds onto ASCII letters under (?i) (and some it does not: İ, ı), in keys and labels.
FOLDING = [
    '{"paſſword": "x1"}',
    "paſſword=hunter2",
    '{"tKn": 5, "api_Key": "k"}',
    "PASSWORD is İstanbul1 and the pın is 1234",
    '{"pİn": "1234", "pın": "5678"}',
    "aKia is not AKIA; ſk-proj-abcdefghijklmnopqrstuvwx1234",
    "Bearer ſecretvalue12345",
    "mail ſ@exämple.de and josé@exämple.de, ÉLISE@EXAMPLE.FR",
]
# JSON that DuckDB (yyjson) and Spark's parser judge differently, or that only minification changes.
LAX_JSON = [
    '{"cvv": "123", "cvv": "456"}',
    '{"password": "a", "note": "mail bob@example.com", "password": "b"}',
    "[1, 2,]",
    '{"token": "t", "list": [1,],}',
    '{"latency": NaN, "ssn": "078-05-1120", "x": -Infinity, "y": inf}',
    "NaN",
    "[,]",
    '{"a":1} {"b":2}',
    '{"a":1}xyz',
    "1, 2",
    '{"a": "x\\ud800"}',
    '{"a": "\\ud83d\\ude00 bob@example.com"}',
    '{"k": "\\u0000\\u001f\\u007f\\u2028 \\/ \\"q\\" \\\\ tab\\t"}',
    '  {\n  "password" : "hunter2",\n  "amount": 1.50,\n  "n": [1E2, -0, 0.5e-7, 123456789012345678901234]\n}  ',
    '{"card": 4111111111111111, "pretty": true, "n": 1.0}',
    '  {"card": 4111111111111111 , "cards": [ 5500005555555559 ,4111111111111111 ], "m": "a@b.co"}',
    '{"password": "hunter2", "deep": ' + '{"a": ' * 12 + '"x"' + "}" * 12 + "}",
    '{"credentials": ' + "[" * 9 + '"x"' + "]" * 9 + "}",
]
PEM_4096 = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    + "\n".join([("MIIJKQIBAAKCAgEA" + "x" * 48)[:64]] * 50)
    + "\n-----END RSA PRIVATE KEY-----"
)


def _strings(value) -> list[str]:
    """Every key and string in a JSON-like value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def corpus() -> list[str | None]:
    """The values both engines redact: text, JSON text, and neither (deduplicated, in a fixed order)."""
    import test_secret_corpus as adversarial

    values: list[str | None] = []
    for positives, negatives in TEXT_CASES.values():
        values += list(positives) + list(negatives)
    for positives, negatives in JSON_CASES.values():
        values += [v if isinstance(v, str) else json.dumps(v) for v in list(positives) + list(negatives)]
    for tenant in ("acme", "globex"):
        values += [p.value for p in secrets_for(tenant).values()]
        for trace in tenant_traces(tenant):
            for event in trace.events:
                values.append(json.dumps(event["payload"]))
                values.append(json.dumps(event["payload"], indent=2, ensure_ascii=False))
                values += _strings(event["payload"])
    values += list(NOT_SECRETS.values())
    for event in adversarial.build_events():
        values.append(json.dumps(event["payload"]))
        values += _strings(event)
    values += adversarial.escaped_lines()
    values += FOLDING + LAX_JSON
    values += [
        PEM_4096,
        json.dumps({"pem": PEM_4096, "user": "bob@example.com"}),
        "key " + PRIVATE_KEY_BODY * 40,
        json.dumps({"blob": "A" * 20_000, "token": "t"}),
        "word " * 2_000 + "bob@example.com",
        "not json {",
        "[not json",
        "",
        " ",
        "ünïcödé ✓ 😀 日本語 テキスト bob@例え.jp",
        None,
    ]
    seen: set[str | None] = set()
    return [v for v in values if not (v in seen or seen.add(v))]


def _template(text: str):
    """The macro file as a plain Jinja module, as in tests/test_redaction_macros.py."""
    return jinja2.Environment(extensions=["jinja2.ext.do"]).from_string(text).module


@pytest.fixture(scope="module")
def macros():
    return _template(dbt_macros.MACRO_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def values():
    return corpus()


@pytest.fixture(scope="module")
def spark(spark_lake, values):
    """The session, with the corpus as the view redaction_corpus(i, v)."""
    _, session = spark_lake
    session.createDataFrame(list(enumerate(values)), "i int, v string").createOrReplaceTempView(
        "redaction_corpus"
    )
    yield session
    session.catalog.dropTempView("redaction_corpus")


@pytest.fixture(scope="module")
def duck():
    con = duckdb.connect()
    redaction.register(con)
    yield con
    con.close()


def _spark_column(session, sql: str) -> list:
    rows = session.sql(f"SELECT i, {sql} AS r FROM redaction_corpus").collect()
    return [r for _, r in sorted((row.i, row.r) for row in rows)]


def _duck_column(con, sql: str, values: list) -> list:
    return [
        r
        for (r,) in con.execute(
            f"SELECT {sql} FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS u(v, i) ORDER BY i", [values]
        ).fetchall()
    ]


def _differences(values, left, right) -> list[tuple]:
    return [(v, a, b) for v, a, b in zip(values, left, right, strict=True) if a != b]


def test_the_corpus_covers_every_rule_and_the_json_edge_cases(values, duck):
    assert len(values) > 3_000
    changed = _duck_column(duck, "redact_text(v)", values)
    labels = {m for out in changed if out for m in re.findall(r"\[REDACTED:(\w+)\]", out)}
    assert labels >= {
        m for r in redaction.load_rules() for m in re.findall(r"\[REDACTED:(\w+)\]", r.replacement)
    }
    assert sum(out != v for v, out in zip(values, changed, strict=True)) > 1_000
    valid = _duck_column(duck, "json_valid(v)", values)
    assert 1_000 < sum(bool(x) for x in valid) < len(values) - 1_000


def test_the_rule_patterns_match_alike_in_java(spark, duck, values):
    """Every pattern the rules use (text mode, JSON mode, the json_key patterns), as RE2 in DuckDB
    and as the Java pattern the Spark macros use: the same matches on every value."""
    patterns = {}
    for r in (r for r in redaction.load_rules() if r.enabled):
        if r.kind == "json_key":  # Spark's nested-value pattern is written possessively
            patterns[r.id] = (
                compiler._json_key_pattern(r)[0],
                compiler._json_key_pattern(r, possessive=True)[0],
            )
        else:
            for mode in (False, True):
                pattern = compiler.mode_pattern(r.pattern, mode)
                patterns[r.id + (" (json)" if mode else "")] = (pattern, pattern)
    names = list(patterns)
    spark_sql = ", ".join(
        f"regexp_extract_all(v, {compiler.spark_literal(compiler.to_java(patterns[n][1]))}, 0) AS c{k}"
        for k, n in enumerate(names)
    )
    rows = sorted(spark.sql(f"SELECT i, {spark_sql} FROM redaction_corpus").collect(), key=lambda r: r.i)
    duck_sql = ", ".join(f"regexp_extract_all(v, {redaction.sql_literal(patterns[n][0])})" for n in names)
    duck_rows = duck.execute(
        f"SELECT {duck_sql} FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS u(v, i) ORDER BY i", [values]
    ).fetchall()
    matches = 0
    for k, name in enumerate(names):
        expected = [row[k] or [] for row in duck_rows]
        got = [row[k + 1] or [] for row in rows]
        assert _differences(values, expected, got)[:3] == [], name
        matches += sum(len(m) for m in expected)
    assert matches > 2_000


# RE2 constructs whose Java meaning differs, each on texts where it shows
CONSTRUCTS = {
    "(?i)k+": ["kK\u212a", "x"],
    "(?i)[a-z]+s": ["ABS ſ paſs KEYS", "İı"],
    "(?i)i": ["İ ı i I"],
    "\\bab\\b": ["ab éab ab_ ab-x", "xab"],
    "\\Bb": ["ab éb b"],
    "a\\sb": ["a b a\tb a\x0bb a\nb"],
    "a.b": ["a\rb a\nb a\u2028b a\u0085b axb"],
    "b$": ["ab\n", "ab"],
    "^a|b$": ["a\nb\n", "ab"],
    "[[&&]]+": ["a[[&&]]b"],
    "[^a-c&&]+": ["abc&&xyz"],
    "x{,2}y{2}": ["x{,2}yy", "xxyy"],
    "a{2}|\\{": ["{aaa"],
    "\\x{F0002}+|[\\x{1F600}-\\x{1F64F}]": ["\U000f0002\U000f0002 \U0001f600"],
    "\\pL+\\pN*|\\p{Greek}+": ["ab12 αβ ٣"],
    "(?i:ab)c": ["ABc ABC"],
    "a(?i)b|c": ["aB C c Ab"],
    "(?U)a+": ["aaa"],
    "(?U)a+?": ["aaa"],
    "(?s:a.b)": ["a\nb"],
    "(?m)^b$": ["a\nb\nc"],
    "\\Qa.b\\E+": ["a.bbb axb"],
    "(?:ab|a)(?:c|bcd)": ["abcd"],
    "(?:a|bc)*d": ["abcabcd bcbcad"],
    "[[:alpha:]]+[[:^digit:]]": ["ab1 ab!"],
    "(?P<n>a)b": ["ab"],
}


def test_re2_constructs_translate_to_java(spark, duck):
    cases = [(p, t) for p, texts in CONSTRUCTS.items() for t in texts]
    rows = spark.createDataFrame(
        [(k, t, compiler.to_java(p)) for k, (p, t) in enumerate(cases)], "k int, t string, p string"
    ).collect()
    assert len(rows) == len(cases)
    got = {
        r.k: r.m
        for r in spark.createDataFrame(rows).selectExpr("k", "regexp_extract_all(t, p, 0) AS m").collect()
    }
    for k, (pattern, text) in enumerate(cases):
        (expected,) = duck.execute("SELECT regexp_extract_all(?, ?)", [text, pattern]).fetchone()
        assert got[k] == expected, (pattern, text, compiler.to_java(pattern))


def test_redact_text_gives_duckdbs_values(spark, duck, values, macros):
    expected = _duck_column(duck, "redact_text(v)", values)
    got = _spark_column(spark, str(macros.spark__redact_text("v")))
    assert _differences(values, expected, got)[:5] == []
    assert sum(out != v for v, out in zip(values, got, strict=True)) > 1_000


def test_redact_json_gives_duckdbs_values(spark, duck, values, macros):
    # every value, valid JSON or not (redact_json of text gives a JSON string): the JSON text is
    # compared as it is, key order and whitespace included
    expected = _duck_column(duck, "redact_json(v)::VARCHAR", values)
    got = _spark_column(spark, str(macros.spark__redact_json("v")))
    assert _differences(values, expected, got)[:5] == []
    assert sum(out != v for v, out in zip(values, got, strict=True)) > 1_000


def test_json_validity_and_minification_are_duckdbs(spark, duck, values, macros):
    # DuckDB's json_valid / json(v)::VARCHAR, which the Spark macros carry as helpers
    valid = str(macros.spark__redaction_json_valid("v"))
    assert (
        _differences(values, _duck_column(duck, "json_valid(v)", values), _spark_column(spark, valid))[:5]
        == []
    )
    expected = _duck_column(duck, "CASE WHEN json_valid(v) THEN json(v)::VARCHAR END", values)
    got = _spark_column(spark, f"CASE WHEN {valid} THEN {macros.spark__redaction_json_minify('v')} END")
    assert _differences(values, expected, got)[:5] == []


def _numbers() -> list[str]:
    rng = random.Random(20261208)
    numbers = ["0", "-0", "1", "-17", "123456789012345678", "18446744073709551616", "-9223372036854775809"]
    numbers += ["0.0", "-0.0", "1.50", "1E2", "1e+2", "0e0", "-0e5", "1e-400", "-1e-400", "1e400", "-1E400"]
    numbers += ["5e-324", "2e23", "1.7976931348623157e308", "0.1", "1e21", "1e20", "1e-6", "1e-7", "2.5E-3"]
    numbers += ["180825608901333.33E+4", "-669396523469.4804e6", "8622306830774.7197E+6"]
    for _ in range(3_000):
        mantissa = str(rng.randint(1, 10 ** rng.randint(1, 17)))
        point = rng.randint(0, len(mantissa))
        exponent = rng.choice(
            ["", f"e{rng.randint(-30, 30)}", f"E+{rng.randint(0, 30)}", f"e{rng.randint(-330, 310)}"]
        )
        numbers.append(
            f"{rng.choice(['', '-'])}{mantissa[:point] or '0'}.{mantissa[point:] or '0'}{exponent}"
        )
    return numbers


def test_json_numbers_are_written_as_duckdb_writes_them(spark, duck, macros):
    """DuckDB's json() writes a number with a fraction or an exponent as the shortest digits that
    read back as its double (1.50 -> 1.5, 1E2 -> 100.0, 2.5E-3 -> 0.0025, 1e-7, 1.23e22); the Spark
    macro finds them from the JVM's digits, which before JDK 19 are not always the shortest (2e23 is
    1.9999999999999998E23 there), nor the nearer of two (the three last numbers above). 240,000
    random numbers of four other seeds gave no difference on JDK 17 either."""
    numbers = _numbers()
    documents = ["[" + n + "]" for n in numbers]
    expected = _duck_column(duck, "json(v)::VARCHAR", documents)
    spark.createDataFrame(list(enumerate(documents)), "i int, v string").createOrReplaceTempView(
        "redaction_numbers"
    )
    try:
        rows = spark.sql(
            f"SELECT i, {macros.spark__redaction_json_minify('v')} AS r FROM redaction_numbers"
        ).collect()
    finally:
        spark.catalog.dropTempView("redaction_numbers")
    got = [r for _, r in sorted((row.i, row.r) for row in rows)]
    assert _differences(numbers, expected, got)[:5] == []
    assert sum(d != "[" + n + "]" for n, d in zip(numbers, expected, strict=True)) > 2_000


def test_the_macros_resolve_well_within_the_analyzers_iteration_limit(spark, macros):
    # Spark's analyzer resolves a lambda only once its argument is resolved, an iteration of its
    # Resolution batch a level; the rule chains are loops for that (compiler._Spark.chain). Half
    # the default limit of 100 must do, so that a model can wrap the macros in more of its own.
    previous = spark.conf.get("spark.sql.analyzer.maxIterations")
    spark.conf.set("spark.sql.analyzer.maxIterations", "50")
    try:
        for name in ("redact_text", "redact_json"):
            sql = str(getattr(macros, f"spark__{name}")("v"))
            assert (
                spark.sql(f"SELECT {sql} AS r FROM redaction_corpus").schema["r"].dataType.typeName()
                == "string"
            )
    finally:
        spark.conf.set("spark.sql.analyzer.maxIterations", previous)


def test_long_and_repetitive_values_neither_crash_nor_stall(spark, duck, macros):
    """Java's matcher recurses per iteration of a repeated group (a StackOverflowError in a task
    ends the local Spark JVM) and rescans runs that RE2 reads once. The translation bounds both
    (java_regex: GROUP_REPEAT_LIMIT, LEADING_RUN_LIMIT); a value beyond the bound of a group that
    is not at the end of its pattern is matched differently from DuckDB, still redacted."""
    rng = random.Random(7)
    urlsafe = "".join(rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(50_000))
    same = [
        urlsafe,
        json.dumps({"data": urlsafe, "password": "x"}),
        "-".join(f"{rng.getrandbits(32):08x}" for _ in range(3_000)),
        "QUFB" * 100_000 + " bob@example.com",
        json.dumps(
            {"pem": "-----BEGIN PRIVATE KEY-----" + "\n" * 5_000 + "MIIabc\n-----END PRIVATE KEY-----"}
        ),
        "a." * 3_000 + "password=hunter2",
    ]
    labels, words = "a@b" + ".cd" * 3_000, "-----BEGIN " + "A " * 3_000 + "PRIVATE KEY-----\nMIIabc"
    beyond = [
        # an address is replaced up to its 102nd domain label, the labels after it are left
        ("mail " + labels + " x", "mail [REDACTED:email]" + ".cd" * (3_000 - 101) + " x"),
        # a key header of more than 100 words is no key header
        (words, words),
    ]
    values = same + [value for value, _ in beyond]
    spark.createDataFrame(list(enumerate(values)), "i int, v string").createOrReplaceTempView(
        "redaction_long"
    )
    try:
        for name in ("redact_text", "redact_json"):
            sql = str(getattr(macros, f"spark__{name}")("v"))
            rows = spark.sql(f"SELECT i, {sql} AS r FROM redaction_long").collect()
            got = [r for _, r in sorted((row.i, row.r) for row in rows)]
            expected = _duck_column(duck, f"{name}(v)::VARCHAR", values)
            assert _differences(same, expected[: len(same)], got[: len(same)]) == [], name
            for (_, text), out in zip(beyond, got[len(same) :], strict=True):
                assert out == (text if name == "redact_text" else json.dumps(text)), name
    finally:
        spark.catalog.dropTempView("redaction_long")
