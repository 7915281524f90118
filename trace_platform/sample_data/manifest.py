"""The manifest at the landing root: what was written and what the warehouse must find.

Per file, the accounting R9 defines exactly as ingestion reports it in raw.ingest_files (lines_read,
blank_lines, events_loaded, duplicates_dropped, lines_quarantined and quarantined lines by reason),
per day and overall totals, loaded events per event type, scenario and injection counts, and the
expected breach keys per rule.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

from trace_platform.sample_data.constants import (
    AUDIT_RULES,
    EVENT_TYPES,
    GENERATOR_VERSION,
    RULE_RATES,
)

_FIGURES = ("lines_read", "blank_lines", "events_loaded", "duplicates_dropped", "lines_quarantined")


def build_manifest(
    results: list[dict],
    out: Path,
    day_names: list[str],
    seed: int,
    start: dt.date,
    days: int,
    traces_per_day: int,
    gzip_output: bool,
    dirty: bool,
) -> dict:
    files: dict[str, dict] = {}
    expected: dict[str, list[str]] = {rule: [] for rule in AUDIT_RULES}
    event_types: Counter = Counter()
    scenarios: Counter = Counter()
    injections: Counter = Counter()
    traces_by_day: Counter = Counter()
    sessions = late_events = 0
    for result in results:
        files.update(result["files"])
        for rule, keys in result["expected"].items():
            expected[rule] += keys
        event_types.update(result["event_types"])
        scenarios.update(result["scenarios"])
        injections.update(result["injections"])
        traces_by_day[result["day"]] += result["traces"]
        sessions += result["sessions"]
        late_events += result["late_events"]
    files = dict(sorted(files.items()))
    per_day: dict[str, dict] = {}
    for day in day_names:
        day_files = {name: f for name, f in files.items() if name.startswith(day + "/")}
        reasons: Counter = Counter()
        for f in day_files.values():
            reasons.update(f["quarantined_by_reason"])
        per_day[day] = {
            "traces": traces_by_day[day],
            "files": len(day_files),
            **{k: sum(f[k] for f in day_files.values()) for k in _FIGURES},
            "quarantined_by_reason": dict(sorted(reasons.items())),
        }
    all_reasons: Counter = Counter()
    for f in files.values():
        all_reasons.update(f["quarantined_by_reason"])
    events = sum(event_types.values())
    totals = {
        "traces": sum(traces_by_day.values()),
        "sessions": sessions,
        "events": events,
        "files": len(files),
        **{k: sum(f[k] for f in files.values()) for k in _FIGURES},
        "conflicts": all_reasons.get("conflict", 0),
        "late_events": late_events,
        "expected_breaches": sum(len(v) for v in expected.values()),
    }
    assert totals["events_loaded"] == events, (totals["events_loaded"], events)
    return {
        "format": "agent-trace-event-v1",
        "generator_version": GENERATOR_VERSION,
        "arguments": {
            "days": days,
            "traces_per_day": traces_per_day,
            "seed": seed,
            "start": start.isoformat(),
            "gzip": gzip_output,
            "dirty": dirty,
        },
        "days": per_day,
        "totals": totals,
        "quarantined_by_reason": dict(sorted(all_reasons.items())),
        "event_types": {t: event_types.get(t, 0) for t in EVENT_TYPES},
        "expected_breaches": {rule: sorted(keys) for rule, keys in expected.items()},
        "breach_keys": {
            "R1": "trace_id",
            "R2": "tool_call_id",
            "R3": "tool_call_id",
            "R4": "tool_call_id",
            "R5": "tool_call_id",
            "R6": "tool_call_id (of the side effect)",
            "R7": "trace_id",
            "R8": "event_id (of the model_call)",
            "R10": "tool_call_id",
        },
        "injections": dict(sorted(injections.items())),
        "rule_rates": RULE_RATES,
        "scenarios": dict(sorted(scenarios.items())),
        "late_policy": (
            "next-morning feedback and late-logged retries are delivered in the next day's "
            "<shard>.late file; on the last generated day, late feedback is not emitted and "
            "late-logged retries are delivered in that day's own shard file"
        ),
        "files": files,
    }
