"""The dbt unit tests of the audit rules (dbt_project/models/audit/_audit_unit_tests.yml).

Each rule's predicate in audit_violations, and the facts of int_tool_call_lifecycle it reads, on
the rows of the hand-written cases, without ingestion: dbt runs them on a scratch warehouse whose
upstream tables are built empty (dbt reads the inputs' column types from them). Also checked from
the manifest: every rule R1-R8, R10, R6U and R7T has a breaching and a clean unit test, each test's
`meta.breaches` is what its expected rows say, and each test named after a case of
tests/test_audit_rules.py expects exactly that case's breaches.
"""

from __future__ import annotations

import csv
import json
import subprocess
from collections import defaultdict

import duckdb
import pytest
from dbt_support import DBT, dbt_env
from test_audit_rules import CASES

from trace_platform.defs.ingest.loader import ensure_raw_tables
from trace_platform.defs.transform.project import DBT_PROJECT_DIR

# The rules audit_violations judges: every rule of the seed but R9 (enforced at ingestion).
SEED = (DBT_PROJECT_DIR / "seeds" / "audit_rules.csv").read_text().splitlines()
RULES = sorted({row["rule_id"] for row in csv.DictReader(SEED)} - {"R9"})


def _key(row: dict) -> str:
    """The key tests/test_audit_rules.py names a breach by."""
    if row["rule_id"] in ("R1", "R7", "R7T"):
        return row["trace_id"]
    return row["event_id"] if row["rule_id"] == "R8" else row["tool_call_id"]


@pytest.fixture(scope="module")
def unit_run(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("dbt_unit_tests")
    warehouse, target = root / "warehouse.duckdb", root / "dbt_target"
    con = duckdb.connect(str(warehouse))
    try:
        ensure_raw_tables(con)  # the staging views read the raw tables
    finally:
        con.close()
    env = {**dbt_env(warehouse), "TRACE_PLATFORM_DBT_UNIT_TESTS": "1"}
    env.pop("DBT_EXCLUDE_RESOURCE_TYPES", None)

    def dbt(*args: str) -> subprocess.CompletedProcess:
        command = [DBT, *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
        return subprocess.run(
            [*command, "--target-path", str(target)], env=env, capture_output=True, text=True
        )

    # The upstream tables, empty (`--empty`), and the seed: dbt types the unit tests' inputs from them.
    for args in (
        ("seed", "--select", "audit_rules"),
        ("run", "--empty", "--select", "+audit_violations", "--exclude", "audit_violations"),
    ):
        prepared = dbt(*args)
        assert prepared.returncode == 0, prepared.stdout[-4000:]
    result = dbt("test", "--select", "test_type:unit")
    manifest = json.loads((target / "manifest.json").read_text())
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {"result": result, "manifest": manifest, "results": results}


def _unit_tests(manifest: dict, model: str = "audit_violations") -> dict[str, dict]:
    return {test["name"]: test for test in manifest["unit_tests"].values() if test["model"] == model}


@pytest.mark.slow
def test_dbt_unit_tests_of_the_audit_rules_pass(unit_run):
    tests = _unit_tests(unit_run["manifest"])
    assert tests, "no unit tests of audit_violations in the manifest"
    statuses = {
        r["unique_id"]: r["status"] for r in unit_run["results"] if r["unique_id"].startswith("unit_test.")
    }
    failed = {uid: status for uid, status in statuses.items() if status != "pass"}
    assert not failed, unit_run["result"].stdout[-6000:]
    # every unit test of the project ran: those of audit_violations and of the facts it reads
    assert set(unit_run["manifest"]["unit_tests"]) == set(statuses), unit_run["result"].stdout[-3000:]
    assert unit_run["result"].returncode == 0, unit_run["result"].stdout[-3000:]


@pytest.mark.slow
def test_every_rule_has_a_breaching_and_a_clean_unit_test(unit_run):
    breaching, clean = defaultdict(list), defaultdict(list)
    for name, test in _unit_tests(unit_run["manifest"]).items():
        meta = test["config"]["meta"]
        expected_rules = {row["rule_id"] for row in test["expect"]["rows"]}
        assert set(meta["breaches"]) == expected_rules, name
        assert set(meta["breaches"]) <= set(meta["rules"]), name
        for rule in meta["rules"]:
            (breaching if rule in meta["breaches"] else clean)[rule].append(name)
    counts = {rule: (len(breaching[rule]), len(clean[rule])) for rule in RULES}
    assert all(b >= 1 and c >= 1 for b, c in counts.values()), counts


@pytest.mark.slow
def test_unit_tests_mirror_the_hand_written_cases(unit_run):
    tests = _unit_tests(unit_run["manifest"])
    missing = sorted(set(CASES) - set(tests))
    assert not missing, f"cases of tests/test_audit_rules.py without a dbt unit test: {missing}"
    for name, (_, expected) in CASES.items():
        rows = tests[name]["expect"]["rows"]
        assert {(row["rule_id"], _key(row)) for row in rows} == expected, name
    facts = _unit_tests(unit_run["manifest"], "int_tool_call_lifecycle")
    assert facts, "no unit tests of the rules' facts (int_tool_call_lifecycle)"
    for name, test in facts.items():
        assert (
            name == test["config"]["meta"]["case"] + "__facts" and test["config"]["meta"]["case"] in CASES
        ), name
