"""The dbt macros redact_text / redact_json (dbt_project/macros/redaction/redaction.sql): generated
from the packaged rules, the duckdb__ forms the same expressions as the DuckDB TEMP macros, the
spark__ forms the compiler's Spark SQL of the same rules (their values against DuckDB's:
tests/test_redaction_spark.py), in the manifest, and what the models call. Fast: Jinja and an
in-memory DuckDB; one `dbt parse` for the manifest test."""

from __future__ import annotations

import json
import re

import duckdb
import jinja2
import pytest
import yaml
from test_redaction_rules import JSON_CASES, TEXT_CASES

from trace_platform import redaction
from trace_platform.redaction import dbt_macros


def _template(text: str):
    """The macro file as a plain Jinja module: the duckdb__ macros need nothing of dbt."""
    return jinja2.Environment(extensions=["jinja2.ext.do"]).from_string(text).module


def _corpus() -> list[str]:
    values: list[str] = []
    for positives, negatives in TEXT_CASES.values():
        values += list(positives) + list(negatives)
    for positives, negatives in JSON_CASES.values():
        values += [v if isinstance(v, str) else json.dumps(v) for v in list(positives) + list(negatives)]
    values += [
        '{"password": "hunter2", "note": "mail bob@example.com"}',
        '  [{"card": 4111111111111111}, "x\\u0040example.com"]',
        '{"a": "\\"password\\": \\"x\\""}',
        "not json {",
        "",
    ]
    return values


def test_the_committed_macro_file_is_generated_from_the_packaged_rules():
    # regenerate with `python -m trace_platform.redaction.dbt_macros` after editing the rules
    committed = dbt_macros.MACRO_FILE.read_text(encoding="utf-8")
    assert committed == dbt_macros.generate(redaction.DEFAULT_PATH)
    assert committed.startswith("{#- GENERATED FILE: do not edit by hand.")
    assert "trace_platform/config/redaction.yaml" in committed.splitlines()[4]


def test_the_dbt_macros_render_the_temp_macro_expressions():
    rules = redaction.load_rules()
    module = _template(dbt_macros.render(rules, "x"))
    for dialect in ("duckdb", "spark"):
        macros = redaction.compile_rules(rules, dialect)
        for name in ("redact_text", "redact_json"):
            for argument in ("v", "a.b || c", "coalesce(x, 'y')"):
                rendered = str(getattr(module, f"{dialect}__{name}")(argument))
                assert rendered == redaction.inline_sql(macros, name, argument)


def test_the_file_dispatches_to_duckdb_and_spark_only():
    text = dbt_macros.MACRO_FILE.read_text(encoding="utf-8")
    for name in ("redact_text", "redact_json"):
        defined = set(re.findall(r"\{% macro (\w+__" + name + r")\(", text))
        assert defined == {f"default__{name}", f"duckdb__{name}", f"spark__{name}"}
        assert f"only duckdb__{name} and spark__{name} are generated" in text
    assert "none yet" not in text
    helpers = set(re.findall(r"\{% macro (\w+)__redaction_(\w+)\(", text))
    assert {d for d, _ in helpers} == {"duckdb", "spark"}
    assert {h for d, h in helpers if d == "spark"} >= {h for d, h in helpers if d == "duckdb"}


def test_inline_and_temp_macros_give_the_same_values():
    module = _template(dbt_macros.MACRO_FILE.read_text(encoding="utf-8"))
    con = duckdb.connect()
    redaction.register(con)
    con.execute("CREATE TABLE v AS SELECT unnest(?::VARCHAR[]) AS v", [[*_corpus(), None]])
    con.execute("CREATE TABLE j AS SELECT v::JSON AS j FROM v WHERE json_valid(v)")
    text_rows = con.execute(
        f"SELECT v, redact_text(v), {module.duckdb__redact_text('v')}, "
        f"redact_text(v || ''), {module.duckdb__redact_text('v || ' + chr(39) * 2)} FROM v"
    ).fetchall()
    assert len(text_rows) > 150
    changed = 0
    for value, temp, inline, temp_expr, inline_expr in text_rows:
        assert inline == temp and inline_expr == temp_expr == temp, value
        changed += temp != value
    assert changed > 50  # the corpus is not vacuous
    json_rows = con.execute(f"SELECT j, redact_json(j), {module.duckdb__redact_json('j')} FROM j").fetchall()
    assert len(json_rows) > 30
    for value, temp, inline in json_rows:
        assert inline == temp, value


def test_a_pattern_jinja_would_read_is_written_literally(tmp_path):
    rules_file = tmp_path / "redaction.yaml"
    rule = {"kind": "regex", "description": "x", "replacement": "[REDACTED:j]", "enabled": True}
    rules_file.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "rules": [
                    {**rule, "id": "braces", "pattern": r"\{\{ *x *\}\}|\{%|\{#|it's"},
                    {**rule, "id": "trailing_brace", "pattern": r"a\{"},
                ],
            }
        )
    )
    text = dbt_macros.generate(rules_file)
    assert str(rules_file.resolve()) in text
    module = _template(text)
    for dialect in ("duckdb", "spark"):
        rendered = str(getattr(module, f"{dialect}__redact_text")("v"))
        assert rendered == redaction.inline_sql(
            redaction.compile_rules(redaction.load_rules(rules_file), dialect), "redact_text", "v"
        )
    rendered = str(module.duckdb__redact_text("v"))
    con = duckdb.connect()
    out = con.execute(f"SELECT {rendered} FROM (SELECT ? AS v)", ["{{ x }} {% {# it's a{"]).fetchone()[0]
    assert out == "[REDACTED:j] [REDACTED:j] [REDACTED:j] [REDACTED:j] [REDACTED:j]"


def test_a_pattern_without_a_java_form_is_refused_with_the_rule_named(tmp_path):
    # (?i) folds é onto É in RE2; the Java translation does not carry non-ASCII case folding
    rules_file = tmp_path / "redaction.yaml"
    rule = {"id": "accented", "kind": "regex", "description": "x", "replacement": "[REDACTED:x]"}
    rules_file.write_text(yaml.safe_dump({"version": 1, "rules": [{**rule, "pattern": "(?i)café"}]}))
    with pytest.raises(redaction.RedactionConfigError, match="rule 'accented': pattern has no Spark"):
        dbt_macros.generate(rules_file)
    assert dbt_macros.main(["--rules", str(rules_file), "--out", str(tmp_path / "out.sql")]) == 1
    rules_file.write_text(yaml.safe_dump({"version": 1, "rules": [{**rule, "pattern": "caf[éÉ]"}]}))
    assert "spark__redact_text" in dbt_macros.generate(rules_file)


@pytest.mark.parametrize("rule_ids", [[], ["secret_fields"], ["email", "iban"], ["card_number"]])
def test_partial_rule_sets_render_alike(rule_ids):
    raw = {r["id"]: r for r in yaml.safe_load(redaction.DEFAULT_PATH.read_text())["rules"]}
    rules = redaction.parse_rules({"version": 1, "rules": [raw[i] for i in rule_ids]})
    module = _template(dbt_macros.render(rules, "x"))
    con = duckdb.connect()
    for statement in redaction.macro_sql(rules):
        con.execute(statement)
    value = '{"password": "x", "m": "bob@example.com DE89 3704 0044 0532 0130 00", "c": 4111111111111111}'
    for name in ("redact_text", "redact_json"):
        inline = str(getattr(module, f"duckdb__{name}")("v"))
        assert inline == redaction.inline_sql(redaction.compile_rules(rules), name, "v")
        temp, got = con.execute(f"SELECT {name}(v), {inline} FROM (SELECT ? AS v)", [value]).fetchone()
        assert got == temp
        spark = str(getattr(module, f"spark__{name}")("v"))
        assert spark == redaction.inline_sql(redaction.compile_rules(rules, "spark"), name, "v")


def test_a_stale_macro_file_is_refused(tmp_path, monkeypatch):
    out = tmp_path / "redaction.sql"
    assert dbt_macros.write(redaction.DEFAULT_PATH, out) is True
    assert dbt_macros.write(redaction.DEFAULT_PATH, out) is False  # unchanged: not rewritten
    dbt_macros.check(redaction.DEFAULT_PATH, out)
    rules = yaml.safe_load(redaction.DEFAULT_PATH.read_text())
    rules["rules"][0]["enabled"] = False
    custom = tmp_path / "rules.yaml"
    custom.write_text(yaml.safe_dump(rules))
    monkeypatch.setenv(redaction.ENV_VAR, str(custom))
    with pytest.raises(dbt_macros.StaleMacrosError, match="python -m trace_platform.redaction.dbt_macros"):
        dbt_macros.check(None, out)
    assert dbt_macros.main(["--out", str(out)]) == 0
    dbt_macros.check(None, out)
    assert "Disabled: secret_fields." in out.read_text()


def test_the_dbt_plugin_registers_canonical_json_but_no_redaction_macro():
    from trace_platform.lib.dbt_duckdb_plugin import Plugin

    con = duckdb.connect()
    plugin = Plugin.__new__(Plugin)
    plugin.configure_connection(con)
    cursor = con.cursor()
    plugin.configure_cursor(cursor)
    assert cursor.execute('SELECT canonical_json(\'{"b":1,"a":2}\')').fetchone()[0] == '{"a":2,"b":1}'
    with pytest.raises(duckdb.CatalogException):
        cursor.execute("SELECT redact_text('x')")


@pytest.mark.slow  # a dbt parse when the manifest is older than the project
def test_the_models_call_the_dbt_macros():
    from trace_platform.defs.transform.project import DBT_PROJECT_DIR, ensure_manifest

    manifest = json.loads(ensure_manifest().read_text())
    for name in ("redact_text", "redact_json", "json_equal"):
        macro = manifest["macros"][f"macro.trace_platform.{name}"]
        assert macro["description"] and macro["arguments"], name
        assert f"macro.trace_platform.duckdb__{name}" in manifest["macros"]
        assert f"macro.trace_platform.default__{name}" in manifest["macros"]
    for name in ("redact_text", "redact_json"):
        assert f"macro.trace_platform.spark__{name}" in manifest["macros"]
    bare = re.compile(r"(?<![\w.])(redact_text|redact_json|_redact_\w+)\s*\(")
    users = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] not in ("model", "test", "seed", "snapshot"):
            continue
        code = re.sub(r"\{\{.*?\}\}", "", node.get("raw_code") or "", flags=re.S)  # what is not Jinja
        assert not bare.search(code), f"{node['unique_id']} calls a SQL redaction function, not the dbt macro"
        for name in ("redact_text", "redact_json"):
            if "{{ " + name + "(" in (node.get("raw_code") or ""):
                users.setdefault(name, []).append(node["name"])
                assert f"macro.trace_platform.{name}" in node["depends_on"]["macros"], node["unique_id"]
    assert {"fct_tool_calls", "fct_outcomes", "eval_trace_labels"} <= set(users["redact_text"])
    assert {"fct_tool_calls", "fct_confirmations"} <= set(users["redact_json"])
    for path in (DBT_PROJECT_DIR / "macros").rglob("*.sql"):  # hand-written macros too
        if path != dbt_macros.MACRO_FILE:
            code = re.sub(r"\{\{.*?\}\}|\{#.*?#\}", "", path.read_text(), flags=re.S)
            assert not bare.search(code), path
