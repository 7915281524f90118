"""`trace-platform export --tenant T --out DIR`: Parquet of the redacted analyst tables holding only
tenant T's rows and no planted secret; hostile tenant ids end in a clear error, with nothing written
and nothing executed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from dbt_support import rows
from redaction_support import TENANTS, all_secrets, planted_warehouse

from trace_platform.lib.export import ExportError, export_tenant, validate_tenant

pytestmark = pytest.mark.integration

CLI = str(Path(sys.executable).parent / "trace-platform")
HOSTILE = [
    "'; DROP TABLE marts.fct_outcomes; --",
    "acme' OR '1'='1",
    'acme" OR 1=1 --',
    "..",
    "../etc",
    "acme/../globex",
    "acme/..",
    ".hidden",
    "ａｃｍｅ",
    "acmé",
    "acme\n",
    "acme\x00",
    "",
    " acme",
    "a" * 200,
    "acme%",
    "acme*",
    "$tenant",
    "acme;globex",
    "-rf",
]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return planted_warehouse(tmp_path_factory)


def _cli(warehouse: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TRACE_PLATFORM_WAREHOUSE": str(warehouse)}
    return subprocess.run([CLI, "export", *args], env=env, capture_output=True, text=True, timeout=300)


def _string_cells(folder: Path) -> dict[str, list[str]]:
    """Every value of every VARCHAR / JSON / VARCHAR[] column of every Parquet file, as text."""
    con = duckdb.connect()
    cells: dict[str, list[str]] = {}
    try:
        for parquet in sorted(folder.glob("*.parquet")):
            relation = con.sql("SELECT * FROM read_parquet($p)", params={"p": str(parquet)})
            columns = [
                c
                for c, t in zip(relation.columns, relation.types, strict=True)
                if str(t) in ("VARCHAR", "JSON", "VARCHAR[]")
            ]
            values = []
            for column in columns:
                values += [
                    r[0]
                    for r in con.execute(
                        f'SELECT "{column}"::VARCHAR FROM read_parquet($p) WHERE "{column}" IS NOT NULL',
                        {"p": str(parquet)},
                    ).fetchall()
                ]
            cells[parquet.name] = values
    finally:
        con.close()
    return cells


@pytest.fixture(scope="module")
def acme_export(warehouse, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "acme"
    result = _cli(warehouse, "--tenant", "acme", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_only_the_tenants_rows_are_exported(warehouse, acme_export):
    out, stdout = acme_export
    assert "exported tenant acme" in stdout
    manifest = json.loads((out / "manifest.json").read_text())
    exported = set(manifest["tables"])
    assert {
        "marts.fct_tool_calls",
        "marts.fct_outcomes",
        "marts.fct_confirmations",
        "marts.fct_permission_checks",
        "marts.fct_side_effects",
        "marts.fct_model_calls",
        "audit.audit_violations",
        "audit.audit_rule_summary",
        "audit.audit_rules",
        "eval.eval_trace_labels",
    } <= exported
    assert {"marts.dim_tools", "marts.dim_agents", "marts.dim_models"} <= set(manifest["skipped"])
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{t}.parquet" for t in exported] + ["manifest.json"]
    )

    con = duckdb.connect()
    try:
        for table in exported:
            path = str(out / f"{table}.parquet")
            columns = con.sql("SELECT * FROM read_parquet($p)", params={"p": path}).columns
            if "tenant_id" in columns:
                assert con.execute(
                    "SELECT count(*) FROM read_parquet($p) WHERE tenant_id IS DISTINCT FROM 'acme'",
                    {"p": path},
                ).fetchone() == (0,), table
            if "trace_id" in columns:
                assert con.execute(
                    "SELECT count(*) FROM read_parquet($p) WHERE NOT starts_with(trace_id, 'acme-')",
                    {"p": path},
                ).fetchone() == (0,), table
    finally:
        con.close()
    # every row of the tenant is there
    for table in ("marts.fct_tool_calls", "marts.fct_outcomes", "audit.audit_violations"):
        assert (
            manifest["tables"][table]
            == rows(warehouse, f"SELECT count(*) FROM {table} WHERE tenant_id = 'acme'")[0][0]
            > 0
        )
    assert manifest["tables"]["eval.eval_trace_labels"] == 3


def test_no_other_tenant_and_no_secret_anywhere_in_the_files(acme_export):
    out, _ = acme_export
    cells = _string_cells(out)
    assert sum(len(v) for v in cells.values()) > 100
    needles = {p.value for values in all_secrets().values() for p in values}
    needles |= {re.sub(r"[\s().-]", "", n) for n in needles if len(re.sub(r"[\s().-]", "", n)) >= 8}
    others = [t for t in TENANTS if t != "acme"]
    for name, values in cells.items():
        for value in values:
            assert not any(other in value for other in others), (name, value)
            leaked = [n for n in needles if n in value]
            assert leaked == [], (name, leaked)
    # and the placeholders are there instead
    joined = " ".join(v for values in cells.values() for v in values)
    for label in ("email", "card", "phone", "iban", "secret", "api_key", "password", "private_key"):
        assert f"[REDACTED:{label}]" in joined, label


def test_the_other_tenant_exports_its_own_rows_only(warehouse, tmp_path):
    report_dir = tmp_path / "globex"
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        report = export_tenant(con, "globex", report_dir)
    finally:
        con.close()
    assert report.tables["marts.fct_outcomes"] == 3
    joined = " ".join(v for values in _string_cells(report_dir).values() for v in values)
    assert "acme" not in joined and "globex-secrets" in joined


@pytest.mark.parametrize("tenant", HOSTILE)
def test_hostile_tenant_ids_are_refused_before_any_sql(tenant):
    with pytest.raises(ExportError, match="invalid tenant id"):
        validate_tenant(tenant)


def test_hostile_tenant_ids_on_the_command_line(warehouse, tmp_path):
    before = rows(warehouse, "SELECT count(*) FROM marts.fct_outcomes")
    for i, tenant in enumerate(t for t in HOSTILE if "\x00" not in t):  # argv cannot carry NUL
        out = tmp_path / f"out{i}"
        result = _cli(warehouse, "--tenant", tenant, "--out", str(out))
        assert result.returncode != 0, tenant
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: invalid tenant id"), (tenant, result.stderr)
        assert not out.exists()
    assert rows(warehouse, "SELECT count(*) FROM marts.fct_outcomes") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_unknown_tenant_and_unsafe_folders_are_clear_errors(warehouse, tmp_path):
    result = _cli(warehouse, "--tenant", "nobody", "--out", str(tmp_path / "x"))
    assert result.returncode != 0 and "no data for tenant 'nobody'" in result.stderr
    assert not (tmp_path / "x").exists()

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    result = _cli(warehouse, "--tenant", "acme", "--out", str(busy))
    assert result.returncode != 0 and "is not empty" in result.stderr
    assert sorted(p.name for p in busy.iterdir()) == ["notes.txt"]

    a_file = tmp_path / "file"
    a_file.write_text("x")
    result = _cli(warehouse, "--tenant", "acme", "--out", str(a_file))
    assert result.returncode != 0 and "not a folder" in result.stderr


def test_overwrite_replaces_a_previous_export_entirely(warehouse, tmp_path):
    out = tmp_path / "shared"
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        export_tenant(con, "acme", out)
        with pytest.raises(ExportError, match="not empty"):
            export_tenant(con, "globex", out)
        export_tenant(con, "globex", out, overwrite=True)
    finally:
        con.close()
    assert json.loads((out / "manifest.json").read_text())["tenant_id"] == "globex"
    joined = " ".join(v for values in _string_cells(out).values() for v in values)
    assert "acme" not in joined
    assert not [p for p in out.iterdir() if p.name.startswith(".partial")]
