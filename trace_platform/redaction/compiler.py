"""The redaction rules compiled into SQL: one definition, rendered two ways.

`compile_rules(rules)` returns the macros below as expressions of their parameter. They are
rendered
- as DuckDB TEMP macros (`macro_sql`, registered by trace_platform.redaction.connection on the
  Python side's connections: ingestion retention, check metadata, exports);
- as dbt macros (trace_platform.redaction.dbt_macros writes dbt_project/macros/redaction/
  redaction.sql), which the dbt models call, so the marts inline the same expressions.

    redact_text(VARCHAR) -> VARCHAR   free text: requests, prompts, outputs, reasons, identifiers
    redact_json(JSON)    -> JSON      JSON values: tool arguments, arguments shown for confirmation
    helpers: luhn(c), iban(c) (checksums), text_rules(t) (every text rule in file order),
    text_plain(t) (the prefilter, then text_rules), json_text(t) (the JSON pipeline below)

Expressions hold two kinds of markers, resolved by the renderers: a parameter reference
(`param("t")`) and a call of another helper (`call("luhn", "__rc")`, the argument plain SQL and
parameter references only). A chain macro (text_rules, json_text) is a list of steps, each an
expression of the value so far (`param("t")`, exactly once): nested into one expression for
DuckDB, one `{% set %}` per step in the dbt macro.

How a JSON value is redacted (all of it plain SQL string functions, vectorised by DuckDB):

1. it is minified (`json()`), then JSON escapes are mapped to single characters so that every JSON
   string is exactly `"[^"]*"` and no rule can cut an escape in half: `\\\\` and `\\"` and `\\u` become
   private-use characters, `\\n \\r \\t \\b \\f` the control characters they stand for (which
   cannot occur raw in JSON text) and `\\/` a plain `/`;
2. `json_key` rules replace the value of members with a secret-named key by a placeholder string;
3. bare JSON numbers that are Luhn-valid card numbers become placeholder strings (only where the
   text holds a 13-19 digit number outside a string: the JSON is split into string / non-string
   runs for that);
4. the text rules run over the whole text (a match never contains a quote, so it stays inside one
   string, or keeps the quotes it matched in its kept group);
5. the escapes are mapped back; should the result not be valid JSON (e.g. a rule matched across a
   `\\u` escape), the value becomes a JSON string holding redact_text of the whole JSON text: still
   redacted, never leaked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trace_platform.redaction.rules import DIGITS, Rule, capturing_groups, sql_literal

# Private-use characters standing for JSON escapes while the rules run (see the module docstring).
_BACKSLASH, _QUOTE, _UNICODE, _UNICODE_END = "chr(983041)", "chr(983042)", "chr(983043)", "chr(983044)"
_CONTROL_ESCAPES = (("\\n", 10), ("\\r", 13), ("\\t", 9), ("\\b", 8), ("\\f", 12))


def _nested(open_: str, close: str, depth: int) -> str:
    """RE2 for a bracketed value holding brackets of the same kind nested up to `depth` levels."""
    other = f"[^\\{open_}\\{close}]"
    inner = f"{other}*"
    for _ in range(depth):
        inner = f"(?:{other}|\\{open_}{inner}\\{close})*"
    return f"\\{open_}{inner}\\{close}"


# How deep a json_key rule looks below a secret-named key: {"secret": {"a": {"b": ... "x"}}} is
# replaced whole up to this many levels of objects (and, separately, of arrays) inside the value.
JSON_KEY_NESTING = 8

# Values a json_key rule replaces by default: a string, a number, or an object / array nested at
# most JSON_KEY_NESTING levels (deeper ones are handled member by member through their own keys).
DEFAULT_JSON_VALUE = (
    r'"[^"]*"|-?[0-9][0-9.eE+-]*|'
    + _nested("{", "}", JSON_KEY_NESTING)
    + "|"
    + _nested("[", "]", JSON_KEY_NESTING)
)


# Country code -> IBAN length (SWIFT IBAN registry, plus the countries of the partial registry).
IBAN_LENGTHS = {
    "AD": 24,
    "AE": 23,
    "AL": 28,
    "AT": 20,
    "AZ": 28,
    "BA": 20,
    "BE": 16,
    "BG": 22,
    "BH": 22,
    "BI": 27,
    "BR": 29,
    "BY": 28,
    "CH": 21,
    "CR": 22,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DJ": 27,
    "DK": 18,
    "DO": 28,
    "EE": 20,
    "EG": 29,
    "ES": 24,
    "FI": 18,
    "FK": 18,
    "FO": 18,
    "FR": 27,
    "GB": 22,
    "GE": 22,
    "GI": 23,
    "GL": 18,
    "GR": 27,
    "GT": 28,
    "HN": 28,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IL": 23,
    "IQ": 23,
    "IS": 26,
    "IT": 27,
    "JO": 30,
    "KW": 30,
    "KZ": 20,
    "LB": 28,
    "LC": 32,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "LY": 25,
    "MC": 27,
    "MD": 24,
    "ME": 22,
    "MK": 19,
    "MN": 20,
    "MR": 27,
    "MT": 31,
    "MU": 30,
    "NI": 28,
    "NL": 18,
    "NO": 15,
    "OM": 23,
    "PK": 24,
    "PL": 28,
    "PS": 29,
    "QA": 29,
    "RO": 24,
    "RS": 22,
    "RU": 33,
    "SA": 24,
    "SC": 31,
    "SD": 18,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "SO": 23,
    "ST": 25,
    "SV": 28,
    "TL": 23,
    "TN": 24,
    "TR": 26,
    "UA": 29,
    "VA": 22,
    "VG": 24,
    "XK": 20,
    "YE": 30,
    # partial registry (Africa, Iran)
    "AO": 25,
    "BF": 28,
    "BJ": 28,
    "CF": 27,
    "CG": 27,
    "CI": 28,
    "CM": 27,
    "CV": 25,
    "DZ": 26,
    "GA": 27,
    "GQ": 27,
    "GW": 25,
    "IR": 26,
    "KM": 27,
    "MA": 28,
    "MG": 27,
    "ML": 28,
    "MZ": 25,
    "NE": 28,
    "SN": 28,
    "TD": 27,
    "TG": 28,
}

# The validated rule also applied to bare JSON numbers (outside strings), e.g. {"card": 4111111111111111}.
BARE_NUMBER_RULE = "card_number"


# The validated rule also applied to bare JSON numbers (outside strings), e.g. {"card": 4111111111111111}.
BARE_NUMBER_RULE = "card_number"


# The macros the models call; the others are their helpers.
PUBLIC = ("redact_text", "redact_json")


# ---- markers ------------------------------------------------------------------------------------

_PARAM = re.compile("\x00([a-z]+)\x00")
_CALL = re.compile("\x01([a-z_]+)\x02([^\x00-\x03]*(?:\x00[a-z]+\x00[^\x00-\x03]*)*)\x03")


def param(name: str) -> str:
    """A reference to the macro's parameter `name`."""
    return f"\x00{name}\x00"


def call(helper: str, argument: str) -> str:
    """A call of the helper macro `helper` (plain SQL and parameter references as its argument)."""
    return f"\x01{helper}\x02{argument}\x03"


@dataclass(frozen=True)
class Step:
    label: str  # what the step does, e.g. "rule email"
    sql: str  # an expression of the value so far, param(<the macro's parameter>), exactly once


@dataclass(frozen=True)
class Macro:
    name: str  # luhn, iban, text_rules, text_plain, json_text, redact_json, redact_text
    param: str
    doc: str
    body: str | None = None  # an expression of param(self.param) ...
    steps: tuple[Step, ...] = ()  # ... or a chain of steps applied to the parameter in order

    def __post_init__(self) -> None:
        if self.body is not None and self.steps:
            raise ValueError(f"macro {self.name}: a body or steps (none: the parameter as is)")
        for step in self.steps:
            if step.sql.count(param(self.param)) != 1:
                raise ValueError(f"macro {self.name}, {step.label}: the value so far must occur once")

    def expression(self) -> str:
        """The body, or the chain's steps nested into one expression (markers unresolved)."""
        if self.body is not None:
            return self.body
        expr = param(self.param)
        for step in self.steps:
            expr = step.sql.replace(param(self.param), expr)
        return expr


# ---- SQL generation ----------------------------------------------------------------------------


def _check_sql(validate: str, candidate: str) -> str:
    if validate == "luhn":
        return call("luhn", candidate)
    if validate == "iban_mod97":
        return call("iban", candidate)
    low, high = DIGITS.fullmatch(validate).groups()
    return f"(len(regexp_replace({candidate}, '[^0-9]', '', 'g')) BETWEEN {int(low)} AND {int(high)})"


def mode_pattern(pattern: str, json_mode: bool) -> str:
    """A rule's pattern as applied to text or inside redact_json. Escaped JSON quoted inside a value
    (`{\\"password\\": \\"x\\"}`) must be recognised like `{"password": "x"}`:
    - in redact_json an escaped quote stands as a private-use character while the rules run, so every
      character class naming both quotes names it too;
    - in text a quote class may be preceded by a backslash."""
    if json_mode:
        return pattern.replace("\"'", "\"'\\x{F0002}")
    return pattern.replace("[\"']", "\\\\?[\"']")


def _text_rule_sql(rule: Rule, expr: str, json_mode: bool = False) -> str:
    raw_pattern = mode_pattern(rule.pattern, json_mode)
    pattern, replacement = sql_literal(raw_pattern), sql_literal(rule.replacement)
    if rule.kind == "regex":
        return f"regexp_replace({expr}, {pattern}, {replacement}, 'g')"
    if rule.validate == "iban_mod97":
        # a match may have run into the next word ("ES91 2100 0418 4502 0005 1332 para"): each match
        # stands for its longest prefix of whole space-separated groups that is a valid IBAN
        return (
            f"list_transform([{expr}], lambda __rs: list_reduce(list_prepend(__rs, list_filter(list_transform("
            f"regexp_extract_all(__rs, {pattern}), lambda __rc: list_filter(list_transform("
            "range(len(string_split(__rc, ' ')), 0, -1), lambda __rk: "
            "array_to_string(string_split(__rc, ' ')[1:__rk], ' ')), "
            f"lambda __rp: {_check_sql(rule.validate, '__rp')})[1]), lambda __rc: __rc IS NOT NULL)), "
            f"lambda __ra, __rc: replace(__ra, __rc, {replacement})))[1]"
        )
    # validated: the matches that pass the check are replaced, each everywhere it occurs; with a
    # capturing group, group 1 is the candidate and the rest of the match only context.
    # list_transform([x], lambda s: ...)[1] binds x once (a macro would repeat the expression).
    group = ", 1" if capturing_groups(rule.pattern) else ""
    return (
        f"list_transform([{expr}], lambda __rs: list_reduce(list_prepend(__rs, list_filter("
        f"regexp_extract_all(__rs, {pattern}{group}), lambda __rc: len(__rc) > 0 AND {_check_sql(rule.validate, '__rc')})), "
        f"lambda __ra, __rc: replace(__ra, __rc, {replacement})))[1]"
    )


def _json_key_rule_sql(rule: Rule, expr: str) -> str:
    value = rule.value_pattern or DEFAULT_JSON_VALUE
    pattern = '"((?i:' + rule.key_pattern + '))"(\\s*:\\s*)(?:' + value + ")"
    replacement = '"\\1"\\2"' + rule.replacement + '"'
    return f"regexp_replace({expr}, {sql_literal(pattern)}, {sql_literal(replacement)}, 'g')"


def _bare_card_numbers_sql(expr: str, rule: Rule) -> str:
    """Luhn-valid 13-19 digit JSON numbers outside strings become the placeholder string.

    Only runs where such a number can be outside a string; the text is then split into string and
    non-string runs and only the latter are touched. Applied twice: a match consumes the delimiter
    that a following equal number in an array would need.
    """
    number = "'([:\\[,])' || __rn || '([,\\]}])'"
    quoted = sql_literal('\\1"' + rule.replacement + '"\\2')
    once = f"regexp_replace(__ra, {number}, {quoted}, 'g')"
    twice = f"regexp_replace({once}, {number}, {quoted}, 'g')"
    chunk = (
        "CASE WHEN starts_with(__tok, '\"') THEN __tok ELSE list_reduce(list_prepend(__tok, list_filter("
        "regexp_extract_all(__tok, '(?:^|[:\\[,])(-?[0-9][0-9.eE+-]*)', 1), lambda __rn: "
        f"regexp_full_match(__rn, {sql_literal(rule.pattern)}) AND {_check_sql(rule.validate, '__rn')})), "
        f"lambda __ra, __rn: {twice}) END"
    )
    return (
        f"list_transform([{expr}], lambda __bj: CASE WHEN regexp_matches(__bj, '[:\\[,][0-9]{{13,19}}[,\\]}}]') "
        f'THEN array_to_string(list_transform(regexp_extract_all(__bj, \'"[^"]*"|[^"]+\'), '
        f"lambda __tok: {chunk}), '') ELSE __bj END)[1]"
    )


def _map_escapes(expr: str) -> str:
    out = f"replace({expr}, '\\\\', {_BACKSLASH})"
    out = f"replace({out}, '\\\"', {_QUOTE})"
    for escape, code in _CONTROL_ESCAPES:
        out = f"replace({out}, '{escape}', chr({code}))"
    out = f"replace({out}, '\\/', '/')"
    # \uXXXX: its 4 hex digits between two markers, so no rule reads them as part of a word
    return f"regexp_replace({out}, '\\\\u([0-9a-fA-F]{{4}})', {_UNICODE} || '\\1' || {_UNICODE_END}, 'g')"


def _unmap_escapes(expr: str) -> str:
    # a \uXXXX whose markers survived is restored; a marker left alone by a rule is dropped
    out = f"regexp_replace({expr}, {_UNICODE} || '([0-9a-fA-F]{{4}})' || {_UNICODE_END}, '\\\\u\\1', 'g')"
    out = f"replace(replace({out}, {_UNICODE}, ''), {_UNICODE_END}, '')"
    for escape, code in _CONTROL_ESCAPES:
        out = f"replace({out}, chr({code}), '{escape}')"
    out = f"replace({out}, {_QUOTE}, '\\\"')"
    return f"replace({out}, {_BACKSLASH}, '\\\\')"


def compile_rules(rules: tuple[Rule, ...]) -> tuple[Macro, ...]:
    """The macros of the enabled rules, helpers before their callers."""
    active = [r for r in rules if r.enabled]
    text_rules = [r for r in active if r.kind != "json_key"]
    key_rules = [r for r in active if r.kind == "json_key"]
    t, j, c = param("t"), param("j"), param("c")

    text_steps = tuple(Step(f"{r.kind} rule {r.id}", _text_rule_sql(r, t)) for r in text_rules)

    json_steps = [Step("JSON escapes to single characters", _map_escapes(t))]
    json_steps += [Step(f"json_key rule {r.id}", _json_key_rule_sql(r, t)) for r in key_rules]
    card = next((r for r in text_rules if r.id == BARE_NUMBER_RULE), None)
    if card is not None:
        json_steps.append(Step(f"bare JSON numbers, rule {card.id}", _bare_card_numbers_sql(t, card)))
    json_steps += [Step(f"{r.kind} rule {r.id}", _text_rule_sql(r, t, json_mode=True)) for r in text_rules]
    json_steps.append(Step("single characters back to JSON escapes", _unmap_escapes(t)))

    luhn = (
        f"list_transform([regexp_replace({c}, '[^0-9]', '', 'g')], lambda __d: "
        "len(__d) BETWEEN 13 AND 19 AND NOT regexp_full_match(__d, '0+') AND "
        "list_sum(list_transform(string_split(reverse(__d), ''), lambda __ch, __i: "
        "CASE WHEN __i % 2 = 0 THEN (CASE WHEN __ch::INTEGER > 4 THEN __ch::INTEGER * 2 - 9 "
        "ELSE __ch::INTEGER * 2 END) ELSE __ch::INTEGER END)) % 10 = 0)[1]"
    )
    iban_lengths = "|" + "|".join(f"{cc}{n}" for cc, n in sorted(IBAN_LENGTHS.items())) + "|"
    iban = (
        f"list_transform([upper(regexp_replace({c}, '[^A-Za-z0-9]', '', 'g'))], lambda __s: "
        f"len(__s) BETWEEN 15 AND 34 AND contains('{iban_lengths}', '|' || substr(__s, 1, 2) || len(__s)::VARCHAR || '|') "
        "AND list_reduce(list_prepend(0, list_transform("
        "string_split(substr(__s, 5) || substr(__s, 1, 4), ''), lambda __ch: "
        "CASE WHEN __ch BETWEEN '0' AND '9' THEN ascii(__ch) - 48 ELSE ascii(__ch) - 55 END)), "
        "lambda __acc, __v: (__acc * CASE WHEN __v < 10 THEN 10 ELSE 100 END + __v) % 97) = 1)[1]"
    )
    # Prefilters: a text no rule can match is returned as is after one scan. The trigger is the
    # union of the rules' own patterns, so it fires whenever any rule would change something (JSON:
    # or the text has escapes, which the rules see decoded).
    text_trigger = "|".join(f"(?:{mode_pattern(r.pattern, False)})" for r in text_rules) or "$^"
    json_trigger = (
        "|".join(
            [f'(?:"(?i:{r.key_pattern})"\\s*:)' for r in key_rules]
            + [f"(?:{mode_pattern(r.pattern, True)})" for r in text_rules]
        )
        or "$^"
    )
    text_plain = (
        f"CASE WHEN {t} IS NULL THEN NULL "
        f"WHEN regexp_matches({t}::VARCHAR, {sql_literal(text_trigger)}) THEN {call('text_rules', t + '::VARCHAR')} "
        f"ELSE {t}::VARCHAR END"
    )
    # A valid JSON value (j::VARCHAR is valid JSON, not NULL): as is when no rule can match, else
    # the JSON pipeline over its minified text. Rules replace whole matches, so a result that is no
    # longer valid JSON (a rare match across an escape or a bare token) holds no secret either: it
    # is kept as a JSON string.
    json_value = (
        f"CASE WHEN NOT (contains({j}::VARCHAR, '\\') OR regexp_matches({j}::VARCHAR, {sql_literal(json_trigger)})) "
        f"THEN {j}::JSON "
        f"ELSE list_transform([{call('json_text', 'json(' + j + '::VARCHAR)::VARCHAR')}], lambda __jo: "
        "CASE WHEN json_valid(__jo) THEN __jo::JSON ELSE to_json(__jo) END)[1] END"
    )
    redact_json = (
        f"CASE WHEN {j} IS NULL THEN NULL "
        f"WHEN NOT json_valid({j}::VARCHAR) THEN to_json({call('text_plain', j + '::VARCHAR')}) "
        f"ELSE {call('json_value', j)} END"
    )
    # Text that is a JSON object or array (a final output or tool output logged as JSON) is
    # redacted as JSON, so the json_key rules apply to it too: first on the text as it is (keeps
    # its formatting), else as a JSON value (minified), else as plain text. The JSON attempt is NULL
    # where it does not apply or fails (never where it succeeds), and coalesce evaluates the text
    # rules for those rows only: one copy of them in the expression instead of three, which keeps
    # the models cheap to bind (same values as the CASE it replaced: docs/security.md, "Cost").
    redact_text = (
        f"coalesce(CASE WHEN regexp_matches({t}::VARCHAR, '^\\s*[\\[{{]') AND json_valid({t}::VARCHAR) THEN "
        f"list_transform([{call('json_text', t + '::VARCHAR')}], lambda __tj: CASE WHEN json_valid(__tj) THEN __tj "
        f"ELSE list_transform([{call('json_value', t + '::VARCHAR')}::VARCHAR], lambda __tm: "
        "CASE WHEN regexp_matches(__tm, '^[\\[{]') THEN __tm END)[1] END)[1] END, "
        f"{call('text_plain', t + '::VARCHAR')})"
    )
    return (
        Macro("luhn", "c", "True when the digits of c are a 13-19 digit Luhn-valid number.", luhn),
        Macro("iban", "c", "True when c is an IBAN of its country's length with valid check digits.", iban),
        Macro("text_rules", "t", "Every text rule, in file order.", steps=text_steps),
        Macro(
            "text_plain", "t", "The text rules behind a prefilter (the union of their patterns).", text_plain
        ),
        Macro("json_text", "t", "The JSON pipeline over minified JSON text.", steps=tuple(json_steps)),
        Macro("json_value", "j", "A valid JSON value redacted (as is when no rule can match).", json_value),
        Macro(
            "redact_json",
            "j",
            "A JSON value with its secrets replaced, structure and types kept.",
            redact_json,
        ),
        Macro(
            "redact_text",
            "t",
            "A text with its secrets replaced (JSON objects and arrays as JSON).",
            redact_text,
        ),
    )


# ---- DuckDB TEMP macros ---------------------------------------------------------------------------

TEMP_NAMES = {
    "luhn": "_redact_luhn",
    "iban": "_redact_iban",
    "text_rules": "_redact_text_all",
    "text_plain": "_redact_text_plain",
    "json_text": "_redact_json_text",
    "json_value": "_redact_json_value",
    "redact_json": "redact_json",
    "redact_text": "redact_text",
}


def _temp_sql(expr: str) -> str:
    expr = _CALL.sub(lambda m: f"{TEMP_NAMES[m.group(1)]}({m.group(2)})", expr)
    expr = _PARAM.sub(lambda m: m.group(1), expr)
    if re.search("[\x00-\x03]", expr):
        raise AssertionError("unresolved marker in the redaction SQL")
    return expr


def macro_sql(rules: tuple[Rule, ...]) -> list[str]:
    """CREATE MACRO statements for the enabled rules (TEMP: per connection, nothing persisted)."""
    return [
        f"CREATE OR REPLACE TEMP MACRO {TEMP_NAMES[m.name]}({m.param}) AS ({_temp_sql(m.expression())})"
        for m in compile_rules(rules)
    ]


# ---- the inline form (what the dbt macros render) ------------------------------------------------


def inline_sql(macros: tuple[Macro, ...], name: str, argument: str) -> str:
    """The SQL the dbt macro `name` renders for `argument`: every helper expanded in place, each
    parameter value parenthesized as the dbt macros do (trace_platform.redaction.dbt_macros). The
    generator checks its template renders exactly this."""
    by_name = {m.name: m for m in macros}

    def expand(macro: Macro, value: str) -> str:
        def resolve(expr: str) -> str:
            def one_call(m: re.Match) -> str:
                arg = m.group(2)
                if _PARAM.fullmatch(arg):
                    inner = value
                elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", arg):
                    inner = arg
                else:
                    inner = "(" + _PARAM.sub(lambda _: value, arg) + ")"
                if m.group(1) in PUBLIC:  # the dbt macro parenthesizes its argument once more
                    inner = "(" + inner + ")"
                return expand(by_name[m.group(1)], inner)

            return _PARAM.sub(lambda _: value, _CALL.sub(one_call, expr))

        if macro.body is not None:
            return "(" + resolve(macro.body) + ")"
        for step in macro.steps:
            value = resolve(step.sql)
        return "(" + value + ")"

    return expand(by_name[name], "(" + argument + ")")
