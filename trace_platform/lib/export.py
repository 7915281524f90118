"""`trace-platform export --tenant T --out DIR`: one tenant's rows of the redacted analyst tables
(schemas marts, audit and eval) as Parquet, one file per table, plus a manifest.json.

Safety, in layers:
- the tenant id is validated strictly (ASCII letters, digits, '.', '_', '-'; 1-128 characters;
  starting with a letter or digit) and then only ever bound as a query parameter, never pasted
  into SQL or into a path;
- table and column names come from the warehouse catalogue and must be plain identifiers; they are
  quoted as identifiers;
- a table is exported only if its rows can be attributed to one tenant: by its own `tenant_id`, or
  by its `trace_id` through marts.fct_outcomes. Tables that aggregate over all tenants (dims,
  check results) are left out and listed in the manifest with the reason; reference tables without
  tenant data (the audit rule catalogue) are exported whole;
- every text column is passed through redact_text and every JSON column through redact_json once
  more on the way out (the marts are redacted already: a second pass changes nothing there, and
  catches anything a rule added since the table was built);
- files are written into a fresh temporary folder inside DIR and moved into place at the end; DIR
  must be empty or hold a previous export (with --overwrite), so files of another tenant's earlier
  export can never be mixed in.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from trace_platform.lib.duckdb_functions import register_redaction

SCHEMAS = ("marts", "audit", "eval")
# Reference data without tenant rows: exported whole.
REFERENCE_TABLES = {("audit", "audit_rules")}
TENANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MANIFEST = "manifest.json"


class ExportError(ValueError):
    """A user mistake or an unsafe request: one clear line, nothing written."""


@dataclass
class ExportReport:
    tenant: str
    out_dir: Path
    tables: dict[str, int] = field(default_factory=dict)  # "schema.table" -> rows written
    skipped: dict[str, str] = field(default_factory=dict)  # "schema.table" -> why


def validate_tenant(tenant: object) -> str:
    if not isinstance(tenant, str) or not TENANT_ID.fullmatch(tenant) or ".." in tenant:
        shown = repr(tenant)[:80]
        raise ExportError(
            f"invalid tenant id {shown}: expected 1-128 ASCII letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return tenant


def _quote(name: str) -> str:
    if not IDENTIFIER.fullmatch(name):
        raise ExportError(f"refusing to export an object with an unusual name: {name!r}")
    return f'"{name}"'


def _select_list(columns: list[tuple[str, str]]) -> str:
    parts = []
    for name, data_type in columns:
        column = _quote(name)
        if name == "tenant_id":
            parts.append(column)
        elif data_type == "JSON":
            parts.append(f"redact_json({column}) AS {column}")
        elif data_type == "VARCHAR":
            parts.append(f"redact_text({column}) AS {column}")
        elif data_type == "VARCHAR[]":
            parts.append(f"list_transform({column}, lambda __v: redact_text(__v)) AS {column}")
        else:
            parts.append(column)
    return ", ".join(parts)


def _relations(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], list[tuple[str, str]]]:
    found: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, data_type in con.execute(
        "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema IN (SELECT unnest($schemas)) "
        "ORDER BY table_schema, table_name, ordinal_position",
        {"schemas": list(SCHEMAS)},
    ).fetchall():
        found.setdefault((schema, table), []).append((column, data_type))
    return found


def _prepare_out_dir(out_dir: Path, overwrite: bool) -> Path:
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"--out {out_dir} exists and is not a folder")
    if out_dir.is_dir():
        entries = list(out_dir.iterdir())
        if entries and not (overwrite and (out_dir / MANIFEST).is_file()):
            raise ExportError(
                f"--out {out_dir} is not empty; use an empty folder "
                "(or --overwrite to replace a previous export there)"
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def export_tenant(
    con: duckdb.DuckDBPyConnection, tenant: str, out_dir: Path, *, overwrite: bool = False
) -> ExportReport:
    """Writes <out_dir>/<schema>.<table>.parquet for every tenant-attributable analyst table."""
    tenant = validate_tenant(tenant)
    relations = _relations(con)
    if ("marts", "fct_outcomes") not in relations:
        raise ExportError("the warehouse has no marts.fct_outcomes: run the nightly job first")
    known = con.execute(
        "SELECT count(*) FROM marts.fct_outcomes WHERE tenant_id = $tenant", {"tenant": tenant}
    ).fetchone()[0]
    if known == 0:
        raise ExportError(f"no data for tenant {tenant!r} in marts.fct_outcomes")
    register_redaction(con)

    out_dir = _prepare_out_dir(out_dir, overwrite)
    report = ExportReport(tenant=tenant, out_dir=out_dir)
    staging = out_dir / f".partial-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        for (schema, table), columns in sorted(relations.items()):
            name = f"{schema}.{table}"
            names = {c for c, _ in columns}
            relation = f"{_quote(schema)}.{_quote(table)}"
            if "tenant_id" in names:
                where, params = "WHERE tenant_id = $tenant", {"tenant": tenant}
            elif "trace_id" in names:
                where = (
                    "WHERE trace_id IN (SELECT trace_id FROM marts.fct_outcomes WHERE tenant_id = $tenant)"
                )
                params = {"tenant": tenant}
            elif (schema, table) in REFERENCE_TABLES:
                where, params = "", {}
            else:
                report.skipped[name] = "not attributable to one tenant (aggregates over all tenants)"
                continue
            query = f"SELECT {_select_list(columns)} FROM {relation} {where}"
            target = staging / f"{schema}.{table}.parquet"
            con.sql(query, params=params).write_parquet(str(target), compression="zstd")
            report.tables[name] = con.execute(
                "SELECT count(*) FROM read_parquet($path)", {"path": str(target)}
            ).fetchone()[0]
        manifest = {
            "tenant_id": tenant,
            "schemas": list(SCHEMAS),
            "tables": report.tables,
            "skipped": report.skipped,
            "redaction": "every VARCHAR column through redact_text, JSON through redact_json "
            "(docs/security.md)",
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if overwrite:
            for old in out_dir.iterdir():
                if old.is_file() and (old.name == MANIFEST or old.name.endswith(".parquet")):
                    old.unlink()
        for produced in staging.iterdir():
            produced.replace(out_dir / produced.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report
