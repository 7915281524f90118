"""Canonical text of a JSON value, so that two values compare equal exactly when they are equal
as JSON: object key order and whitespace are ignored, numbers compare by value (1 = 1.0), array
order matters, and true is not 1.

Used wherever the spec compares "as JSON values": duplicate vs conflicting re-deliveries at
ingestion, and approved vs executed arguments (R10) in dbt. The text is produced by a real JSON
serialiser, so no crafted string or key can make two different values collide.
"""

from __future__ import annotations

import json
import math

_MAX_EXACT_INT = 2**63


def _normalise(value):
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        # an integral float is the same JSON number as the integer
        if math.isfinite(value) and value.is_integer() and abs(value) < _MAX_EXACT_INT:
            return int(value)
        return value
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def canonical_json(text: str | None) -> str | None:
    """Canonical form of a JSON text; None for None or text that is not JSON."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return json.dumps(_normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
