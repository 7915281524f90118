"""The dbt step's streaming (trace_platform/defs/transform/assets.py), without dbt: a step that stops
while dbt still runs stops dbt before the warehouse lock is released, and the tables' row counts
and schemas become observations of the models. tests/test_nightly_job.py runs the real step."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import dagster as dg

from trace_platform.defs.transform.assets import _dbt_stopped_on_exit, _table_observations


def _step(invocation):
    with _dbt_stopped_on_exit(invocation):
        yield "model finished"
        yield "next model finished"


def test_a_step_stopped_mid_stream_stops_dbt_first():
    dbt = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        events = _step(SimpleNamespace(process=dbt, termination_timeout_seconds=10))
        assert next(events) == "model finished"
        events.close()  # what Dagster does to a step it stops while dbt still streams
        assert dbt.poll() is not None
    finally:
        dbt.kill()
        dbt.wait()


def test_a_finished_dbt_is_left_alone():
    dbt = subprocess.Popen([sys.executable, "-c", "pass"])
    dbt.wait()
    assert list(_step(SimpleNamespace(process=dbt, termination_timeout_seconds=10))) == [
        "model finished",
        "next model finished",
    ]
    assert dbt.returncode == 0


def test_the_table_metadata_becomes_one_observation_per_model_and_partition():
    outputs = {"marts_fct_outcomes": dg.AssetKey(["marts", "fct_outcomes"])}
    metadata = {"marts_fct_outcomes": {"dagster/row_count": 3, "partition_rows": 1}}
    [observation] = _table_observations(outputs, metadata, "2026-11-20")
    assert observation.asset_key == dg.AssetKey(["marts", "fct_outcomes"])
    assert observation.partition == "2026-11-20"
    assert observation.metadata["dagster/row_count"].value == 3
