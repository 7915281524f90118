"""Builders for OTLP/JSON landing files (docs/otlp.md), shared by the OTLP tests.

The realistic captures live in tests/fixtures/otlp/ (hand-written after the OTLP/JSON spec and the
semantic conventions); these helpers build the small, targeted variants.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "otlp"
DAY = "2026-11-20"
T0 = 1795161600_000_000_000  # 2026-11-20T08:00:00Z in Unix nanoseconds


def ns(seconds: float) -> int:
    return T0 + int(round(seconds * 1e9))


def s(value: str) -> dict:
    return {"stringValue": value}


def i(value: int, as_string: bool = True) -> dict:
    return {"intValue": str(value) if as_string else value}


def b(value: bool) -> dict:
    return {"boolValue": value}


def attrs(**values) -> list[dict]:
    """attrs(gen_ai__tool__name=s("x")) -> [{"key": "gen_ai.tool.name", "value": {...}}] (`__` is a dot)."""
    return [{"key": k.replace("__", "."), "value": v} for k, v in values.items()]


def span(
    trace_id: str,
    span_id: str,
    name: str,
    start: float,
    end: float,
    parent: str | None = None,
    attributes: list[dict] | None = None,
    status: dict | None = None,
    events: list[dict] | None = None,
    kind: int | str = 1,
) -> dict:
    out = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(ns(start)),
        "endTimeUnixNano": str(ns(end)),
        "attributes": attributes or [],
    }
    if parent:
        out["parentSpanId"] = parent
    if status is not None:
        out["status"] = status
    if events is not None:
        out["events"] = events
    return out


def traces_request(*spans: dict, resource: list[dict] | None = None, scope: str = "tests") -> dict:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": resource
                    if resource is not None
                    else attrs(service__name=s("test-agent"), trace_platform__tenant__id=s("acme"))
                },
                "scopeSpans": [{"scope": {"name": scope}, "spans": list(spans)}],
            }
        ]
    }


def write_otlp(landing: Path, day: str, name: str, lines: list[dict | str], *, gz: bool = False) -> Path:
    folder = landing / "otlp" / day
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join((x if isinstance(x, str) else json.dumps(x, separators=(",", ":"))) + "\n" for x in lines)
    path = folder / name
    if gz:
        path.write_bytes(gzip.compress(text.encode(), mtime=0))
    else:
        path.write_text(text)
    return path


def copy_fixture(landing: Path, day: str, name: str, as_name: str | None = None) -> Path:
    folder = landing / "otlp" / day
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (as_name or Path(name).name)
    shutil.copy(FIXTURES / name, target)
    return target
