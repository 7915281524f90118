"""Redaction of secrets and personal data, compiled from trace_platform/config/redaction.yaml.

    rules        the rules file: location (TRACE_PLATFORM_REDACTION_CONFIG), loading, validation
    compiler     the rules as SQL expressions: redact_text(VARCHAR) -> VARCHAR, redact_json(JSON) -> JSON
    connection   those as DuckDB TEMP macros on the Python side's connections; redact_values
    dbt_macros   those as dispatched dbt macros (dbt_project/macros/redaction/redaction.sql),
                 which the dbt models call

docs/security.md describes every rule and where redaction happens.
"""

from trace_platform.redaction.compiler import (
    BARE_NUMBER_RULE,
    DEFAULT_JSON_VALUE,
    IBAN_LENGTHS,
    JSON_KEY_NESTING,
    compile_rules,
    inline_sql,
    macro_sql,
)
from trace_platform.redaction.connection import redact_values, register
from trace_platform.redaction.rules import (
    DEFAULT_PATH,
    ENV_VAR,
    KINDS,
    RedactionConfigError,
    Rule,
    config_path,
    load_rules,
    parse_rules,
    sql_literal,
)

__all__ = [
    "BARE_NUMBER_RULE",
    "DEFAULT_JSON_VALUE",
    "DEFAULT_PATH",
    "ENV_VAR",
    "IBAN_LENGTHS",
    "JSON_KEY_NESTING",
    "KINDS",
    "RedactionConfigError",
    "Rule",
    "compile_rules",
    "config_path",
    "inline_sql",
    "load_rules",
    "macro_sql",
    "parse_rules",
    "redact_values",
    "register",
    "sql_literal",
]
