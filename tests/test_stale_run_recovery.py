"""A killed run must not wedge later runs (issue 17, defect 3; lib/stale_runs.py).

`kill -9` of `trace-platform run` used to leave its Dagster run STARTED, holding the single
`duckdb_writer` pool slot, and the next run spun at full CPU for ever, deaf to SIGINT/SIGTERM.
Now the next run recognises that the run's process is gone, marks it failed, frees its slot and
says so in one line; a run blocked by a *live* holder answers Ctrl-C/SIGTERM and gives up after a
bounded wait with one line.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest

from trace_platform.defs.maintenance.stale_runs import guarded_in_process_executor
from trace_platform.lib import stale_runs
from trace_platform.lib.stale_runs import ALIVE, GONE, UNKNOWN, ProcessIdentity, process_state

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "trace-platform")
POOL = "duckdb_writer"
POOLS_CONFIG = {"concurrency": {"pools": {"default_limit": 1}}}


# --- is that process still there? -----------------------------------------------------------------


def _dead_process() -> ProcessIdentity:
    """The identity of a process that ran and has been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = _identity_of(child.pid)
    child.wait()
    return identity


def _identity_of(pid: int) -> ProcessIdentity:
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    ticks = stale_runs._proc_stat(pid)[1]
    return ProcessIdentity(host=os.uname().nodename, pid=pid, start=f"{boot}:{ticks}")


def test_the_current_process_is_alive_and_its_tags_round_trip():
    me = stale_runs.current_process()
    assert me.pid == os.getpid() and me.start
    assert process_state(me) == ALIVE
    assert ProcessIdentity.from_tags(me.tags()) == me
    assert ProcessIdentity.from_tags({}) is None
    assert ProcessIdentity.from_tags({stale_runs.PID_TAG: "x"}) is None


def test_a_reaped_process_is_gone():
    assert process_state(_dead_process()) == GONE


def test_a_killed_but_unreaped_process_is_gone():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        identity = _identity_of(child.pid)
        assert process_state(identity) == ALIVE
        child.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while stale_runs._proc_stat(child.pid)[0] != "Z" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process_state(identity) == GONE  # a zombie: dead, its parent has not waited yet
    finally:
        child.kill()
        child.wait()


def test_a_reused_pid_is_not_the_runs_process():
    me = stale_runs.current_process()
    boot, _, ticks = me.start.rpartition(":")
    assert process_state(ProcessIdentity(me.host, me.pid, f"{boot}:{int(ticks) - 1}")) == GONE
    assert process_state(ProcessIdentity(me.host, me.pid, f"another-boot:{ticks}")) == GONE  # rebooted
    # Known only from an event: a process that started after the event cannot have written it.
    assert process_state(ProcessIdentity("", me.pid), not_started_after=time.time() - 3600) == GONE
    assert process_state(ProcessIdentity("", me.pid), not_started_after=time.time()) == ALIVE


def test_a_process_on_another_machine_is_left_alone():
    assert process_state(ProcessIdentity("some-other-host", os.getpid(), None)) == UNKNOWN


# --- recovering runs in the instance ------------------------------------------------------------------


def _fake_run(
    instance, identity: ProcessIdentity | None, status=dg.DagsterRunStatus.STARTED, slot: bool = True
) -> str:
    run_id = str(uuid.uuid4())
    instance.add_run(
        dg.DagsterRun(
            job_name="nightly_trace_job",
            run_id=run_id,
            status=status,
            tags=identity.tags() if identity else {},
        )
    )
    if slot:
        storage = instance.event_log_storage
        if POOL not in storage.get_concurrency_keys():
            storage.initialize_concurrency_limit_to_default(POOL)
        assert storage.claim_concurrency_slot(POOL, run_id, "raw_trace_events", 0).is_claimed
    return run_id


def _claimed(instance) -> list:
    return instance.event_log_storage.get_concurrency_info(POOL).claimed_slots


@pytest.mark.slow
def test_a_run_whose_process_is_gone_is_marked_failed_and_its_slot_freed():
    with dg.instance_for_test(overrides=POOLS_CONFIG) as instance:
        dead = _fake_run(instance, _dead_process())
        recoveries = stale_runs.recover_stale_runs(instance, recovered_by="test")
        assert [r.line() for r in recoveries] == [
            f"recovered run {dead} of nightly_trace_job: its process {recoveries[0].pid} is gone; "
            "marked failed, freed its duckdb_writer slot"
        ]
        assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
        assert _claimed(instance) == []
        assert stale_runs.recover_stale_runs(instance, recovered_by="test") == []  # once


@pytest.mark.slow
def test_live_and_foreign_runs_are_left_alone_and_leftover_slots_freed():
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        with dg.instance_for_test(overrides=POOLS_CONFIG) as instance:
            instance.event_log_storage.set_concurrency_slots(POOL, 3)
            live = _fake_run(instance, _identity_of(sleeper.pid))
            foreign = _fake_run(instance, ProcessIdentity("some-other-host", 4242, None))
            ended = _fake_run(instance, None, status=dg.DagsterRunStatus.FAILURE)  # failed by hand, slot kept
            recoveries = stale_runs.recover_stale_runs(instance, recovered_by="test")
            assert [r.line() for r in recoveries] == [
                f"freed the duckdb_writer slot held by run {ended} of nightly_trace_job, which had already "
                "ended (FAILURE)"
            ]
            assert {s.run_id for s in _claimed(instance)} == {live, foreign}
            assert instance.get_run_by_id(live).status == dg.DagsterRunStatus.STARTED
            assert instance.get_run_by_id(foreign).status == dg.DagsterRunStatus.STARTED
    finally:
        sleeper.kill()
        sleeper.wait()


# --- a run blocked on the pool slot ---------------------------------------------------------------


@dg.op(pool=POOL)
def writes_the_warehouse():
    return 1


@dg.job
def pool_job():
    writes_the_warehouse()


def _guarded_run(instance, timeout: float, lines: list[str]):
    run_id = str(uuid.uuid4())
    with stale_runs.PoolWaitGuard(
        instance, run_id, lines.append, recovered_by="test", timeout=timeout, poll_seconds=0.2
    ) as guard:
        result = pool_job.execute_in_process(instance=instance, run_id=run_id, raise_on_error=False)
    return result, guard


@pytest.mark.slow
def test_a_run_blocked_by_a_dead_holder_recovers_it_and_runs():
    with dg.instance_for_test(overrides=POOLS_CONFIG) as instance:
        dead = _fake_run(instance, _dead_process())
        lines: list[str] = []
        result, guard = _guarded_run(instance, timeout=60, lines=lines)
        assert result.success and guard.stopped is None
        assert len(lines) == 1 and lines[0].startswith(
            f"recovered run {dead} of nightly_trace_job: its process"
        )
        assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
        assert _claimed(instance) == []


@pytest.mark.slow
def test_a_run_blocked_by_a_live_holder_gives_up_after_the_timeout_with_one_line():
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        with dg.instance_for_test(overrides=POOLS_CONFIG) as instance:
            live = _fake_run(instance, _identity_of(sleeper.pid))
            started = time.monotonic()
            result, guard = _guarded_run(instance, timeout=2, lines=[])
            elapsed = time.monotonic() - started
            assert not result.success
            assert elapsed < 30
            assert guard.stopped.startswith("gave up after waiting")
            holder = f"run {live} of nightly_trace_job (STARTED, process {sleeper.pid}) holds duckdb_writer"
            assert holder in guard.stopped
            failure = result.get_run_failure_event()
            assert "TRACE_PLATFORM_LOCK_TIMEOUT" in str(failure.event_specific_data.error.message)
            # the blocked run's place in the queue is gone; the live holder keeps its slot
            info = instance.event_log_storage.get_concurrency_info(POOL)
            assert [s.run_id for s in info.claimed_slots] == [live]
            assert result.run_id not in {p.run_id for p in info.pending_steps}
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.slow
def test_a_run_blocked_with_no_holder_at_all_gives_up_too():
    with dg.instance_for_test(overrides=POOLS_CONFIG) as instance:
        instance.event_log_storage.set_concurrency_slots(POOL, 0)  # nobody can ever claim it
        result, guard = _guarded_run(instance, timeout=2, lines=[])
        assert not result.success
        assert "for the duckdb_writer pool: no run holds a slot, yet none is free" in guard.stopped


BLOCKED_CHILD = textwrap.dedent(r"""
    import sys, uuid
    import dagster as dg
    sys.path.insert(0, sys.argv[2])
    from test_stale_run_recovery import pool_job
    from trace_platform.lib import stale_runs
    instance = dg.DagsterInstance.from_config(sys.argv[1])
    run_id = str(uuid.uuid4())
    with stale_runs.PoolWaitGuard(instance, run_id, print, recovered_by="child", timeout=600,
                                  poll_seconds=0.2) as guard:
        print("RUN", run_id, flush=True)
        result = pool_job.execute_in_process(instance=instance, run_id=run_id, raise_on_error=False)
    print("STOPPED", guard.stopped, flush=True)
    print("SUCCESS", result.success, flush=True)
""")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_run_blocked_by_a_live_holder_answers_sigint_and_sigterm(tmp_path, signum):
    (tmp_path / "dagster.yaml").write_text("concurrency:\n  pools:\n    default_limit: 1\n")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    child = None
    try:
        with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
            _fake_run(instance, _identity_of(sleeper.pid))
            child = subprocess.Popen(
                [sys.executable, "-c", BLOCKED_CHILD, str(tmp_path), str(ROOT / "tests")],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=ROOT,
            )
            line = ""
            while not line.startswith("RUN "):
                line = child.stdout.readline()
                assert line, "the child ended before its run started"
            run_id = line.split()[-1]
            deadline = time.monotonic() + 120
            while not any(
                p.run_id == run_id
                for p in instance.event_log_storage.get_concurrency_info(POOL).pending_steps
            ):
                assert time.monotonic() < deadline and child.poll() is None, "the child never blocked"
                time.sleep(0.2)
            time.sleep(1)
            child.send_signal(signum)
            out, _ = child.communicate(timeout=30)
            assert "STOPPED interrupted (SIGINT/SIGTERM) while waiting" in out, out
            assert "SUCCESS False" in out
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
            assert not any(
                p.run_id == run_id
                for p in instance.event_log_storage.get_concurrency_info(POOL).pending_steps
            )
    finally:
        for process in (sleeper, child):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()


@dg.job(executor_def=guarded_in_process_executor)
def guarded_pool_job():
    writes_the_warehouse()


@pytest.mark.slow
def test_the_nightly_jobs_executor_records_its_process_on_the_run():
    from trace_platform.defs.jobs import nightly_trace_job

    assert nightly_trace_job.executor_def is guarded_in_process_executor
    with dg.instance_for_test(overrides=POOLS_CONFIG) as instance:
        with dg.execute_job(dg.reconstructable(guarded_pool_job), instance=instance) as result:
            assert result.success
        tags = instance.get_run_by_id(result.run_id).tags
        assert ProcessIdentity.from_tags(tags) == stale_runs.current_process()


@pytest.mark.slow
def test_the_stale_run_sensor_recovers_dead_runs():
    from trace_platform.defs.maintenance.stale_runs import stale_run_sensor

    with dg.instance_for_test(overrides=POOLS_CONFIG) as instance:
        dead = _fake_run(instance, _dead_process())
        result = stale_run_sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert f"recovered run {dead} of nightly_trace_job" in result.skip_message
        assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
        assert _claimed(instance) == []


@pytest.mark.slow
def test_the_instance_config_enables_run_monitoring(tmp_path):
    from trace_platform.lib.instance import DAGSTER_YAML

    (tmp_path / "dagster.yaml").write_text(DAGSTER_YAML)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0


# --- the reported case, end to end ------------------------------------------------------------------

DAY = "2026-11-20"


def _run_cli(env: dict, *args: str, timeout: float) -> tuple[int, str, float]:
    """(exit code, output, seconds); a run that hangs is killed and fails the test."""
    started = time.monotonic()
    process = subprocess.Popen(
        [CLI, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        pytest.fail(f"`trace-platform {' '.join(args)}` hung for {timeout:.0f}s; output tail:\n{out[-3000:]}")
    return process.returncode, out, time.monotonic() - started


@pytest.mark.integration
@pytest.mark.timeout(1800)
def test_kill_9_of_a_run_then_the_next_run_recovers_by_itself(tmp_path):
    from reliability_support import content_hashes, differences

    landing = tmp_path / "landing"
    subprocess.run(
        [CLI, "generate", "--out", str(landing), "--days", "1", "--traces-per-day", "20", "--start", DAY],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    home, warehouse = tmp_path / "home", tmp_path / "warehouse.duckdb"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "TRACE_PLATFORM_LANDING": str(landing),
        "TRACE_PLATFORM_WAREHOUSE": str(warehouse),
    }
    run_args = ("run", "--start", DAY)

    # 1. A run, SIGKILLed while it holds the duckdb_writer slot.
    first = subprocess.Popen(
        [CLI, *run_args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT
    )
    try:
        deadline = time.monotonic() + 300
        while not (home / "dagster.yaml").exists():
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.2)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            while True:
                assert time.monotonic() < deadline and first.poll() is None, "the run never claimed the slot"
                if POOL in instance.event_log_storage.get_concurrency_keys() and _claimed(instance):
                    break
                time.sleep(0.1)
            first.send_signal(signal.SIGKILL)
            assert first.wait(timeout=30) == -signal.SIGKILL
            [killed] = instance.get_runs()
            assert killed.status == dg.DagsterRunStatus.STARTED  # what used to wedge every later run
            assert [s.run_id for s in _claimed(instance)] == [killed.run_id]
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()

    # 2. The next run recovers by itself, says so once, and finishes.
    code, out, seconds = _run_cli(env, *run_args, timeout=900)
    print(f"recovery run: {seconds:.1f}s")
    assert code == 0, out[-3000:]
    lines = [line for line in out.splitlines() if line.startswith("recovered run")]
    assert lines == [
        f"recovered run {killed.run_id} of nightly_trace_job: its process {first.pid} is gone; "
        "marked failed, freed its duckdb_writer slot"
    ], out[-3000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = {run.run_id: run for run in instance.get_runs()}
        assert runs.pop(killed.run_id).status == dg.DagsterRunStatus.FAILURE
        assert [run.status for run in runs.values()] == [dg.DagsterRunStatus.SUCCESS]
        info = instance.event_log_storage.get_concurrency_info(POOL)
        assert info.claimed_slots == [] and info.pending_steps == []

    # 3. ... with the tables a clean run gives.
    clean_env = {
        **env,
        "DAGSTER_HOME": str(tmp_path / "clean_home"),
        "TRACE_PLATFORM_WAREHOUSE": str(tmp_path / "clean" / "warehouse.duckdb"),
    }
    code, out, _ = _run_cli(clean_env, *run_args, timeout=900)
    assert code == 0, out[-3000:]
    assert (
        differences(content_hashes(warehouse), content_hashes(tmp_path / "clean" / "warehouse.duckdb")) == {}
    )


@pytest.mark.integration
def test_the_cli_waits_for_a_live_holder_then_fails_with_one_line(tmp_path):
    landing = tmp_path / "landing" / DAY
    landing.mkdir(parents=True)
    (landing / "a.jsonl").write_text("")
    home = tmp_path / "home"
    from trace_platform.lib.instance import DAGSTER_YAML

    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            live = _fake_run(instance, _identity_of(sleeper.pid))
        env = {**os.environ, "DAGSTER_HOME": str(home), "TRACE_PLATFORM_LOCK_TIMEOUT": "3"}
        code, out, seconds = _run_cli(
            env,
            "run",
            "--start",
            DAY,
            "--landing",
            str(tmp_path / "landing"),
            "--warehouse",
            str(tmp_path / "w.duckdb"),
            timeout=300,
        )
    finally:
        sleeper.kill()
        sleeper.wait()
    assert code == 1 and seconds < 120
    errors = [line for line in out.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, out
    assert re.fullmatch(
        rf"Error: pool duckdb_writer is busy: run {live} of nightly_trace_job \(STARTED, process "
        rf"{sleeper.pid}\) holds duckdb_writer; waited [345]s \(TRACE_PLATFORM_LOCK_TIMEOUT\)\. "
        "Let that run finish, or stop it, and run again",
        errors[0],
    ), errors[0]
    assert "running nightly_trace_job" not in out
    assert not (tmp_path / "w.duckdb").exists()
