"""Data-quality checks guarding the audit trail (docs/quality.md).

Modules (imported explicitly; this package imports nothing so that the dbt translator can read
`thresholds` without pulling in the checks):

* `thresholds.yaml` / `thresholds.py` — the one configuration of thresholds, bands and deadlines;
* `schema_checks.py` — raw zone: schema contract (blocking), schema drift, quarantine rate;
* `rule_checks.py` — one check per audit rule R1-R8, R10 on the mart it concerns (R9: ingestion);
* `gx_suites.py` — Great Expectations suites on staging and marts, per partition;
* `check_results.py` — audit.check_results, the hook and the quality asset that record evaluations;
* `freshness.py` — the marts' freshness policy and deadline check, job and schedule;
* `sensors.py` — alerting on failed runs and failed ERROR checks;
* `definitions.py` — `defs`: what this folder contributes to the code location (trace_platform/definitions.py).
"""
