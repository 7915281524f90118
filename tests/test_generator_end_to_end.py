"""The generator's manifest against the real warehouse: two dirty, gzip-compressed delivery days are
ingested day by day with `ingest_partition` and built with `dbt build`; the line accounting, the
quarantine reasons, the loaded events and the audit findings must be exactly what the generator
says it wrote and injected."""

from __future__ import annotations

import datetime as dt

import pytest
from dbt_support import load_and_build, rows

from trace_platform.sample_data import RULE_VARIANTS, generate

pytestmark = pytest.mark.integration

DAYS = ["2026-11-20", "2026-11-21"]
FIGURES = ("lines_read", "blank_lines", "events_loaded", "duplicates_dropped", "lines_quarantined")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("generated")
    # 150 traces a day: every injected breach variant occurs over the two days
    manifest = generate(
        root / "landing",
        days=2,
        traces_per_day=150,
        seed=23,
        start=dt.date.fromisoformat(DAYS[0]),
        dirty=True,
        gzip_output=True,
    )
    warehouse = root / "warehouse.duckdb"
    load_and_build(warehouse, root / "landing", DAYS)
    return manifest, warehouse


def test_the_run_exercises_every_injection_and_defect(built):
    manifest, _ = built
    assert set(manifest["injections"]) == {f"{r}/{v}" for r, vs in RULE_VARIANTS.items() for v in vs}
    assert all(name.endswith(".jsonl.gz") for name in manifest["files"])
    totals = manifest["totals"]
    assert (
        totals["blank_lines"]
        and totals["duplicates_dropped"]
        and totals["conflicts"]
        and totals["late_events"]
    )


def test_ingest_files_match_the_manifest_figure_by_figure(built):
    manifest, warehouse = built
    actual = {
        r[0]: dict(zip(FIGURES, r[1:], strict=True))
        for r in rows(
            warehouse,
            f"select source_file, {', '.join(FIGURES)} from raw.ingest_files where file_status = 'loaded'",
        )
    }
    expected = {name: {k: f[k] for k in FIGURES} for name, f in manifest["files"].items()}
    assert actual == expected
    assert rows(warehouse, "select count(*) from raw.ingest_files")[0][0] == len(expected)


def test_quarantine_reasons_match_the_manifest(built):
    manifest, warehouse = built
    actual = {
        (r[0], r[1]): r[2]
        for r in rows(warehouse, "select source_file, reason, count(*) from raw.quarantine group by all")
    }
    expected = {
        (name, reason): n
        for name, f in manifest["files"].items()
        for reason, n in f["quarantined_by_reason"].items()
    }
    assert actual == expected


def test_loaded_events_per_type_match_the_manifest(built):
    manifest, warehouse = built
    actual = dict(rows(warehouse, "select event_type, count(*) from raw.trace_events group by all"))
    assert actual == {t: n for t, n in manifest["event_types"].items() if n}
    assert (
        rows(warehouse, "select count(distinct trace_id) from raw.trace_events")[0][0]
        == manifest["totals"]["traces"]
    )


def test_audit_violations_are_exactly_the_injected_breaches(built):
    manifest, warehouse = built
    # the key the warehouse fills for each rule: R1/R7 trace_id, R8 event_id, the others tool_call_id
    found: dict[str, set[str]] = {rule: set() for rule in manifest["expected_breaches"]}
    for rule, key in rows(
        warehouse,
        """
            select rule_id, case when rule_id in ('R1', 'R7') then trace_id
                                 when rule_id = 'R8' then event_id else tool_call_id end
            from audit.audit_violations""",
    ):
        found.setdefault(rule, set()).add(key)
    for rule, keys in manifest["expected_breaches"].items():
        assert found[rule] == set(keys), rule
    assert set(found) == set(manifest["expected_breaches"])
    # one row per breach
    assert (
        rows(warehouse, "select count(*) from audit.audit_violations")[0][0]
        == manifest["totals"]["expected_breaches"]
    )
