"""JSON values: the fast codec (orjson, or the standard library writing the same values) and the
transforms scenarios apply to a tool's arguments (keys reordered, edited, malformed)."""

from __future__ import annotations

import json

try:  # orjson is several times faster; the fallback writes the same JSON values
    import orjson

    def dumps(obj) -> bytes:
        return orjson.dumps(obj)

    def loads(line: bytes):
        return orjson.loads(line)
except ImportError:  # pragma: no cover - orjson ships with the project's environment

    def dumps(obj) -> bytes:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()

    def loads(line: bytes):
        return json.loads(line)


def reordered(value):
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {k: reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reordered(v) for v in value]
    return value


def mutated(args: dict) -> dict:
    """Arguments that differ from `args` as JSON values (what a user was shown before an edit)."""
    out = json.loads(json.dumps(args))

    def bump(obj) -> bool:
        for key, value in obj.items():
            if isinstance(value, bool):
                continue
            if isinstance(value, int):
                obj[key] = value * 10 if value else 1
                return True
            if isinstance(value, dict) and bump(value):
                return True
        for key, value in obj.items():
            if isinstance(value, str):
                obj[key] = value + " (edited)"
                return True
        return False

    if not bump(out):
        out["note"] = "edited"
    return out


def bad_args(args: dict) -> dict:
    """A malformed first attempt: one value has the wrong shape (the retry fixes it)."""
    out = json.loads(json.dumps(args))
    key = next(iter(out))
    value = out[key]
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        out[key] = None
    elif isinstance(value, int):
        out[key] = f"#{value}"
    else:
        out[key] = value.upper() + " "
    return out
