"""The dbt project's incremental engine is plain dbt (issue 18): no macro replaces one of dbt's or
dbt-duckdb's, nothing is kept in dbt's `graph`, no hook writes a model from outside it, and every
trace-scoped model names its rebuild scope with a visible ref()."""

import json
import re
from pathlib import Path

import dbt.include
import pytest

PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"
MACRO = re.compile(r"\{%-?\s*(?:macro|materialization)\s+([A-Za-z0-9_]+)")

# dbt documents generate_schema_name as the way to name schemas; it is a setting, not an internal.
DOCUMENTED_CUSTOMISATIONS = {"generate_schema_name"}


def _macro_names(root: Path) -> set[str]:
    return {name for path in root.rglob("*.sql") for name in MACRO.findall(path.read_text())}


def _project_sql() -> dict[Path, str]:
    return {
        path: path.read_text()
        for folder in ("macros", "models", "tests")
        for path in (PROJECT / folder).rglob("*.sql")
    }


def test_no_project_macro_replaces_one_of_dbt_or_the_adapter():
    installed = set()
    for root in dbt.include.__path__:
        installed |= _macro_names(Path(root))
    assert "get_where_subquery" in installed and "duckdb__create_table_as" in installed  # the scan works
    overrides = (_macro_names(PROJECT / "macros") & installed) - DOCUMENTED_CUSTOMISATIONS
    assert not overrides, f"dbt_project/macros redefines dbt/adapter macros: {sorted(overrides)}"


def test_nothing_is_kept_in_the_graph_and_no_run_hook_writes_models():
    for path, text in _project_sql().items():
        assert not re.search(r"graph\s*\.\s*(setdefault|update|pop)|graph\s*\[", text), path
    project = (PROJECT / "dbt_project.yml").read_text()
    assert "on-run-end" not in project and "on-run-start" not in project
    assert "__nightly_scope__" not in project


@pytest.fixture(scope="module")
def manifest() -> dict:
    # prepared by `make install` (dbt parse), as for every test that reads the manifest
    return json.loads((PROJECT / "target" / "manifest.json").read_text())


def test_every_trace_scoped_model_refs_its_scope_and_deletes_it_in_its_own_pre_hook(manifest):
    scoped = {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and "trace_scoped" in node["tags"]
    }
    assert len(scoped) == 13
    for name, node in scoped.items():
        assert node["config"]["materialized"] == "incremental", name
        # dbt's own strategies: append after the pre-hook's delete (eval: delete+insert for moved intents)
        assert node["config"]["incremental_strategy"] in ("append", "delete+insert"), name
        assert {"model.trace_platform.int_rebuild_scope", "model.trace_platform.int_rebuild_days"} <= set(
            node["depends_on"]["nodes"]
        ), name
        assert "ref('int_rebuild_scope')" in node["raw_code"], name
        hooks = node["config"]["pre-hook"]
        assert [hook["transaction"] for hook in hooks] == [False], name
        assert hooks[0]["sql"].startswith("{{ delete_rebuilt_traces("), name
    # the log of complete builds depends on every trace-scoped model, so dbt skips it after a failure
    completed = manifest["nodes"]["model.trace_platform.int_completed_builds"]
    assert {f"model.trace_platform.{name}" for name in scoped} <= set(completed["depends_on"]["nodes"])


def test_every_test_of_a_trace_scoped_model_states_its_scope_in_the_yaml(manifest):
    scoped = {
        node["unique_id"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and "trace_scoped" in node["tags"]
    }
    tests = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test" and node.get("attached_node") in scoped
    ]
    assert len(tests) > 50
    for test in tests:
        where = test["config"].get("where") or ""
        assert "intermediate.int_rebuild_scope" in where and "intermediate.int_rebuild_days" in where, test[
            "unique_id"
        ]
