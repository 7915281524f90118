"""SQL text built from names and paths: strictly quoted (identifiers, literals, dates, column types)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from trace_platform.snapshots.errors import SnapshotError

_SAFE_TYPE = re.compile(r"^[A-Za-z0-9_ ,()\[\]\"]+$")


def quote_identifier(name: str) -> str:
    if "\x00" in name:
        raise SnapshotError(f"NUL character in identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    if "\x00" in text or "\n" in text or "\r" in text:
        raise SnapshotError(f"refusing a control character in {text!r}")
    return "'" + text.replace("'", "''") + "'"


def date_literals(days: Iterable[dt.date]) -> str:
    return ", ".join(f"DATE '{d.isoformat()}'" for d in sorted(days) if isinstance(d, dt.date))


def check_type(type_name: str) -> str:
    if not _SAFE_TYPE.match(type_name) or "--" in type_name:
        raise SnapshotError(f"unexpected column type {type_name!r}")
    return type_name
