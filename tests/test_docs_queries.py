"""Every SQL block of docs/queries.md runs against a freshly built warehouse."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

QUERIES = Path(__file__).resolve().parents[1] / "docs" / "queries.md"
BLOCKS = re.findall(r"```sql\n(.*?)```", QUERIES.read_text(), flags=re.S)


def test_queries_doc_has_enough_questions():
    assert len(BLOCKS) >= 8


@pytest.mark.slow
@pytest.mark.parametrize("sql", BLOCKS, ids=[f"query{i + 1}" for i in range(len(BLOCKS))])
def test_documented_query_runs(audit_warehouse, sql):
    con = duckdb.connect(str(audit_warehouse), read_only=True)
    try:
        con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.slow
def test_dbt_docs_generate_documents_every_mart(audit_warehouse):
    import json

    from dbt_support import run_dbt

    run_dbt(audit_warehouse, "docs", "generate")
    catalog = json.loads((audit_warehouse.parent / "dbt_target" / "catalog.json").read_text())
    documented = {
        node["metadata"]["schema"] + "." + node["metadata"]["name"] for node in catalog["nodes"].values()
    }
    assert {
        "marts.fct_tool_calls",
        "marts.fct_outcomes",
        "audit.audit_violations",
        "eval.eval_trace_labels",
    } <= documented
