"""Hand-written traces, loaded through the real ingestion and built with the real dbt project."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from trace_platform.defs.ingest.loader import ingest_partition
from trace_platform.defs.transform.project import DBT_PROJECT_DIR

DBT = str(Path(sys.executable).parent / "dbt")


@dataclass
class Trace:
    """Builds one trace's events in order: sequence, timestamps and spans are filled in."""

    trace_id: str
    tenant_id: str = "acme"
    agent: tuple[str, str] = ("support-bot", "1.0.0")
    day: str = "2026-11-20"
    events: list[dict] = field(default_factory=list)

    def add(
        self,
        event_type: str,
        payload: dict | None = None,
        *,
        span: str | None = None,
        parent: str | None = "root",
        **envelope,
    ) -> dict:
        sequence = len(self.events)
        span_id = span or (
            "root" if event_type in ("user_request", "final_result", "feedback") else f"s{sequence}"
        )
        event = {
            "schema_version": "1",
            "event_id": f"{self.trace_id}-e{sequence}",
            "event_type": event_type,
            "timestamp": f"{self.day}T01:{sequence // 60:02d}:{sequence % 60:02d}.000000Z",
            "trace_id": self.trace_id,
            "span_id": span_id,
            "parent_span_id": None if span_id == "root" else parent,
            "sequence": sequence,
            "session_id": "sess-1",
            "tenant_id": self.tenant_id,
            "user_id": "u1",
            "agent": {"name": self.agent[0], "version": self.agent[1]},
            "payload": payload or {},
        }
        event.update(envelope)
        self.events.append(event)
        return event

    # Shorthands for the common lifecycle steps.
    def request(self, text: str = "refund order 42", intent: str = "refund_order") -> dict:
        return self.add("user_request", {"text": text, "intent": intent})

    def call(
        self,
        call_id: str,
        tool: str = "refund_order",
        *,
        access: str = "state_changing",
        mode: str = "execute",
        arguments: dict | None = None,
        attempt: int = 1,
        retry_of: str | None = None,
        requires_confirmation: bool = False,
    ) -> dict:
        return self.add(
            "tool_call",
            {
                "tool_call_id": call_id,
                "tool_name": tool,
                "arguments": arguments or {"order_id": 42},
                "access": access,
                "mode": mode,
                "attempt": attempt,
                "retry_of": retry_of,
                "requires_confirmation": requires_confirmation,
            },
        )

    def check(self, call_id: str, decision: str = "allow") -> dict:
        return self.add(
            "policy_check",
            {
                "check_id": f"chk-{call_id}-{len(self.events)}",
                "tool_call_id": call_id,
                "policy": "refunds@3",
                "permission": "orders:write",
                "principal": "u1",
                "decision": decision,
                "reason": "test",
            },
        )

    def confirm(self, call_id: str, decision: str = "approved", arguments: dict | None = None) -> None:
        confirmation_id = f"conf-{call_id}-{len(self.events)}"
        payload = {"confirmation_id": confirmation_id, "tool_call_id": call_id, "prompt": "Refund order 42?"}
        if arguments is not None:
            payload["arguments"] = arguments
        self.add("confirmation_request", payload)
        self.add(
            "confirmation_response",
            {
                "confirmation_id": confirmation_id,
                "tool_call_id": call_id,
                "decision": decision,
                "responder": "u1",
            },
        )

    def result(self, call_id: str, status: str = "ok", error_type: str | None = None) -> dict:
        payload = {
            "tool_call_id": call_id,
            "status": status,
            "output": {"done": status == "ok"},
            "latency_ms": 120,
        }
        if error_type:
            payload["error"] = {"type": error_type, "message": error_type}
        return self.add("tool_result", payload)

    def side_effect(self, call_id: str, resource_id: str = "order-42", reversible: bool = True) -> dict:
        return self.add(
            "side_effect",
            {
                "tool_call_id": call_id,
                "resource_type": "order",
                "resource_id": resource_id,
                "operation": "update",
                "reversible": reversible,
                "rollback_ref": f"rb-{resource_id}",
            },
        )

    def model_call(self, **overrides) -> dict:
        payload = {
            "provider": "openai",
            "model": "gpt-x",
            "model_version": "2026-01-01",
            "purpose": "planning",
            "input_tokens": 100,
            "output_tokens": 20,
            "latency_ms": 300,
            "finish_reason": "stop",
            "status": "ok",
        }
        payload.update(overrides)
        return self.add("model_call", {k: v for k, v in payload.items() if v is not ...})

    def final(self, status: str = "success") -> dict:
        return self.add("final_result", {"status": status, "output": "done"})

    def authorised_write(self, call_id: str, **call_kwargs) -> None:
        """A clean executed write: call, allow check, ok result, one side effect."""
        self.call(call_id, **call_kwargs)
        self.check(call_id)
        self.result(call_id)
        self.side_effect(call_id)


def write_day(landing: Path, day: str, events: list[dict], name: str = "events.jsonl") -> None:
    folder = landing / day
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / name).open("a") as handle:
        for event in events:
            handle.write(json.dumps(event) + "\n")


def dbt_env(warehouse: Path) -> dict:
    """dbt's environment for `warehouse`. No delivery day is passed: a build rebuilds the traces the
    change log names since the last complete build (models/intermediate/int_rebuild_scope.sql)."""
    return {
        **os.environ,
        "TRACE_PLATFORM_WAREHOUSE": str(warehouse),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def run_dbt(warehouse: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    command = [DBT, *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    # each test warehouse gets its own target dir so parallel/previous builds never interfere
    command += ["--target-path", str(warehouse.parent / "dbt_target")]
    result = subprocess.run(command, env=dbt_env(warehouse), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(
            f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
        )
    return result


def load_and_build(warehouse: Path, landing: Path, days: list[str]) -> None:
    """Ingests each delivery day, then builds the dbt project (as the nightly job does for each day)."""
    for day in days:
        con = duckdb.connect(str(warehouse))
        try:
            ingest_partition(con, landing, day)
        finally:
            con.close()
        run_dbt(warehouse, "build")


def rows(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def days_after(day: str, n: int) -> str:
    return (dt.date.fromisoformat(day) + dt.timedelta(days=n)).isoformat()
