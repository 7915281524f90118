"""Format constants, collector shards, the audit rules and their injected breach variants and rates,
and the time units everything is measured in (microseconds since the trace day's UTC midnight)."""

from __future__ import annotations

MANIFEST_NAME = "generator-manifest.json"
GENERATOR_VERSION = 1
SHARDS = ("collector-a", "collector-b", "collector-c", "collector-d")
EVENT_TYPES = (
    "user_request",
    "plan",
    "model_call",
    "tool_selection",
    "tool_call",
    "tool_result",
    "policy_check",
    "confirmation_request",
    "confirmation_response",
    "side_effect",
    "rollback",
    "error",
    "final_result",
    "feedback",
)
AUDIT_RULES = ("R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8", "R10")

# Breach injections per rule, and the share of a day's traces that carries each rule's breach.
RULE_VARIANTS: dict[str, tuple[str, ...]] = {
    "R1": ("missing_final_result", "two_user_requests"),
    "R2": ("no_policy_check", "check_after_execution"),
    "R3": ("no_confirmation", "rejected_but_ran", "policy_requires_confirmation", "approved_after_execution"),
    "R4": ("missing_result", "two_results", "suggest_with_result"),
    "R5": ("denied_but_ok_result", "denied_but_side_effect"),
    "R6": ("read_only_side_effect", "suggest_side_effect"),
    "R7": ("sequence_gap", "unknown_parent_span"),
    "R8": ("missing_model_version", "empty_model"),
    "R10": ("arguments_differ",),
}
RULE_RATES = {
    "R1": 0.008,
    "R2": 0.012,
    "R3": 0.010,
    "R4": 0.015,
    "R5": 0.006,
    "R6": 0.007,
    "R7": 0.005,
    "R8": 0.010,
    "R10": 0.008,
}
# Which access class of tool an injection needs (None: applied to the whole trace).
INJECTION_ACCESS = {
    "no_policy_check": "sc",
    "check_after_execution": "sc",
    "no_confirmation": "sc",
    "rejected_but_ran": "sc",
    "policy_requires_confirmation": "sc",
    "approved_after_execution": "sc",
    "missing_result": "ro",
    "two_results": "ro",
    "suggest_with_result": "sc",
    "denied_but_ok_result": "ro",
    "denied_but_side_effect": "sc",
    "read_only_side_effect": "ro",
    "suggest_side_effect": "sc",
    "arguments_differ": "sc",
}
LATE_TAIL_RATE = 0.01
FEEDBACK_RATE = 0.35
LATE_FEEDBACK_SHARE = 0.65

DAY_US = 86_400_000_000
SEC = 1_000_000
MS = 1_000

RO, SC = "read_only", "state_changing"
