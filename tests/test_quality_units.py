"""Unit tests of the quality helpers: thresholds, notifiers, schema checks, GX suites, check_results."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import logging
import threading
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from trace_platform.defs.quality.thresholds import ThresholdsError, freshness_policy, load_thresholds
from trace_platform.lib.notify import (
    CompositeNotifier,
    FileNotifier,
    LogNotifier,
    Notification,
    NotifyError,
    WebhookNotifier,
    notifier_from_env,
)

RAW_DDL = (
    Path(__file__).resolve().parents[1]
    / "trace_platform"
    / "defs"
    / "ingest"
    / "sql"
    / "create_raw_tables.sql"
).read_text()


# --- thresholds ---------------------------------------------------------------------------------


def test_default_thresholds_are_complete_and_documented():
    t = load_thresholds()
    assert set(t.rule_max_rate) == {"R1", "R2", "R3", "R4", "R5", "R6", "R7", "R7T", "R8", "R10"}
    assert t.trailing_days == 7 and t.example_keys == 10
    assert t.freshness_deadline_utc == "06:00" and t.freshness_deadline_cron == "0 6 * * *"
    docs = (Path(__file__).resolve().parents[1] / "docs" / "quality.md").read_text()
    for key in (
        "rules.<R>.max_rate",
        "ingest.quarantine_max_rate",
        "schema.drift_max_rate",
        "volume.band",
        "volume.min_history_days",
        "gx.late_max_share",
        "gx.future_skew_minutes",
        "gx.final_result_min_share",
        "gx.model_version_min_share",
        "freshness.deadline_utc",
        "freshness.window_hours",
        "TRACE_PLATFORM_QUALITY_THRESHOLDS",
        "TRACE_PLATFORM_ALERT_WEBHOOK_URL",
    ):
        assert key in docs, key


def test_an_override_file_replaces_only_what_it_names(tmp_path, monkeypatch):
    override = tmp_path / "t.yaml"
    override.write_text(
        "rules:\n  R4: {max_rate: 0.2}\nvolume: {band: 0.25}\nfreshness: {deadline_utc: '7:30'}\n"
    )
    monkeypatch.setenv("TRACE_PLATFORM_QUALITY_THRESHOLDS", str(override))
    t = load_thresholds()
    assert t.rule_max_rate["R4"] == 0.2 and t.rule_max_rate["R1"] == 0.02
    assert t.volume_band == 0.25 and t.volume_min_history_days == 3
    assert t.freshness_deadline_cron == "30 7 * * *" and t.source == str(override)


@pytest.mark.parametrize(
    "text, message",
    [
        ("rules:\n  R9: {max_rate: 0.1}\n", "unknown key 'rules.R9'"),
        ("rules:\n  R4: {max_rate: 2}\n", "rules.R4.max_rate must be a number between 0 and 1"),
        ("colume: {band: 1}\n", "unknown key 'colume'"),
        ("volume: {band: 0}\n", "volume.band must be a positive number"),
        ("freshness: {deadline_utc: '25:00'}\n", "freshness.deadline_utc must be HH:MM"),
        ("gx: {late_max_share: yes}\n", "gx.late_max_share must be a number between 0 and 1"),
    ],
)
def test_malformed_thresholds_are_rejected_with_the_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ThresholdsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_thresholds(path)


def test_freshness_policy_is_the_new_cron_policy():
    policy = freshness_policy()
    assert isinstance(policy, dg.FreshnessPolicy)
    assert policy.deadline_cron == "0 6 * * *" and policy.timezone == "UTC"
    assert policy.lower_bound_delta == dt.timedelta(hours=6)


# --- notifiers ----------------------------------------------------------------------------------

NOTE = Notification(
    kind="check_failure",
    title="2 ERROR check(s) failed",
    summary="- marts/fct_tool_calls:r4",
    details={"run_id": "abc", "failed_checks": [{"check": "r4_one_result"}]},
)


def test_file_notifier_appends_json_lines(tmp_path):
    path = tmp_path / "deep" / "alerts.jsonl"
    FileNotifier(path).send(NOTE)
    FileNotifier(path).send(NOTE)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 2 and lines[0]["kind"] == "check_failure" and lines[0]["details"]["run_id"] == "abc"


def test_log_notifier(caplog):
    with caplog.at_level(logging.WARNING):
        LogNotifier().send(NOTE)
    assert "[check_failure] 2 ERROR check(s) failed" in caplog.text


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    _Hook.received, _Hook.status = [], 200
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", _Hook
    server.shutdown()
    server.server_close()


def test_webhook_notifier_posts_json(webhook):
    url, hook = webhook
    WebhookNotifier(url).send(NOTE)
    content_type, payload = hook.received[0]
    assert content_type == "application/json"
    assert (
        payload["text"].startswith("2 ERROR check(s) failed")
        and payload["notification"]["kind"] == "check_failure"
    )


def test_webhook_errors_are_raised(webhook):
    url, hook = webhook
    hook.status = 500
    with pytest.raises(NotifyError, match="HTTP 500"):
        WebhookNotifier(url).send(NOTE)
    with pytest.raises(NotifyError, match="not reachable"):
        WebhookNotifier("http://127.0.0.1:9/", timeout_seconds=2).send(NOTE)
    with pytest.raises(ValueError):
        WebhookNotifier("ftp://example.org")


def test_notifier_from_env_file_by_default_webhook_when_configured(tmp_path, webhook):
    url, hook = webhook
    default = notifier_from_env(env={}, default_file=tmp_path / "a.jsonl")
    assert isinstance(default, FileNotifier) and default.path == tmp_path / "a.jsonl"
    assert isinstance(notifier_from_env(env={"TRACE_PLATFORM_ALERT_FILE": "-"}), LogNotifier)
    both = notifier_from_env(
        env={"TRACE_PLATFORM_ALERT_FILE": str(tmp_path / "b.jsonl"), "TRACE_PLATFORM_ALERT_WEBHOOK_URL": url}
    )
    assert isinstance(both, CompositeNotifier) and "127.0.0.1" not in repr(both)  # the URL may hold a secret
    both.send(NOTE)
    assert len(hook.received) == 1 and (tmp_path / "b.jsonl").exists()


def test_composite_delivers_to_the_others_when_one_fails(tmp_path):
    class Broken:
        def send(self, notification):
            raise RuntimeError("down")

    path = tmp_path / "c.jsonl"
    with pytest.raises(NotifyError, match="down"):
        CompositeNotifier([Broken(), FileNotifier(path)]).send(NOTE)
    assert path.read_text().count("\n") == 1


# --- raw-zone checks ----------------------------------------------------------------------------


def _raw_db(events: list[tuple]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(RAW_DDL)
    for event_id, event_type, payload, extra in events:
        con.execute(
            "INSERT INTO raw.trace_events VALUES (?, ?, '1', TIMESTAMPTZ '2026-11-20 01:00:00+00', 't1', 's1', "
            "NULL, 0, NULL, 'acme', NULL, 'bot', '1', ?, NULL, ?, 'native', 'f.jsonl', 1, 1, "
            "DATE '2026-11-20', now())",
            [event_id, event_type, json.dumps(payload), json.dumps(extra) if extra else None],
        )
    return con


def test_schema_drift_reports_unknown_fields_keys_and_types_per_event_type():
    from trace_platform.defs.quality.schema_checks import drift_result

    con = _raw_db(
        [
            (
                "ok",
                "tool_result",
                {"tool_call_id": "c", "status": "ok", "output": None, "latency_ms": 5},
                None,
            ),
            (
                "renamed",
                "tool_result",
                {"toolCallId": "c", "status": "ok", "output": 1, "latency_ms": 5},
                None,
            ),
            (
                "typed",
                "model_call",
                {
                    "provider": "p",
                    "model": "m",
                    "model_version": "v",
                    "purpose": "other",
                    "input_tokens": "12",
                    "output_tokens": 1,
                    "latency_ms": 1.5,
                    "finish_reason": "stop",
                    "status": "ok",
                },
                None,
            ),
            ("extra", "feedback", {"rating": 1}, {"region": "eu"}),
            ("nulls", "tool_call", {"tool_call_id": "c", "retry_of": None, "tool_version": None}, None),
        ]
    )
    result = drift_result(con, "2026-11-20", load_thresholds())
    meta = {k: getattr(v, "value", v) for k, v in result.metadata.items()}
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert meta["breach_count"] == 2 and meta["events"] == 5 and meta["observed_value"] == pytest.approx(0.4)
    assert meta["examples"] == ["renamed", "typed"]
    assert meta["findings"] == {
        "model_call.wrong_json_type:input_tokens:VARCHAR": 1,
        "tool_result.unknown_payload_key:toolCallId": 1,
    }
    # unknown top-level fields are allowed by the format: reported (and flagged when new), not drift
    assert meta["unknown_top_level_fields"] == {"region": 1} and meta["new_top_level_fields"] == ["region"]
    assert meta["events_with_unknown_top_level_fields"] == 1
    con.execute(
        "INSERT INTO raw.trace_events SELECT * REPLACE ('old' AS event_id, DATE '2026-11-18' AS delivery_date) "
        "FROM raw.trace_events WHERE event_id = 'extra'"
    )
    again = {
        k: getattr(v, "value", v)
        for k, v in drift_result(con, "2026-11-20", load_thresholds()).metadata.items()
    }
    assert again["unknown_top_level_fields"] == {"region": 1} and again["new_top_level_fields"] == []
    assert meta["missing_required_keys"]["tool_result.tool_call_id"] == 1  # informational only
    assert "tool_call.arguments" in meta["missing_required_keys"]


def test_schema_contract_blocks_on_a_changed_column_or_an_unknown_version():
    from trace_platform.defs.quality.schema_checks import CONTRACT_CHECK, contract_result

    assert CONTRACT_CHECK.blocking
    con = _raw_db([("e1", "plan", {"steps": []}, None)])
    assert contract_result(con, "2026-11-20").passed
    con.execute("UPDATE raw.trace_events SET schema_version = '2'")
    con.execute("ALTER TABLE raw.quarantine ALTER raw_line_bytes TYPE VARCHAR")
    con.execute("ALTER TABLE raw.ingest_files DROP COLUMN load_id")
    result = contract_result(con, "2026-11-20")
    problems = {k: getattr(v, "value", v) for k, v in result.metadata.items()}["problems"]
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert problems == [
        "raw.quarantine.raw_line_bytes: type VARCHAR, expected BIGINT",
        "raw.ingest_files.load_id: column missing (expected VARCHAR)",
        "event e1: schema_version '2', event_type 'plan'",
    ]


def test_quarantine_rate_fails_above_threshold_or_for_a_lost_file():
    from trace_platform.defs.quality.schema_checks import quarantine_result

    con = _raw_db([])
    con.execute(
        "INSERT INTO raw.ingest_files VALUES (DATE '2026-11-20', 'a.jsonl', 1, 'x', 102, 2, 99, 0, 1, "
        "'loaded', 'l', now())"
    )
    con.execute(
        "INSERT INTO raw.quarantine VALUES (DATE '2026-11-20', 'a.jsonl', 7, 'invalid_json', NULL, '{', 1, now())"
    )
    ok = quarantine_result(con, "2026-11-20", load_thresholds())
    assert ok.passed and {k: getattr(v, "value", v) for k, v in ok.metadata.items()}["observed_value"] == 0.01
    con.execute(
        "INSERT INTO raw.ingest_files VALUES (DATE '2026-11-20', 'b.jsonl.gz', 1, 'y', 0, 0, 0, 0, 0, "
        "'quarantined', 'l', now())"
    )
    lost = quarantine_result(con, "2026-11-20", load_thresholds())
    meta = {k: getattr(v, "value", v) for k, v in lost.metadata.items()}
    assert not lost.passed and meta["quarantined_files"] == 1
    assert meta["examples"] == ["a.jsonl:7 (invalid_json)"]


# --- GX -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gx_runner():
    from trace_platform.defs.quality.gx_suites import GxRunner

    return GxRunner()


def _events_per_day(counts: dict[str, int]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA staging")
    con.execute("CREATE TABLE staging.stg_trace__events (event_id VARCHAR, delivery_date DATE)")
    for day, n in counts.items():
        con.execute(
            "INSERT INTO staging.stg_trace__events SELECT ? || '-' || i, ?::DATE FROM range(?) t(i)",
            [day, day, n],
        )
    return con


def _suite(name: str, table: str):
    from trace_platform.defs.quality.gx_suites import ALL_SUITES

    return next(s for s in ALL_SUITES if s.name == name and s.table == table)


@pytest.mark.parametrize("today, passed, judged", [(100, True, True), (40, False, True), (170, False, True)])
def test_volume_is_judged_against_the_trailing_mean(gx_runner, today, passed, judged):
    from trace_platform.defs.quality.gx_suites import run_suite

    history = {
        f"2026-11-{d:02d}": n for d, n in zip(range(14, 20), [90, 110, 100, 95, 105, 100], strict=True)
    }
    con = _events_per_day(
        {**history, "2026-11-10": 10_000, "2026-11-20": today}
    )  # the 10th is outside the window
    result = run_suite(
        gx_runner, con, _suite("gx_volume", "staging.stg_trace__events"), "2026-11-20", load_thresholds()
    )
    meta = {k: getattr(v, "value", v) for k, v in result.metadata.items()}
    assert (
        result.passed is passed
        and meta["judged"] is judged
        and result.severity == dg.AssetCheckSeverity.ERROR
    )
    assert meta["trailing_mean"] == 100 and meta["history_days"] == 6 and meta["events"] == today
    assert (meta["min_events"], meta["max_events"]) == (50, 150)
    assert meta["observed_value"] == pytest.approx((today - 100) / 100)


def test_volume_is_not_judged_without_enough_history(gx_runner):
    from trace_platform.defs.quality.gx_suites import run_suite

    con = _events_per_day({"2026-11-19": 100, "2026-11-20": 1})
    result = run_suite(
        gx_runner, con, _suite("gx_volume", "staging.stg_trace__events"), "2026-11-20", load_thresholds()
    )
    assert result.passed and "not judged" in result.description


def test_gx_keys_and_timestamps_name_the_failing_rows(gx_runner):
    from trace_platform.defs.quality.gx_suites import run_suite

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE SCHEMA staging")
    con.execute(
        "CREATE TABLE staging.stg_trace__events AS SELECT * FROM (VALUES "
        "('a', 't1', TIMESTAMPTZ '2026-11-20 10:00:00+00'), ('b', NULL, TIMESTAMPTZ '2026-11-19 23:00:00+00'), "
        "('b', 't2', TIMESTAMPTZ '2026-11-22 00:00:00+00')) v(event_id, trace_id, event_timestamp)"
    )
    con.execute(
        "ALTER TABLE staging.stg_trace__events ADD COLUMN delivery_date DATE DEFAULT DATE '2026-11-20'"
    )
    keys = run_suite(
        gx_runner, con, _suite("gx_keys", "staging.stg_trace__events"), "2026-11-20", load_thresholds()
    )
    meta = {k: getattr(v, "value", v) for k, v in keys.metadata.items()}
    assert not keys.passed and keys.severity == dg.AssetCheckSeverity.ERROR
    assert meta["expectations_failed"] == 2 and meta["examples"] == ["b"] and meta["rows_validated"] == 3
    times = run_suite(
        gx_runner, con, _suite("gx_timestamps", "staging.stg_trace__events"), "2026-11-20", load_thresholds()
    )
    meta = {k: getattr(v, "value", v) for k, v in times.metadata.items()}
    assert not times.passed and (meta["late_events"], meta["future_events"]) == (1, 1)
    assert meta["examples"] == ["b"]


# --- check_results --------------------------------------------------------------------------------


def _evaluation(
    check: str, passed: bool, metadata: dict, severity=dg.AssetCheckSeverity.ERROR, blocking=False
):
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(["marts", "fct_tool_calls"]),
        check_name=check,
        passed=passed,
        metadata=metadata,
        severity=severity,
        blocking=blocking,
    )


def test_check_rows_classify_our_checks_r9_and_dbt_tests():
    from trace_platform.defs.quality.check_results import row_for

    def row(evaluation):
        return row_for(
            evaluation,
            run_id="r1",
            job_name="nightly_trace_job",
            run_partition="2026-11-20",
            step_key="s",
            timestamp=0,
        )

    ours = row(
        _evaluation(
            "r4_one_result",
            False,
            {
                "check_kind": "audit_rule",
                "category": "trail_completeness",
                "observed_value": dg.MetadataValue.float(0.5),
                "threshold": dg.MetadataValue.float(0.01),
                "sql": dg.MetadataValue.md("```sql\nSELECT 1\n```"),
            },
        )
    )
    assert (ours.check_kind, ours.category, ours.observed_value, ours.threshold) == (
        "audit_rule",
        "trail_completeness",
        0.5,
        0.01,
    )
    assert json.loads(ours.metadata)["sql"] == "SELECT 1" and ours.partition_date == "2026-11-20"
    dbt = row(
        _evaluation(
            "not_null_x",
            False,
            {"unique_id": "test.trace_platform.not_null_x", "dagster_dbt/failed_row_count": 3},
            dg.AssetCheckSeverity.WARN,
        )
    )
    assert (dbt.check_kind, dbt.observed_value, dbt.threshold, dbt.severity) == ("dbt_test", 3.0, 0.0, "WARN")
    r9 = row(_evaluation("r9_line_accounting", True, {"unbalanced_files": 0}, blocking=True))
    assert (r9.check_kind, r9.category, r9.blocking, r9.observed_value) == (
        "audit_rule",
        "trail_completeness",
        True,
        0,
    )
    freshness = row(
        _evaluation("fresh_by_deadline", True, {"check_kind": "freshness", "partition": "2026-11-24"})
    )
    assert freshness.partition_date == "2026-11-24"


def test_recording_is_an_idempotent_upsert():
    from trace_platform.defs.quality.check_results import record_rows, row_for

    con = duckdb.connect()
    rows = [
        row_for(
            _evaluation(f"c{i}", i % 2 == 0, {"observed_value": float("nan")}),
            run_id="r1",
            job_name=None,
            run_partition="2026-11-20",
            step_key=None,
            timestamp=1_700_000_000,
        )
        for i in range(3)
    ]
    assert record_rows(con, rows) == 3
    assert record_rows(con, rows[:1]) == 1
    other_run = [
        row_for(
            _evaluation("c0", False, {}),
            run_id="r2",
            job_name=None,
            run_partition=None,
            step_key=None,
            timestamp=1_700_000_000,
        )
    ]
    record_rows(con, other_run)
    assert con.execute(
        "SELECT run_id, check_name, passed, partition_date::VARCHAR FROM audit.check_results ORDER BY ALL"
    ).fetchall() == [
        ("r1", "c0", True, "2026-11-20"),
        ("r1", "c1", False, "2026-11-20"),
        ("r1", "c2", True, "2026-11-20"),
        ("r2", "c0", False, None),
    ]
    assert record_rows(con, []) == 0


# --- freshness ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "now, deadline, partition",
    [
        (dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.UTC), "2026-11-25 06:00", "2026-11-24"),
        (dt.datetime(2026, 11, 25, 5, 59, tzinfo=dt.UTC), "2026-11-24 06:00", "2026-11-23"),
        # 23:00 at UTC-5 is 04:00 UTC the next day: before that day's deadline
        (
            dt.datetime(2026, 11, 25, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
            "2026-11-25 06:00",
            "2026-11-24",
        ),
    ],
)
def test_the_deadline_and_the_partition_it_expects(now, deadline, partition):
    from trace_platform.defs.quality.freshness import expected_partition, latest_deadline

    found = latest_deadline(now, "06:00")
    assert f"{found:%Y-%m-%d %H:%M}" == deadline and expected_partition(found) == partition


def test_gx_runner_keeps_no_partition_slice_after_validating_it():
    import pandas as pd

    from trace_platform.defs.quality.gx_suites import GxRunner

    runner = GxRunner()
    frame = pd.DataFrame({"event_id": ["a", "b", "b"]})
    result = runner.validate(
        "t.gx_keys", frame, [runner.gxe.ExpectColumnValuesToBeUnique(column="event_id")], keys=["event_id"]
    )
    assert not result.success and result.results[0].result["unexpected_count"] == 2
    # GX's engine would otherwise cache every validated frame for the life of the step
    assert runner.datasource.get_execution_engine().batch_manager.batch_data_cache == {}
    assert runner.datasource.assets == [] and list(runner.context.suites.all()) == []
    second = runner.validate(
        "t.gx_keys", frame.iloc[:2], [runner.gxe.ExpectColumnValuesToBeUnique(column="event_id")]
    )
    assert second.success
