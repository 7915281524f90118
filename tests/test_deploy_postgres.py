"""The production deployment of deploy/ (docs/deploy.md), for real: PostgreSQL storage, a separate
code server, daemon and webserver, and writer runs through the run queue.

A throwaway PostgreSQL 15 server (tests/postgres_server.py) holds Dagster's storage; DAGSTER_HOME
holds deploy/dagster.yaml unchanged and the daemon and webserver load deploy/workspace.yaml
unchanged. The code server runs with TRACE_PLATFORM_NIGHTLY_CRON="* * * * *", so the daemon's
scheduler ticks `nightly_trace_schedule` within a minute. The landing folder holds one day of
sample traces for yesterday (UTC), aged past the landing sensor's settle time, so the sensor asks
for a run of the same day on its first tick: two warehouse writers requested within seconds of each
other, which the queue must run one after the other. Then PostgreSQL is asked directly: the runs,
their queue events, every check evaluation and the schedule's tick are stored there.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.postgres_server import find_pg_bin, free_port, postgres_server

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[1]
# The project's virtualenv next to this checkout (CI clones it elsewhere), else this interpreter's.
BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin" / "dagster").exists() else Path(sys.executable).parent

SCHEDULE = "nightly_trace_schedule"
SENSOR = "landing_sensor"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
RUN_TIMEOUT_SECONDS = 420  # both runs, on a busy 2-core machine


class Services:
    """Long-running processes, each in its own process group (with the run workers it starts),
    output to a log file; all stopped at teardown."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = (self.log_dir / f"{name}.log").open("w")
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs[name] = proc
        return proc

    def assert_alive(self) -> None:
        for name, proc in self.procs.items():
            assert proc.poll() is None, f"{name} exited with {proc.returncode}\n{self.tails()}"

    def tails(self, lines: int = 40) -> str:
        out = []
        for name in self.procs:
            text = (self.log_dir / f"{name}.log").read_text(errors="replace").splitlines()
            out.append(f"--- {name} (last {lines} lines) ---\n" + "\n".join(text[-lines:]))
        return "\n".join(out)

    def stop_all(self) -> None:
        # The daemon first, so that it launches nothing more; the code server last, with its run workers.
        for proc in reversed(self.procs.values()):
            self._signal(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            self._signal(proc, signal.SIGKILL)  # what is left of the group: run workers, stragglers
            proc.wait(timeout=10)

    @staticmethod
    def _signal(proc: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)  # the group is the process's own (start_new_session)
        except ProcessLookupError:
            pass


def _wait_for(what: str, probe, timeout: float, services: Services, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        services.assert_alive()
        try:
            result = probe()
        except Exception as exc:  # not up yet
            result, last = None, exc
        else:
            last = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f}s waiting for {what} ({last!r})\n{services.tails()}"
            )
        time.sleep(interval)


def _code_server_serves(port: int) -> bool:
    from dagster._grpc.client import DagsterGrpcClient
    from dagster._serdes import deserialize_value

    response = deserialize_value(DagsterGrpcClient(port=port, host="127.0.0.1").list_repositories())
    # A SerializableErrorInfo while the definitions load, or when they are broken.
    if type(response).__name__ != "ListRepositoriesResponse":
        raise RuntimeError(str(getattr(response, "message", response))[:500])
    return True


def _http_json(url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _rows(pg, sql: str, params: tuple = ()) -> list[tuple]:
    con = pg.connect()
    try:
        with con.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        con.close()


def _first_instigated_runs(pg) -> dict[str, tuple[str, str]]:
    """{schedule or sensor name: (run_id, status)} of the first run the schedule and the landing
    sensor each launched (the schedule ticks every minute here: one run per tick)."""
    rows = _rows(
        pg,
        """
        SELECT DISTINCT ON (t.value) t.value, r.run_id, r.status
        FROM runs r JOIN run_tags t ON t.run_id = r.run_id
        WHERE (t.key = 'dagster/schedule_name' AND t.value = %s)
           OR (t.key = 'dagster/sensor_name' AND t.value = %s)
        ORDER BY t.value, r.id
        """,
        (SCHEDULE, SENSOR),
    )
    return {name: (run_id, status) for name, run_id, status in rows}


def _run_events(pg, run_id: str) -> list[tuple[str, float]]:
    """(dagster event type, unix time) of a run's events that change its status, in order."""
    rows = _rows(
        pg,
        """
        SELECT dagster_event_type, EXTRACT(EPOCH FROM timestamp)::float8
        FROM event_logs WHERE run_id = %s AND dagster_event_type LIKE 'PIPELINE_%%'
        ORDER BY id
        """,
        (run_id,),
    )
    return [(kind, ts) for kind, ts in rows]


def _failure_report(pg, run_id: str) -> str:
    """The failure messages of a run's steps, with their errors."""
    import dagster  # noqa: F401  (registers the stored event classes)
    from dagster._serdes import deserialize_value

    rows = _rows(
        pg,
        "SELECT event FROM event_logs WHERE run_id = %s "
        "AND dagster_event_type IN ('STEP_FAILURE', 'PIPELINE_FAILURE') ORDER BY id",
        (run_id,),
    )
    report = []
    for (event,) in rows:
        entry = deserialize_value(event)
        error = getattr(entry.dagster_event.event_specific_data, "error", None)
        report.append(entry.user_message + (f"\n{error.to_string()[-3000:]}" if error else ""))
    return "\n".join(report)


def _wait_clear_of_midnight_utc() -> None:
    """The schedule runs the day before its tick: keep the tick on the same UTC day as the data."""
    now = dt.datetime.now(dt.UTC)
    midnight = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    if midnight - now < dt.timedelta(minutes=5):
        time.sleep((midnight - now).total_seconds() + 5)


def _wait_for_second_of_minute(first: int, last: int) -> None:
    second = dt.datetime.now(dt.UTC).second
    if not first <= second <= last:
        time.sleep((first - second) % 60 + 1)


@pytest.fixture
def pg():
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; set PG_BIN to their directory"
        )
    with postgres_server(bin_dir) as server:
        yield server


@pytest.fixture
def services(tmp_path):
    running = Services(tmp_path)
    yield running
    running.stop_all()
    print(running.tails(60))  # shown by pytest when the test failed


def test_scheduled_runs_go_through_the_queue_and_land_in_postgres(pg, services, tmp_path):
    _wait_clear_of_midnight_utc()
    day = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse" / "warehouse.duckdb"
    code_port, web_port = free_port(), free_port()
    # What each process needs (docs/deploy.md): all of them the instance (DAGSTER_HOME, DAGSTER_PG_*);
    # the webserver and the daemon the code server's address (deploy/workspace.yaml); only the code
    # server, and the run workers it starts, the project's settings and the schedule's cron.
    base = {key: value for key, value in os.environ.items() if not key.startswith("TRACE_PLATFORM_")}
    dagster_env = {
        **base,
        **pg.dagster_env(),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DAGSTER_HOME": str(home),
        "DAGSTER_TELEMETRY_DISABLED": "true",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "GX_ANALYTICS_ENABLED": "false",
    }
    code_env = {
        **dagster_env,
        "TRACE_PLATFORM_LANDING": str(landing),
        "TRACE_PLATFORM_WAREHOUSE": str(warehouse),
        "TRACE_PLATFORM_NIGHTLY_CRON": "* * * * *",  # ticks within a minute
    }
    client_env = {
        **dagster_env,
        "DAGSTER_CODE_SERVER_HOST": "127.0.0.1",
        "DAGSTER_CODE_SERVER_PORT": str(code_port),
    }
    generated = subprocess.run(
        [str(BIN / "trace-platform"), "generate", "--out", str(landing), "--days", "1"]
        + ["--traces-per-day", "40", "--start", day],
        env=code_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert generated.returncode == 0, generated.stderr
    long_ago = time.time() - 600  # delivered and settled: the landing sensor requests the day at once
    for path in landing.rglob("*"):
        os.utime(path, (long_ago, long_ago))

    started = time.monotonic()
    services.start(
        "code_server",
        [str(BIN / "dagster"), "api", "grpc", "-m", "trace_platform.definitions"]
        + ["--location-name", "trace_platform", "-h", "127.0.0.1", "-p", str(code_port)],
        code_env,
    )
    _wait_for("the code server", lambda: _code_server_serves(code_port), 240, services)
    workspace = str(ROOT / "deploy" / "workspace.yaml")
    services.start(
        "webserver",
        [str(BIN / "dagster-webserver"), "-w", workspace, "-h", "127.0.0.1", "-p", str(web_port)],
        client_env,
    )
    # The landing sensor asks on the daemon's first tick, the schedule at the next full minute: start
    # the daemon late in a minute, so both writers are requested within seconds of each other and one
    # of them has to wait in the queue.
    _wait_for_second_of_minute(40, 50)
    services.start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", workspace], client_env)

    def finished():
        runs = _first_instigated_runs(pg)
        if set(runs) == {SCHEDULE, SENSOR} and all(status in TERMINAL for _, status in runs.values()):
            return runs
        return None

    runs = _wait_for(
        "the scheduled and the landing sensor's run to finish", finished, RUN_TIMEOUT_SECONDS, services, 3
    )
    elapsed = time.monotonic() - started
    for name, (run_id, status) in runs.items():
        assert status == "SUCCESS", (
            f"{name}'s run {run_id}: {status}\n{_failure_report(pg, run_id)}\n{services.tails()}"
        )
    scheduled_run, sensor_run = runs[SCHEDULE][0], runs[SENSOR][0]
    print(f"both runs finished {elapsed:.0f}s after the code server started")

    # --- the runs: same job and day, each queued, then launched by the queue, succeeded ---------------------
    rows = _rows(
        pg,
        "SELECT run_id, pipeline_name, partition, status FROM runs WHERE run_id IN %s",
        ((scheduled_run, sensor_run),),
    )
    assert sorted(r[1:] for r in rows) == [("nightly_trace_job", day, "SUCCESS")] * 2
    tags = dict(_rows(pg, "SELECT key, value FROM run_tags WHERE run_id = %s", (scheduled_run,)))
    assert tags["trace_platform/writes"] == "warehouse"
    assert tags["dagster/partition"] == day
    events = {run_id: _run_events(pg, run_id) for run_id in (scheduled_run, sensor_run)}
    for run_id, kinds in events.items():
        assert [kind for kind, _ in kinds] == [
            "PIPELINE_ENQUEUED",  # QueuedRunCoordinator: submitted runs wait in the queue
            "PIPELINE_STARTING",  # the daemon's run queue launched it
            "PIPELINE_START",
            "PIPELINE_SUCCESS",
        ], run_id

    # --- the queue: the second writer waited while the first ran --------------------------------------------
    first, second = sorted(events, key=lambda run_id: dict(events[run_id])["PIPELINE_START"])
    first_times, second_times = dict(events[first]), dict(events[second])
    assert second_times["PIPELINE_ENQUEUED"] < first_times["PIPELINE_SUCCESS"], (
        "the two runs were not requested while one was running; the queue was not exercised"
    )
    assert second_times["PIPELINE_STARTING"] >= first_times["PIPELINE_SUCCESS"]
    waited = second_times["PIPELINE_STARTING"] - second_times["PIPELINE_ENQUEUED"]
    print(f"run {second} waited {waited:.0f}s in the queue while run {first} wrote the warehouse")

    # --- check evaluations: one per check of the job, in the event log and in asset_check_executions --------
    from dagster._core.scheduler.instigation import TickData
    from dagster._serdes import deserialize_value

    from trace_platform.definitions import defs

    check_keys = defs.resolve_job_def("nightly_trace_job").asset_layer.asset_graph.asset_check_keys
    expected = {(key.asset_key.to_user_string(), key.name) for key in check_keys}
    assert len(expected) > 100  # dbt tests, rule checks, schema and GX checks of the nightly job
    evaluations = _rows(
        pg,
        "SELECT event FROM event_logs WHERE run_id = %s AND dagster_event_type = 'ASSET_CHECK_EVALUATION'",
        (scheduled_run,),
    )
    evaluated, failed = [], 0
    for (event,) in evaluations:
        evaluation = deserialize_value(event).dagster_event.event_specific_data  # an AssetCheckEvaluation
        evaluated.append((evaluation.asset_key.to_user_string(), evaluation.check_name))
        failed += not evaluation.passed
    assert len(evaluated) == len(expected)
    assert set(evaluated) == expected
    # asset_check_executions: the checks' history the UI shows, one evaluated row per check and no
    # planned evaluation left behind (every check is partitioned like its asset)
    executions = _rows(
        pg,
        "SELECT asset_key, check_name, execution_status FROM asset_check_executions WHERE run_id = %s",
        (scheduled_run,),
    )
    assert {status for _, _, status in executions} <= {"SUCCEEDED", "FAILED"}
    executed = {("/".join(json.loads(asset_key)), check_name) for asset_key, check_name, _ in executions}
    assert len(executions) == len(expected)
    assert executed == expected
    assert sum(status == "FAILED" for _, _, status in executions) == failed
    assert len(expected) - failed > len(expected) // 2  # the sample data passes most checks
    print(f"{len(evaluated)} check evaluations stored for run {scheduled_run}, {failed} failed")

    # --- the schedule's tick that launched the run, the writers' pool, the daemon's heartbeats --------------
    ticks = _rows(
        pg, "SELECT status, type, tick_body FROM job_ticks WHERE tick_body LIKE %s", (f"%{scheduled_run}%",)
    )
    assert [(status, kind) for status, kind, _ in ticks] == [("SUCCESS", "SCHEDULE")]
    tick = deserialize_value(ticks[0][2], as_type=TickData)
    assert (tick.instigator_name, tick.status.value) == (SCHEDULE, "SUCCESS")
    assert list(tick.run_ids) == [scheduled_run]
    assert list(tick.run_keys) == [f"nightly-{day}"]
    # pools.default_limit 1: the writer steps' pool got one slot when the first run claimed it
    assert _rows(pg, "SELECT concurrency_key, count(*) FROM concurrency_slots GROUP BY 1") == [
        ("duckdb_writer", 1)
    ]
    daemons = {daemon_type for (daemon_type,) in _rows(pg, "SELECT daemon_type FROM daemon_heartbeats")}
    assert {"SCHEDULER", "SENSOR", "QUEUED_RUN_COORDINATOR", "MONITORING"} <= daemons

    # --- the webserver reads the same storage ---------------------------------------------------------------
    info = _wait_for(
        "the webserver", lambda: _http_json(f"http://127.0.0.1:{web_port}/server_info"), 120, services
    )
    assert "dagster_webserver_version" in info
    answer = _http_json(
        f"http://127.0.0.1:{web_port}/graphql",
        {
            "query": "query($ids: [String!]) { runsOrError(filter: {runIds: $ids}) "
            "{ ... on Runs { results { runId status jobName } } } }",
            "variables": {"ids": [scheduled_run]},
        },
    )
    assert answer["data"]["runsOrError"]["results"] == [
        {"runId": scheduled_run, "status": "SUCCESS", "jobName": "nightly_trace_job"}
    ]
