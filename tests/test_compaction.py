"""The nightly job's connections skip DuckDB's row-group vacuum; the weekly compaction job does it."""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from trace_platform.defs.maintenance.compaction import warehouse_compaction_job, warehouse_compaction_schedule
from trace_platform.defs.resources import WarehouseResource, warehouse_resource
from trace_platform.lib import settings
from trace_platform.lib.compaction import compact

ROW_GROUPS = "SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('main.events')"


def _thinned_warehouse(path) -> None:
    """Nine row groups, then 70 % of every one deleted through a connection configured as the nightly job's."""
    con = duckdb.connect(str(path), config=settings.warehouse_connection_config())
    con.execute(
        "CREATE TABLE main.events AS SELECT range AS id, md5(range::VARCHAR) AS payload FROM range(1000000)"
    )
    con.close()
    con = duckdb.connect(str(path), config=settings.warehouse_connection_config())
    con.execute("DELETE FROM main.events WHERE id % 10 < 7")
    con.close()


@pytest.mark.slow
def test_the_nightly_jobs_connections_leave_thinned_row_groups_and_compaction_merges_them(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    _thinned_warehouse(path)
    con = duckdb.connect(str(path), config=settings.warehouse_connection_config())
    assert con.execute(ROW_GROUPS).fetchone()[0] == 9  # the checkpoint at close did not merge them
    with pytest.raises(ValueError, match="vacuum"):
        compact(con)
    con.close()

    con = duckdb.connect(str(path))  # DuckDB's default: vacuum on
    report = compact(con)
    assert con.execute(ROW_GROUPS).fetchone()[0] == 3
    assert con.execute("SELECT count(*), sum(id) FROM main.events").fetchone() == (
        300000,
        sum(i for i in range(1000000) if i % 10 >= 7),
    )
    assert report.used_blocks_after < report.used_blocks_before and report.bytes_reclaimed > 0
    logged = con.execute(
        "SELECT seconds, used_blocks_before, used_blocks_after, free_blocks_after "
        "FROM raw.warehouse_compactions"
    ).fetchall()
    assert logged == [
        (
            pytest.approx(report.seconds, abs=0.001),
            report.used_blocks_before,
            report.used_blocks_after,
            report.free_blocks_after,
        )
    ]
    con.close()


@pytest.mark.slow
def test_the_compaction_job_compacts_the_configured_warehouse_and_skips_a_missing_one(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    _thinned_warehouse(path)
    resource = WarehouseResource(database=str(path), connection_config=settings.warehouse_connection_config())
    result = warehouse_compaction_job.execute_in_process(resources={"warehouse": resource})
    assert result.success
    [materialization] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_OUTPUT]
    metadata = materialization.event_specific_data.metadata
    assert metadata["bytes_reclaimed"].value > 0
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute(ROW_GROUPS).fetchone()[0] == 3
    assert con.execute("SELECT count(*) FROM raw.warehouse_compactions").fetchone()[0] == 1
    con.close()

    missing = tmp_path / "none" / "warehouse.duckdb"
    result = warehouse_compaction_job.execute_in_process(
        resources={"warehouse": WarehouseResource(database=str(missing), connection_config={})}
    )
    assert result.success and not missing.exists()


def test_compaction_is_a_weekly_warehouse_writer_and_the_nightly_config_has_no_vacuum():
    assert (
        warehouse_compaction_job.tags["trace_platform/writes"] == "warehouse"
    )  # queued like the nightly job
    assert warehouse_compaction_schedule.cron_schedule == "0 4 * * 0"
    assert warehouse_compaction_schedule.execution_timezone == "UTC"
    assert warehouse_resource().connection_config["max_vacuum_tasks"] == 0
