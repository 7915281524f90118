"""Dirty deliveries, and assembling a landing file's lines with its expected R9 accounting.

Dirty mode adds lines that are not trace events (so traces stay intact and breach keys exact):
malformed lines of every quarantine reason the format defines that a generator can provoke (invalid
JSON, truncated lines, trailing commas, arrays and scalars, missing fields, wrong types, bad values,
unknown event types, bad timestamps, schema_version "2", invalid UTF-8 (in late files only, which
keeps the repair path off the large files)), blank lines (empty, white space, bare CRLF), CRLF
endings, a missing final newline, duplicate deliveries (identical, keys reordered, other whitespace
or escaping: all JSON-equal) in the same file and re-delivered in the next day's late file, and
conflicting re-deliveries (same event_id, other content) always after the original in delivery
order, so the original wins and is what the trace keeps.
"""

from __future__ import annotations

import json
import random
from collections import Counter

from trace_platform.sample_data.json_values import dumps, loads, reordered

_REQUIRED = (
    "schema_version",
    "event_id",
    "event_type",
    "timestamp",
    "trace_id",
    "span_id",
    "sequence",
    "tenant_id",
    "agent",
    "payload",
)
# (field, bad value, reason): single departures from a valid event
_BAD_TYPES = (
    ("sequence", "7", "bad_type:sequence"),
    ("tenant_id", 1042, "bad_type:tenant_id"),
    ("payload", "refund order 42", "bad_type:payload"),
    ("agent", "support-bot/3.2.0", "bad_type:agent"),
    ("timestamp", 1763600000, "bad_type:timestamp"),
    ("event_id", None, "bad_type:event_id"),
    ("sequence", 3.0, "bad_type:sequence"),
    ("attributes", ["debug"], "bad_type:attributes"),
    ("user_id", 42, "bad_type:user_id"),
    ("parent_span_id", 7, "bad_type:parent_span_id"),
    ("schema_version", 1, "bad_type:schema_version"),
    ("trace_id", None, "bad_type:trace_id"),
)
_BAD_VALUES = (
    ("event_id", "", "bad_value:event_id"),
    ("sequence", -1, "bad_value:sequence"),
    ("event_id", "e" * 129, "bad_value:event_id"),
)
_BAD_TIMESTAMPS = ("{d}T{t}", "{d} {t}Z", "{y}-02-30T{t}Z", "yesterday")
_NOT_JSON = (
    b"2026/11/20 03:14:07 collector: flush of buffer 7 failed, retrying",
    b"{'event_id': 'python-repr', 'event_type': 'plan'}",
    b"<html><body>502 Bad Gateway</body></html>",
)
_SCALARS = (b"42", b'"event"', b"null", b"true", b"-0.5")


def _junk_line(kind: str, original: bytes, variant: int) -> tuple[bytes, str]:
    """A line that is not a valid event, mostly built from a real event's line (it keeps its
    event_id). `variant` rotates through each kind's sub-cases."""
    obj = loads(original)
    if kind == "not_json":
        return _NOT_JSON[variant % len(_NOT_JSON)], "invalid_json"
    if kind == "truncated":
        text = original.decode()
        cut = 12 + (variant * 7919) % (len(text) - 14)
        return text[:cut].encode(), "invalid_json"
    if kind == "trailing_comma":
        return original[:-1] + b",}", "invalid_json"
    if kind == "array":
        return b"[" + original + b"]", "not_an_object"
    if kind == "scalar":
        return _SCALARS[variant % len(_SCALARS)], "not_an_object"
    if kind == "missing_field":
        field = _REQUIRED[variant % len(_REQUIRED)]
        del obj[field]
        return dumps(obj), f"missing_field:{field}"
    if kind == "missing_agent_name":
        obj["agent"] = {"version": obj["agent"]["version"]}
        return dumps(obj), "missing_field:agent.name"
    if kind in ("bad_type", "bad_value"):
        cases = _BAD_TYPES if kind == "bad_type" else _BAD_VALUES
        field, value, reason = cases[variant % len(cases)]
        obj[field] = value
        return dumps(obj), reason
    if kind == "unknown_event_type":
        obj["event_type"] = ("heartbeat", "tool_invocation", "UserRequest")[variant % 3]
        return dumps(obj), "unknown_event_type"
    if kind == "bad_timestamp":
        stamp = obj["timestamp"]
        obj["timestamp"] = _BAD_TIMESTAMPS[variant % len(_BAD_TIMESTAMPS)].format(
            d=stamp[:10], t=stamp[11:26], y=stamp[:4]
        )
        return dumps(obj), "bad_timestamp"
    if kind == "schema_v2":
        obj["schema_version"] = "2"
        return dumps(obj), "unsupported_schema_version"
    if kind == "invalid_utf8":
        at = original.index(b'"payload":') + 11
        return original[:at] + b"\xff\xfe" + original[at:], "invalid_utf8"
    raise AssertionError(kind)  # pragma: no cover


JUNK_KINDS = (
    "not_json",
    "truncated",
    "trailing_comma",
    "array",
    "scalar",
    "missing_field",
    "missing_agent_name",
    "bad_type",
    "bad_value",
    "unknown_event_type",
    "bad_timestamp",
    "schema_v2",
)


def duplicate(original: bytes, variant: int) -> bytes:
    """The same event as a JSON value: byte-identical, keys reordered, or other whitespace/escaping."""
    if variant == 0:
        return original
    obj = loads(original)
    if variant == 1:
        return json.dumps(reordered(obj), separators=(",", ":"), ensure_ascii=False).encode()
    return json.dumps(obj, ensure_ascii=True).encode()  # ", " / ": " separators, \u escapes


def conflicting(original: bytes, variant: int) -> bytes:
    """The same event_id with different content."""
    obj = loads(original)
    payload = obj["payload"]
    if variant == 0 and "latency_ms" in payload:
        payload["latency_ms"] = payload["latency_ms"] + 1 + (payload["latency_ms"] % 97)
    elif variant == 1:
        obj["attributes"] = {**(obj.get("attributes") or {}), "redelivered_by": "collector-replay"}
    else:
        payload["note"] = "re-sent with a corrected payload"
    return dumps(obj)


class FileBuilder:
    """Lines of one landing file plus their expected R9 accounting."""

    def __init__(self):
        self.lines: list[bytes] = []
        self.reasons: Counter = Counter()
        self.blank = 0
        self.loaded = 0
        self.duplicates = 0
        self.crlf = 0
        self.trailing_newline = True


def assemble(
    originals: list[bytes],
    rng: random.Random,
    dirty: bool,
    *,
    same_file_copies: bool,
    incoming: list[tuple[bytes, str]],
    junk_kinds: tuple[str, ...],
    scale: int,
    rotation: int,
) -> FileBuilder:
    """Interleaves original event lines with dirty extras, keeping every copy after its original.

    `incoming`: copies of events delivered earlier (another day): (line, 'duplicate'|'conflict').
    `rotation`: where this file starts in each junk kind's rotation of sub-cases.
    """
    fb = FileBuilder()
    n = len(originals)
    fb.loaded = n
    if not dirty:
        fb.lines = originals
        return fb
    after: dict[int, list[tuple[bytes, str]]] = {}  # original index (-1: file start) -> extras

    def put(position: int, line: bytes, kind: str) -> None:
        after.setdefault(position, []).append((line, kind))

    def anywhere() -> int:
        return int(rng.random() * (n + 1)) - 1

    if n:
        used: Counter = Counter()
        for k in range(max(len(junk_kinds), round(scale * 0.0005))):
            kind = junk_kinds[k] if k < len(junk_kinds) else junk_kinds[int(rng.random() * len(junk_kinds))]
            line, reason = _junk_line(kind, originals[int(rng.random() * n)], rotation + used[kind])
            used[kind] += 1
            put(anywhere(), line, reason)
        if same_file_copies:
            n_dup = max(3, round(scale * 0.002))
            n_conf = max(1, round(scale * 0.0003))
            sources = rng.sample(range(n), min(n, n_dup + n_conf))
            for k, i in enumerate(sources):
                position = i + int(rng.random() * (n - i))
                if k < n_dup:
                    put(position, duplicate(originals[i], k % 3), "duplicate")
                else:
                    put(position, conflicting(originals[i], k % 3), "conflict")
    for line, kind in incoming:
        put(anywhere(), line, kind)
    blanks = (b"", b"   ", b"\t", b" \t ")
    for k in range(max(len(blanks), round(scale * 0.001))):
        put(anywhere(), blanks[k % len(blanks)], "blank")

    lines: list[bytes] = []
    kinds: list[str] = []
    extend_lines, extend_kinds = lines.append, kinds.append
    for line, kind in after.get(-1, ()):
        extend_lines(line)
        extend_kinds(kind)
    for i, original in enumerate(originals):
        extend_lines(original)
        extend_kinds("event")
        extra = after.get(i)
        if extra:
            for line, kind in extra:
                extend_lines(line)
                extend_kinds(kind)
    for kind in kinds:
        if kind == "blank":
            fb.blank += 1
        elif kind == "duplicate":
            fb.duplicates += 1
        elif kind == "conflict":
            fb.reasons["conflict"] += 1
        elif kind != "event":
            fb.reasons[kind] += 1
    # no final newline sometimes (an empty last line needs its newline to exist at all); CRLF
    # endings on some lines, never on an unterminated last line (there the \r would be content)
    fb.trailing_newline = rng.random() >= 0.3 or not lines or lines[-1] == b""
    candidates = len(lines) if fb.trailing_newline else len(lines) - 1
    for position in rng.sample(range(candidates), min(candidates, max(3, round(len(lines) * 0.004)))):
        lines[position] = lines[position] + b"\r"
        fb.crlf += 1
    fb.lines = lines
    return fb
