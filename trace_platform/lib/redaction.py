"""Redaction of secrets and personal data, compiled from trace_platform/config/redaction.yaml into
DuckDB SQL macros, so the warehouse redacts set-based inside its own queries (no per-row Python):

    redact_text(VARCHAR) -> VARCHAR   free text: requests, prompts, outputs, reasons, identifiers
    redact_json(JSON)    -> JSON      JSON values: tool arguments, arguments shown for confirmation

`redact_values(values)` runs a few Python values (check metadata: GX "unexpected values", payload
key names of the drift check) through the same redact_text, in one query on a private in-memory
connection: for metadata, never for rows on the hot path.

`register(con)` creates them as TEMP macros on a connection; it is called for every connection
that needs them (dbt's through the dbt-duckdb plugin lib/dbt_duckdb_plugin.py, for the connection
and each of its cursors; Python's through lib/duckdb_functions.register). The rules file is
TRACE_PLATFORM_REDACTION_CONFIG when set, else the packaged config/redaction.yaml.
docs/security.md describes every rule and where redaction happens.

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

import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import duckdb
import yaml

ENV_VAR = "TRACE_PLATFORM_REDACTION_CONFIG"
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "config" / "redaction.yaml"

KINDS = ("regex", "validated", "json_key")
_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_DIGITS = re.compile(r"^digits:(\d{1,2})-(\d{1,2})$")
# A placeholder must stay valid inside a JSON string and inside SQL: no quote, no backslash except
# a group reference \1..\9, no control characters.
_REPLACEMENT = re.compile(r'^(?:[^"\\\x00-\x1f\x7f]|\\[1-9])+$')

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


class RedactionConfigError(ValueError):
    """The redaction rules file is malformed."""


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    kind: str
    replacement: str
    enabled: bool = True
    pattern: str | None = None
    validate: str | None = None
    key_pattern: str | None = None
    value_pattern: str | None = None


def config_path(explicit: str | os.PathLike | None = None) -> Path:
    if explicit:
        return Path(explicit)
    value = os.environ.get(ENV_VAR)
    return Path(value) if value else DEFAULT_PATH


def sql_literal(text: str) -> str:
    """A SQL string literal (DuckDB standard strings: only the quote needs escaping)."""
    if "\x00" in text:
        raise RedactionConfigError("NUL character in a pattern or replacement")
    return "'" + text.replace("'", "''") + "'"


def _capturing_groups(pattern: str) -> int:
    stripped = re.sub(r"\\.", "", pattern)  # escaped characters, e.g. \( or \[
    stripped = re.sub(r"\[[^\]]*\]", "", stripped)  # character classes
    return len(re.findall(r"\((?!\?)", stripped))


def _rule(raw: dict, index: int) -> Rule:
    if not isinstance(raw, dict):
        raise RedactionConfigError(f"rule #{index + 1}: expected a mapping")
    known = {
        "id",
        "description",
        "kind",
        "pattern",
        "replacement",
        "enabled",
        "validate",
        "key_pattern",
        "value_pattern",
    }
    unknown = set(raw) - known
    rule_id = raw.get("id")
    where = f"rule {rule_id!r}" if rule_id else f"rule #{index + 1}"
    if unknown:
        raise RedactionConfigError(f"{where}: unknown field(s) {sorted(unknown)}")
    if not isinstance(rule_id, str) or not _ID.fullmatch(rule_id):
        raise RedactionConfigError(f"{where}: id must match {_ID.pattern}")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise RedactionConfigError(f"{where}: kind must be one of {KINDS}")
    replacement = raw.get("replacement")
    if not isinstance(replacement, str) or not _REPLACEMENT.fullmatch(replacement):
        raise RedactionConfigError(
            f"{where}: replacement must be non-empty text without quotes, control "
            "characters or backslashes (other than \\1..\\9)"
        )
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RedactionConfigError(f"{where}: enabled must be true or false")
    for name in ("description", "pattern", "validate", "key_pattern", "value_pattern"):
        if raw.get(name) is not None and not isinstance(raw[name], str):
            raise RedactionConfigError(f"{where}: {name} must be a string")
    rule = Rule(
        id=rule_id,
        description=(raw.get("description") or "").strip(),
        kind=kind,
        replacement=replacement,
        enabled=enabled,
        pattern=raw.get("pattern"),
        validate=raw.get("validate"),
        key_pattern=raw.get("key_pattern"),
        value_pattern=raw.get("value_pattern"),
    )
    if kind == "json_key":
        if not rule.key_pattern or rule.pattern or rule.validate:
            raise RedactionConfigError(
                f"{where}: a json_key rule has key_pattern (and optional value_pattern) only"
            )
        for name in ("key_pattern", "value_pattern"):
            value = getattr(rule, name)
            if value is not None and (
                _capturing_groups(value) or '"' in value.replace('\\"', "") and name == "key_pattern"
            ):
                raise RedactionConfigError(f"{where}: {name} must use (?:...) groups only and no quote")
        if "\\" in replacement:
            raise RedactionConfigError(f"{where}: a json_key replacement cannot refer to groups")
    else:
        if not rule.pattern or rule.key_pattern or rule.value_pattern:
            raise RedactionConfigError(
                f"{where}: a {kind} rule has a pattern (and no key_pattern/value_pattern)"
            )
        if kind == "validated":
            if rule.validate not in ("luhn", "iban_mod97") and not _DIGITS.fullmatch(rule.validate or ""):
                raise RedactionConfigError(f"{where}: validate must be luhn, iban_mod97 or digits:MIN-MAX")
            if "\\" in replacement:
                raise RedactionConfigError(f"{where}: a validated rule's replacement cannot refer to groups")
        elif rule.validate:
            raise RedactionConfigError(f"{where}: validate is for kind validated")
        groups = _capturing_groups(rule.pattern)
        refs = [int(n) for n in re.findall(r"\\([1-9])", replacement)]
        if refs and max(refs) > groups:
            raise RedactionConfigError(
                f"{where}: replacement refers to group {max(refs)}, pattern has {groups}"
            )
    return rule


def parse_rules(document: object, source: str = "<config>") -> tuple[Rule, ...]:
    if (
        not isinstance(document, dict)
        or document.get("version") != 1
        or not isinstance(document.get("rules"), list)
    ):
        raise RedactionConfigError(f"{source}: expected `version: 1` and a `rules:` list")
    rules = tuple(_rule(raw, i) for i, raw in enumerate(document["rules"]))
    ids = [r.id for r in rules]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise RedactionConfigError(f"{source}: duplicate rule id(s) {duplicates}")
    _check_regexes(rules, source)
    return rules


def _check_regexes(rules: tuple[Rule, ...], source: str) -> None:
    """Every pattern must compile in DuckDB's RE2 (Python's re has another syntax)."""
    con = duckdb.connect()
    try:
        for rule in rules:
            for name in ("pattern", "key_pattern", "value_pattern"):
                value = getattr(rule, name)
                if value is None:
                    continue
                try:
                    con.execute(
                        f"SELECT regexp_replace('x', {sql_literal(value)}, "
                        f"{sql_literal(rule.replacement if name == 'pattern' else 'x')}, 'g')"
                    ).fetchall()
                except duckdb.Error as exc:
                    raise RedactionConfigError(
                        f"{source}: rule {rule.id!r}: bad {name}: {str(exc).splitlines()[0]}"
                    ) from None
    finally:
        con.close()


def load_rules(path: str | os.PathLike | None = None) -> tuple[Rule, ...]:
    resolved = config_path(path)
    try:
        stat = resolved.stat()
    except OSError as exc:
        raise RedactionConfigError(f"redaction config {resolved}: {exc.strerror}") from None
    return _load_rules_cached(str(resolved.absolute()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _load_rules_cached(path: str, _mtime: int, _size: int) -> tuple[Rule, ...]:
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RedactionConfigError(f"redaction config {path}: {exc}") from None
    return parse_rules(document, path)


# ---- SQL generation ----------------------------------------------------------------------------


def _check_sql(validate: str, candidate: str) -> str:
    if validate == "luhn":
        return f"_redact_luhn({candidate})"
    if validate == "iban_mod97":
        return f"_redact_iban({candidate})"
    low, high = _DIGITS.fullmatch(validate).groups()
    return f"(len(regexp_replace({candidate}, '[^0-9]', '', 'g')) BETWEEN {int(low)} AND {int(high)})"


def _mode_pattern(pattern: str, json_mode: bool) -> str:
    """A rule's pattern as applied to text or inside redact_json. Escaped JSON quoted inside a value
    (`{\\"password\\": \\"x\\"}`) must be recognised like `{"password": "x"}`:
    - in redact_json an escaped quote stands as a private-use character while the rules run, so every
      character class naming both quotes names it too;
    - in text a quote class may be preceded by a backslash."""
    if json_mode:
        return pattern.replace("\"'", "\"'\\x{F0002}")
    return pattern.replace("[\"']", "\\\\?[\"']")


def _text_rule_sql(rule: Rule, expr: str, json_mode: bool = False) -> str:
    raw_pattern = _mode_pattern(rule.pattern, json_mode)
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
    group = ", 1" if _capturing_groups(rule.pattern) else ""
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


def macro_sql(rules: tuple[Rule, ...]) -> list[str]:
    """CREATE MACRO statements for the enabled rules (TEMP: per connection, nothing persisted)."""
    active = [r for r in rules if r.enabled]
    text_rules = [r for r in active if r.kind != "json_key"]
    key_rules = [r for r in active if r.kind == "json_key"]

    text = "t"
    for rule in text_rules:
        text = _text_rule_sql(rule, text)

    json_text = _map_escapes("t")
    for rule in key_rules:
        json_text = _json_key_rule_sql(rule, json_text)
    card = next((r for r in text_rules if r.id == BARE_NUMBER_RULE), None)
    if card is not None:
        json_text = _bare_card_numbers_sql(json_text, card)
    for rule in text_rules:
        json_text = _text_rule_sql(rule, json_text, json_mode=True)
    json_text = _unmap_escapes(json_text)

    luhn = (
        "list_transform([regexp_replace(c, '[^0-9]', '', 'g')], lambda __d: "
        "len(__d) BETWEEN 13 AND 19 AND NOT regexp_full_match(__d, '0+') AND "
        "list_sum(list_transform(string_split(reverse(__d), ''), lambda __ch, __i: "
        "CASE WHEN __i % 2 = 0 THEN (CASE WHEN __ch::INTEGER > 4 THEN __ch::INTEGER * 2 - 9 "
        "ELSE __ch::INTEGER * 2 END) ELSE __ch::INTEGER END)) % 10 = 0)[1]"
    )
    iban_lengths = "|" + "|".join(f"{cc}{n}" for cc, n in sorted(IBAN_LENGTHS.items())) + "|"
    iban = (
        "list_transform([upper(regexp_replace(c, '[^A-Za-z0-9]', '', 'g'))], lambda __s: "
        f"len(__s) BETWEEN 15 AND 34 AND contains('{iban_lengths}', '|' || substr(__s, 1, 2) || len(__s)::VARCHAR || '|') "
        "AND list_reduce(list_prepend(0, list_transform("
        "string_split(substr(__s, 5) || substr(__s, 1, 4), ''), lambda __ch: "
        "CASE WHEN __ch BETWEEN '0' AND '9' THEN ascii(__ch) - 48 ELSE ascii(__ch) - 55 END)), "
        "lambda __acc, __v: (__acc * CASE WHEN __v < 10 THEN 10 ELSE 100 END + __v) % 97) = 1)[1]"
    )
    # Prefilters: a text no rule can match is returned as is after one scan. The trigger is the
    # union of the rules' own patterns, so it fires whenever any rule would change something (JSON:
    # or the text has escapes, which the rules see decoded).
    text_trigger = "|".join(f"(?:{_mode_pattern(r.pattern, False)})" for r in text_rules) or "$^"
    json_trigger = (
        "|".join(
            [f'(?:"(?i:{r.key_pattern})"\\s*:)' for r in key_rules]
            + [f"(?:{_mode_pattern(r.pattern, True)})" for r in text_rules]
        )
        or "$^"
    )
    return [
        f"CREATE OR REPLACE TEMP MACRO _redact_luhn(c) AS ({luhn})",
        f"CREATE OR REPLACE TEMP MACRO _redact_iban(c) AS ({iban})",
        f"CREATE OR REPLACE TEMP MACRO _redact_text_all(t) AS ({text})",
        "CREATE OR REPLACE TEMP MACRO _redact_text_plain(t) AS (CASE WHEN t IS NULL THEN NULL "
        f"WHEN regexp_matches(t::VARCHAR, {sql_literal(text_trigger)}) THEN _redact_text_all(t::VARCHAR) "
        "ELSE t::VARCHAR END)",
        f"CREATE OR REPLACE TEMP MACRO _redact_json_text(t) AS ({json_text})",
        "CREATE OR REPLACE TEMP MACRO redact_json(j) AS (CASE "
        "WHEN j IS NULL THEN NULL "
        "WHEN NOT json_valid(j::VARCHAR) THEN to_json(_redact_text_plain(j::VARCHAR)) "
        f"WHEN NOT (contains(j::VARCHAR, '\\') OR regexp_matches(j::VARCHAR, {sql_literal(json_trigger)})) "
        "THEN j::JSON "
        # rules replace whole matches, so a result that is no longer valid JSON (a rare match across
        # an escape or a bare token) holds no secret either: kept as a JSON string
        "ELSE list_transform([_redact_json_text(json(j::VARCHAR)::VARCHAR)], lambda __jo: "
        "CASE WHEN json_valid(__jo) THEN __jo::JSON ELSE to_json(__jo) END)[1] END)",
        # Text that is a JSON object or array (a final output or tool output logged as JSON) is
        # redacted as JSON, so the json_key rules apply to it too: first on the text as it is (keeps
        # its formatting), else through redact_json (minified), else as plain text.
        "CREATE OR REPLACE TEMP MACRO redact_text(t) AS (CASE WHEN t IS NULL THEN NULL "
        "WHEN regexp_matches(t::VARCHAR, '^\\s*[\\[{]') AND json_valid(t::VARCHAR) THEN "
        "list_transform([_redact_json_text(t::VARCHAR)], lambda __tj: CASE WHEN json_valid(__tj) THEN __tj "
        "ELSE list_transform([redact_json(t::VARCHAR)::VARCHAR], lambda __tm: "
        "CASE WHEN regexp_matches(__tm, '^[\\[{]') THEN __tm ELSE _redact_text_plain(t::VARCHAR) END)[1] END)[1] "
        "ELSE _redact_text_plain(t::VARCHAR) END)",
    ]


@lru_cache(maxsize=8)
def _macro_sql_cached(rules: tuple[Rule, ...]) -> tuple[str, ...]:
    return tuple(macro_sql(rules))


def register(con: duckdb.DuckDBPyConnection, path: str | os.PathLike | None = None) -> None:
    """Creates redact_text / redact_json (and their helpers) on this connection."""
    for statement in _macro_sql_cached(load_rules(path)):
        con.execute(statement)


# ---- a few Python values (check metadata) -------------------------------------------------------

_PRIVATE_LOCK = threading.Lock()
_PRIVATE: dict[str, object] = {}  # pid, connection, rules: one in-memory connection per process


def _private_connection(rules: tuple[Rule, ...]) -> duckdb.DuckDBPyConnection:
    """The process's in-memory connection with the macros of `rules` (re-registered when they change;
    a new connection after a fork). Call with _PRIVATE_LOCK held."""
    con = _PRIVATE.get("con")
    if con is None or _PRIVATE.get("pid") != os.getpid():
        con = duckdb.connect()
        _PRIVATE.update(con=con, pid=os.getpid(), rules=None)
    if _PRIVATE.get("rules") is not rules:
        for statement in _macro_sql_cached(rules):
            con.execute(statement)
        _PRIVATE["rules"] = rules
    return con


def redact_values(values: Iterable[object], path: str | os.PathLike | None = None) -> list[object]:
    """`values` through redact_text, in order, in one query. A string comes back redacted; any other
    scalar (a number, a boolean) is compared as its text and comes back unchanged when nothing in it
    is a secret, else as the redacted text (a Luhn-valid card number given as an int, say). None
    stays None. For metadata (a few values), not for table rows: those are redacted in SQL."""
    values = list(values)
    texts = [None if v is None else v if isinstance(v, str) else str(v) for v in values]
    if not any(texts):
        return values
    rules = load_rules(path)
    with _PRIVATE_LOCK:
        rows = (
            _private_connection(rules)
            .execute(
                "SELECT i, redact_text(v) FROM (SELECT unnest(range(len(l))) AS i, unnest(l) AS v "
                "FROM (SELECT ?::VARCHAR[] AS l))",
                [texts],
            )
            .fetchall()
        )
    redacted = dict(rows)
    return [
        value if text is None or redacted[i] == text else redacted[i]
        for i, (value, text) in enumerate(zip(values, texts, strict=True))
    ]
