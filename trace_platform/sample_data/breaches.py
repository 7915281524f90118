"""Injected breaches: a small known share of traces per rule breaks it on purpose.

A small known share of traces per rule (0.5–1.5 %, at least one per rule and day when the day has
enough traces; tiny days get a rotating subset) carries one deliberate breach: see `RULE_VARIANTS`.
The manifest lists, per rule, the exact keys the warehouse reports (R1/R7: trace_id; R2–R6/R10:
tool_call_id; R8: the model_call's event_id), including the second rule an injection legitimately
triggers (a denied call with a side effect also breaches R2). R1 variants are applied while the
trace is built (`unit.Unit.trace`), R7 and R8 variants when it is rendered (`rendering`), the
others here, on one tool call.
"""

from __future__ import annotations

import random

from trace_platform.sample_data.catalog import TOOLS, tool_args
from trace_platform.sample_data.constants import AUDIT_RULES, MS, RULE_RATES, RULE_VARIANTS
from trace_platform.sample_data.events import Trace
from trace_platform.sample_data.json_values import mutated
from trace_platform.sample_data.scenarios import CleanSteps


def day_injections(seed: int, day: str, day_index: int, traces: int) -> dict[int, tuple[str, str]]:
    """Which traces of a day carry which breach: known counts, deterministic positions."""
    rng = random.Random(f"trace-generator/{seed}/{day}/injections")
    counts = {rule: max(1, round(RULE_RATES[rule] * traces)) for rule in AUDIT_RULES}
    budget = traces // 4  # at most a quarter of a (tiny) day's traces carry a breach
    if sum(counts.values()) > budget:
        rotated = AUDIT_RULES[day_index % len(AUDIT_RULES) :] + AUDIT_RULES[: day_index % len(AUDIT_RULES)]
        counts = {rule: 1 for rule in rotated[:budget]}
    plan: list[tuple[str, str]] = []
    for rule, count in counts.items():
        variants = RULE_VARIANTS[rule]
        plan += [(rule, variants[(day_index * count + j) % len(variants)]) for j in range(count)]
    positions = rng.sample(range(traces), len(plan))
    return dict(zip(positions, plan, strict=True))


class BreachInjection(CleanSteps):
    """One tool call breaching a rule on purpose."""

    expected: dict[str, list[str]]

    def inject(self, tr: Trace, root: str, tool: str, ctx: dict, selector: tuple, variant: str) -> None:
        """One tool call breaching a rule on purpose; records the expected (rule, tool_call_id) keys."""
        args = tool_args(tool, ctx)
        principal, responder = ctx["principal"], ctx["responder"]
        step, c = self.select(tr, root, tool, selector)
        resource_id = f"{TOOLS[tool][5]}_{c[5:]}"
        expect = self.expected

        if variant == "no_policy_check":
            self.call(tr, step, root, c, tool, args, requires_confirmation=False)
            self.execute_ok(tr, step, root, c, tool, ctx)
            expect["R2"].append(c)
        elif variant == "check_after_execution":
            self.call(tr, step, root, c, tool, args, requires_confirmation=False)
            self.result(tr, step, root, c, tool, ctx, "ok", resource_id=resource_id)
            self.check(tr, step, c, tool, "allow", principal)
            self.side_effect(tr, step, root, c, tool, resource_id)
            expect["R2"].append(c)
        elif variant == "no_confirmation":
            self.call(tr, step, root, c, tool, args, requires_confirmation=True)
            self.check(tr, step, c, tool, "allow", principal)
            self.execute_ok(tr, step, root, c, tool, ctx)
            expect["R3"].append(c)
        elif variant == "rejected_but_ran":
            self.call(tr, step, root, c, tool, args, requires_confirmation=True)
            self.check(tr, step, c, tool, "allow", principal)
            self.confirm(tr, step, c, tool, "rejected", None, responder)
            self.execute_ok(tr, step, root, c, tool, ctx)
            expect["R3"].append(c)
        elif variant == "policy_requires_confirmation":
            self.call(tr, step, root, c, tool, args, requires_confirmation=False)
            self.check(tr, step, c, tool, "require_confirmation", principal)
            self.execute_ok(tr, step, root, c, tool, ctx)
            expect["R3"].append(c)
        elif variant == "approved_after_execution":
            self.call(tr, step, root, c, tool, args, requires_confirmation=True)
            self.check(tr, step, c, tool, "allow", principal)
            self.result(tr, step, root, c, tool, ctx, "ok", resource_id=resource_id)
            self.confirm(tr, step, c, tool, "approved", None, responder)
            self.side_effect(tr, step, root, c, tool, resource_id)
            expect["R3"].append(c)
        elif variant == "missing_result":
            self.call(tr, step, root, c, tool, args)
            self.authorise(tr, step, c, tool, ctx, args=args)
            expect["R4"].append(c)
        elif variant == "two_results":
            self.call(tr, step, root, c, tool, args)
            self.authorise(tr, step, c, tool, ctx, args=args)
            self.result(tr, step, root, c, tool, ctx, "timeout")
            self.result(tr, step, root, c, tool, ctx, "ok", resource_id=resource_id)
            expect["R4"].append(c)
        elif variant == "suggest_with_result":
            self.call(tr, step, root, c, tool, args, mode="suggest")
            self.check(tr, step, c, tool, "allow", principal)
            self.result(tr, step, root, c, tool, ctx, "ok", resource_id=resource_id)
            expect["R4"].append(c)
        elif variant == "denied_but_ok_result":
            self.call(tr, step, root, c, tool, args)
            self.check(tr, step, c, tool, "deny", principal)
            self.result(tr, step, root, c, tool, ctx, "ok", resource_id=resource_id)
            expect["R5"].append(c)
        elif variant == "denied_but_side_effect":
            self.call(tr, step, root, c, tool, args, requires_confirmation=False)
            self.check(tr, step, c, tool, "deny", principal)
            self.result(tr, step, root, c, tool, ctx, "denied")
            self.side_effect(tr, step, root, c, tool, resource_id)
            expect["R5"].append(c)
            expect["R2"].append(c)  # executed (it has a side effect) with no authorising check
        elif variant == "read_only_side_effect":
            self.call(tr, step, root, c, tool, args)
            self.authorise(tr, step, c, tool, ctx, args=args)
            self.result(tr, step, root, c, tool, ctx, "ok", resource_id=resource_id)
            tr.add(
                "side_effect",
                step,
                root,
                {
                    "tool_call_id": c,
                    "resource_type": TOOLS[tool][5],
                    "resource_id": resource_id,
                    "operation": "update",
                    "reversible": False,
                },
                2 * MS,
            )
            expect["R6"].append(c)
        elif variant == "suggest_side_effect":
            self.call(tr, step, root, c, tool, args, mode="suggest")
            self.check(tr, step, c, tool, "allow", principal)
            self.side_effect(tr, step, root, c, tool, resource_id)
            expect["R6"].append(c)
        elif variant == "arguments_differ":
            self.call(tr, step, root, c, tool, args, requires_confirmation=True)
            self.check(tr, step, c, tool, "allow", principal)
            self.confirm(tr, step, c, tool, "approved", mutated(args), responder)
            self.execute_ok(tr, step, root, c, tool, ctx)
            expect["R10"].append(c)
        else:  # pragma: no cover
            raise AssertionError(variant)
