"""Runs whose process died (lib/stale_runs.py), for daemon-launched runs.

- `guarded_in_process_executor`: Dagster's in-process executor, plus: it records the run worker's
  process on the run (tags), and while the run is blocked on a pool slot it recovers a dead holder,
  and stops the run on termination (SIGINT/SIGTERM) or after TRACE_PLATFORM_LOCK_TIMEOUT.
  (`trace-platform run` uses `execute_in_process`, which replaces a job's executor: the CLI does the
  same itself.)
- `stale_run_sensor`: every minute, marks runs whose process is gone as failed and frees their pool
  slots. A dead run keeps its `trace_platform/writes` run-queue slot too, so no later writer run
  would even start to notice it: the daemon has to.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.executor.base import Executor

from trace_platform.lib.stale_runs import PoolWaitGuard, current_process, recover_stale_runs


class _GuardedExecutor(Executor):
    def __init__(self, inner: Executor):
        self._inner = inner

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def execute(self, plan_context, execution_plan):
        instance, run_id = plan_context.instance, plan_context.run_id
        instance.add_run_tags(run_id, current_process().tags())
        with PoolWaitGuard(instance, run_id, report=plan_context.log.warning, recovered_by=f"run {run_id}"):
            yield from self._inner.execute(plan_context, execution_plan)


@dg.executor(name="in_process", config_schema=dg.in_process_executor.config_schema)
def guarded_in_process_executor(init_context):
    """In-process executor that records its process on the run and never wedges on a pool slot."""
    return _GuardedExecutor(dg.in_process_executor.executor_creation_fn(init_context))


@dg.sensor(
    name="stale_run_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks runs whose process is gone (killed, machine restarted) as failed and frees their pool slots.",
)
def stale_run_sensor(context: dg.SensorEvaluationContext):
    recoveries = recover_stale_runs(context.instance, recovered_by="stale_run_sensor")
    for recovery in recoveries:
        context.log.warning(recovery.line())
    return dg.SkipReason("; ".join(r.line() for r in recoveries) or "no stale runs")
