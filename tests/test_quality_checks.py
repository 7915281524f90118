"""The quality checks end to end: the nightly job on a clean partition and on a partition with a
deliberately incomplete trail (tool results missing, a sequence gap, an accounting mismatch),
audit.check_results, the alert sensors, the freshness job, and the UI's GraphQL API."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import dagster as dg
import pytest
import quality_support as qs
from quality_support import BROKEN_DAY, CLEAN_DAY, evaluations, metadata, query

pytestmark = pytest.mark.integration

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Clean day; broken day with one loaded row lost (R9); broken day again, accounting intact."""
    import trace_platform.defs.ingest.assets as ingest_assets
    from trace_platform.defs.transform.project import ensure_manifest
    from trace_platform.lib.instance import DAGSTER_YAML

    root = tmp_path_factory.mktemp("quality")
    with qs.environment(root) as paths:
        qs.write_landing(paths["landing"])
        (paths["home"] / "dagster.yaml").write_text(DAGSTER_YAML)
        ensure_manifest()
        instance = dg.DagsterInstance.local_temp(str(paths["home"]))
        clean = qs.run_nightly(instance, CLEAN_DAY)
        real_ingest = ingest_assets.ingest_partition
        ingest_assets.ingest_partition = qs.losing_one_loaded_row(real_ingest)
        try:
            lost_row = qs.run_nightly(instance, BROKEN_DAY)
        finally:
            ingest_assets.ingest_partition = real_ingest
        broken = qs.run_nightly(instance, BROKEN_DAY)
        yield {"paths": paths, "instance": instance, "clean": clean, "lost_row": lost_row, "broken": broken}


def test_clean_partition_passes_every_check(runs):
    from trace_platform.definitions import build_definitions

    result = runs["clean"]
    assert result.success
    found = evaluations(result)
    job = build_definitions().resolve_job_def("nightly_trace_job")
    expected = {(k.asset_key.to_user_string(), k.name) for k in job.asset_layer.asset_graph.asset_check_keys}
    assert set(found) == expected  # every check of the job ran ...
    assert [key for key, e in found.items() if not e.passed] == []  # ... and passed
    r1 = metadata(found[("marts/fct_outcomes", "r1_complete_run")])
    assert (r1["breach_count"], r1["units"], r1["breach_rate"], r1["examples"]) == (0, 6, 0.0, [])
    volume = metadata(found[("staging/stg_trace__events", "gx_volume")])
    assert volume["judged"] is False and volume["history_days"] == 0  # no history yet: not judged


def test_accounting_mismatch_fails_r9_and_blocks_everything_downstream(runs):
    result = runs["lost_row"]
    assert not result.success
    found = evaluations(result)
    # nothing downstream ran: only the ingestion step's own checks were evaluated
    assert set(found) == {
        ("raw/ingest_files", "r9_line_accounting"),
        ("raw/trace_change_log", "change_log_covers_partition"),
    }
    assert found[("raw/trace_change_log", "change_log_covers_partition")].passed
    r9 = found[("raw/ingest_files", "r9_line_accounting")]
    assert (r9.passed, r9.severity, r9.blocking) == (False, ERROR, True)
    assert metadata(r9)["unbalanced_files"] == 1
    assert metadata(r9)["examples"] == [f"{BROKEN_DAY}/events.jsonl"]
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert not any(key.startswith(("staging/", "marts/", "audit/")) for key in materialized)
    # the hook recorded the failed evaluation although the run stopped
    assert query(
        runs["paths"]["warehouse"],
        "SELECT check_name, passed, severity, blocking, partition_date::VARCHAR FROM audit.check_results "
        "WHERE run_id = ? ORDER BY check_name",
        [result.run_id],
    ) == [
        ("change_log_covers_partition", True, "ERROR", False, BROKEN_DAY),
        ("r9_line_accounting", False, "ERROR", True, BROKEN_DAY),
    ]


def test_incomplete_trail_fails_the_right_checks_with_severity_and_metadata(runs):
    result = runs["broken"]
    assert result.success  # ERROR checks that do not block, and WARN checks, never fail the run
    found = evaluations(result)
    failed = {key: (e.severity, e.blocking) for key, e in found.items() if not e.passed}
    assert failed == {
        ("marts/fct_tool_calls", "r4_one_result"): (ERROR, False),  # tool results missing
        ("marts/fct_outcomes", "r7_well_formed_trace"): (ERROR, False),  # sequence gap
        ("marts/fct_model_calls", "r8_model_identity"): (WARN, False),  # agent compliance
        ("marts/fct_model_calls", "gx_model_version_share"): (WARN, False),
        ("staging/stg_trace__model_calls", "gx_model_version_share"): (WARN, False),
    }
    assert found[("raw/ingest_files", "r9_line_accounting")].passed  # accounting intact on the re-run

    r4 = metadata(found[("marts/fct_tool_calls", "r4_one_result")])
    # 4 clean traces x 3 calls + 2 calls without result (the gap trace lost its only call)
    assert (r4["breach_count"], r4["units"], r4["unit"]) == (2, 14, "tool_calls")
    assert r4["breach_rate"] == pytest.approx(2 / 14) and r4["observed_value"] == pytest.approx(2 / 14)
    assert (r4["threshold"], r4["threshold_key"], r4["category"]) == (
        0.01,
        "rules.R4.max_rate",
        "trail_completeness",
    )
    # trailing 7 days: the clean day's 18 calls without breaches plus this day
    assert (r4["trailing_breach_count"], r4["trailing_units"]) == (2, 32)
    assert r4["trailing_breach_rate"] == pytest.approx(2 / 32)
    assert r4["examples"] == ["missing-results/missing-results.c1", "missing-results/missing-results.c2"]
    assert "rule_id = 'R4'" in r4["sql"] and f"DATE '{BROKEN_DAY}'" in r4["sql"]
    listed = query(runs["paths"]["warehouse"], r4["sql"].removeprefix("```sql\n").removesuffix("\n```"))
    assert len(listed) == 2

    r7 = metadata(found[("marts/fct_outcomes", "r7_well_formed_trace")])
    assert (r7["breach_count"], r7["units"], r7["examples"]) == (1, 7, ["sequence-gap"])
    r8 = metadata(found[("marts/fct_model_calls", "r8_model_identity")])
    assert (r8["breach_count"], r8["category"], r8["examples"]) == (
        1,
        "agent_compliance",
        ["no-model-version-e1"],
    )
    share = metadata(found[("marts/fct_model_calls", "gx_model_version_share")])
    assert share["observed_value"] == pytest.approx(5 / 6) and share["threshold"] == 0.98
    assert share["examples"] == ["no-model-version-e1"] and share["expectations_failed"] == 1

    r1 = metadata(found[("marts/fct_outcomes", "r1_complete_run")])
    assert r1["breach_count"] == 0  # every trace of the day kept its request and final result


def test_check_results_holds_one_row_per_evaluation_of_every_run(runs):
    warehouse = runs["paths"]["warehouse"]
    for name in ("clean", "lost_row", "broken"):
        result = runs[name]
        rows = query(
            warehouse,
            "SELECT asset_key, check_name FROM audit.check_results WHERE run_id = ?",
            [result.run_id],
        )
        assert sorted(rows) == sorted(evaluations(result))
    kinds = dict(
        query(
            warehouse,
            "SELECT check_kind, count(DISTINCT check_name) FROM audit.check_results "
            "WHERE run_id = ? GROUP BY 1",
            [runs["broken"].run_id],
        )
    )
    assert {"audit_rule", "schema", "ingest", "gx", "dbt_test", "quality"} <= set(kinds)
    # observed value and threshold are queryable; the history over partitions too
    assert query(
        warehouse,
        "SELECT passed, severity, observed_value, threshold FROM audit.check_results "
        "WHERE run_id = ? AND check_name = 'r7_well_formed_trace'",
        [runs["broken"].run_id],
    ) == [(False, "ERROR", pytest.approx(1 / 7), 0.01)]
    history = query(
        warehouse,
        "SELECT partition_date::VARCHAR, bool_and(passed) FROM audit.check_results "
        "WHERE check_name = 'r4_one_result' GROUP BY 1 ORDER BY 1",
    )
    assert history == [(CLEAN_DAY, True), (BROKEN_DAY, False)]
    # the collector sees every evaluation before its own, i.e. all but itself and the final publish's
    found = evaluations(runs["broken"])
    after_collector = {
        ("audit/check_results", "all_evaluations_recorded"),
        ("reader/snapshot_with_checks", "reader_matches_warehouse"),
    }
    assert after_collector <= set(found)
    collector = found[("audit/check_results", "all_evaluations_recorded")]
    assert collector.passed and metadata(collector)["evaluations"] == len(set(found) - after_collector)


def test_recording_is_idempotent(runs):
    from trace_platform.defs.quality.check_results import record_rows, run_evaluation_rows
    from trace_platform.defs.quality.common import warehouse_connection
    from trace_platform.defs.resources import warehouse_resource

    run_id = runs["broken"].run_id
    count = "SELECT count(*) FROM audit.check_results WHERE run_id = ?"
    before = query(runs["paths"]["warehouse"], count, [run_id])
    rows = run_evaluation_rows(runs["instance"], run_id)
    with qs.environment(runs["paths"]["warehouse"].parent), warehouse_connection(warehouse_resource()) as con:
        record_rows(con, rows)
        record_rows(con, rows)
    assert query(runs["paths"]["warehouse"], count, [run_id]) == before


def test_alert_sensors_notify_failed_runs_and_failed_error_checks(runs, tmp_path, monkeypatch):
    from trace_platform.defs.quality.sensors import check_failure_alert_sensor, run_failure_alert_sensor

    alerts = tmp_path / "alerts.jsonl"
    monkeypatch.setenv("TRACE_PLATFORM_ALERT_FILE", str(alerts))
    instance = runs["instance"]

    def status_event(run_id: str, event_type: dg.DagsterEventType) -> dg.DagsterEvent:
        return instance.all_logs(run_id, of_type=event_type)[-1].dagster_event

    failed_run = instance.get_run_by_id(runs["lost_row"].run_id)
    failure_event = status_event(failed_run.run_id, dg.DagsterEventType.RUN_FAILURE)
    run_failure_alert_sensor(
        dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert_sensor",
            dagster_instance=instance,
            dagster_run=failed_run,
            dagster_event=failure_event,
        ).for_run_failure()
    )

    for name in ("broken", "clean"):
        run = instance.get_run_by_id(runs[name].run_id)
        success_event = status_event(run.run_id, dg.DagsterEventType.RUN_SUCCESS)
        check_failure_alert_sensor(
            dg.build_run_status_sensor_context(
                sensor_name="check_failure_alert_sensor",
                dagster_instance=instance,
                dagster_run=run,
                dagster_event=success_event,
            )
        )

    sent = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert [n["kind"] for n in sent] == ["run_failure", "check_failure"]  # the clean run alerts nothing
    run_failure, check_failure = sent
    assert run_failure["details"]["partition"] == BROKEN_DAY
    assert "r9_line_accounting" in run_failure["details"]["error"] + run_failure["summary"]
    assert [c["check"] for c in run_failure["details"]["failed_checks"]] == ["r9_line_accounting"]
    # only the ERROR ones: r4 and r7, not the WARN compliance checks
    assert sorted(c["check"] for c in check_failure["details"]["failed_checks"]) == [
        "r4_one_result",
        "r7_well_formed_trace",
    ]
    assert check_failure["title"].startswith("2 ERROR check(s) failed in nightly_trace_job for 2026-11-21")


def test_freshness_of_the_marts(runs):
    import datetime as dt

    from trace_platform.definitions import build_definitions
    from trace_platform.defs.quality.freshness import FRESHNESS_CHECK_NAME, evaluate_freshness, mart_keys
    from trace_platform.defs.quality.thresholds import load_thresholds

    instance, thresholds = runs["instance"], load_thresholds()
    outcomes = dg.AssetKey(["marts", "fct_outcomes"])
    assert outcomes in mart_keys()
    # 07:00 on the day after the clean day: that day is due, and materialised
    on_time = evaluate_freshness(instance, outcomes, dt.datetime(2026, 11, 21, 7, tzinfo=dt.UTC), thresholds)
    assert on_time.passed and metadata(on_time)["expected_partition"] == CLEAN_DAY
    # 05:00 two days later: the latest deadline is still the previous day's, for the broken day: materialised
    early = evaluate_freshness(instance, outcomes, dt.datetime(2026, 11, 23, 5, tzinfo=dt.UTC), thresholds)
    assert early.passed and metadata(early)["expected_partition"] == BROKEN_DAY
    # 06:30 that day: 2026-11-22 is due and missing
    late = evaluate_freshness(instance, outcomes, dt.datetime(2026, 11, 23, 6, 30, tzinfo=dt.UTC), thresholds)
    assert (late.passed, late.severity) == (False, ERROR)
    assert metadata(late)["expected_partition"] == "2026-11-22" and metadata(late)["overdue_seconds"] == 1800

    # the freshness job (what the schedule runs) evaluates every mart and records the results
    with qs.environment(runs["paths"]["warehouse"].parent):
        job = build_definitions().resolve_job_def("freshness_check_job")
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert {e.asset_key for e in checks} == set(mart_keys()) and {e.check_name for e in checks} == {
        FRESHNESS_CHECK_NAME
    }
    recorded = query(
        runs["paths"]["warehouse"],
        "SELECT count(*), count(DISTINCT partition_date) FROM audit.check_results WHERE run_id = ?",
        [result.run_id],
    )
    assert recorded == [(len(mart_keys()), 1)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(url: str, query_text: str, variables: dict) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps({"query": query_text, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body
    return body["data"]


CHECK_EXECUTIONS = """
query Executions($assetKey: AssetKeyInput!, $checkName: String!) {
  assetCheckExecutions(assetKey: $assetKey, checkName: $checkName, limit: 10) {
    runId
    status
    partition
    evaluation {
      success
      severity
      metadataEntries { label ... on IntMetadataEntry { intValue } ... on FloatMetadataEntry { floatValue } }
    }
  }
}
"""

ASSET_CHECKS = """
query Checks($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    ... on AssetNode {
      groupName
      assetChecksOrError { ... on AssetChecks { checks { name blocking } } }
    }
  }
}
"""


def test_the_ui_graphql_api_serves_the_check_evaluations(runs):
    paths = runs["paths"]
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(paths["home"]),
        "TRACE_PLATFORM_WAREHOUSE": str(paths["warehouse"]),
        "TRACE_PLATFORM_LANDING": str(paths["landing"]),
        "DAGSTER_TELEMETRY_DISABLED": "true",
    }
    webserver = Path(sys.executable).parent / "dagster-webserver"
    process = subprocess.Popen(
        [str(webserver), "-h", "127.0.0.1", "-p", str(port), "-m", "trace_platform.definitions"],
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"webserver did not start: {process.stderr.read().decode()[-3000:]}"
                    ) from None
                time.sleep(1)
        r4 = {"path": ["marts", "fct_tool_calls"]}
        data = _graphql(url, CHECK_EXECUTIONS, {"assetKey": r4, "checkName": "r4_one_result"})
        executions = {e["runId"]: e for e in data["assetCheckExecutions"]}
        assert len(executions) == len(data["assetCheckExecutions"]) == 3  # one per run, under its partition
        assert {e["partition"] for e in data["assetCheckExecutions"]} == {CLEAN_DAY, BROKEN_DAY}
        failed = executions[runs["broken"].run_id]
        assert failed["status"] == "FAILED"
        assert (failed["evaluation"]["success"], failed["evaluation"]["severity"]) == (False, "ERROR")
        entries = {
            m["label"]: m.get("intValue", m.get("floatValue"))
            for m in failed["evaluation"]["metadataEntries"]
        }
        assert entries["breach_count"] == 2 and entries["units"] == 14
        assert entries["trailing_breach_rate"] == pytest.approx(2 / 32)
        assert executions[runs["clean"].run_id]["status"] == "SUCCEEDED"
        blocked = executions[runs["lost_row"].run_id]  # planned, never evaluated: R9 blocked the run
        assert (blocked["status"], blocked["evaluation"]) == ("EXECUTION_FAILED", None)

        r9 = _graphql(
            url,
            CHECK_EXECUTIONS,
            {"assetKey": {"path": ["raw", "ingest_files"]}, "checkName": "r9_line_accounting"},
        )["assetCheckExecutions"]
        evaluated = {e["runId"]: e["evaluation"]["success"] for e in r9 if e["evaluation"]}
        assert evaluated == {
            runs["clean"].run_id: True,
            runs["lost_row"].run_id: False,
            runs["broken"].run_id: True,
        }

        node = _graphql(url, ASSET_CHECKS, {"assetKey": {"path": ["raw", "trace_events"]}})[
            "assetNodeOrError"
        ]
        assert node["groupName"] == "ingest"
        assert {c["name"]: c["blocking"] for c in node["assetChecksOrError"]["checks"]} == {
            "schema_contract": True,
            "schema_drift": False,
        }
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
