"""Warehouse compaction: merges the row groups that deletes have thinned out.

The nightly job's connections run without DuckDB's row-group vacuum (lib/settings.py NO_VACUUM):
each night deletes and re-inserts the traces it rebuilds, and the vacuum at the next checkpoint would
rewrite about a day of every trace-scoped table (~7 s a night at 1M events a day). The compaction
does that work once, off the nightly path: on a connection with the vacuum on, a checkpoint merges
every thinned row group of every table. A checkpoint only runs when something was written, so the
log row written first is also what makes it run.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import duckdb

LOG_DDL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE TABLE IF NOT EXISTS raw.warehouse_compactions (
    started_at          TIMESTAMPTZ NOT NULL,
    seconds             DOUBLE,            -- the checkpoint that merged the row groups
    block_size          BIGINT,
    used_blocks_before  BIGINT,
    used_blocks_after   BIGINT,            -- before - after: the blocks the merge freed for reuse
    free_blocks_after   BIGINT
);
"""


@dataclass
class CompactionReport:
    seconds: float
    block_size: int
    used_blocks_before: int
    used_blocks_after: int
    free_blocks_after: int

    @property
    def bytes_reclaimed(self) -> int:
        return (self.used_blocks_before - self.used_blocks_after) * self.block_size

    def metadata(self) -> dict:
        return {**asdict(self), "bytes_reclaimed": self.bytes_reclaimed}


def _blocks(con: duckdb.DuckDBPyConnection) -> tuple[int, int, int]:
    """(block_size, used_blocks, free_blocks) of the connection's database file."""
    size, used, free = con.execute(
        "SELECT block_size, used_blocks, free_blocks FROM pragma_database_size() "
        "WHERE database_name = current_database()"
    ).fetchone()
    return int(size), int(used), int(free)


def compact(con: duckdb.DuckDBPyConnection) -> CompactionReport:
    """Merges thinned row groups (a checkpoint with the vacuum on) and logs it in raw.warehouse_compactions."""
    if int(con.execute("SELECT current_setting('max_vacuum_tasks')").fetchone()[0]) == 0:
        raise ValueError("compaction needs a connection with DuckDB's vacuum on (max_vacuum_tasks > 0)")
    con.execute(LOG_DDL)
    block_size, used_before, _ = _blocks(con)
    con.execute(
        "INSERT INTO raw.warehouse_compactions (started_at, block_size, used_blocks_before) "
        "VALUES (now(), ?, ?)",
        [block_size, used_before],
    )
    started = time.perf_counter()
    con.execute("CHECKPOINT")
    seconds = time.perf_counter() - started
    _, used_after, free_after = _blocks(con)
    con.execute(
        "UPDATE raw.warehouse_compactions SET seconds = ?, used_blocks_after = ?, free_blocks_after = ? "
        "WHERE started_at = (SELECT max(started_at) FROM raw.warehouse_compactions)",
        [seconds, used_after, free_after],
    )
    return CompactionReport(
        seconds=round(seconds, 3),
        block_size=block_size,
        used_blocks_before=used_before,
        used_blocks_after=used_after,
        free_blocks_after=free_after,
    )
