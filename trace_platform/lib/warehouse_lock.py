"""A strict, cross-process writer lock for the DuckDB warehouse file, and what to do when it is busy.

DuckDB allows one writer process, and Dagster pools are not a strict lock. Every step that writes
the warehouse holds this advisory lock (fcntl) on `<warehouse>.lock`, so writers queue instead of
colliding, whether they run in one Dagster run, several runs, or the CLI.

A process that is not one of ours can still hold the DuckDB file itself (an analyst's `duckdb`
shell or notebook opened the warehouse directly; a hung process): DuckDB then refuses to open it,
even read-only. After taking the writer lock we therefore wait, with backoff, until no other process
holds a lock on the warehouse file (read from /proc/locks, without opening the file: closing any
descriptor of a file drops this process's own POSIX locks on it). If it stays busy, the step fails
with one clear line naming the holder; inside a Dagster step the failure asks Dagster to retry the
step later (RetryRequested, exponential backoff), so a released lock lets the run finish on its own.

Settings (environment): TRACE_PLATFORM_LOCK_TIMEOUT (seconds to wait in place, default 600),
TRACE_PLATFORM_LOCK_RETRIES (Dagster step retries after that, default 3),
TRACE_PLATFORM_LOCK_RETRY_DELAY (first retry delay in seconds, doubled each retry, default 60).
"""

from __future__ import annotations

import fcntl
import logging
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class WarehouseLockedError(RuntimeError):
    pass


def lock_timeout() -> float:
    return float(os.environ.get("TRACE_PLATFORM_LOCK_TIMEOUT", 600))


def lock_retries() -> int:
    return int(os.environ.get("TRACE_PLATFORM_LOCK_RETRIES", 3))


def lock_retry_delay(attempt: int) -> float:
    """Exponential backoff with +-20 % jitter: delay, 2 x delay, 4 x delay, ..."""
    base = float(os.environ.get("TRACE_PLATFORM_LOCK_RETRY_DELAY", 60))
    return base * (2 ** max(0, attempt)) * random.uniform(0.8, 1.2)


# --- who holds the DuckDB file ------------------------------------------------------------------


def _process_command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    command = " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    return command[:120] + ("..." if len(command) > 120 else "")


def foreign_lock_holders(path: Path) -> list[int]:
    """PIDs of *other* processes holding a lock on `path` (Linux /proc/locks; [] when unknown)."""
    try:
        st = os.stat(path)
        text = Path("/proc/locks").read_text()
    except OSError:
        return []
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    own = os.getpid()
    holders: list[int] = []
    for line in text.splitlines():
        fields = line.split()
        if "->" in fields or len(fields) < 6:
            continue  # a waiter, not a holder
        pid_field, device_field = fields[4], fields[5]
        if device_field != device or not pid_field.lstrip("-").isdigit():
            continue
        pid = int(pid_field)
        if pid > 0 and pid != own and pid not in holders:
            holders.append(pid)
    return holders


def describe_holders(pids: list[int]) -> str:
    return ", ".join(f"PID {pid}: {_process_command(pid)}" for pid in pids) or "unknown process"


_DUCKDB_HOLDER = re.compile(r"Conflicting lock is held in (.*?) \(PID (\d+)\)")


def is_lock_conflict(exc: BaseException) -> bool:
    text = str(exc)
    return "Could not set lock on file" in text or "Conflicting lock" in text


def locked_message(warehouse: Path, holder: str, waited: float) -> str:
    return (
        f"warehouse {warehouse} is locked by another process ({holder}); waited {waited:.0f}s. "
        "Close that process (analysts: query the reader snapshot with `trace-platform query`, "
        "never the warehouse file) and the run retries"
    )


# --- failing clearly, and asking Dagster for a retry ---------------------------------------------


def _current_step_context():
    try:
        import dagster as dg

        return dg.OpExecutionContext.get()
    except Exception:  # not inside a Dagster step (CLI, tests, scripts)
        return None


def raise_locked(error: WarehouseLockedError) -> None:
    """Raises `error`; inside a Dagster step, as the cause of a RetryRequested with backoff."""
    context = _current_step_context()
    if context is None:
        raise error
    import dagster as dg

    attempt = int(getattr(context, "retry_number", 0) or 0)
    delay = lock_retry_delay(attempt)
    try:
        context.log.warning(f"{error} (attempt {attempt + 1} of {lock_retries() + 1}; next in {delay:.0f}s)")
    except Exception:
        pass
    raise dg.RetryRequested(max_retries=lock_retries(), seconds_to_wait=delay) from error


def _note_waiting(message: str) -> None:
    context = _current_step_context()
    if context is not None:
        try:
            context.log.warning(message)
            return
        except Exception:
            pass
    log.warning(message)


def wait_until_file_free(warehouse: Path, deadline: float) -> None:
    """Waits (backoff 0.2 s -> 5 s) until no other process holds the DuckDB file, or fails clearly."""
    started = time.monotonic()
    delay = 0.2
    noted = False
    while True:
        holders = foreign_lock_holders(warehouse)
        if not holders:
            return
        if time.monotonic() >= deadline:
            raise_locked(
                WarehouseLockedError(
                    locked_message(warehouse, describe_holders(holders), time.monotonic() - started)
                )
            )
        if not noted:
            _note_waiting(
                f"warehouse {warehouse} is held by another process ({describe_holders(holders)}); "
                f"waiting up to {max(0.0, deadline - time.monotonic()):.0f}s"
            )
            noted = True
        time.sleep(min(delay, max(0.05, deadline - time.monotonic())))
        delay = min(delay * 2, 5.0)


def connect_with_retry(connect: Callable[[], T], warehouse: Path, timeout_seconds: float | None = None) -> T:
    """Calls `connect` (a DuckDB connect), retrying with backoff while the file is locked elsewhere."""
    timeout = lock_timeout() if timeout_seconds is None else timeout_seconds
    started = time.monotonic()
    delay = 0.2
    while True:
        try:
            return connect()
        except Exception as exc:  # duckdb.IOException; imported lazily by callers
            if not is_lock_conflict(exc):
                raise
            waited = time.monotonic() - started
            if waited >= timeout:
                match = _DUCKDB_HOLDER.search(str(exc))
                holder = (
                    f"PID {match.group(2)}: {_process_command(int(match.group(2)))}"
                    if match
                    else describe_holders(foreign_lock_holders(warehouse))
                )
                raise_locked(WarehouseLockedError(locked_message(warehouse, holder, waited)))
            time.sleep(min(delay, max(0.05, timeout - waited)))
            delay = min(delay * 2, 5.0)


@contextmanager
def warehouse_write_lock(warehouse: Path, timeout_seconds: float | None = None) -> Iterator[None]:
    timeout = lock_timeout() if timeout_seconds is None else timeout_seconds
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
                    raise_locked(
                        WarehouseLockedError(
                            f"warehouse {warehouse} is locked by another writer (waited {timeout:.0f}s)"
                        )
                    )
                time.sleep(0.2)
        try:
            # Our lock is ours; the DuckDB file may still be held by a process that is not a writer.
            wait_until_file_free(warehouse, deadline)
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
