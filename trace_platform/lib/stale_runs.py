"""Runs whose process died, and waiting for a pool slot without wedging.

A run executed in process (`trace-platform run`, and each daemon-launched run worker: the jobs use
the in-process executor) claims the `duckdb_writer` pool slot step by step in the Dagster instance.
If its process is killed (`kill -9`, OOM killer, a reboot) the run stays STARTED and keeps the slot
for ever: Dagster's run monitoring cannot see a dead in-process worker with the default run
launcher. Every later run then waits for the slot, and Dagster's in-process executor waits in a
busy loop that neither sleeps nor looks at SIGINT/SIGTERM (dagster 1.13:
`InstanceConcurrencyContext.interval_to_next_pending_claim_check` is always <= 0, and interrupts
are only raised when a step starts).

So:

- Every run records the process that executes it, as run tags (`trace_platform/host`, `_pid`,
  `_process_start`: boot id and start time in clock ticks, so a reused PID is never mistaken for
  the run's process). Runs without them (launched by other code) are judged by the PID in
  Dagster's "Started process for run (pid: N)" / "Executing steps in process (pid: N)" engine
  events, on this machine only (the default run launcher), with the event time as the guard
  against a reused PID.
- `recover_stale_runs` marks a run whose process is gone as failed and frees its pool slots (and
  frees slots still held by runs that already ended). The CLI calls it before each run, the
  `stale_run_sensor` every minute, and a run waiting for a slot calls it for the slot's holder.
- `wait_for_pools` (CLI, before a run starts) waits, sleeping, while a live run holds a slot of the
  job's pools, up to TRACE_PLATFORM_LOCK_TIMEOUT, then fails with one line.
- `PoolWaitGuard` watches a run while it executes: when the run is blocked on a pool slot it
  recovers a dead holder, and on SIGINT/SIGTERM or after TRACE_PLATFORM_LOCK_TIMEOUT of waiting it
  stops the run (the run fails with one clear message).
"""

from __future__ import annotations

import ctypes
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

HOST_TAG = "trace_platform/host"
PID_TAG = "trace_platform/pid"
PROCESS_START_TAG = "trace_platform/process_start"

ALIVE, GONE, UNKNOWN = "alive", "gone", "unknown"

# The start time in /proc is in clock ticks after boot; the boot time in /proc/stat in whole
# seconds: a process judged by an event time gets this much slack.
_START_SLACK_SECONDS = 2.0


# --- which process is this, and is that one still there ------------------------------------------


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks after boot) of a process, from /proc; None if unreadable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses; fields after the last ')'
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def _started_at_epoch(start_ticks: int) -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return int(line.split()[1]) + start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        pass
    return None


@dataclass(frozen=True)
class ProcessIdentity:
    host: str  # "" when unknown (then: this machine)
    pid: int
    start: str | None = None  # "<boot id>:<start ticks>"; None when unknown

    def tags(self) -> dict[str, str]:
        tags = {HOST_TAG: self.host, PID_TAG: str(self.pid)}
        if self.start:
            tags[PROCESS_START_TAG] = self.start
        return tags

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> ProcessIdentity | None:
        pid = tags.get(PID_TAG, "")
        if not pid.isdigit() or int(pid) <= 0:
            return None
        return cls(host=tags.get(HOST_TAG, ""), pid=int(pid), start=tags.get(PROCESS_START_TAG) or None)

    def describe(self) -> str:
        return f"{self.pid}" + (f" on {self.host}" if self.host and self.host != socket.gethostname() else "")


def current_process() -> ProcessIdentity:
    pid = os.getpid()
    boot, stat = _boot_id(), _proc_stat(pid)
    start = f"{boot}:{stat[1]}" if boot and stat else None
    return ProcessIdentity(host=socket.gethostname(), pid=pid, start=start)


def process_state(identity: ProcessIdentity, not_started_after: float | None = None) -> str:
    """ALIVE, GONE, or UNKNOWN (another machine): is the process `identity` names still running?

    `identity.start` pins the exact process (a reused PID has another start time). Without it,
    `not_started_after` (a time the process is known to have been running: an event it wrote)
    rules out a process that started later under the same PID.
    """
    if identity.host and identity.host != socket.gethostname():
        return UNKNOWN
    boot = None
    if identity.start:
        boot, _, ticks = identity.start.rpartition(":")
        current_boot = _boot_id()
        if boot and current_boot and boot != current_boot:
            return GONE  # the machine restarted since
    try:
        os.kill(identity.pid, 0)
    except ProcessLookupError:
        return GONE
    except PermissionError:
        pass  # exists, owned by another user
    except OSError:
        return UNKNOWN
    stat = _proc_stat(identity.pid)
    if stat is None:
        return ALIVE  # it exists; nothing more to compare (no /proc)
    state, start_ticks = stat
    if state in ("Z", "X"):
        return GONE  # dead, not yet reaped by its parent
    if identity.start:
        return ALIVE if ticks.isdigit() and int(ticks) == start_ticks else GONE
    if not_started_after is not None:
        started = _started_at_epoch(start_ticks)
        if started is not None and started > not_started_after + _START_SLACK_SECONDS:
            return GONE  # the PID was reused by a process that started after the run's one
    return ALIVE


# --- runs and their processes ---------------------------------------------------------------------


def _run_process(instance, run) -> tuple[ProcessIdentity, float | None] | None:
    """The process executing `run` (and a time it was known to run), or None if unknown."""
    identity = ProcessIdentity.from_tags(dict(run.tags))
    if identity is not None:
        return identity, None
    import dagster as dg

    # Launched by other code: the run worker's PID from Dagster's engine events. The default run
    # launcher starts run workers on this machine; with another launcher we cannot tell.
    if not isinstance(instance.run_launcher, dg.DefaultRunLauncher):
        return None
    for entry in reversed(instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)):
        data = entry.dagster_event.event_specific_data if entry.dagster_event else None
        pid = (getattr(data, "metadata", None) or {}).get("pid")
        text = str(getattr(pid, "value", pid)) if pid is not None else ""
        if text.isdigit():
            return ProcessIdentity(host="", pid=int(text)), entry.timestamp
    return None


def _claims(instance) -> dict[str, dict[str, set[str]]]:
    """run id -> {"claimed": pools with a slot claimed, "pending": pools with a step waiting}."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return {}
    claims: dict[str, dict[str, set[str]]] = {}
    for pool, info in storage.get_concurrency_infos(sorted(storage.get_concurrency_keys())).items():
        claimed = {(s.run_id, s.step_key) for s in info.claimed_slots}
        for run_id, _step in claimed:
            claims.setdefault(run_id, {"claimed": set(), "pending": set()})["claimed"].add(pool)
        for step in info.pending_steps:
            if (step.run_id, step.step_key) not in claimed:
                claims.setdefault(step.run_id, {"claimed": set(), "pending": set()})["pending"].add(pool)
    return claims


def _slots_phrase(pools: Iterable[str]) -> str:
    pools = sorted(pools)
    if not pools:
        return "it held no pool slot"
    return f"freed its {', '.join(pools)} slot{'s' if len(pools) > 1 else ''}"


@dataclass(frozen=True)
class Recovery:
    run_id: str
    job_name: str
    pid: int | None  # None: the run had already ended, only its slots were left
    pools: tuple[str, ...]
    status: str = ""

    def line(self) -> str:
        if self.pid is None:
            return (
                f"freed the {', '.join(self.pools)} slot held by run {self.run_id} of {self.job_name}, "
                f"which had already ended ({self.status})"
            )
        return (
            f"recovered run {self.run_id} of {self.job_name}: its process {self.pid} is gone; "
            f"marked failed, {_slots_phrase(self.pools)}"
        )


_IN_FLIGHT = ("NOT_STARTED", "STARTING", "STARTED", "CANCELING")


def recover_stale_runs(
    instance,
    recovered_by: str,
    only_run_ids: Iterable[str] | None = None,
    exclude_run_ids: Iterable[str] = (),
) -> list[Recovery]:
    """Marks runs whose process is gone as failed and frees their pool slots; frees slots still
    held by runs that already ended. Returns what was done (`Recovery.line()` says it in one line)."""
    import dagster as dg

    only = set(only_run_ids) if only_run_ids is not None else None
    exclude = set(exclude_run_ids)
    claims = _claims(instance)
    storage = instance.event_log_storage
    recoveries: list[Recovery] = []
    me = current_process()

    records = []
    if only is None or only:  # RunsFilter refuses an empty list of run ids
        records = instance.get_run_records(
            filters=dg.RunsFilter(
                statuses=[dg.DagsterRunStatus[s] for s in _IN_FLIGHT], run_ids=sorted(only) if only else None
            )
        )
    for record in records:
        run = record.dagster_run
        if run.run_id in exclude:
            continue
        tagged = ProcessIdentity.from_tags(dict(run.tags)) is not None
        if run.status == dg.DagsterRunStatus.NOT_STARTED and not tagged:
            continue  # not ours to judge: nothing runs it yet
        found = _run_process(instance, run)
        if found is None:
            continue
        identity, seen_running_at = found
        if process_state(identity, seen_running_at) != GONE:
            continue
        fresh = instance.get_run_by_id(run.run_id)
        if fresh is None or fresh.status != run.status:
            continue  # finished, or recovered by someone else, meanwhile
        pools = tuple(sorted(claims.get(run.run_id, {}).get("claimed", set())))
        instance.report_run_failed(
            fresh,
            f"Marked failed by {recovered_by} (PID {me.pid} on {me.host}): the run's process "
            f"{identity.describe()} is gone (killed, or the machine restarted) while the run was "
            f"{run.status.value}; {_slots_phrase(pools).replace('it held', 'the run held')}.",
        )
        if storage.supports_global_concurrency_limits:
            storage.free_concurrency_slots_for_run(run.run_id)
        recoveries.append(Recovery(run.run_id, run.job_name, identity.pid, pools))

    # Slots left behind by runs that ended (or were deleted) without freeing them.
    recovered = {r.run_id for r in recoveries}
    for run_id, held in claims.items():
        if run_id in recovered or run_id in exclude or (only is not None and run_id not in only):
            continue
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            continue
        storage.free_concurrency_slots_for_run(run_id)
        if held["claimed"]:
            recoveries.append(
                Recovery(
                    run_id,
                    run.job_name if run else "a deleted job",
                    None,
                    tuple(sorted(held["claimed"])),
                    run.status.value if run else "deleted",
                )
            )
    for recovery in recoveries:
        log.info(recovery.line())  # the caller says it (CLI: stderr; sensor, run: Dagster's log)
    return recoveries


# --- waiting for a pool slot ----------------------------------------------------------------------


class PoolBusyError(RuntimeError):
    pass


def _wait_timeout(timeout: float | None) -> float:
    if timeout is not None:
        return timeout
    from trace_platform.lib.warehouse_lock import lock_timeout

    return lock_timeout()


def _holders(instance, pools: set[str], run_id: str | None) -> list[tuple[str, set[str]]]:
    """(run id, pools) of the other runs holding a slot of `pools`."""
    return [
        (other, held["claimed"] & pools)
        for other, held in sorted(_claims(instance).items())
        if other != run_id and held["claimed"] & pools
    ]


def _describe_holders(instance, holders: list[tuple[str, set[str]]]) -> str:
    if not holders:
        return "no run holds a slot, yet none is free (is the pool limit 0? see `dagster instance concurrency get`)"
    parts = []
    for run_id, pools in holders:
        run = instance.get_run_by_id(run_id)
        found = _run_process(instance, run) if run is not None else None
        process = f", process {found[0].describe()}" if found else ""
        job = run.job_name if run is not None else "?"
        status = run.status.value if run is not None else "deleted"
        parts.append(f"run {run_id} of {job} ({status}{process}) holds {', '.join(sorted(pools))}")
    return "; ".join(parts)


def wait_for_pools(
    instance, pools: set[str], report: Callable[[str], None], recovered_by: str, timeout: float | None = None
) -> None:
    """Before a run: recovers stale runs, then sleeps while a live run holds a slot of `pools`.

    Raises PoolBusyError (one line) after `timeout` (TRACE_PLATFORM_LOCK_TIMEOUT). Interruptible:
    this is our own loop, outside Dagster's signal handling.
    """
    timeout = _wait_timeout(timeout)
    started = time.monotonic()
    delay, noted = 0.5, False
    while True:
        for recovery in recover_stale_runs(instance, recovered_by):
            report(recovery.line())
        holders = _holders(instance, pools, None)
        if not holders:
            return
        waited = time.monotonic() - started
        if waited >= timeout:
            raise PoolBusyError(
                f"pool {', '.join(sorted(pools))} is busy: {_describe_holders(instance, holders)}; waited "
                f"{waited:.0f}s (TRACE_PLATFORM_LOCK_TIMEOUT). Let that run finish, or stop it, and run again"
            )
        if not noted:
            report(
                f"waiting up to {timeout - waited:.0f}s for the {', '.join(sorted(pools))} pool: "
                f"{_describe_holders(instance, holders)}"
            )
            noted = True
        time.sleep(min(delay, max(0.05, timeout - waited)))
        delay = min(delay * 2, 5.0)


class PoolWaitTimeout(Exception):
    """Raised into a run blocked on a pool slot for longer than TRACE_PLATFORM_LOCK_TIMEOUT."""


def _raise_in_thread(thread_id: int, exc_type: type[BaseException]) -> None:
    # Dagster's in-process executor waits for a slot in a loop that never looks at interrupts:
    # an asynchronous exception is the one way in. It is raised at the loop's next bytecode.
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc_type))


class PoolWaitGuard:
    """While a run executes (in this thread), watches whether it is blocked on a pool slot.

    Blocked: recovers the slot's holder if its process is gone (the run then takes the slot);
    stops the run on SIGINT/SIGTERM (Dagster captured them and would act only when a step starts)
    or after `timeout` seconds. `stopped` then holds one line saying why.
    """

    def __init__(
        self,
        instance,
        run_id: str,
        report: Callable[[str], None],
        recovered_by: str,
        timeout: float | None = None,
        poll_seconds: float = 1.0,
    ):
        self.instance, self.run_id, self.report, self.recovered_by = instance, run_id, report, recovered_by
        self.timeout = _wait_timeout(timeout)
        self.poll_seconds = poll_seconds
        self.stopped: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._target = threading.get_ident()

    def __enter__(self) -> PoolWaitGuard:
        self._target = threading.get_ident()
        # First query here, not in the thread: two threads importing SQLAlchemy's modules at once
        # (the run is starting too) can see them half-initialised.
        _claims(self.instance)
        self._thread = threading.Thread(target=self._watch, name="pool-wait-guard", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _blocked_on(self) -> set[str]:
        held = _claims(self.instance).get(self.run_id)
        return set(held["pending"]) if held else set()

    def _watch(self) -> None:
        from dagster._utils.interrupts import check_captured_interrupt

        blocked_since: float | None = None
        raised_at = 0.0
        while not self._stop.wait(self.poll_seconds):
            try:
                pools = self._blocked_on()
                if not pools:
                    blocked_since = None
                    continue
                blocked_since = blocked_since or time.monotonic()
                holders = _holders(self.instance, pools, self.run_id)
                try:
                    recoveries = recover_stale_runs(
                        self.instance,
                        self.recovered_by,
                        exclude_run_ids=[self.run_id],
                        only_run_ids=[r for r, _ in holders],
                    )
                except Exception:  # still answer signals and the timeout below
                    log.info("pool wait guard: recovery failed", exc_info=True)
                    recoveries = []
                for recovery in recoveries:
                    self.report(recovery.line())
                if recoveries:
                    continue
                waited = time.monotonic() - blocked_since
                if self.stopped is None:
                    pool_text = ", ".join(sorted(pools))
                    if check_captured_interrupt():
                        self.stopped = (
                            f"interrupted (SIGINT/SIGTERM) while waiting {waited:.0f}s for the "
                            f"{pool_text} pool: {_describe_holders(self.instance, holders)}"
                        )
                    elif waited >= self.timeout:
                        self.stopped = (
                            f"gave up after waiting {waited:.0f}s (TRACE_PLATFORM_LOCK_TIMEOUT) for "
                            f"the {pool_text} pool: {_describe_holders(self.instance, holders)}"
                        )
                if self.stopped is not None and time.monotonic() - raised_at > 5:
                    # Raised again while the run stays blocked (an `except Exception` could eat one).
                    self._abort()
                    raised_at = time.monotonic()
            except Exception:  # a failed poll (storage busy): try again at the next one
                log.info("pool wait guard: poll failed", exc_info=True)

    def _abort(self) -> None:
        import dagster as dg

        message = self.stopped or "stopped"
        if message.startswith("interrupted"):
            exc_type: type[BaseException] = dg.DagsterExecutionInterruptedError
        else:
            exc_type = type(
                "PoolWaitTimeout",
                (PoolWaitTimeout,),
                {"__str__": lambda _self: message, "__module__": __name__},
            )
        _raise_in_thread(self._target, exc_type)
