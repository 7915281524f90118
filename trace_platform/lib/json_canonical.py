"""Canonical text of a JSON value, so that two values compare equal exactly when they are equal
as JSON: object key order and whitespace are ignored, numbers compare by value (1 = 1.0), array
order matters, and true is not 1.

Used wherever the spec compares "as JSON values": duplicate vs conflicting re-deliveries at
ingestion, and approved vs executed arguments (R10) in dbt. The text is produced by a real JSON
serialiser, so no crafted string or key can make two different values collide.

Any nesting depth works. The spec sets no depth limit, and Python's json module recurses: past
about a thousand levels (fewer inside a DuckDB UDF, whose stack is already deep) it raises
RecursionError. One such event must neither stop a night (issue 17) nor be judged unequal to
itself, so values too deep for the fast C path are parsed and written again by the loops below,
which keep their own stack and give the same result as the fast path.
"""

from __future__ import annotations

import json
import math
import re
from json.decoder import scanstring

_MAX_EXACT_INT = 2**63
_WHITESPACE = re.compile(r"[ \t\n\r]*")
# json.scanner's number grammar; a fraction or an exponent makes a float, as in json.loads
_NUMBER = re.compile(r"(-?(?:0|[1-9]\d*))(\.\d+)?([eE][-+]?\d+)?")
# the non-standard constants json.loads accepts, so both paths accept the same texts
_LITERALS = (
    ("null", None),
    ("true", True),
    ("false", False),
    ("NaN", float("nan")),
    ("Infinity", float("inf")),
    ("-Infinity", float("-inf")),
)


def loads(text: str):
    """json.loads for any nesting depth; ValueError for text that is not JSON."""
    try:
        return json.loads(text)
    except RecursionError:
        return _loads_iterative(text)


def is_valid_json(text: str) -> bool:
    """Strict JSON (no trailing commas), at any depth."""
    try:
        loads(text)
    except ValueError:
        return False
    return True


def canonical_json(text: str | None) -> str | None:
    """Canonical form of a JSON text; None for None or text that is not JSON."""
    if text is None:
        return None
    try:
        value = loads(text)
    except ValueError:
        return None
    try:
        return json.dumps(_normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    except RecursionError:
        return _dumps_iterative(value)


def _normalise_scalar(value):
    # an integral float is the same JSON number as the integer
    if (
        isinstance(value, float)
        and math.isfinite(value)
        and value.is_integer()
        and abs(value) < _MAX_EXACT_INT
    ):
        return int(value)
    return value


def _normalise(value):
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return _normalise_scalar(value)


class _Text(str):
    """Output text on the serialiser's work stack (as opposed to a value still to write)."""


def _dumps_iterative(value) -> str:
    """The fast path's json.dumps(_normalise(value), sort_keys=True, ...) with an explicit stack."""
    out: list[str] = []
    work: list = [value]
    while work:
        item = work.pop()
        if isinstance(item, _Text):
            out.append(item)
        elif isinstance(item, dict):
            keys = sorted(item)
            work.append(_Text("}"))
            for position in range(len(keys) - 1, -1, -1):
                work.append(item[keys[position]])
                work.append(_Text(("," if position else "") + json.dumps(keys[position]) + ":"))
            out.append("{")
        elif isinstance(item, list):
            work.append(_Text("]"))
            for position in range(len(item) - 1, -1, -1):
                work.append(item[position])
                if position:
                    work.append(_Text(","))
            out.append("[")
        else:
            out.append(json.dumps(_normalise_scalar(item)))
    return "".join(out)


def _skip(text: str, index: int) -> int:
    return _WHITESPACE.match(text, index).end()


def _key(text: str, index: int) -> tuple[str, int]:
    """An object key and the index of its value."""
    if text[index : index + 1] != '"':
        raise ValueError(f"expecting a property name at {index}")
    key, index = scanstring(text, index + 1, True)
    index = _skip(text, index)
    if text[index : index + 1] != ":":
        raise ValueError(f"expecting ':' at {index}")
    return key, _skip(text, index + 1)


def _scalar(text: str, index: int):
    if text[index : index + 1] == '"':
        return scanstring(text, index + 1, True)
    number = _NUMBER.match(text, index)
    if number:
        integer, fraction, exponent = number.groups()
        if fraction or exponent:
            return float(integer + (fraction or "") + (exponent or "")), number.end()
        return int(integer), number.end()
    for literal, value in _LITERALS:
        if text.startswith(literal, index):
            return value, index + len(literal)
    raise ValueError(f"expecting a value at {index}")


def _loads_iterative(text: str):
    """json.loads with an explicit stack of open containers: [container, pending key]."""
    stack: list[list] = []
    index = _skip(text, 0)
    while True:
        opener = text[index : index + 1]
        if opener in ("{", "["):
            index = _skip(text, index + 1)
            closer = "}" if opener == "{" else "]"
            if text[index : index + 1] == closer:
                value, index = ({} if opener == "{" else []), index + 1
            elif opener == "{":
                key, index = _key(text, index)
                stack.append([{}, key])
                continue
            else:
                stack.append([[], None])
                continue
        else:
            value, index = _scalar(text, index)
        # A value is complete: hand it to the open containers, closing those that end here.
        while True:
            index = _skip(text, index)
            if not stack:
                if index != len(text):
                    raise ValueError(f"extra data at {index}")
                return value
            container, key = stack[-1]
            if isinstance(container, list):
                container.append(value)
            else:
                container[key] = value
            separator = text[index : index + 1]
            if separator == ",":
                index = _skip(text, index + 1)
                if isinstance(container, dict):
                    stack[-1][1], index = _key(text, index)
                break
            if separator == ("]" if isinstance(container, list) else "}"):
                stack.pop()
                value, index = container, index + 1
                continue
            raise ValueError(f"expecting ',' or a closing bracket at {index}")
