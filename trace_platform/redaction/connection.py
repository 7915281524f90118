"""The redaction macros on DuckDB connections of the Python side, and a few Python values through them.

`register(con)` creates redact_text / redact_json (and their helpers) as TEMP macros on a
connection: ingestion's retention purge, check results (lib/duckdb_functions.register_redaction),
tenant exports. dbt does not use them: its models call the dbt macros generated from the same
rules (trace_platform.redaction.dbt_macros). The rules file is TRACE_PLATFORM_REDACTION_CONFIG
when set, else the packaged config/redaction.yaml, read when a connection is registered.

`redact_values(values)` runs a few Python values (check metadata: GX "unexpected values", payload
key names of the drift check) through the same redact_text, in one query on a private in-memory
connection: for metadata, never for rows on the hot path.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from functools import lru_cache

import duckdb

from trace_platform.redaction.compiler import macro_sql
from trace_platform.redaction.rules import Rule, load_rules


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
