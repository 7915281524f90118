"""The definitions as the UI shows them: every asset has its checks, groups, owners, kinds, freshness,
jobs, schedules and sensors. Loads the definitions only (no warehouse, no run)."""

from __future__ import annotations

import dagster as dg
import pytest

RULE_CHECKS = {
    "marts/fct_outcomes": {"r1_complete_run", "r7_well_formed_trace"},
    "marts/fct_tool_calls": {
        "r2_authorised_write",
        "r3_confirmed_write",
        "r4_one_result",
        "r5_no_bypass",
        "r10_approved_what_ran",
    },
    "marts/fct_side_effects": {"r6_honest_access"},
    "marts/fct_model_calls": {"r8_model_identity"},
    "raw/ingest_files": {"r9_line_accounting"},
    "raw/trace_change_log": {"change_log_covers_partition"},
}
OTHER_CHECKS = {
    "raw/trace_events": {"schema_contract", "schema_drift"},
    "raw/quarantine": {"quarantine_rate"},
    "staging/stg_trace__events": {"gx_keys", "gx_values", "gx_timestamps", "gx_volume"},
    "staging/stg_trace__model_calls": {"gx_keys", "gx_values", "gx_model_version_share"},
    "staging/stg_trace__tool_calls": {"gx_keys", "gx_values"},
    "staging/stg_trace__tool_results": {"gx_keys", "gx_values"},
    "staging/stg_trace__policy_checks": {"gx_keys", "gx_values"},
    "staging/stg_trace__confirmation_responses": {"gx_keys", "gx_values"},
    "staging/stg_trace__final_results": {"gx_keys", "gx_values"},
    "intermediate/int_confirmations": {"gx_keys"},
    "marts/fct_tool_calls": {"gx_keys", "gx_values", "fresh_by_deadline"},
    "marts/fct_model_calls": {"gx_keys", "gx_values", "gx_model_version_share", "fresh_by_deadline"},
    "marts/fct_outcomes": {"gx_keys", "gx_values", "gx_final_result_share", "fresh_by_deadline"},
    "marts/fct_permission_checks": {"gx_keys", "gx_values", "fresh_by_deadline"},
    "marts/fct_confirmations": {"gx_keys", "gx_values", "fresh_by_deadline"},
    "marts/fct_side_effects": {"gx_keys", "gx_values", "fresh_by_deadline"},
    "marts/dim_tools": {"fresh_by_deadline"},
    "audit/check_results": {"all_evaluations_recorded"},
}
COMPLIANCE = {
    "r2_authorised_write",
    "r3_confirmed_write",
    "r5_no_bypass",
    "r6_honest_access",
    "r8_model_identity",
    "r10_approved_what_ran",
}


@pytest.fixture(scope="module")
def defs():
    from trace_platform.definitions import build_definitions

    return build_definitions()


@pytest.fixture(scope="module")
def graph(defs):
    return defs.resolve_asset_graph()


@pytest.fixture(scope="module")
def checks_by_asset(graph) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for check_key in graph.asset_check_keys:
        found.setdefault(check_key.asset_key.to_user_string(), set()).add(check_key.name)
    return found


def test_every_asset_has_its_checks(graph, checks_by_asset):
    for expected in (RULE_CHECKS, OTHER_CHECKS):
        for asset, names in expected.items():
            assert names <= checks_by_asset.get(asset, set()), asset
    staging_views = [k for k in graph.get_all_asset_keys() if k.path[0] == "staging"]
    assert len(staging_views) == 15
    for key in staging_views:
        assert "gx_keys" in checks_by_asset[key.to_user_string()], key
    for key in graph.get_all_asset_keys():
        if key.path[0] == "marts":
            assert "fresh_by_deadline" in checks_by_asset[key.to_user_string()], key
    # and no asset goes unchecked
    assert [
        k.to_user_string() for k in graph.get_all_asset_keys() if k.to_user_string() not in checks_by_asset
    ] == []
    # dbt tests are checks too
    assert any(name.startswith("not_null_") for name in checks_by_asset["marts/fct_outcomes"])


def test_only_r9_and_the_schema_contract_block(graph):
    blocking = {
        (k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys if graph.get(k).blocking
    }
    ours = {
        b
        for b in blocking
        if not b[1].startswith(
            ("not_null", "unique", "relationships", "accepted", "expression_is_true", "non_negative")
        )
    }
    assert ours == {("raw/ingest_files", "r9_line_accounting"), ("raw/trace_events", "schema_contract")}
    for key in graph.asset_check_keys:
        if key.name in COMPLIANCE or key.name.startswith("gx_"):
            assert not graph.get(key).blocking, key


def test_groups_owners_kinds_and_descriptions(graph):
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert {"ingest", "staging", "marts", "audit", "eval", "quality"} <= groups
    assert graph.get(dg.AssetKey(["audit", "check_results"])).group_name == "quality"
    assert graph.get(dg.AssetKey(["marts", "fct_tool_calls"])).group_name == "marts"
    assert graph.get(dg.AssetKey(["raw", "trace_events"])).group_name == "ingest"
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, key
        assert node.owners == ["team:trace-platform"], key
        assert "duckdb" in node.kinds, key
        if (
            key.path[0] in ("staging", "intermediate", "marts", "audit", "eval")
            and key.path[1] != "check_results"
        ):
            assert "dbt" in node.kinds and node.tags.get("layer") == node.group_name, key


def test_marts_must_be_fresh_for_the_previous_day_by_six_utc(graph):
    for key in graph.get_all_asset_keys():
        policy = graph.get(key).freshness_policy
        if key.path[0] == "marts":
            assert isinstance(policy, dg.FreshnessPolicy), key
            assert (policy.deadline_cron, policy.timezone) == ("0 6 * * *", "UTC")
        else:
            assert policy is None, key


def test_jobs_schedules_and_sensors(defs):
    nightly = defs.resolve_job_def("nightly_trace_job")
    nightly_checks = {
        (k.asset_key.to_user_string(), k.name) for k in nightly.asset_layer.asset_graph.asset_check_keys
    }
    for asset, names in {**RULE_CHECKS, "raw/trace_events": {"schema_contract", "schema_drift"}}.items():
        assert {(asset, n) for n in names} <= nightly_checks
    assert ("audit/check_results", "all_evaluations_recorded") in nightly_checks
    assert not any(name == "fresh_by_deadline" for _, name in nightly_checks)  # its own job
    assert {h.name for h in nightly.hook_defs} == {"record_check_results"}
    assert nightly.tags["trace_platform/writes"] == "warehouse"

    freshness = defs.resolve_job_def("freshness_check_job")
    assert {k.name for k in freshness.asset_layer.asset_graph.asset_check_keys} == {"fresh_by_deadline"}
    assert freshness.tags["trace_platform/writes"] == "warehouse"  # its hook records the results

    schedules = {s.name: s for s in defs.schedules}
    assert schedules["nightly_trace_schedule"].cron_schedule == "0 2 * * *"
    assert schedules["freshness_check_schedule"].cron_schedule == "0 6 * * *"
    assert (
        schedules["warehouse_compaction_schedule"].cron_schedule == "0 4 * * 0"
    )  # weekly, off the nightly path
    assert defs.resolve_job_def("warehouse_compaction_job").tags["trace_platform/writes"] == "warehouse"
    assert {s.name for s in defs.sensors} == {
        "landing_sensor",
        "run_failure_alert_sensor",
        "check_failure_alert_sensor",
        "stale_run_sensor",
    }


def test_checks_run_after_their_assets_and_the_collector_runs_last(defs):
    nightly = defs.resolve_job_def("nightly_trace_job")
    structure = nightly.graph.dependency_structure

    def upstream(node: str) -> set[str]:
        return {
            o.node.name for outs in structure.input_to_upstream_outputs_for_node(node).values() for o in outs
        }

    assert upstream("raw_zone_checks") == {"raw_trace_events"}
    assert "raw_zone_checks" in upstream("trace_warehouse_models")  # the blocking contract gates dbt
    for checks in ("audit_rule_checks", "gx_staging_checks", "gx_marts_checks"):
        assert upstream(checks) == {"trace_warehouse_models"}
    priorities = {
        node.name: int(node.definition.tags.get("dagster/priority", 0)) for node in nightly.graph.nodes
    }
    # the collector goes after every other ready step; only what depends on it (the reader's
    # second publish, which adds the run's check results) comes later, by dependency
    after_collector = {n for n in priorities if "audit__check_results" in upstream(n)}
    assert after_collector <= {"reader__snapshot_with_checks"}
    assert priorities["audit__check_results"] < min(
        p for n, p in priorities.items() if n != "audit__check_results" and n not in after_collector
    )
