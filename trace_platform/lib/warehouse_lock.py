"""A strict, cross-process writer lock for the DuckDB warehouse file.

DuckDB allows one writer process, and Dagster pools are not a strict lock. Every step that writes
the warehouse holds this advisory lock (fcntl) on `<warehouse>.lock`, so writers queue instead of
colliding, whether they run in one Dagster run, several runs, or the CLI.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class WarehouseLockedError(RuntimeError):
    pass


@contextmanager
def warehouse_write_lock(warehouse: Path, timeout_seconds: float | None = None) -> Iterator[None]:
    timeout = float(os.environ.get("TRACE_PLATFORM_LOCK_TIMEOUT", 600)) if timeout_seconds is None else timeout_seconds
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    lock_path = warehouse.with_name(warehouse.name + ".lock")
    with open(lock_path, "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseLockedError(
                        f"warehouse {warehouse} is locked by another writer (waited {timeout:.0f}s)"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
