"""Building one trace: timestamps, the trace's events in order, and one method per event type.

`EventBlocks` is the part of a work unit (`unit.Unit`) that appends one event each, in the order the
spec lists them; it draws from the unit's seeded `rng`, so the order of calls is the output.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

from trace_platform.sample_data.catalog import TOOL_STEP, TOOLS, tool_output
from trace_platform.sample_data.constants import MS, RO, SEC

# --- timestamps ----------------------------------------------------------------------------------


class Clock:
    """Formats microseconds since the trace day's UTC midnight as RFC 3339 with a fixed offset."""

    __slots__ = ("day", "minutes")
    SUFFIXES = {0: b"Z", 120: b"+02:00", 60: b"+01:00", -300: b"-05:00", 330: b"+05:30"}

    def __init__(self, day: dt.date):
        self.day = day
        self.minutes: dict[int, bytes] = {}  # local minute since the day's midnight -> b"YYYY-MM-DDTHH:MM:"

    def stamp(self, us: int, offset_minutes: int = 0) -> bytes:
        minute, rest = divmod(us + offset_minutes * 60 * SEC, 60 * SEC)
        prefix = self.minutes.get(minute)
        if prefix is None:
            days, in_day = divmod(minute, 24 * 60)
            hours, minutes = divmod(in_day, 60)
            date_text = (self.day + dt.timedelta(days=days)).isoformat()
            prefix = self.minutes[minute] = f"{date_text}T{hours:02d}:{minutes:02d}:".encode()
        secs, micros = divmod(rest, SEC)
        return b"%b%02d.%06d%b" % (prefix, secs, micros, self.SUFFIXES[offset_minutes])


# --- one trace being built -----------------------------------------------------------------------


class Trace:
    """Events of one trace in order: [event_type, span_id, parent_span_id, payload, t_us]."""

    __slots__ = ("trace_id", "events", "t", "spans", "calls", "span_prefix", "id_prefix")

    def __init__(self, trace_id: str, t0: int):
        self.trace_id = trace_id
        self.events: list[list] = []
        self.t = t0
        self.spans = 0
        self.calls = 0
        self.span_prefix = trace_id[16:28]
        self.id_prefix = trace_id[:16]

    def span(self) -> str:
        self.spans += 1
        return f"{self.span_prefix}{self.spans:04x}"

    def next_id(self, kind: str) -> str:
        self.calls += 1
        return f"{kind}_{self.id_prefix}{self.calls:02x}"

    def add(self, event_type: str, span: str, parent: str | None, payload: dict, gap_us: int) -> list:
        self.t += max(1, int(gap_us))
        event = [event_type, span, parent, payload, self.t]
        self.events.append(event)
        return event


class Stop(Exception):
    """The run ends early with this final status (the step already logged why)."""

    def __init__(self, status: str, step: str):
        self.status = status
        self.step = step


class EventBlocks:
    """One event each: model calls, tool selection, tool call, policy check, confirmation, result,
    side effect, error."""

    rng: random.Random
    scenarios: Counter

    def model_call(
        self, tr: Trace, span: str, parent: str, purpose: str, model: tuple, allow_error: bool = True
    ) -> list:
        R = self.rng.random
        provider, name, version = model
        if allow_error and R() < 0.025:
            failed = {
                "provider": provider,
                "model": name,
                "model_version": version,
                "purpose": purpose,
                "input_tokens": 300 + int(R() * 3000),
                "output_tokens": 0,
                "latency_ms": 200 + int(R() * 29_000),
                "finish_reason": "error",
                "status": "error",
                "error": {
                    "type": ("rate_limit", "overloaded", "timeout")[int(R() * 3)],
                    "message": "provider returned an error; retrying",
                },
            }
            tr.add("model_call", span, parent, failed, 50 * MS + R() * 200 * MS)
            tr.add(
                "error",
                tr.span(),
                span,
                {
                    "error_type": "model_error",
                    "message": f"{provider} {failed['error']['type']}",
                    "recoverable": True,
                },
                failed["latency_ms"] * MS,
            )
            self.scenarios["model_error"] += 1
        latency = 300 + int(R() * (6000 if purpose in ("planning", "response") else 1500))
        finish = "tool_calls" if purpose == "tool_selection" else ("length" if R() < 0.02 else "stop")
        payload = {
            "provider": provider,
            "model": name,
            "model_version": version,
            "purpose": purpose,
            "input_tokens": 400 + int(R() * 6000),
            "output_tokens": 20 + int(R() * 700),
            "latency_ms": latency,
            "finish_reason": finish,
            "status": "ok",
        }
        return tr.add("model_call", span, parent, payload, latency * MS)

    # -- building blocks (one event each, in the order the spec lists) -----------------------------

    def select(
        self,
        tr: Trace,
        root: str,
        tool: str,
        selector: tuple,
        candidates: list[str] | None = None,
        parent: str | None = None,
    ) -> tuple[str, str]:
        """A step span, optionally a tool-selection model call, and the tool_selection; -> (span, call id)."""
        R = self.rng.random
        step = tr.span()
        call_id = tr.next_id("call")
        if R() < 0.7:
            self.model_call(tr, tr.span(), step, "tool_selection", selector, allow_error=False)
        payload = {
            "tool_call_id": call_id,
            "tool_name": tool,
            "candidates": candidates or sorted({tool, "search_kb" if tool != "search_kb" else "web_search"}),
        }
        if R() < 0.5:
            payload["rationale"] = f"{tool} is the tool that can {TOOL_STEP.get(tool, tool).lower()}"
        tr.add("tool_selection", step, parent or root, payload, 5 * MS + R() * 50 * MS)
        return step, call_id

    def call(
        self,
        tr: Trace,
        step: str,
        parent: str,
        call_id: str,
        tool: str,
        args: dict,
        *,
        mode: str = "execute",
        attempt: int = 1,
        retry_of: str | None = None,
        requires_confirmation: bool | None = None,
        access: str | None = None,
    ) -> None:
        meta = TOOLS.get(tool)
        payload = {"tool_call_id": call_id, "tool_name": tool}
        if meta is not None:
            payload["tool_version"] = meta[0]
        payload.update(
            {
                "arguments": args,
                "access": access or (meta[1] if meta else RO),
                "mode": mode,
                "attempt": attempt,
                "retry_of": retry_of,
                "requires_confirmation": bool(meta[2])
                if requires_confirmation is None and meta
                else bool(requires_confirmation),
            }
        )
        tr.add("tool_call", step, parent, payload, 2 * MS + self.rng.random() * 30 * MS)

    def check(self, tr: Trace, step: str, call_id: str, tool: str, decision: str, principal: str) -> None:
        meta = TOOLS[tool]
        reason = {
            "allow": f"{meta[3]} granted to the requesting user",
            "deny": f"{meta[3]} not granted: outside the user's role",
            "require_confirmation": "above the auto-approval limit: the user must confirm",
        }[decision]
        tr.add(
            "policy_check",
            tr.span(),
            step,
            {
                "check_id": tr.next_id("chk"),
                "tool_call_id": call_id,
                "policy": meta[4],
                "permission": meta[3],
                "principal": principal,
                "decision": decision,
                "reason": reason,
            },
            3 * MS + self.rng.random() * 40 * MS,
        )

    def confirm(
        self,
        tr: Trace,
        step: str,
        call_id: str,
        tool: str,
        decision: str,
        shown: dict | None,
        responder: str,
    ) -> None:
        R = self.rng.random
        span = tr.span()
        confirmation_id = tr.next_id("cnf")
        payload = {
            "confirmation_id": confirmation_id,
            "tool_call_id": call_id,
            "prompt": f"{TOOL_STEP.get(tool, tool)}? Reply yes to continue.",
        }
        if shown is not None:
            payload["arguments"] = shown
        tr.add("confirmation_request", span, step, payload, 20 * MS + R() * 200 * MS)
        wait = (10 * 60 + R() * 5 * 60) if decision == "expired" else (3 + R() * 170)
        tr.add(
            "confirmation_response",
            span,
            step,
            {
                "confirmation_id": confirmation_id,
                "tool_call_id": call_id,
                "decision": decision,
                "responder": "system:timeout" if decision == "expired" else responder,
            },
            wait * SEC,
        )

    def result(
        self,
        tr: Trace,
        step: str,
        parent: str,
        call_id: str,
        tool: str,
        ctx: dict,
        status: str,
        error_type: str | None = None,
        resource_id: str = "",
    ) -> None:
        R = self.rng.random
        latency = 30_000 if status == "timeout" else 40 + int(R() * (2500 if status == "ok" else 400))
        if status in ("denied", "cancelled"):
            latency = int(R() * 5)
        payload = {
            "tool_call_id": call_id,
            "status": status,
            "output": tool_output(tool, ctx, resource_id) if status == "ok" else None,
            "latency_ms": latency,
        }
        if status != "ok":
            error_type = (
                error_type
                or {
                    "timeout": "timeout",
                    "denied": "policy_denied",
                    "cancelled": "not_confirmed",
                    "error": "internal_error",
                }[status]
            )
            payload["error"] = {"type": error_type, "message": error_type.replace("_", " ")}
        tr.add("tool_result", step, parent, payload, latency * MS)

    def side_effect(
        self,
        tr: Trace,
        step: str,
        parent: str,
        call_id: str,
        tool: str,
        resource_id: str,
        *,
        operation: str | None = None,
        reversible: bool | None = None,
    ) -> None:
        meta = TOOLS[tool]
        reversible = meta[7] if reversible is None else reversible
        payload = {
            "tool_call_id": call_id,
            "resource_type": meta[5],
            "resource_id": resource_id,
            "operation": operation or meta[6],
            "reversible": bool(reversible),
        }
        if reversible:
            payload["rollback_ref"] = f"rb_{resource_id}"
        tr.add("side_effect", step, parent, payload, 1 * MS + self.rng.random() * 20 * MS)

    def error(
        self,
        tr: Trace,
        parent: str,
        error_type: str,
        message: str,
        recoverable: bool,
        call_id: str | None = None,
    ) -> None:
        payload = {"error_type": error_type, "message": message, "recoverable": recoverable}
        if call_id:
            payload["tool_call_id"] = call_id
        tr.add("error", tr.span(), parent, payload, 1 * MS + self.rng.random() * 10 * MS)
