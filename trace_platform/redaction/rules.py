"""The redaction rules file: where it is, how it is loaded and validated.

The rules live in trace_platform/config/redaction.yaml; TRACE_PLATFORM_REDACTION_CONFIG (or an
explicit path) names another file. docs/security.md describes every rule and field.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import duckdb
import yaml

ENV_VAR = "TRACE_PLATFORM_REDACTION_CONFIG"
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "config" / "redaction.yaml"

KINDS = ("regex", "validated", "json_key")
_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
DIGITS = re.compile(r"^digits:(\d{1,2})-(\d{1,2})$")
# A placeholder must stay valid inside a JSON string and inside SQL: no quote, no backslash except
# a group reference \1..\9, no control characters.
_REPLACEMENT = re.compile(r'^(?:[^"\\\x00-\x1f\x7f]|\\[1-9])+$')


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


def capturing_groups(pattern: str) -> int:
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
                capturing_groups(value) or '"' in value.replace('\\"', "") and name == "key_pattern"
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
            if rule.validate not in ("luhn", "iban_mod97") and not DIGITS.fullmatch(rule.validate or ""):
                raise RedactionConfigError(f"{where}: validate must be luhn, iban_mod97 or digits:MIN-MAX")
            if "\\" in replacement:
                raise RedactionConfigError(f"{where}: a validated rule's replacement cannot refer to groups")
        elif rule.validate:
            raise RedactionConfigError(f"{where}: validate is for kind validated")
        groups = capturing_groups(rule.pattern)
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
