"""What `trace-platform query` runs: read-only statements only, classified by DuckDB's own parser."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

import duckdb

from trace_platform.snapshots.errors import ReadOnlyQueryError

READ_ONLY_FORMS = (
    "SELECT, WITH, FROM, VALUES, TABLE, DESCRIBE, SHOW, SUMMARIZE, PRAGMA show/info, EXPLAIN [ANALYZE] SELECT"
)
# Functions a SELECT may call that change the session, execute SQL held in a string (unchecked) or
# write files: enable_logging() switches a file logger on past the locked configuration.
DENIED_FUNCTIONS = frozenset(
    {
        "enable_logging",
        "disable_logging",
        "truncate_duckdb_logs",
        "write_log",
        "enable_profiling",
        "disable_profiling",
        "checkpoint",
        "force_checkpoint",
        "query",
        "query_table",
        "json_execute_serialized_sql",
    }
)
_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(?:ANALY[SZ]E\s+)?(?:\([^()]*\)\s*)?(?P<inner>.*)$", re.S | re.I)


def _function_names(node) -> Iterable[str]:
    if isinstance(node, dict):
        if isinstance(node.get("function_name"), str):
            yield node["function_name"]
        for value in node.values():
            yield from _function_names(value)
    elif isinstance(node, list):
        for value in node:
            yield from _function_names(value)


def _refused(what: str) -> ReadOnlyQueryError:
    return ReadOnlyQueryError(
        f"refused {what}: trace-platform query runs read-only statements only ({READ_ONLY_FORMS})"
    )


def _check_select(parser: duckdb.DuckDBPyConnection, text: str) -> None:
    try:
        statements = parser.extract_statements(text)
    except duckdb.Error:
        statements = []
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise _refused(
            "EXPLAIN of anything but one SELECT" if statements or text.strip() else "an empty EXPLAIN"
        )
    tree = json.loads(parser.execute("SELECT json_serialize_sql(?::VARCHAR)", [text]).fetchone()[0])
    if tree.get("error"):
        raise _refused(
            f"a statement that cannot be checked ({tree.get('error_message', 'not serializable')})"
        )
    denied = sorted({name.lower() for name in _function_names(tree)} & DENIED_FUNCTIONS)
    if denied:
        raise _refused(f"{denied[0]}() (it changes the session, runs SQL held in a string, or writes files)")


def read_only_statements(sql: str) -> list[str]:
    """The statements of `sql`, each checked to only read (ReadOnlyQueryError otherwise, before anything runs).

    DuckDB's own parser splits and classifies them (`extract_statements`): SELECT-type statements
    (which include DESCRIBE, SHOW, SUMMARIZE and the PRAGMAs that expand to a SELECT) and EXPLAIN of
    one, and no call of DENIED_FUNCTIONS anywhere in the parsed tree (`json_serialize_sql`).
    """
    parser = duckdb.connect(":memory:")
    try:
        try:
            statements = parser.extract_statements(sql)
        except duckdb.Error as exc:
            raise ReadOnlyQueryError(str(exc).splitlines()[0]) from None
        if not statements:
            raise ReadOnlyQueryError("empty query")
        texts = []
        for statement in statements:
            text = statement.query
            if statement.type == duckdb.StatementType.EXPLAIN:
                match = _EXPLAIN.match(text)
                _check_select(parser, match.group("inner") if match else "")
            elif statement.type == duckdb.StatementType.SELECT and text.strip():
                _check_select(parser, text)
            elif text.strip():
                raise _refused(
                    f"{text.split()[0].upper()} (it writes, changes settings or reaches outside the snapshot)"
                )
            else:  # a PIVOT without an IN list: DuckDB creates an ENUM type first
                raise _refused(f"{statement.type.name} (a PIVOT needs an explicit IN (…) list here)")
            texts.append(text)
        return texts
    finally:
        parser.close()
