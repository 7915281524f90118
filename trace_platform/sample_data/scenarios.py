"""Clean scenarios: the outcome of each step and the events it logs.

Timeouts retried (attempt 2 or 3, `retry_of` the previous attempt, covered by the first attempt's
policy check and confirmation), invalid parameters retried with changed arguments, a not-applicable
or unknown tool followed by the right one, the same read repeated, failures, policy denials
(tool_result `denied`, no side effect), suggest-only calls (no tool_result), confirmations approved /
rejected / expired (→ `cancelled`), confirmation requests with the exact arguments, with the
arguments in another key order (not an R10 breach), or without arguments, reversible (with
rollback_ref) and irreversible side effects, rollbacks ok and failed, model call errors, recoverable
and fatal error events, final results of every status. Clean traces breach no audit rule.
"""

from __future__ import annotations

import json

from trace_platform.sample_data.catalog import (
    BAD_PARAMETER_ERRORS,
    CHECKED_READS,
    TOOLS,
    WRONG_TOOLS,
    tool_args,
)
from trace_platform.sample_data.constants import MS, RO, SC, SEC
from trace_platform.sample_data.events import EventBlocks, Stop, Trace
from trace_platform.sample_data.json_values import bad_args, reordered


class CleanSteps(EventBlocks):
    """A step of a trace as it should go (or fail, visibly and by the rules)."""

    def pick_outcome(self, tool: str) -> str:
        x = self.rng.random()
        if TOOLS[tool][1] == RO:
            for name, p in (
                ("timeout_retry", 0.05),
                ("invalid_parameters", 0.04),
                ("not_applicable", 0.04),
                ("repeat", 0.03),
                ("fail", 0.015),
            ):
                if x < p:
                    return name
                x -= p
            return "ok"
        reversible = TOOLS[tool][7]
        for name, p in (
            ("rejected", 0.05),
            ("expired", 0.025),
            ("deny", 0.05),
            ("suggest", 0.05),
            ("timeout_retry", 0.04),
            ("invalid_parameters", 0.03),
            ("rollback", 0.05 if reversible else 0.0),
            ("fail", 0.01),
        ):
            if x < p:
                return name
            x -= p
        return "ok"

    # -- clean steps ------------------------------------------------------------------------------

    def authorise(
        self,
        tr: Trace,
        step: str,
        call_id: str,
        tool: str,
        ctx: dict,
        *,
        show_arguments: bool = True,
        args: dict | None = None,
    ) -> None:
        """Clean authorisation of an execute call: allow/require_confirmation check, approval when needed."""
        R = self.rng.random
        meta = TOOLS[tool]
        principal = ctx["principal"]
        if meta[1] == RO:
            if tool in CHECKED_READS or R() < 0.15:
                self.check(tr, step, call_id, tool, "allow", principal)
            return
        decision = "require_confirmation" if R() < (0.3 if meta[2] else 0.2) else "allow"
        self.check(tr, step, call_id, tool, decision, principal)
        if meta[2] or decision == "require_confirmation":
            shown = None
            x = R()
            if show_arguments and args is not None and x < 0.55:
                shown = reordered(args) if x < 0.2 else json.loads(json.dumps(args))
                if x < 0.2:
                    self.scenarios["confirmation_arguments_reordered"] += 1
            self.confirm(tr, step, call_id, tool, "approved", shown, ctx["responder"])

    def execute_ok(self, tr: Trace, step: str, parent: str, call_id: str, tool: str, ctx: dict) -> str:
        resource_id = f"{TOOLS[tool][5]}_{call_id[5:]}"
        self.result(tr, step, parent, call_id, tool, ctx, "ok", resource_id=resource_id)
        if TOOLS[tool][1] == SC:
            self.side_effect(tr, step, parent, call_id, tool, resource_id)
        return resource_id

    def step(self, tr: Trace, root: str, tool: str, ctx: dict, selector: tuple, outcome: str) -> None:
        R = self.rng.random
        meta = TOOLS[tool]
        args = tool_args(tool, ctx)
        responder = ctx["responder"]

        if outcome == "not_applicable":
            wrong = WRONG_TOOLS[ctx["agent"]][int(R() * 2)]
            step, call_id = self.select(tr, root, wrong, selector, candidates=[wrong, tool])
            self.call(
                tr, step, root, call_id, wrong, tool_args(wrong, ctx), access=RO, requires_confirmation=False
            )
            error_type = "not_applicable" if wrong in TOOLS else "unknown_tool"
            tr.add(
                "tool_result",
                step,
                root,
                {
                    "tool_call_id": call_id,
                    "status": "error",
                    "output": None,
                    "latency_ms": 20 + int(R() * 200),
                    "error": {"type": error_type, "message": f"{wrong} cannot handle this request"},
                },
                100 * MS + R() * 300 * MS,
            )
            self.error(tr, step, error_type, f"{wrong} failed; choosing another tool", True, call_id)
            outcome = "ok"

        step, call_id = self.select(tr, root, tool, selector)
        if outcome == "ok" or outcome == "repeat":
            self.call(tr, step, root, call_id, tool, args)
            self.authorise(tr, step, call_id, tool, ctx, args=args)
            self.execute_ok(tr, step, root, call_id, tool, ctx)
            if outcome == "repeat":
                step2, call2 = self.select(tr, root, tool, selector)
                self.call(tr, step2, root, call2, tool, args)
                self.authorise(tr, step2, call2, tool, ctx, args=args)
                self.execute_ok(tr, step2, root, call2, tool, ctx)
            return

        if outcome == "timeout_retry":
            self.call(tr, step, root, call_id, tool, args)
            self.authorise(tr, step, call_id, tool, ctx, args=args)
            attempts = 3 if R() < 0.2 else 2
            previous, parent_step = call_id, step
            for attempt in range(2, attempts + 1):
                self.result(
                    tr, parent_step, root if parent_step == step else step, previous, tool, ctx, "timeout"
                )
                self.error(
                    tr, parent_step, "tool_timeout", f"{tool} timed out after 30 s; retrying", True, previous
                )
                retry_step = tr.span()
                retry_id = tr.next_id("call")
                self.call(tr, retry_step, step, retry_id, tool, args, attempt=attempt, retry_of=previous)
                previous, parent_step = retry_id, retry_step
            self.execute_ok(tr, parent_step, step, previous, tool, ctx)
            return

        if outcome == "invalid_parameters":
            bad = bad_args(args)
            self.call(tr, step, root, call_id, tool, bad)
            # the confirmation of a call whose arguments then change shows none (else R10 would fire)
            self.authorise(tr, step, call_id, tool, ctx, show_arguments=False)
            error_type = BAD_PARAMETER_ERRORS[int(R() * len(BAD_PARAMETER_ERRORS))]
            self.result(tr, step, root, call_id, tool, ctx, "error", error_type)
            retry_step = tr.span()
            retry_id = tr.next_id("call")
            self.call(tr, retry_step, step, retry_id, tool, args, attempt=2, retry_of=call_id)
            self.execute_ok(tr, retry_step, step, retry_id, tool, ctx)
            return

        if outcome == "fail":
            self.call(tr, step, root, call_id, tool, args)
            self.authorise(tr, step, call_id, tool, ctx, args=args)
            error_type = ("upstream_unavailable", "internal_error")[int(R() * 2)]
            self.result(tr, step, root, call_id, tool, ctx, "error", error_type)
            self.error(tr, step, error_type, f"{tool} failed: {error_type.replace('_', ' ')}", False, call_id)
            raise Stop("failure", tool)

        # state-changing only from here on
        principal = ctx["principal"]
        if outcome == "deny":
            self.call(tr, step, root, call_id, tool, args)
            self.check(tr, step, call_id, tool, "deny", principal)
            self.result(tr, step, root, call_id, tool, ctx, "denied")
            self.error(tr, step, "permission_denied", f"policy {meta[4]} denied {meta[3]}", False, call_id)
            raise Stop("failure" if R() < 0.6 else "partial", tool)

        if outcome in ("rejected", "expired"):
            rc = meta[2]
            self.call(tr, step, root, call_id, tool, args)
            self.check(tr, step, call_id, tool, "allow" if rc else "require_confirmation", principal)
            shown = json.loads(json.dumps(args)) if R() < 0.5 else None
            self.confirm(tr, step, call_id, tool, outcome, shown, responder)
            self.result(
                tr,
                step,
                root,
                call_id,
                tool,
                ctx,
                "cancelled",
                "user_rejected" if outcome == "rejected" else "confirmation_expired",
            )
            raise Stop("abandoned" if outcome == "expired" or R() < 0.5 else "partial", tool)

        if outcome == "suggest":
            self.call(tr, step, root, call_id, tool, args, mode="suggest")
            if R() < 0.5:
                self.check(tr, step, call_id, tool, "allow", principal)
            raise Stop("success", tool)

        if outcome == "rollback":
            self.call(tr, step, root, call_id, tool, args)
            self.authorise(tr, step, call_id, tool, ctx, args=args)
            resource_id = self.execute_ok(tr, step, root, call_id, tool, ctx)
            self.error(tr, step, "verification_failed", f"{tool} result did not verify; rolling back", False)
            ok = R() < 0.8
            tr.add(
                "rollback",
                tr.span(),
                step,
                {
                    "tool_call_id": call_id,
                    "resource_type": meta[5],
                    "resource_id": resource_id,
                    "status": "ok" if ok else "error",
                    "reason": "post-change verification failed"
                    + ("" if ok else "; rollback rejected by backend"),
                },
                200 * MS + R() * 2 * SEC,
            )
            if not ok:
                self.error(tr, step, "rollback_failed", f"could not roll back {resource_id}", False, call_id)
            self.scenarios["rollback_ok" if ok else "rollback_error"] += 1
            raise Stop("failure" if ok or R() < 0.5 else "partial", tool)

        raise AssertionError(outcome)  # pragma: no cover

    def timeout_then_late_retry(self, tr: Trace, root: str, tool: str, ctx: dict, selector: tuple) -> int:
        """First attempt times out; the retry and everything after it is logged late. -> split index."""
        args = tool_args(tool, ctx)
        step, call_id = self.select(tr, root, tool, selector)
        self.call(tr, step, root, call_id, tool, args)
        self.authorise(tr, step, call_id, tool, ctx, args=args)
        self.result(tr, step, root, call_id, tool, ctx, "timeout")
        split = len(tr.events)
        self.error(tr, step, "tool_timeout", f"{tool} timed out after 30 s; retrying", True, call_id)
        retry_step = tr.span()
        retry_id = tr.next_id("call")
        self.call(tr, retry_step, step, retry_id, tool, args, attempt=2, retry_of=call_id)
        self.execute_ok(tr, retry_step, step, retry_id, tool, ctx)
        return split
