"""End to end through Dagster, as a user runs it: generate two dirty days, run the nightly job for
both with `trace-platform run`, and compare the warehouse with what the generator wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from tests.ingest_support import query
from tests.reference_rules import load_events, reference_breaches, warehouse_breaches

pytestmark = pytest.mark.integration

CLI = str(Path(sys.executable).parent / "trace-platform")
DAYS = ["2026-11-20", "2026-11-21"]


@pytest.fixture(scope="module")
def nightly(tmp_path_factory):
    root = tmp_path_factory.mktemp("nightly")
    env = {
        **os.environ,
        "TRACE_PLATFORM_LANDING": str(root / "landing"),
        "TRACE_PLATFORM_WAREHOUSE": str(root / "warehouse.duckdb"),
        "DAGSTER_HOME": str(root / "dagster_home"),
        "TRACE_PLATFORM_PARTITIONS_START": "2026-01-01",
    }
    generated = subprocess.run(
        [
            CLI,
            "generate",
            "--out",
            str(root / "landing"),
            "--days",
            "2",
            "--traces-per-day",
            "60",
            "--start",
            DAYS[0],
            "--dirty",
            "--gzip",
            "--seed",
            "11",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert generated.returncode == 0, generated.stderr
    ran = subprocess.run(
        [CLI, "run", "--start", DAYS[0], "--end", DAYS[1]],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    manifest = json.loads((root / "landing" / "generator-manifest.json").read_text())
    return {
        "root": root,
        "env": env,
        "stdout": ran.stdout,
        "manifest": manifest,
        "warehouse": root / "warehouse.duckdb",
    }


def test_line_accounting_matches_the_generator_file_by_file(nightly):
    actual = {
        r[0]: r[1:]
        for r in query(
            nightly["warehouse"],
            "SELECT source_file, lines_read, blank_lines, events_loaded, duplicates_dropped, "
            "lines_quarantined FROM raw.ingest_files",
        )
    }
    expected = {
        name: (
            f["lines_read"],
            f["blank_lines"],
            f["events_loaded"],
            f["duplicates_dropped"],
            f["lines_quarantined"],
        )
        for name, f in nightly["manifest"]["files"].items()
    }
    assert actual == expected


def test_quarantine_reasons_match_the_generator(nightly):
    actual = {
        (r[0], r[1]): r[2]
        for r in query(
            nightly["warehouse"], "SELECT source_file, reason, count(*) FROM raw.quarantine GROUP BY ALL"
        )
    }
    expected = {
        (name, reason): n
        for name, f in nightly["manifest"]["files"].items()
        for reason, n in f["quarantined_by_reason"].items()
        if n
    }
    assert actual == expected


def test_audit_findings_match_the_reference_rules(nightly):
    warehouse = nightly["warehouse"]
    assert warehouse_breaches(warehouse) == reference_breaches(load_events(warehouse))


def test_runs_are_recorded_in_the_dagster_instance(nightly, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", nightly["env"]["DAGSTER_HOME"])
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(dg.RunsFilter(job_name="nightly_trace_job"))
        assert sorted(r.tags["dagster/partition"] for r in runs) == DAYS
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        record = instance.get_latest_materialization_event(dg.AssetKey(["marts", "fct_tool_calls"]))
        assert record is not None and record.asset_materialization.partition in DAYS
        # the dbt step streams its materialisations; each model's row count and schema, read once
        # dbt has exited, follow as an observation (transform/assets.py)
        [observed] = instance.fetch_observations(dg.AssetKey(["marts", "fct_tool_calls"]), limit=1).records
        assert observed.asset_observation.partition in DAYS
        assert observed.asset_observation.metadata["dagster/row_count"].value > 0
        assert "dagster/column_schema" in observed.asset_observation.metadata


def test_the_second_night_reuses_dbt_parse_state_and_scopes_tests_to_what_it_rebuilt(nightly, monkeypatch):
    # Nothing about the night reaches dbt (no CLI var, which would change dbt's parse state every
    # night and force a full re-parse): the build reads what to rebuild from the warehouse. The first
    # night here parses in full (the install-time state names another warehouse) and hands its state
    # on to the second.
    monkeypatch.setenv("DAGSTER_HOME", nightly["env"]["DAGSTER_HOME"])
    with dg.DagsterInstance.get() as instance:
        run_id = next(
            r.run_id
            for r in instance.get_runs(dg.RunsFilter(job_name="nightly_trace_job"))
            if r.tags["dagster/partition"] == DAYS[1]
        )
    [target] = (Path(__file__).parents[1] / "dbt_project" / "target").glob(
        f"trace_warehouse_models-{run_id[:7]}-*"
    )
    # dbt rotates its debug log at 10 MB (the compiled SQL of the redaction macros is in it)
    log = [
        json.loads(line)["info"]
        for path in sorted(target.glob("dbt.log*"))
        for line in path.read_text().splitlines()
    ]
    assert not [e["msg"] for e in log if e["name"] == "UnableToPartialParse"]
    assert any(e["name"] == "PartialParsingEnabled" for e in log)
    assert not any("--vars" in e["msg"] for e in log if e["name"] == "MainReportArgs")
    # The tests look at what the night changed, so their cost does not grow with history: staging
    # at the days of the last publish, a trace-scoped model at the traces and days it rebuilt.
    [staging_test] = (target / "compiled").rglob("not_null_stg_trace__events_event_id.sql")
    assert (
        "where delivery_date in (select delivery_date from raw.trace_change_log "
        "where change_seq = (select max(change_seq) from raw.trace_change_log))"
    ) in staging_test.read_text()
    [mart_test] = (target / "compiled").rglob("not_null_fct_outcomes_trace_id.sql")
    assert (
        "where first_delivery_date in (select delivery_date from intermediate.int_rebuild_days) "
        "and trace_id in (select trace_id from intermediate.int_rebuild_scope)"
    ) in mart_test.read_text()


def test_summary_reports_loads_quarantine_tables_and_checks(nightly):
    out = nightly["stdout"]
    totals = nightly["manifest"]["totals"]
    assert f"events loaded {totals['events_loaded']:,}" in out
    assert "quarantined lines by reason:" in out and "conflict" in out
    assert "marts.fct_tool_calls" in out and "audit.audit_violations" in out
    assert "checks:" in out and " passed" in out


def test_rerunning_a_day_through_dagster_changes_nothing(nightly):
    tables = [
        "raw.trace_events",
        "raw.quarantine",
        "marts.fct_tool_calls",
        "audit.audit_violations",
        "marts.fct_outcomes",
    ]

    def digest():
        return {
            t: sorted(
                map(
                    repr,
                    query(nightly["warehouse"], f"SELECT * EXCLUDE (ingested_at) FROM {t}")
                    if t.startswith("raw.")
                    else query(nightly["warehouse"], f"SELECT * FROM {t}"),
                )
            )
            for t in tables
        }

    before = digest()
    ran = subprocess.run(
        [CLI, "run", "--start", DAYS[0]], env=nightly["env"], capture_output=True, text=True, timeout=900
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert digest() == before
