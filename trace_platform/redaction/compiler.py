"""The redaction rules compiled into SQL: one definition, rendered for two engines.

`compile_rules(rules, dialect)` returns the macros below as expressions of their parameter, in the
SQL of `dialect`: "duckdb" (the default) or "spark" (Spark SQL 4, ANSI mode off as dbt-spark sets
it). The rules are compiled once per dialect by the same code: the same steps in the same order,
the same patterns; a dialect only says how each step is written (the function names, list lambdas,
string literals, and for Spark the rules' RE2 patterns as Java patterns of the same meaning:
trace_platform.redaction.java_regex). They are rendered
- as DuckDB TEMP macros (`macro_sql`, registered by trace_platform.redaction.connection on the
  Python side's connections: ingestion retention, check metadata, exports);
- as dbt macros (trace_platform.redaction.dbt_macros writes dbt_project/macros/redaction/
  redaction.sql: duckdb__ and spark__ implementations), which the dbt models call, so the marts
  inline the same expressions.

    redact_text(VARCHAR) -> VARCHAR   free text: requests, prompts, outputs, reasons, identifiers
    redact_json(JSON)    -> JSON      JSON values: tool arguments, arguments shown for confirmation
                                      (Spark: JSON text in a STRING, the project's `json` type there)
    helpers: luhn(c), iban(c) (checksums), text_rules(t) (every text rule in file order),
    text_plain(t) (the prefilter, then text_rules), json_text(t) (the JSON pipeline below),
    json_value(j); Spark only, for what DuckDB has built in: json_valid(c) (DuckDB's json_valid),
    json_minify(c) (DuckDB's json(c)::VARCHAR), json_string(c) (to_json of a string),
    json_number(c) (a JSON number as DuckDB's json() writes it)

Expressions hold two kinds of markers, resolved by the renderers: a parameter reference
(`param("t")`) and a call of another helper (`call("luhn", "__rc")`, the argument plain SQL and
parameter references only). A chain macro (text_rules, json_text) is a list of steps, each an
expression of the value so far (`param("t")`, exactly once): nested into one expression for
DuckDB, one `{% set %}` per step in the dbt macro; on Spark one aggregate() loop with a CASE branch
per step (_Spark.chain: Spark's analyzer would need too many iterations for nested lambdas).

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

On Spark, JSON validity and minification follow DuckDB's (yyjson's) rules, not Spark's parser's:
DuckDB accepts duplicate keys, a trailing comma and NaN / Infinity, and rejects text after the
value, which Spark's try_parse_json does the other way round; json_valid checks a skeleton of the
text (strings replaced by distinct placeholders) in that case. json_minify decodes and re-encodes
only the strings that hold escapes, and writes numbers with a fraction or an exponent the way
yyjson does: the shortest digits that read back as the same double, of two such the nearer (found
from the JVM's digits, exact for integral doubles from 2^53 to 2^63; no difference from DuckDB in
240,000 random numbers on JDK 17). Limits of Spark's parser that remain: documents nested more than
1,000 levels, numbers of more than 1,000 digits and values over 16 MiB are not valid JSON there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from trace_platform.redaction.java_regex import UnsupportedPattern, to_java, to_java_rewrite
from trace_platform.redaction.rules import (
    DIGITS,
    RedactionConfigError,
    Rule,
    capturing_groups,
    sql_literal,
)

DIALECTS = ("duckdb", "spark")

# Private-use characters standing for JSON escapes while the rules run (see the module docstring).
_MARKS = {"backslash": 0xF0001, "quote": 0xF0002, "unicode": 0xF0003, "unicode_end": 0xF0004}
_BACKSLASH, _QUOTE, _UNICODE, _UNICODE_END = (f"chr({cp})" for cp in _MARKS.values())
_CONTROL_ESCAPES = (("\\n", 10), ("\\r", 13), ("\\t", 9), ("\\b", 8), ("\\f", 12))


def _nested(open_: str, close: str, depth: int, possessive: bool = False) -> str:
    """RE2 for a bracketed value holding brackets of the same kind nested up to `depth` levels.

    `possessive` (Java only): the same matches written `{[^{}]*+(?:{...}[^{}]*+)*+}`, which Java's
    matcher runs without recursing once per character (a bracket can only be matched one way, so
    nothing is lost by never backtracking into it)."""
    other = f"[^\\{open_}\\{close}]"
    if possessive:
        inner = f"{other}*+"
        for _ in range(depth):
            inner = f"{other}*+(?:\\{open_}{inner}\\{close}{other}*+)*+"
        return f"\\{open_}{inner}\\{close}"
    inner = f"{other}*"
    for _ in range(depth):
        inner = f"(?:{other}|\\{open_}{inner}\\{close})*"
    return f"\\{open_}{inner}\\{close}"


# How deep a json_key rule looks below a secret-named key: {"secret": {"a": {"b": ... "x"}}} is
# replaced whole up to this many levels of objects (and, separately, of arrays) inside the value.
JSON_KEY_NESTING = 8


def _json_value_pattern(possessive: bool = False) -> str:
    return (
        r'"[^"]*"|-?[0-9][0-9.eE+-]*|'
        + _nested("{", "}", JSON_KEY_NESTING, possessive)
        + "|"
        + _nested("[", "]", JSON_KEY_NESTING, possessive)
    )


# Values a json_key rule replaces by default: a string, a number, or an object / array nested at
# most JSON_KEY_NESTING levels (deeper ones are handled member by member through their own keys).
DEFAULT_JSON_VALUE = _json_value_pattern()


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
    name: str  # luhn, iban, text_rules, text_plain, json_text, redact_json, redact_text, ...
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


# ---- what the rules match (the same for every dialect) ------------------------------------------


def mode_pattern(pattern: str, json_mode: bool) -> str:
    """A rule's pattern as applied to text or inside redact_json. Escaped JSON quoted inside a value
    (`{\\"password\\": \\"x\\"}`) must be recognised like `{"password": "x"}`:
    - in redact_json an escaped quote stands as a private-use character while the rules run, so every
      character class naming both quotes names it too;
    - in text a quote class may be preceded by a backslash."""
    if json_mode:
        return pattern.replace("\"'", "\"'\\x{F0002}")
    return pattern.replace("[\"']", "\\\\?[\"']")


def _json_key_pattern(rule: Rule, possessive: bool = False) -> tuple[str, str]:
    """A json_key rule as a pattern and an RE2 rewrite string."""
    value = rule.value_pattern or _json_value_pattern(possessive)
    pattern = '"((?i:' + rule.key_pattern + '))"(\\s*:\\s*)(?:' + value + ")"
    return pattern, '"\\1"\\2"' + rule.replacement + '"'


def _triggers(text_rules: list[Rule], key_rules: list[Rule]) -> tuple[str, str]:
    """The prefilters: the union of the rules' own patterns, so they fire whenever any rule would
    change something (JSON: or the text has escapes, which the rules see decoded)."""
    text_trigger = "|".join(f"(?:{mode_pattern(r.pattern, False)})" for r in text_rules) or "$^"
    json_trigger = (
        "|".join(
            [f'(?:"(?i:{r.key_pattern})"\\s*:)' for r in key_rules]
            + [f"(?:{mode_pattern(r.pattern, True)})" for r in text_rules]
        )
        or "$^"
    )
    return text_trigger, json_trigger


# ---- dialects ------------------------------------------------------------------------------------
#
# Each method writes one step or helper of the compilation in the dialect's SQL. Patterns come in as
# RE2 (the rules' syntax), replacements as RE2 rewrite strings (\1..\9); `check` writes a validated
# rule's check of a candidate.

Check = Callable[[str], str]


class _DuckDB:
    name = "duckdb"

    def regex(self, pattern: str) -> str:
        return sql_literal(pattern)

    def rewrite(self, replacement: str) -> str:
        return sql_literal(replacement)

    def literal(self, text: str) -> str:
        return sql_literal(text)

    def as_text(self, expr: str) -> str:
        return expr + "::VARCHAR"

    def digits_between(self, c: str, low: int, high: int) -> str:
        return f"(len(regexp_replace({c}, '[^0-9]', '', 'g')) BETWEEN {low} AND {high})"

    def replace_all(self, expr: str, pattern: str, replacement: str) -> str:
        return f"regexp_replace({expr}, {self.regex(pattern)}, {self.rewrite(replacement)}, 'g')"

    def iban_rule(self, expr: str, pattern: str, replacement: str, check: Check) -> str:
        pattern, replacement = self.regex(pattern), self.literal(replacement)
        return (
            f"list_transform([{expr}], lambda __rs: list_reduce(list_prepend(__rs, list_filter(list_transform("
            f"regexp_extract_all(__rs, {pattern}), lambda __rc: list_filter(list_transform("
            "range(len(string_split(__rc, ' ')), 0, -1), lambda __rk: "
            "array_to_string(string_split(__rc, ' ')[1:__rk], ' ')), "
            f"lambda __rp: {check('__rp')})[1]), lambda __rc: __rc IS NOT NULL)), "
            f"lambda __ra, __rc: replace(__ra, __rc, {replacement})))[1]"
        )

    def validated_rule(self, expr: str, pattern: str, group: bool, replacement: str, check: Check) -> str:
        pattern, replacement = self.regex(pattern), self.literal(replacement)
        group_sql = ", 1" if group else ""
        return (
            f"list_transform([{expr}], lambda __rs: list_reduce(list_prepend(__rs, list_filter("
            f"regexp_extract_all(__rs, {pattern}{group_sql}), lambda __rc: len(__rc) > 0 AND {check('__rc')})), "
            f"lambda __ra, __rc: replace(__ra, __rc, {replacement})))[1]"
        )

    def bare_numbers(self, expr: str, rule: Rule, check: Check) -> str:
        number = "'([:\\[,])' || __rn || '([,\\]}])'"
        quoted = sql_literal('\\1"' + rule.replacement + '"\\2')
        once = f"regexp_replace(__ra, {number}, {quoted}, 'g')"
        twice = f"regexp_replace({once}, {number}, {quoted}, 'g')"
        chunk = (
            "CASE WHEN starts_with(__tok, '\"') THEN __tok ELSE list_reduce(list_prepend(__tok, list_filter("
            "regexp_extract_all(__tok, '(?:^|[:\\[,])(-?[0-9][0-9.eE+-]*)', 1), lambda __rn: "
            f"regexp_full_match(__rn, {sql_literal(rule.pattern)}) AND {check('__rn')})), "
            f"lambda __ra, __rn: {twice}) END"
        )
        return (
            f"list_transform([{expr}], lambda __bj: CASE WHEN regexp_matches(__bj, '[:\\[,][0-9]{{13,19}}[,\\]}}]') "
            f'THEN array_to_string(list_transform(regexp_extract_all(__bj, \'"[^"]*"|[^"]+\'), '
            f"lambda __tok: {chunk}), '') ELSE __bj END)[1]"
        )

    def map_escapes(self, expr: str) -> str:
        out = f"replace({expr}, '\\\\', {_BACKSLASH})"
        out = f"replace({out}, '\\\"', {_QUOTE})"
        for escape, code in _CONTROL_ESCAPES:
            out = f"replace({out}, '{escape}', chr({code}))"
        out = f"replace({out}, '\\/', '/')"
        # \uXXXX: its 4 hex digits between two markers, so no rule reads them as part of a word
        return f"regexp_replace({out}, '\\\\u([0-9a-fA-F]{{4}})', {_UNICODE} || '\\1' || {_UNICODE_END}, 'g')"

    def unmap_escapes(self, expr: str) -> str:
        # a \uXXXX whose markers survived is restored; a marker left alone by a rule is dropped
        out = f"regexp_replace({expr}, {_UNICODE} || '([0-9a-fA-F]{{4}})' || {_UNICODE_END}, '\\\\u\\1', 'g')"
        out = f"replace(replace({out}, {_UNICODE}, ''), {_UNICODE_END}, '')"
        for escape, code in _CONTROL_ESCAPES:
            out = f"replace({out}, chr({code}), '{escape}')"
        out = f"replace({out}, {_QUOTE}, '\\\"')"
        return f"replace({out}, {_BACKSLASH}, '\\\\')"

    def luhn(self, c: str) -> str:
        return (
            f"list_transform([regexp_replace({c}, '[^0-9]', '', 'g')], lambda __d: "
            "len(__d) BETWEEN 13 AND 19 AND NOT regexp_full_match(__d, '0+') AND "
            "list_sum(list_transform(string_split(reverse(__d), ''), lambda __ch, __i: "
            "CASE WHEN __i % 2 = 0 THEN (CASE WHEN __ch::INTEGER > 4 THEN __ch::INTEGER * 2 - 9 "
            "ELSE __ch::INTEGER * 2 END) ELSE __ch::INTEGER END)) % 10 = 0)[1]"
        )

    def iban(self, c: str, lengths: str) -> str:
        return (
            f"list_transform([upper(regexp_replace({c}, '[^A-Za-z0-9]', '', 'g'))], lambda __s: "
            f"len(__s) BETWEEN 15 AND 34 AND contains('{lengths}', '|' || substr(__s, 1, 2) || len(__s)::VARCHAR || '|') "
            "AND list_reduce(list_prepend(0, list_transform("
            "string_split(substr(__s, 5) || substr(__s, 1, 4), ''), lambda __ch: "
            "CASE WHEN __ch BETWEEN '0' AND '9' THEN ascii(__ch) - 48 ELSE ascii(__ch) - 55 END)), "
            "lambda __acc, __v: (__acc * CASE WHEN __v < 10 THEN 10 ELSE 100 END + __v) % 97) = 1)[1]"
        )

    def helpers(self) -> tuple[Macro, ...]:
        return ()  # json_valid, json() and to_json are built in

    def chain(self, name: str, doc: str, steps: tuple[Step, ...], var: str) -> Macro:
        return Macro(name, "t", doc, steps=steps)  # nested: each step's value is the one before

    def text_plain(self, t: str, trigger: str) -> str:
        return (
            f"CASE WHEN {t} IS NULL THEN NULL "
            f"WHEN regexp_matches({t}::VARCHAR, {sql_literal(trigger)}) THEN {call('text_rules', t + '::VARCHAR')} "
            f"ELSE {t}::VARCHAR END"
        )

    def json_value(self, j: str, trigger: str) -> str:
        # A valid JSON value (j::VARCHAR is valid JSON, not NULL): as is when no rule can match, else
        # the JSON pipeline over its minified text. Rules replace whole matches, so a result that is
        # no longer valid JSON (a rare match across an escape or a bare token) holds no secret either:
        # it is kept as a JSON string.
        return (
            f"CASE WHEN NOT (contains({j}::VARCHAR, '\\') OR regexp_matches({j}::VARCHAR, {sql_literal(trigger)})) "
            f"THEN {j}::JSON "
            f"ELSE list_transform([{call('json_text', 'json(' + j + '::VARCHAR)::VARCHAR')}], lambda __jo: "
            "CASE WHEN json_valid(__jo) THEN __jo::JSON ELSE to_json(__jo) END)[1] END"
        )

    def redact_json(self, j: str) -> str:
        return (
            f"CASE WHEN {j} IS NULL THEN NULL "
            f"WHEN NOT json_valid({j}::VARCHAR) THEN to_json({call('text_plain', j + '::VARCHAR')}) "
            f"ELSE {call('json_value', j)} END"
        )

    def redact_text(self, t: str) -> str:
        # Text that is a JSON object or array (a final output or tool output logged as JSON) is
        # redacted as JSON, so the json_key rules apply to it too: first on the text as it is
        # (keeps its formatting), else as a JSON value (minified), else as plain text. The JSON
        # attempt is NULL where it does not apply or fails (never where it succeeds), and coalesce
        # evaluates the text rules for those rows only: one copy of them in the expression instead
        # of three, which keeps the models cheap to bind (same values as the CASE it replaced:
        # docs/security.md, "Cost").
        return (
            f"coalesce(CASE WHEN regexp_matches({t}::VARCHAR, '^\\s*[\\[{{]') AND json_valid({t}::VARCHAR) THEN "
            f"list_transform([{call('json_text', t + '::VARCHAR')}], lambda __tj: CASE WHEN json_valid(__tj) THEN __tj "
            f"ELSE list_transform([{call('json_value', t + '::VARCHAR')}::VARCHAR], lambda __tm: "
            "CASE WHEN regexp_matches(__tm, '^[\\[{]') THEN __tm END)[1] END)[1] END, "
            f"{call('text_plain', t + '::VARCHAR')})"
        )


def spark_literal(text: str) -> str:
    """A Spark SQL string literal (backslash escapes, as Spark parses literals by default); anything
    but printable ASCII is written as \\uXXXX escapes (UTF-16), so the SQL stays ASCII."""
    out = []
    for ch in text:
        if ch in "\\'":
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            units = ch.encode("utf-16-be")
            out += [f"\\u{units[i]:02X}{units[i + 1]:02X}" for i in range(0, len(units), 2)]
    return "'" + "".join(out) + "'"


# A JSON string as yyjson (DuckDB) validates it: no raw control character, valid escapes, \u escapes
# of surrogates in high-low pairs only; or any other run of characters; or a quote that starts no
# valid string (the text is not valid JSON then). Possessive: Java's matcher does not recurse per
# character of a string.
_JSON_TOKENS = (
    '"[^"\\\\\\x00-\\x1f]*+(?:\\\\(?:["\\\\/bfnrt]|u(?:[0-9a-cA-Ce-fE-F][0-9a-fA-F]{3}|[dD][0-7][0-9a-fA-F]{2}'
    '|[dD][89abAB][0-9a-fA-F]{2}\\\\u[dD][c-fC-F][0-9a-fA-F]{2}))[^"\\\\\\x00-\\x1f]*+)*+"|[^"]++|"'
)
# Java patterns used as written (lookarounds: no RE2 equivalent), on a skeleton (strings replaced):
# a trailing comma before ] or } (one, after a value), which yyjson accepts and Jackson does not;
# NaN / Infinity / inf in any case with an optional minus, which yyjson accepts and Jackson does not.
_TRAILING_COMMA_JAVA = "(?<=[^\\[{,\\t\\n\\r ])([\\t\\n\\r ]*),(?=[\\t\\n\\r ]*[\\]}])"
_NAN_INF_JAVA = (
    "(?<![0-9A-Za-z_.+\\-])-?(?:[nN][aA][nN]|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)(?![0-9A-Za-z_])"
)


class _Spark:
    name = "spark"

    def regex(self, pattern: str) -> str:
        return spark_literal(to_java(pattern))

    def rewrite(self, replacement: str) -> str:
        return spark_literal(to_java_rewrite(replacement))

    def literal(self, text: str) -> str:
        return spark_literal(text)

    def as_text(self, expr: str) -> str:
        return f"cast({expr} as string)"

    def digits_between(self, c: str, low: int, high: int) -> str:
        return f"(length(regexp_replace({c}, {self.regex('[^0-9]')}, '')) BETWEEN {low} AND {high})"

    def replace_all(self, expr: str, pattern: str, replacement: str) -> str:
        return f"regexp_replace({expr}, {self.regex(pattern)}, {self.rewrite(replacement)})"

    def iban_rule(self, expr: str, pattern: str, replacement: str, check: Check) -> str:
        pattern, replacement = self.regex(pattern), self.literal(replacement)
        return (
            f"transform(array({expr}), __rs -> aggregate(filter(transform(regexp_extract_all(__rs, {pattern}, 0), "
            "__rc -> try_element_at(filter(transform(sequence(size(split(__rc, ' ')), 1, -1), "
            "__rk -> array_join(slice(split(__rc, ' '), 1, __rk), ' ')), "
            f"__rp -> {check('__rp')}), 1)), __rc -> __rc IS NOT NULL), "
            f"__rs, (__ra, __rc) -> replace(__ra, __rc, {replacement})))[0]"
        )

    def validated_rule(self, expr: str, pattern: str, group: bool, replacement: str, check: Check) -> str:
        pattern, replacement = self.regex(pattern), self.literal(replacement)
        return (
            f"transform(array({expr}), __rs -> aggregate(filter(regexp_extract_all(__rs, {pattern}, {int(group)}), "
            f"__rc -> length(__rc) > 0 AND {check('__rc')}), "
            f"__rs, (__ra, __rc) -> replace(__ra, __rc, {replacement})))[0]"
        )

    def bare_numbers(self, expr: str, rule: Rule, check: Check) -> str:
        before, after = self.regex("([:\\[,])"), self.regex("([,\\]}])")
        number = f"concat({before}, __rn, {after})"
        quoted = self.rewrite('\\1"' + rule.replacement + '"\\2')
        once = f"regexp_replace(__ra, {number}, {quoted})"
        twice = f"regexp_replace({once}, {number}, {quoted})"
        numbers = self.regex("(?:^|[:\\[,])(-?[0-9][0-9.eE+-]*)")
        whole = self.regex("^(?:" + rule.pattern + ")$")
        chunk = (
            f"CASE WHEN startswith(__tok, '\"') THEN __tok ELSE aggregate(filter(regexp_extract_all(__tok, {numbers}, 1), "
            f"__rn -> __rn rlike {whole} AND {check('__rn')}), __tok, (__ra, __rn) -> {twice}) END"
        )
        gate, runs = self.regex("[:\\[,][0-9]{13,19}[,\\]}]"), self.regex('"[^"]*"|[^"]+')
        return (
            f"transform(array({expr}), __bj -> CASE WHEN __bj rlike {gate} "
            f"THEN array_join(transform(regexp_extract_all(__bj, {runs}, 0), __tok -> {chunk}), '') "
            "ELSE __bj END)[0]"
        )

    def map_escapes(self, expr: str) -> str:
        lit = self.literal
        backslash, quote, unicode, unicode_end = (chr(cp) for cp in _MARKS.values())
        out = f"replace({expr}, {lit(chr(92) * 2)}, {lit(backslash)})"
        out = f"replace({out}, {lit(chr(92) + chr(34))}, {lit(quote)})"
        for escape, code in _CONTROL_ESCAPES:
            out = f"replace({out}, {lit(escape)}, chr({code}))"
        out = f"replace({out}, {lit(chr(92) + '/')}, '/')"
        return (
            f"regexp_replace({out}, {self.regex(chr(92) * 2 + 'u([0-9a-fA-F]{4})')}, "
            f"{self.rewrite(unicode + chr(92) + '1' + unicode_end)})"
        )

    def unmap_escapes(self, expr: str) -> str:
        lit = self.literal
        backslash, quote, unicode, unicode_end = (chr(cp) for cp in _MARKS.values())
        pattern = self.regex(unicode + "([0-9a-fA-F]{4})" + unicode_end)
        out = f"regexp_replace({expr}, {pattern}, {self.rewrite(chr(92) * 2 + 'u' + chr(92) + '1')})"
        out = f"replace(replace({out}, {lit(unicode)}, ''), {lit(unicode_end)}, '')"
        for escape, code in _CONTROL_ESCAPES:
            out = f"replace({out}, chr({code}), {lit(escape)})"
        out = f"replace({out}, {lit(quote)}, {lit(chr(92) + chr(34))})"
        return f"replace({out}, {lit(backslash)}, {lit(chr(92) * 2)})"

    def luhn(self, c: str) -> str:
        digit = "cast(__ch as int)"
        return (
            f"transform(array(regexp_replace({c}, {self.regex('[^0-9]')}, '')), __d -> "
            f"length(__d) BETWEEN 13 AND 19 AND NOT __d rlike {self.regex('^0+$')} AND "
            "aggregate(transform(split(reverse(__d), ''), (__ch, __i) -> "
            f"CASE WHEN __i % 2 = 1 THEN (CASE WHEN {digit} > 4 THEN {digit} * 2 - 9 ELSE {digit} * 2 END) "
            f"ELSE {digit} END), 0, (__acc, __v) -> __acc + __v) % 10 = 0)[0]"
        )

    def iban(self, c: str, lengths: str) -> str:
        return (
            f"transform(array(upper(regexp_replace({c}, {self.regex('[^A-Za-z0-9]')}, ''))), __s -> "
            f"length(__s) BETWEEN 15 AND 34 AND instr('{lengths}', "
            "concat('|', substr(__s, 1, 2), cast(length(__s) as string), '|')) > 0 "
            "AND aggregate(transform(split(concat(substr(__s, 5), substr(__s, 1, 4)), ''), __ch -> "
            "CASE WHEN __ch BETWEEN '0' AND '9' THEN ascii(__ch) - 48 ELSE ascii(__ch) - 55 END), 0, "
            "(__acc, __v) -> (__acc * CASE WHEN __v < 10 THEN 10 ELSE 100 END + __v) % 97) = 1)[0]"
        )

    def helpers(self) -> tuple[Macro, ...]:
        c = param("c")
        regex = self.regex
        tokens = regex(_JSON_TOKENS)
        json_string = f"transform(array(to_json(array({c}))), __js -> substr(__js, 2, length(__js) - 2))[0]"
        # DuckDB writes a number with a fraction or an exponent as the shortest digits that read back
        # as its double (the nearer of two such), plain from 1e-6 to below 1e21 (with ".0" when
        # integral), else d.ddde-7; "-0" becomes "0", an integer stays as written, a number beyond
        # the double range too. Here: m, the digits of the double (exact for an integral one from 2^53
        # to 2^63, else the 17 of %.16e: the JVM's, which before JDK 19 are not always the shortest
        # nor the nearest) and e the exponent of the first; the first p of 1..17 at which m cut to p
        # digits (lo) or that plus one (hi) reads back as the double gives d, the significant digits,
        # and k, the exponent with value 0.d x 10^k.
        layout = (
            "CASE WHEN __nl.k BETWEEN -5 AND 0 THEN concat('0.', repeat('0', -__nl.k), __nl.d) "
            "WHEN __nl.k BETWEEN 1 AND 21 THEN CASE WHEN __nl.k >= length(__nl.d) "
            "THEN concat(__nl.d, repeat('0', __nl.k - length(__nl.d)), '.0') "
            "ELSE concat(substr(__nl.d, 1, __nl.k), '.', substr(__nl.d, __nl.k + 1)) END "
            "ELSE concat(substr(__nl.d, 1, 1), CASE WHEN length(__nl.d) > 1 THEN concat('.', substr(__nl.d, 2)) "
            "ELSE '' END, 'e', cast(__nl.k - 1 as string)) END"
        )

        double = f"abs(cast({c} as double))"
        integral = f"{double} >= 9007199254740992D AND {double} < 9223372036854775807D"
        scientific = f"format_string('%.16e', {double})"
        lo = "cast(substr(__na.m, 1, __np) as bigint)"

        def reads_back(mantissa: str) -> str:
            return f"cast(concat(cast({mantissa} as string), 'e', cast(__na.e - __np + 1 as string)) as double) = {double}"

        def found(mantissa: str) -> str:
            return (
                f"named_struct('m', __na.m, 'e', __na.e, 'd', regexp_replace(cast({mantissa} as string), "
                f"{regex('0+$')}, ''), 'k', length(cast({mantissa} as string)) + __na.e - __np + 1)"
            )

        # the struct (m, e, d, k) is the loop's state, so that no lambda binds a value in between
        # (Spark's analyzer pays iterations for each nesting: see chain)
        shortest = (
            f"aggregate(sequence(1, 17), named_struct("
            f"'m', CASE WHEN {integral} THEN cast(cast({double} as bigint) as string) "
            f"ELSE concat(substr({scientific}, 1, 1), substr({scientific}, 3, 16)) END, "
            f"'e', CASE WHEN {integral} THEN length(cast(cast({double} as bigint) as string)) - 1 "
            f"ELSE cast(regexp_extract({scientific}, {regex('e([-+][0-9]+)')}, 1) as int) END, 'd', '', 'k', 0), "
            "(__na, __np) -> CASE WHEN __na.d <> '' THEN __na "
            f"WHEN {reads_back(lo)} AND {reads_back(lo + ' + 1')} THEN CASE WHEN substr(__na.m, __np + 1, 1) >= '5' "
            f"THEN {found(lo + ' + 1')} ELSE {found(lo)} END "
            f"WHEN {reads_back(lo)} THEN {found(lo)} WHEN {reads_back(lo + ' + 1')} THEN {found(lo + ' + 1')} "
            "ELSE __na END)"
        )
        json_number = (
            f"CASE WHEN {c} = '-0' THEN '0' WHEN NOT {c} rlike {regex('^-?[0-9]+[.eE]')} THEN {c} "
            f"WHEN {double} = cast('Infinity' as double) THEN {c} "
            f"WHEN {double} = 0 THEN CASE WHEN startswith({c}, '-') THEN '-0.0' ELSE '0.0' END "
            f"ELSE concat(CASE WHEN startswith({c}, '-') THEN '-' ELSE '' END, "
            f"transform(array({shortest}), __nl -> {layout})[0]) END"
        )
        backslash = self.literal(chr(92))
        comma_end, space = regex(",[\\t\\n\\r ]*([\\]}])"), regex("[\\t\\n\\r ]+")
        plain = f"regexp_replace(regexp_replace(__mt, {comma_end}, '$1'), {space}, '')"
        json_minify = (
            f"array_join(transform(regexp_extract_all({c}, {tokens}, 0), __mt -> CASE WHEN startswith(__mt, '\"') "
            f"THEN CASE WHEN instr(__mt, {backslash}) = 0 THEN __mt "
            f"ELSE {call('json_string', 'cast(parse_json(__mt) as string)')} END "
            f"WHEN __mt rlike {regex('[0-9][.eE]|-0')} THEN array_join(transform(regexp_extract_all({plain}, "
            f"{regex('-?[0-9][0-9.eE+-]*|[^0-9-]+|-')}, 0), __mn -> {call('json_number', '__mn')}), '') "
            f"ELSE {plain} END), '')"
        )
        valid_array = "size(try_cast(try_parse_json(concat('[', {}, ']')) as array<variant>)) = 1"
        skeleton = (
            "regexp_replace(regexp_replace(array_join(transform(__vt, (__vx, __vi) -> CASE WHEN startswith(__vx, '\"') "
            "THEN concat('\"', cast(__vi as string), '\"') ELSE __vx END), ''), "
            f"{spark_literal(_TRAILING_COMMA_JAVA)}, '$1'), {spark_literal(_NAN_INF_JAVA)}, '0')"
        )
        may_be_lax = regex("^[\\t\\n\\r ]*(?:[\\[{]|-?[nNiI])")  # an array, an object, NaN, Infinity
        json_valid = (
            f"CASE WHEN {c} IS NULL THEN NULL WHEN {valid_array.format(c)} THEN true "
            f"WHEN {c} rlike {may_be_lax} THEN "
            f"transform(array(regexp_extract_all({c}, {tokens}, 0)), __vt -> NOT exists(__vt, __vx -> __vx = '\"') "
            f"AND {valid_array.format(skeleton)})[0] ELSE false END"
        )
        return (
            Macro("json_string", "c", "The string c as a JSON string (c not NULL).", json_string),
            Macro(
                "json_number", "c", "A JSON number token written as DuckDB's json() writes it.", json_number
            ),
            Macro(
                "json_minify", "c", "Valid JSON text minified as DuckDB's json(c)::VARCHAR does.", json_minify
            ),
            Macro(
                "json_valid", "c", "DuckDB's json_valid(c): yyjson's JSON, not Spark's parser's.", json_valid
            ),
        )

    def text_plain(self, t: str, trigger: str) -> str:
        text = self.as_text(t)
        return (
            f"CASE WHEN {t} IS NULL THEN NULL WHEN {text} rlike {self.regex(trigger)} "
            f"THEN {call('text_rules', text)} ELSE {text} END"
        )

    def json_value(self, j: str, trigger: str) -> str:
        text = self.as_text(j)
        return (
            f"CASE WHEN NOT (instr({text}, {self.literal(chr(92))}) > 0 OR {text} rlike {self.regex(trigger)}) "
            f"THEN {text} "
            f"ELSE transform(array(transform(array({call('json_minify', text)}), __jm -> {call('json_text', '__jm')})[0]), "
            f"__jo -> CASE WHEN {call('json_valid', '__jo')} THEN __jo ELSE {call('json_string', '__jo')} END)[0] END"
        )

    def redact_json(self, j: str) -> str:
        text = self.as_text(j)
        return (
            f"CASE WHEN {j} IS NULL THEN NULL "
            f"WHEN NOT {call('json_valid', text)} THEN transform(array({call('text_plain', text)}), "
            f"__jp -> {call('json_string', '__jp')})[0] "
            f"ELSE {call('json_value', j)} END"
        )

    def chain(self, name: str, doc: str, steps: tuple[Step, ...], var: str) -> Macro:
        """The steps as one loop, aggregate(sequence(1, n), t, (value, k) -> CASE k WHEN 1 THEN
        <step 1 of value> ... END): Spark's analyzer resolves a lambda only once its argument is
        resolved, so steps nested in each other's arguments (a validated rule binds the value so far
        by a lambda) take it an iteration count that grows with their number, past its limit of
        100 for redact_text; in one CASE they are resolved side by side."""
        value, index = f"__{var}v", f"__{var}k"
        branches = " ".join(
            f"WHEN {k} THEN /* {step.label} */ {step.sql.replace(param('t'), value)}"
            for k, step in enumerate(steps, 1)
        )
        body = f"aggregate(sequence(1, {len(steps)}), {param('t')}, ({value}, {index}) -> CASE {index} {branches} END)"
        return Macro(name, "t", doc, body=body if steps else param("t"))

    def redact_text(self, t: str) -> str:
        # DuckDB's form, with the JSON attempt on the text as it is and the one on its minified
        # form as siblings in the coalesce rather than the second in a lambda over the first (the
        # same values, fewer analyzer iterations: see chain)
        text = self.as_text(t)
        structured, opening = self.regex("^\\s*[\\[{]"), self.regex("^[\\[{]")
        looks_json = f"{text} rlike {structured} AND {call('json_valid', text)}"
        return (
            f"coalesce(CASE WHEN {looks_json} THEN "
            f"filter(array({call('json_text', text)}), __tj -> {call('json_valid', '__tj')})[0] END, "
            f"CASE WHEN {looks_json} THEN transform(array({call('json_value', text)}), __tm -> "
            f"CASE WHEN __tm rlike {opening} THEN __tm END)[0] END, "
            f"{call('text_plain', text)})"
        )


_DIALECT_TYPES = {"duckdb": _DuckDB, "spark": _Spark}


# ---- the compilation ----------------------------------------------------------------------------


def _check_sql(dialect, validate: str, candidate: str) -> str:
    if validate == "luhn":
        return call("luhn", candidate)
    if validate == "iban_mod97":
        return call("iban", candidate)
    low, high = DIGITS.fullmatch(validate).groups()
    return dialect.digits_between(candidate, int(low), int(high))


def _text_rule_sql(dialect, rule: Rule, expr: str, json_mode: bool = False) -> str:
    pattern = mode_pattern(rule.pattern, json_mode)
    if rule.kind == "regex":
        return dialect.replace_all(expr, pattern, rule.replacement)
    check = lambda candidate: _check_sql(dialect, rule.validate, candidate)  # noqa: E731
    if rule.validate == "iban_mod97":
        # a match may have run into the next word ("ES91 2100 0418 4502 0005 1332 para"): each match
        # stands for its longest prefix of whole space-separated groups that is a valid IBAN
        return dialect.iban_rule(expr, pattern, rule.replacement, check)
    # validated: the matches that pass the check are replaced, each everywhere it occurs; with a
    # capturing group, group 1 is the candidate and the rest of the match only context. The value is
    # bound once by a one-element list's lambda (a macro would repeat the expression).
    return dialect.validated_rule(
        expr, pattern, bool(capturing_groups(rule.pattern)), rule.replacement, check
    )


def _check_java(rules: list[Rule]) -> None:
    """Every pattern has a Java form (java_regex), else the rule is named."""
    for rule in rules:
        for field in ("pattern", "key_pattern", "value_pattern"):
            pattern = getattr(rule, field)
            try:
                if pattern is not None:
                    to_java(pattern)
                if field == "pattern" and rule.kind == "regex":
                    to_java_rewrite(rule.replacement)
            except UnsupportedPattern as exc:
                raise RedactionConfigError(
                    f"rule {rule.id!r}: {field} has no Spark (Java) form: {exc}"
                ) from None


def compile_rules(rules: tuple[Rule, ...], dialect: str = "duckdb") -> tuple[Macro, ...]:
    """The macros of the enabled rules in the SQL of `dialect` ("duckdb" or "spark"), helpers
    before their callers."""
    if dialect not in _DIALECT_TYPES:
        raise ValueError(f"unknown SQL dialect {dialect!r}: one of {DIALECTS}")
    sql = _DIALECT_TYPES[dialect]()
    active = [r for r in rules if r.enabled]
    if dialect == "spark":
        _check_java(active)
    text_rules = [r for r in active if r.kind != "json_key"]
    key_rules = [r for r in active if r.kind == "json_key"]
    t, j, c = param("t"), param("j"), param("c")

    text_steps = tuple(Step(f"{r.kind} rule {r.id}", _text_rule_sql(sql, r, t)) for r in text_rules)

    json_steps = [Step("JSON escapes to single characters", sql.map_escapes(t))]
    json_steps += [
        Step(
            f"json_key rule {r.id}", sql.replace_all(t, *_json_key_pattern(r, possessive=dialect == "spark"))
        )
        for r in key_rules
    ]
    card = next((r for r in text_rules if r.id == BARE_NUMBER_RULE), None)
    if card is not None:
        check = lambda candidate: _check_sql(sql, card.validate, candidate)  # noqa: E731
        json_steps.append(Step(f"bare JSON numbers, rule {card.id}", sql.bare_numbers(t, card, check)))
    json_steps += [
        Step(f"{r.kind} rule {r.id}", _text_rule_sql(sql, r, t, json_mode=True)) for r in text_rules
    ]
    json_steps.append(Step("single characters back to JSON escapes", sql.unmap_escapes(t)))

    iban_lengths = "|" + "|".join(f"{cc}{n}" for cc, n in sorted(IBAN_LENGTHS.items())) + "|"
    text_trigger, json_trigger = _triggers(text_rules, key_rules)
    return (
        Macro("luhn", "c", "True when the digits of c are a 13-19 digit Luhn-valid number.", sql.luhn(c)),
        Macro(
            "iban",
            "c",
            "True when c is an IBAN of its country's length with valid check digits.",
            sql.iban(c, iban_lengths),
        ),
        *sql.helpers(),
        sql.chain("text_rules", "Every text rule, in file order.", text_steps, "c"),
        Macro(
            "text_plain",
            "t",
            "The text rules behind a prefilter (the union of their patterns).",
            sql.text_plain(t, text_trigger),
        ),
        sql.chain("json_text", "The JSON pipeline over minified JSON text.", tuple(json_steps), "j"),
        Macro(
            "json_value",
            "j",
            "A valid JSON value redacted (as is when no rule can match).",
            sql.json_value(j, json_trigger),
        ),
        Macro(
            "redact_json",
            "j",
            "A JSON value with its secrets replaced, structure and types kept.",
            sql.redact_json(j),
        ),
        Macro(
            "redact_text",
            "t",
            "A text with its secrets replaced (JSON objects and arrays as JSON).",
            sql.redact_text(t),
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
