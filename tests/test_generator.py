"""The sample-log generator (trace_platform/sample_data/), without the warehouse.

The generated files are re-read here by an independent, deliberately simple reading of the spec
(line validation, first-delivery-wins dedupe) and judged by the independent reference of the audit
rules (tests/reference_rules.py): the manifest's accounting and expected breach keys (the
generator's own ground truth, from what it injected) must agree with them exactly, and clean traces
must breach nothing. tests/test_generator_end_to_end.py checks the same manifest against the real
warehouse.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests import reference_rules
from trace_platform.sample_data import (
    AUDIT_RULES,
    EVENT_TYPES,
    MANIFEST_NAME,
    RULE_VARIANTS,
    api,
    catalog,
    generate,
    workers,
)

START = dt.date(2026, 11, 20)
FIGURES = ("lines_read", "blank_lines", "events_loaded", "duplicates_dropped", "lines_quarantined")


# --- an independent reading of the landing folder ----------------------------------------------------


def file_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def split_lines(data: bytes) -> list[bytes]:
    """Lines end at \\n; a final \\n does not start another line."""
    if not data:
        return []
    lines = data.split(b"\n")
    return lines[:-1] if data.endswith(b"\n") else lines


_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def parse_timestamp(text: str) -> dt.datetime | None:
    if not _TIMESTAMP.fullmatch(text):
        return None
    try:
        return dt.datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        return None


def classify(raw: bytes) -> tuple[str, str | None, dict | None]:
    """('blank' | 'valid' | 'quarantined', reason, event) for one line, per the spec's envelope."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "quarantined", "invalid_utf8", None
    if text.endswith("\r"):
        text = text[:-1]
    if text.strip(" \t\x0b\x0c\r") == "":
        return "blank", None, None
    try:
        obj = json.loads(text)
    except ValueError:
        return "quarantined", "invalid_json", None
    if not isinstance(obj, dict):
        return "quarantined", "not_an_object", None
    for name in (
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
    ):
        if name not in obj:
            return "quarantined", f"missing_field:{name}", None

    def is_str(name: str, nullable: bool = False) -> bool:
        value = obj.get(name)
        return isinstance(value, str) or (nullable and value is None)

    checks = [
        (is_str("schema_version"), "bad_type:schema_version"),
        (is_str("event_id"), "bad_type:event_id"),
        (is_str("event_id") and 1 <= len(obj["event_id"]) <= 128, "bad_value:event_id"),
        (is_str("event_type"), "bad_type:event_type"),
        (is_str("timestamp"), "bad_type:timestamp"),
        (is_str("trace_id"), "bad_type:trace_id"),
        (is_str("span_id"), "bad_type:span_id"),
        (is_str("parent_span_id", True), "bad_type:parent_span_id"),
        (type(obj["sequence"]) is int, "bad_type:sequence"),
        (type(obj["sequence"]) is int and obj["sequence"] >= 0, "bad_value:sequence"),
        (is_str("session_id", True), "bad_type:session_id"),
        (is_str("tenant_id"), "bad_type:tenant_id"),
        (is_str("user_id", True), "bad_type:user_id"),
        (isinstance(obj["agent"], dict), "bad_type:agent"),
    ]
    for ok, reason in checks:
        if not ok:
            return "quarantined", reason, None
    agent = obj["agent"]
    for name in ("name", "version"):
        if name not in agent:
            return "quarantined", f"missing_field:agent.{name}", None
        if not isinstance(agent[name], str):
            return "quarantined", f"bad_type:agent.{name}", None
    if not isinstance(obj["payload"], dict):
        return "quarantined", "bad_type:payload", None
    if not isinstance(obj.get("attributes", {}), dict | None):
        return "quarantined", "bad_type:attributes", None
    if obj["schema_version"] != "1":
        return "quarantined", "unsupported_schema_version", None
    if obj["event_type"] not in EVENT_TYPES:
        return "quarantined", "unknown_event_type", None
    if parse_timestamp(obj["timestamp"]) is None:
        return "quarantined", "bad_timestamp", None
    return "valid", None, obj


def read_landing(landing: Path) -> tuple[dict[str, dict], dict[str, dict], dict[str, str]]:
    """-> (accounting per file, winning event per event_id, delivery file per event_id)."""
    accounting: dict[str, dict] = {}
    winners: dict[str, dict] = {}
    delivered_in: dict[str, str] = {}
    for day in sorted(p for p in landing.iterdir() if p.is_dir()):
        for path in sorted(p for p in day.iterdir() if p.name.endswith((".jsonl", ".jsonl.gz"))):
            name = f"{day.name}/{path.name}"
            figures = dict.fromkeys(FIGURES, 0)
            reasons: Counter = Counter()
            for raw in split_lines(file_bytes(path)):
                figures["lines_read"] += 1
                kind, reason, event = classify(raw)
                if kind == "blank":
                    figures["blank_lines"] += 1
                elif kind == "quarantined":
                    reasons[reason] += 1
                elif event["event_id"] not in winners:
                    winners[event["event_id"]] = event
                    delivered_in[event["event_id"]] = name
                    figures["events_loaded"] += 1
                elif winners[event["event_id"]] == event:  # equal as JSON values
                    figures["duplicates_dropped"] += 1
                else:
                    reasons["conflict"] += 1
            figures["lines_quarantined"] = sum(reasons.values())
            figures["quarantined_by_reason"] = dict(sorted(reasons.items()))
            accounting[name] = figures
    return accounting, winners, delivered_in


# --- the audit rules: tests/reference_rules.py, the one Python reference -------------------------


def reference_breaches(events: list[dict]) -> dict[str, set[str]]:
    """The breaches tests/reference_rules.py finds in the winning events, keyed as the manifest's
    expected_breaches: trace_id (R1, R7), the model call's event_id (R8), tool_call_id (the others)."""
    found: dict[str, set[str]] = {rule: set() for rule in AUDIT_RULES}
    for rule, _tenant, trace_id, tool_call_id, event_id in reference_rules.reference_breaches(events):
        key = trace_id if rule in ("R1", "R7") else event_id if rule == "R8" else tool_call_id
        found[rule].add(key if key is not None else event_id)
    return found


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dirty(tmp_path_factory):
    """Three dirty days, enough traces that every injected variant occurs."""
    out = tmp_path_factory.mktemp("dirty")
    manifest = generate(out, days=3, traces_per_day=160, seed=7, start=START, dirty=True)
    accounting, winners, delivered_in = read_landing(out)
    return {
        "out": out,
        "manifest": manifest,
        "accounting": accounting,
        "events": winners,
        "delivered_in": delivered_in,
    }


@pytest.fixture(scope="module")
def dirty_gz(tmp_path_factory):
    out = tmp_path_factory.mktemp("dirty_gz")
    return out, generate(out, days=2, traces_per_day=60, seed=11, start=START, dirty=True, gzip_output=True)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- tests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("gzip_output", [False, True])
def test_same_arguments_give_byte_identical_output(tmp_path, gzip_output):
    kwargs = dict(days=2, traces_per_day=50, seed=5, start=START, dirty=True, gzip_output=gzip_output)
    first = generate(tmp_path / "one", **kwargs)
    second = generate(tmp_path / "two", **kwargs)
    assert first == second
    assert snapshot(tmp_path / "one") == snapshot(tmp_path / "two")
    # and a re-run into the same folder replaces its own files with the same bytes
    generate(tmp_path / "one", **kwargs)
    assert snapshot(tmp_path / "one") == snapshot(tmp_path / "two")
    other = generate(tmp_path / "three", **{**kwargs, "seed": 6})
    assert snapshot(tmp_path / "three") != snapshot(tmp_path / "one") and other != first


def test_parallel_generation_writes_the_same_bytes(tmp_path, monkeypatch):
    kwargs = dict(days=2, traces_per_day=40, seed=3, start=START, dirty=True)
    sequential = generate(tmp_path / "seq", **kwargs)
    monkeypatch.setattr(api, "PARALLEL_MIN_TRACES", 0)
    parallel = generate(tmp_path / "par", **kwargs, progress=True)
    assert parallel == sequential
    assert snapshot(tmp_path / "par") == snapshot(tmp_path / "seq")


def test_layout_and_manifest_at_the_landing_root(dirty):
    out, manifest = dirty["out"], dirty["manifest"]
    assert json.loads((out / MANIFEST_NAME).read_text()) == manifest
    days = [(START + dt.timedelta(days=i)).isoformat() for i in range(3)]
    assert sorted(p.name for p in out.iterdir()) == sorted([*days, MANIFEST_NAME])
    on_disk = sorted(str(p.relative_to(out)) for p in out.rglob("*.jsonl*"))
    assert on_disk == sorted(manifest["files"])
    assert all(len(list((out / d).glob("collector-?.jsonl"))) == 4 for d in days)
    # late files only from the second day on; nothing after the last day
    assert not list((out / days[0]).glob("*.late.*")) and len(list((out / days[1]).glob("*.late.*"))) == 4
    totals = manifest["totals"]
    assert all(isinstance(v, int) for v in totals.values())
    assert totals["traces"] == 3 * 160 and totals["files"] == len(manifest["files"])
    assert totals["events"] == totals["events_loaded"] == sum(manifest["event_types"].values())
    for figure in FIGURES:
        assert totals[figure] == sum(d[figure] for d in manifest["days"].values())
        for day, figures in manifest["days"].items():
            assert figures[figure] == sum(
                f[figure] for n, f in manifest["files"].items() if n.startswith(day)
            )


def test_manifest_accounting_matches_an_independent_reading_file_by_file(dirty):
    expected = {
        name: {k: f[k] for k in (*FIGURES, "quarantined_by_reason")}
        for name, f in dirty["manifest"]["files"].items()
    }
    assert dirty["accounting"] == expected
    for f in expected.values():  # R9
        assert (
            f["lines_read"]
            == f["blank_lines"] + f["events_loaded"] + f["duplicates_dropped"] + f["lines_quarantined"]
        )


def test_lines_read_is_the_line_count_of_each_file(dirty, dirty_gz):
    for out, manifest in ((dirty["out"], dirty["manifest"]), dirty_gz):
        for name, figures in manifest["files"].items():
            data = file_bytes(out / name)
            count = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
            assert figures["lines_read"] == count, name


def test_gzip_files_are_gzip_with_a_fixed_mtime(dirty_gz):
    out, manifest = dirty_gz
    names = list(manifest["files"])
    assert names and all(n.endswith(".jsonl.gz") for n in names)
    for name in names:
        raw = (out / name).read_bytes()
        assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\x00\x00\x00\x00"  # magic, mtime 0
        assert manifest["files"][name]["file_bytes"] == len(raw)
    accounting, _, _ = read_landing(out)
    assert accounting == {
        n: {k: f[k] for k in (*FIGURES, "quarantined_by_reason")} for n, f in manifest["files"].items()
    }


def test_every_event_type_occurs_and_counts_match(dirty):
    counted = Counter(e["event_type"] for e in dirty["events"].values())
    assert dict(counted) == {t: n for t, n in dirty["manifest"]["event_types"].items() if n}
    assert set(counted) == set(EVENT_TYPES)


def test_expected_breaches_match_the_rules_as_specified(dirty):
    manifest = dirty["manifest"]
    found = reference_breaches(list(dirty["events"].values()))
    assert {rule: sorted(keys) for rule, keys in found.items()} == manifest["expected_breaches"]
    # every injected variant occurs, and each rule's share of traces stays small
    variants = {f"{rule}/{v}" for rule, vs in RULE_VARIANTS.items() for v in vs}
    assert set(manifest["injections"]) == variants
    traces = manifest["totals"]["traces"]
    for rule, keys in manifest["expected_breaches"].items():
        assert 0 < len(keys) <= 0.03 * traces, rule


def test_clean_traces_are_well_formed(dirty):
    events = dirty["events"]
    breached_traces = set(dirty["manifest"]["expected_breaches"]["R1"]) | set(
        dirty["manifest"]["expected_breaches"]["R7"]
    )
    by_trace: dict[str, list[dict]] = defaultdict(list)
    for e in events.values():
        by_trace[e["trace_id"]].append(e)
    offsets = Counter()
    for trace_id, trace in by_trace.items():
        trace.sort(key=lambda e: e["sequence"])
        stamps = [parse_timestamp(e["timestamp"]) for e in trace]
        assert all(
            s is not None and re.search(r"\.\d{6}", e["timestamp"])
            for s, e in zip(stamps, trace, strict=False)
        )
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), trace_id
        offsets.update(e["timestamp"][26:] for e in trace)
        root = [e for e in trace if e["parent_span_id"] is None]
        assert {e["event_type"] for e in root} <= {"user_request", "final_result", "feedback"}
        if trace_id in breached_traces:
            continue
        assert [e["sequence"] for e in trace] == list(range(len(trace))), trace_id
        assert trace[0]["event_type"] == "user_request"
        assert len({e["span_id"] for e in root}) == 1
        spans = {e["span_id"] for e in trace}
        assert all(e["parent_span_id"] in spans for e in trace if e["parent_span_id"] is not None)
        # the trace's events (not next-morning feedback) lie inside one UTC day
        days = {
            s.astimezone(dt.UTC).date()
            for s, e in zip(stamps, trace, strict=False)
            if e["event_type"] != "feedback"
        }
        assert len(days) == 1, trace_id
    assert offsets["Z"] > 0.8 * sum(offsets.values()) and len(offsets) > 1  # mostly Z, some +hh:mm


def test_catalogue_variety(dirty):
    events = list(dirty["events"].values())
    payloads = defaultdict(list)
    for e in events:
        payloads[e["event_type"]].append(e["payload"])
    assert len({e["tenant_id"] for e in events}) >= 4
    assert len({(e["agent"]["name"], e["agent"]["version"]) for e in events}) >= 5
    assert {"support-bot", "ops-agent", "sales-assistant"} <= {e["agent"]["name"] for e in events}
    sessions = Counter(
        e["session_id"] for e in events if e["event_type"] == "user_request" and e["session_id"]
    )
    assert max(sessions.values()) >= 3
    assert any(e["user_id"] is None for e in events)  # alert-triggered runs
    models = {(p["provider"], p["model"], p.get("model_version")) for p in payloads["model_call"]}
    assert len({m[0] for m in models}) >= 3 and len(models) >= 6
    assert {p["purpose"] for p in payloads["model_call"]} == {
        "planning",
        "tool_selection",
        "response",
        "other",
    }
    assert {"stop", "tool_calls", "error"} <= {p["finish_reason"] for p in payloads["model_call"]}
    calls = payloads["tool_call"]
    assert {"read_only", "state_changing"} == {p["access"] for p in calls}
    assert {"execute", "suggest"} == {p["mode"] for p in calls}
    assert all(p.get("tool_version") for p in calls if p["tool_name"] in catalog.TOOLS)
    assert {1, 2, 3} <= {p["attempt"] for p in calls}
    assert all((p["attempt"] > 1) == (p["retry_of"] is not None) for p in calls)
    assert {"ok", "error", "timeout", "denied", "cancelled"} == {p["status"] for p in payloads["tool_result"]}
    errors = {p["error"]["type"] for p in payloads["tool_result"] if "error" in p}
    assert {"timeout", "not_applicable", "unknown_tool", "policy_denied"} <= errors
    assert errors & set(catalog.BAD_PARAMETER_ERRORS)
    assert {"allow", "deny", "require_confirmation"} == {p["decision"] for p in payloads["policy_check"]}
    assert {"approved", "rejected", "expired"} == {p["decision"] for p in payloads["confirmation_response"]}
    shown = [p for p in payloads["confirmation_request"] if "arguments" in p]
    assert shown and len(shown) < len(payloads["confirmation_request"])
    assert {True, False} == {p["reversible"] for p in payloads["side_effect"]}
    assert all("rollback_ref" in p for p in payloads["side_effect"] if p["reversible"])
    assert {"create", "update", "delete", "send", "execute"} == {
        p["operation"] for p in payloads["side_effect"]
    }
    assert {"ok", "error"} == {p["status"] for p in payloads["rollback"]}
    assert {True, False} == {p["recoverable"] for p in payloads["error"]}
    assert {"success", "partial", "failure", "abandoned"} == {p["status"] for p in payloads["final_result"]}
    assert {-1, 0, 1} == {p["rating"] for p in payloads["feedback"]}
    assert all(p["text"] and p["intent"] for p in payloads["user_request"])


def test_r10_negatives_key_order_only_differences(dirty):
    """Approved confirmations showing the executed arguments in another key order are no breach."""
    events = dirty["events"].values()
    call_args = {
        e["payload"]["tool_call_id"]: e["payload"]["arguments"]
        for e in events
        if e["event_type"] == "tool_call"
    }
    reordered = [
        e
        for e in events
        if e["event_type"] == "confirmation_request"
        and "arguments" in e["payload"]
        and e["payload"]["arguments"] == call_args[e["payload"]["tool_call_id"]]
        and json.dumps(e["payload"]["arguments"]) != json.dumps(call_args[e["payload"]["tool_call_id"]])
    ]
    assert reordered
    r10 = set(dirty["manifest"]["expected_breaches"]["R10"])
    assert not r10 & {e["payload"]["tool_call_id"] for e in reordered}


def test_late_events_land_in_the_next_days_folder(dirty):
    events, delivered_in = dirty["events"], dirty["delivered_in"]
    first_day_of: dict[str, str] = {}
    for event_id, e in events.items():
        if e["event_type"] == "user_request":
            first_day_of[e["trace_id"]] = delivered_in[event_id][:10]
    late = [(e, delivered_in[i]) for i, e in events.items() if ".late." in delivered_in[i]]
    assert late
    for e, name in late:
        # delivered the day after the trace's own day
        assert (
            name[:10]
            == (dt.date.fromisoformat(first_day_of[e["trace_id"]]) + dt.timedelta(days=1)).isoformat()
        )
    feedback = [(e, n) for e, n in late if e["event_type"] == "feedback"]
    assert feedback and all(
        e["timestamp"][:10] == n[:10]
        or parse_timestamp(e["timestamp"]).astimezone(dt.UTC).date().isoformat() == n[:10]
        for e, n in feedback
    )
    # retries logged late: an attempt 2 arriving the next day, its first attempt the day before
    retries = [e for e, _ in late if e["event_type"] == "tool_call" and e["payload"]["attempt"] == 2]
    assert retries
    # same-day feedback exists too; none was delivered for the last day's traces a day later
    assert any(e["event_type"] == "feedback" and ".late." not in delivered_in[i] for i, e in events.items())
    last_day = (START + dt.timedelta(days=2)).isoformat()
    assert all(first_day_of[e["trace_id"]] != last_day for e, _ in late)


def test_dirty_mode_produces_every_kind_of_defect(dirty):
    out, manifest = dirty["out"], dirty["manifest"]
    reasons = set(manifest["quarantined_by_reason"])
    assert {
        "invalid_json",
        "not_an_object",
        "unknown_event_type",
        "bad_timestamp",
        "unsupported_schema_version",
        "invalid_utf8",
        "conflict",
    } <= reasons
    assert any(r.startswith("missing_field:") for r in reasons)
    assert any(r.startswith("bad_type:") for r in reasons) and any(
        r.startswith("bad_value:") for r in reasons
    )
    raw_lines = {name: split_lines(file_bytes(out / name)) for name in manifest["files"]}
    every = [line for lines in raw_lines.values() for line in lines]
    assert b"" in every and any(line.strip() == b"" and line for line in every)  # empty, white space
    assert b"\r" in every or any(line.strip() == b"" and line.endswith(b"\r") for line in every)
    assert sum(line.endswith(b"\r") for line in every) >= 10  # CRLF endings
    assert any(not (out / n).read_bytes().endswith(b"\n") for n in manifest["files"])  # no final newline
    assert any(line.startswith(b"[") for line in every)  # JSON array
    assert {b"42", b'"event"', b"null", b"true"} & set(every)  # scalar
    main = {n: f for n, f in manifest["files"].items() if ".late." not in n}
    late = {n: f for n, f in manifest["files"].items() if ".late." in n}
    # duplicates and conflicts both within a day and re-delivered a day later
    assert sum(f["duplicates_dropped"] for f in main.values()) > 0
    assert sum(f["duplicates_dropped"] for f in late.values()) > 0
    assert sum(f["quarantined_by_reason"].get("conflict", 0) for f in main.values()) > 0
    assert sum(f["quarantined_by_reason"].get("conflict", 0) for f in late.values()) > 0
    # some duplicates differ in bytes (key order, whitespace, escaping) but not as JSON values
    winners = dirty["events"]
    variants = 0
    for line in every:
        kind, _, event = classify(line)
        if kind == "valid" and event == winners[event["event_id"]]:
            canonical = json.dumps(winners[event["event_id"]], separators=(",", ":"), ensure_ascii=False)
            variants += line.rstrip(b"\r").decode() != canonical
    assert variants > 0


def test_clean_mode_has_no_dirt(tmp_path):
    manifest = generate(tmp_path, days=2, traces_per_day=30, seed=1, start=START)
    totals = manifest["totals"]
    assert totals["blank_lines"] == totals["duplicates_dropped"] == totals["lines_quarantined"] == 0
    assert totals["lines_read"] == totals["events_loaded"] == totals["events"]
    for name in manifest["files"]:
        data = (tmp_path / name).read_bytes()
        assert b"\r" not in data and data.endswith(b"\n")


def test_last_day_delivers_nothing_later_and_keeps_traces_complete(tmp_path):
    manifest = generate(tmp_path, days=1, traces_per_day=400, seed=2, start=START)
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [START.isoformat()]
    _, events, _ = read_landing(tmp_path)
    found = reference_breaches(list(events.values()))
    assert {rule: sorted(keys) for rule, keys in found.items()} == manifest["expected_breaches"]
    assert manifest["scenarios"].get("late_retry", 0) > 0  # delivered the same day instead


def test_default_start_is_days_before_today(tmp_path):
    generate(tmp_path, days=2, traces_per_day=4)
    today = dt.datetime.now(dt.UTC).date()
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [
        (today - dt.timedelta(days=2)).isoformat(),
        (today - dt.timedelta(days=1)).isoformat(),
    ]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"days": 0}, "days"),
        ({"days": -3}, "days"),
        ({"days": "2"}, "days"),
        ({"traces_per_day": 0}, "traces_per_day"),
        ({"traces_per_day": 1.5}, "traces_per_day"),
        ({"seed": "abc"}, "seed"),
        ({"start": "20-11-2026"}, "start"),
        ({"start": 20261120}, "start"),
    ],
)
def test_bad_arguments_raise_value_error(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate(tmp_path, **{"days": 1, "traces_per_day": 5, "start": START, **kwargs})


def test_refuses_a_file_as_out_dir_and_foreign_trace_files(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        generate(target, days=1, traces_per_day=5, start=START)
    (tmp_path / "landing" / START.isoformat()).mkdir(parents=True)
    (tmp_path / "landing" / START.isoformat() / "other.jsonl").write_text("{}\n")
    with pytest.raises(ValueError, match="other.jsonl"):
        generate(tmp_path / "landing", days=1, traces_per_day=5, start=START)
    (tmp_path / "blocked").mkdir()
    (tmp_path / "blocked" / START.isoformat()).write_text("not a folder")
    with pytest.raises(ValueError, match="not a folder"):
        generate(tmp_path / "blocked", days=1, traces_per_day=5, start=START)


def test_a_failing_worker_is_reported(tmp_path):
    spec = {
        "out_dir": str(tmp_path),
        "day": "not-a-day",
        "day_index": 0,
        "last_day": True,
        "shard": "collector-a",
        "seed": 1,
        "first_trace": 0,
        "end_trace": 1,
        "injections": {},
        "gzip": False,
        "dirty": False,
    }
    with pytest.raises(RuntimeError, match="not-a-day/collector-a failed.*Invalid isoformat"):
        workers.run_in_workers([spec], 1, None)


def test_progress_bar(tmp_path, capsys):
    generate(tmp_path, days=2, traces_per_day=20, start=START, progress=True)
    assert "generating traces" in capsys.readouterr().err


def test_cli_prints_the_totals(tmp_path):
    from trace_platform.cli import cli

    result = CliRunner().invoke(
        cli,
        [
            "generate",
            "--out",
            str(tmp_path),
            "--days",
            "2",
            "--traces-per-day",
            "20",
            "--start",
            START.isoformat(),
            "--dirty",
            "--gzip",
            "--seed",
            "9",
        ],
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert f"events_loaded {manifest['totals']['events_loaded']:,}" in result.output
    assert all(name.endswith(".gz") for name in manifest["files"])


@pytest.mark.slow
def test_clean_events_follow_the_json_schema_if_present(dirty):
    schema_path = Path(catalog.__file__).parents[1] / "schemas" / "agent-trace-event-v1.schema.json"
    if not schema_path.exists():
        pytest.skip("no JSON schema in this checkout")
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    schema = json.loads(schema_path.read_text())
    validator = Draft202012Validator(
        {"$ref": schema["$id"] + "#/$defs/strict_event"},
        registry=Registry().with_resource(schema["$id"], Resource.from_contents(schema)),
    )
    breached = {k for keys in dirty["manifest"]["expected_breaches"].values() for k in keys}
    for event in dirty["events"].values():
        if event["event_id"] in breached or event["trace_id"] in breached:
            continue
        errors = [e.message for e in validator.iter_errors(event)]
        assert not errors, (event, errors)
