"""Deterministic, realistic sample trace logs in the native v1 format (docs: agent-trace-event-v1).

`generate()` writes one landing folder per delivery day and a manifest at the landing root:

    <out>/<YYYY-MM-DD>/collector-<a..d>.jsonl[.gz]        the day's traces, one file per collector shard
    <out>/<YYYY-MM-DD>/collector-<a..d>.late.jsonl[.gz]   what arrived late from the previous day: next-
                                                          morning feedback, retries logged late and,
                                                          with dirty=True, re-deliveries
    <out>/generator-manifest.json                         what was written and what the warehouse must find

**Work units.** A (delivery day, collector shard) pair is one unit, seeded from (seed, day, shard)
only: it writes its shard's file of that day and the shard's late file in the next day's folder,
so units are independent and run in parallel processes for large outputs. The same arguments give
byte-identical files and manifest (gzip with mtime 0; no clock, no uuid4: every id comes from the
seeded generators).

**Traces.** Tenants, users, sessions of one to four traces, agents with versions (a rollout shifts
traffic to the newer version day by day), intents with user request texts, a planning model call
and a plan, one step per tool (a tool_selection, often preceded by a tool-selection model call,
then tool_call, policy_check, confirmation_request/response, tool_result, side_effect), a response
model call, the final_result, sometimes feedback. Spans: the root span holds user_request,
final_result and feedback; each step has a span under the root, its model call, policy check,
confirmation, error and rollback events have child spans; a retry's step span is a child of the
first attempt's. `sequence` is contiguous from 0, timestamps (RFC 3339, microseconds, mostly `Z`,
some `+02:00`/`+01:00`/`-05:00` local offsets) increase with it and stay inside the trace's day.

Clean scenarios: timeouts retried (attempt 2 or 3, `retry_of` the previous attempt, covered by the
first attempt's policy check and confirmation), invalid parameters retried with changed arguments,
a not-applicable or unknown tool followed by the right one, the same read repeated, failures,
policy denials (tool_result `denied`, no side effect), suggest-only calls (no tool_result),
confirmations approved / rejected / expired (→ `cancelled`), confirmation requests with the exact
arguments, with the arguments in another key order (not an R10 breach), or without arguments,
reversible (with rollback_ref) and irreversible side effects, rollbacks ok and failed, model call
errors, recoverable and fatal error events, final results of every status. Clean traces breach no
audit rule.

**Late events.** Feedback arrives the same day or (mostly) the next morning, in the next day's
late file. About 1 % of traces have their retry, its result and the end of the run "logged late",
in the next day's late file (timestamps stay on the trace's day). On the LAST generated day nothing
is delivered into a folder after the range: next-morning feedback is simply not emitted (the user
has not rated yet), and the late-logged tail of a trace is delivered with the rest of the trace in
that day's own shard file, so every generated trace is complete.

**Injected breaches.** A small known share of traces per rule (0.5–1.5 %, at least one per rule
and day when the day has enough traces; tiny days get a rotating subset) carries one deliberate
breach: see `RULE_VARIANTS`. The manifest lists, per rule, the exact keys the warehouse reports
(R1/R7: trace_id; R2–R6/R10: tool_call_id; R8: the model_call's event_id), including the second
rule an injection legitimately triggers (a denied call with a side effect also breaches R2).

**Dirty mode** adds lines that are not trace events (so traces stay intact and breach keys exact):
malformed lines of every quarantine reason the format defines that a generator can provoke (invalid
JSON, truncated lines, trailing commas, arrays and scalars, missing fields, wrong types, bad values,
unknown event types, bad timestamps, schema_version "2", invalid UTF-8 (in late files only, which
keeps the repair path off the large files)), blank lines (empty, white space, bare CRLF), CRLF
endings, a missing final newline, duplicate deliveries (identical, keys reordered, other whitespace
or escaping: all JSON-equal) in the same file and re-delivered in the next day's late file, and
conflicting re-deliveries (same event_id, other content) always after the original in delivery
order, so the original wins and is what the trace keeps.

The manifest records, per file, the accounting R9 defines exactly as ingestion reports it in
raw.ingest_files (lines_read, blank_lines, events_loaded, duplicates_dropped, lines_quarantined and
quarantined lines by reason), per day and overall totals, loaded events per event type, scenario and
injection counts, and the expected breach keys per rule.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import queue
import random
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from operator import itemgetter
from pathlib import Path

try:  # orjson is several times faster; the fallback writes the same JSON values
    import orjson

    def _dumps(obj) -> bytes:
        return orjson.dumps(obj)

    def _loads(line: bytes):
        return orjson.loads(line)
except ImportError:  # pragma: no cover - orjson ships with the project's environment

    def _dumps(obj) -> bytes:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()

    def _loads(line: bytes):
        return json.loads(line)


__all__ = ["generate", "MANIFEST_NAME", "SHARDS", "RULE_VARIANTS", "RULE_RATES", "EVENT_TYPES"]

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
_INJECTION_ACCESS = {
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
# Traces per day up to which generation stays in this process (process start-up is not worth it).
_PARALLEL_MIN_TRACES = 20_000

_DAY_US = 86_400_000_000
_SEC = 1_000_000
_MS = 1_000

RO, SC = "read_only", "state_changing"

# --- catalog -------------------------------------------------------------------------------------

# name: (version, access, requires_confirmation, permission, policy, resource_type, operation, reversible)
_TOOLS: dict[str, tuple] = {
    "lookup_order": ("2.4.1", RO, False, "orders:read", "orders-access@4", "order", None, None),
    "track_shipment": ("1.2.0", RO, False, "shipments:read", "orders-access@4", "shipment", None, None),
    "search_kb": ("5.0.2", RO, False, "kb:read", "kb-access@1", "article", None, None),
    "lookup_customer": ("3.1.0", RO, False, "customers:read", "pii-access@2", "customer", None, None),
    "refund_order": ("2.0.3", SC, True, "payments:refund", "refunds@3", "refund", "create", True),
    "update_address": (
        "1.4.0",
        SC,
        False,
        "customers:write",
        "customer-data@5",
        "customer_address",
        "update",
        True,
    ),
    "cancel_subscription": (
        "1.1.2",
        SC,
        True,
        "subscriptions:write",
        "subscriptions@2",
        "subscription",
        "update",
        True,
    ),
    "remove_payment_method": (
        "1.0.0",
        SC,
        True,
        "payments:write",
        "refunds@3",
        "payment_method",
        "delete",
        False,
    ),
    "send_email": ("4.2.0", SC, False, "email:send", "outbound-comms@6", "email", "send", False),
    "create_ticket": ("2.2.1", SC, False, "tickets:write", "helpdesk@1", "ticket", "create", True),
    "get_service_status": ("1.0.7", RO, False, "services:read", "observability@2", "service", None, None),
    "query_logs": ("3.3.0", RO, False, "logs:read", "observability@2", "log_query", None, None),
    "get_metrics": ("3.3.0", RO, False, "metrics:read", "observability@2", "metric", None, None),
    "restart_service": ("2.1.0", SC, True, "services:restart", "prod-change@7", "service", "execute", False),
    "scale_deployment": (
        "2.1.0",
        SC,
        False,
        "deployments:scale",
        "prod-change@7",
        "deployment",
        "update",
        True,
    ),
    "rotate_api_key": ("1.0.1", SC, True, "secrets:rotate", "secrets@3", "api_key", "execute", False),
    "page_oncall": ("1.5.0", SC, False, "pager:send", "incident@2", "page", "send", False),
    "search_crm": ("6.0.0", RO, False, "crm:read", "crm-access@3", "account", None, None),
    "create_lead": ("6.0.0", SC, False, "crm:write", "crm-access@3", "lead", "create", True),
    "generate_quote": ("2.0.0", RO, False, "pricing:read", "pricing@1", "quote", None, None),
    "send_quote": ("2.0.0", SC, True, "email:send", "outbound-comms@6", "email", "send", False),
    "check_calendar": ("1.3.0", RO, False, "calendar:read", "calendar@1", "calendar", None, None),
    "schedule_meeting": (
        "1.3.0",
        SC,
        False,
        "calendar:write",
        "calendar@1",
        "calendar_event",
        "create",
        True,
    ),
    "web_search": ("0.9.0", RO, False, "web:read", "egress@1", "web_page", None, None),
}
# Tools whose read always passes a policy check (personal data).
_CHECKED_READS = {"lookup_customer", "search_crm"}

_TOOL_STEP = {
    "lookup_order": "Look up the order",
    "track_shipment": "Get the carrier's tracking status",
    "search_kb": "Search the help centre",
    "lookup_customer": "Load the customer record",
    "refund_order": "Issue the refund",
    "update_address": "Update the shipping address",
    "cancel_subscription": "Cancel the subscription",
    "remove_payment_method": "Remove the stored card",
    "send_email": "Email the customer a confirmation",
    "create_ticket": "Open a support ticket",
    "get_service_status": "Check the service's health",
    "query_logs": "Search recent error logs",
    "get_metrics": "Read the service metrics",
    "restart_service": "Restart the service (rolling)",
    "scale_deployment": "Scale the deployment",
    "rotate_api_key": "Rotate the API key",
    "page_oncall": "Page the on-call engineer",
    "search_crm": "Find the account in the CRM",
    "create_lead": "Create the lead",
    "generate_quote": "Price the quote",
    "send_quote": "Send the quote",
    "check_calendar": "Find a free slot",
    "schedule_meeting": "Book the meeting",
}


def _args(tool: str, c: dict) -> dict:
    """A tool's arguments for a trace context (plain data: keys in a realistic order)."""
    if tool == "lookup_order":
        return {"order_id": c["order_id"], "include": ["items", "payments"]}
    if tool == "track_shipment":
        return {"order_id": c["order_id"], "carrier": c["carrier"]}
    if tool == "search_kb":
        return {"query": c["topic"], "top_k": 5, "locale": c["locale"]}
    if tool == "lookup_customer":
        return {"customer_id": c["customer_id"], "fields": ["name", "email", "address"]}
    if tool == "refund_order":
        return {
            "order_id": c["order_id"],
            "amount": {"value_cents": c["amount_cents"], "currency": c["currency"]},
            "reason": c["reason"],
        }
    if tool == "update_address":
        return {
            "customer_id": c["customer_id"],
            "address": {
                "street": c["street"],
                "city": c["city"],
                "postcode": c["postcode"],
                "country": c["country"],
            },
        }
    if tool == "cancel_subscription":
        return {"subscription_id": c["subscription_id"], "effective": "end_of_term", "refund_unused": False}
    if tool == "remove_payment_method":
        return {"customer_id": c["customer_id"], "card_last4": c["card_last4"]}
    if tool == "send_email":
        return {"to": c["email"], "template": c["email_template"], "locale": c["locale"]}
    if tool == "create_ticket":
        return {"customer_id": c["customer_id"], "subject": c["topic"], "priority": c["priority"]}
    if tool == "get_service_status":
        return {"service": c["service"], "environment": c["environment"]}
    if tool == "query_logs":
        return {"service": c["service"], "query": "level:error", "since_minutes": c["window_minutes"]}
    if tool == "get_metrics":
        return {"service": c["service"], "metric": c["metric"], "window_minutes": c["window_minutes"]}
    if tool == "restart_service":
        return {"service": c["service"], "environment": c["environment"], "strategy": "rolling"}
    if tool == "scale_deployment":
        return {"deployment": c["service"], "environment": c["environment"], "replicas": c["replicas"]}
    if tool == "rotate_api_key":
        return {"key_name": c["key_name"], "service": c["service"], "revoke_old_after_minutes": 60}
    if tool == "page_oncall":
        return {
            "team": c["team"],
            "severity": c["severity"],
            "summary": f"{c['service']}: {c['metric']} alert",
        }
    if tool == "search_crm":
        return {"company": c["company"], "limit": 3}
    if tool == "create_lead":
        return {
            "company": c["company"],
            "contact": {"name": c["contact"], "email": c["email"]},
            "source": "chat",
        }
    if tool == "generate_quote":
        return {"company": c["company"], "plan": c["plan"], "seats": c["seats"]}
    if tool == "send_quote":
        return {"to": c["email"], "quote_id": c["quote_id"], "valid_days": 30}
    if tool == "check_calendar":
        return {"participants": [c["email"], c["rep_email"]], "week": c["week"]}
    if tool == "schedule_meeting":
        return {
            "participants": [c["email"], c["rep_email"]],
            "start": c["meeting_start"],
            "duration_minutes": 30,
            "title": f"Intro call: {c['company']}",
        }
    return {"query": c["topic"]}  # web_search and unknown tools


def _output(tool: str, c: dict, resource_id: str) -> object:
    access = _TOOLS[tool][1] if tool in _TOOLS else RO
    if tool == "lookup_order":
        return {"order_id": c["order_id"], "status": c["order_status"], "total_cents": c["amount_cents"]}
    if tool == "track_shipment":
        return {"status": "in_transit", "eta": c["eta"], "carrier": c["carrier"]}
    if tool in ("search_kb", "web_search"):
        return {"results": [{"id": f"kb-{c['order_id'] % 9000 + 1000}", "title": c["topic"].capitalize()}]}
    if tool in ("get_metrics", "get_service_status"):
        return {"service": c["service"], "healthy": c["replicas"] % 3 != 0, "value": c["window_minutes"] * 7}
    if tool == "query_logs":
        return {"matches": c["replicas"] * 13, "top_error": "upstream connect error"}
    if access == SC:
        return {"id": resource_id, "status": "done"}
    return {"found": True}


# agent: versions, per-version (planner, selector) models, intents
_MODELS = {
    ("support-bot", "3.2.0"): (("openai", "gpt-4o", "2024-08-06"), ("openai", "gpt-4o-mini", "2024-07-18")),
    ("support-bot", "3.3.0"): (
        ("anthropic", "claude-sonnet-4", "20250514"),
        ("anthropic", "claude-3-5-haiku", "20241022"),
    ),
    ("ops-agent", "1.9.4"): (("google", "gemini-1.5-pro", "002"), ("google", "gemini-1.5-flash", "002")),
    ("ops-agent", "2.0.0"): (
        ("anthropic", "claude-sonnet-4", "20250514"),
        ("mistral", "mistral-small", "2409"),
    ),
    ("sales-assistant", "0.8.1"): (
        ("openai", "gpt-4.1", "2025-04-14"),
        ("openai", "gpt-4.1-mini", "2025-04-14"),
    ),
    ("sales-assistant", "0.9.0"): (
        ("mistral", "mistral-large", "2411"),
        ("openai", "gpt-4.1-mini", "2025-04-14"),
    ),
}
_MODERATION = ("openai", "omni-moderation", "2024-09-26")
_AGENT_VERSIONS = {
    "support-bot": ("3.2.0", "3.3.0"),
    "ops-agent": ("1.9.4", "2.0.0"),
    "sales-assistant": ("0.8.1", "0.9.0"),
}
# intent: (steps, request texts, success output)
_INTENTS: dict[str, dict[str, tuple]] = {
    "support-bot": {
        "refund_order": (
            ("lookup_order", "refund_order", "send_email"),
            (
                "I want a refund for order #{order_id}, it arrived damaged.",
                "Please refund order {order_id}. Wrong size and the return label doesn't work.",
                "Can I get my money back for order #{order_id}?",
                "Bestellung {order_id} ist kaputt angekommen – bitte erstatten.",
            ),
            "Your refund of {amount} for order #{order_id} is on its way; you'll get an email shortly.",
        ),
        "track_shipment": (
            ("lookup_order", "track_shipment"),
            (
                "Where is my package? Order #{order_id}",
                "order {order_id} still hasn't arrived, any update??",
                "Can you track order {order_id} for me",
            ),
            "Order #{order_id} is in transit with {carrier} and should arrive on {eta}.",
        ),
        "update_address": (
            ("lookup_customer", "update_address", "send_email"),
            (
                "I moved, please change my address to {street}, {postcode} {city}.",
                "Update my shipping address: {street}, {city} {postcode}",
            ),
            "Done: your address is now {street}, {postcode} {city}.",
        ),
        "cancel_subscription": (
            ("lookup_customer", "cancel_subscription"),
            (
                "Cancel my subscription please.",
                "I don't use the premium plan anymore, how do I cancel?",
            ),
            "Your subscription ends at the end of the current term; you won't be charged again.",
        ),
        "remove_card": (
            ("lookup_customer", "remove_payment_method"),
            ("Remove the card ending {card_last4} from my account.",),
            "The card ending {card_last4} has been removed.",
        ),
        "product_question": (
            ("search_kb",),
            (
                "Does the {topic} work with iOS?",
                "How long is the warranty on the {topic}?",
                "Est-ce que le {topic} est compatible avec Android ?",
            ),
            "Here is what I found about the {topic}: see the help article linked below.",
        ),
        "open_ticket": (
            ("search_kb", "create_ticket"),
            ("My {topic} keeps disconnecting, nothing in the FAQ helps.",),
            "I opened a ticket about your {topic}; our team will reply within a day.",
        ),
    },
    "ops-agent": {
        "restart_service": (
            ("get_service_status", "query_logs", "restart_service"),
            (
                "{service} in {environment} is returning 502s, restart it",
                "please bounce {service} ({environment})",
            ),
            "{service} was restarted in {environment}; error rate is back to normal.",
        ),
        "scale_deployment": (
            ("get_metrics", "scale_deployment"),
            (
                "Scale {service} to {replicas} replicas in {environment}",
                "{service} latency is high, add capacity",
            ),
            "{service} now runs {replicas} replicas in {environment}.",
        ),
        "investigate_alert": (
            ("get_metrics", "query_logs", "page_oncall"),
            (
                "Alert: {metric} on {service} is firing, investigate",
                "why is {service} slow right now?",
            ),
            "I found the likely cause in {service}'s logs and paged the {team} on-call.",
        ),
        "rotate_credentials": (
            ("rotate_api_key",),
            ("Rotate the {key_name} key for {service}, it leaked in a log.",),
            "The {key_name} key was rotated; the old one is revoked in 60 minutes.",
        ),
    },
    "sales-assistant": {
        "create_lead": (
            ("search_crm", "create_lead"),
            (
                "Add {contact} from {company} as a lead, met them at the expo.",
                "new lead: {company}, contact {contact} <{email}>",
            ),
            "{company} is in the CRM as a new lead, owned by you.",
        ),
        "send_quote": (
            ("search_crm", "generate_quote", "send_quote"),
            ("Send {company} a quote for {seats} seats on the {plan} plan.",),
            "The quote for {seats} {plan} seats was sent to {email}.",
        ),
        "schedule_meeting": (
            ("check_calendar", "schedule_meeting"),
            ("Book a 30 min intro with {contact} ({company}) next week.",),
            "Booked: intro call with {contact} on {meeting_start}.",
        ),
    },
}
_TENANTS = (
    ("acme-retail", ("support-bot", "sales-assistant")),
    ("globex", ("support-bot", "ops-agent")),
    ("initech", ("ops-agent",)),
    ("umbrella-health", ("support-bot",)),
    ("stark-logistics", ("support-bot", "ops-agent", "sales-assistant")),
)
_USERS_PER_TENANT = 60
_CHANNELS = {
    "support-bot": ("web", "web", "mobile", "email"),
    "ops-agent": ("slack", "slack", "cli"),
    "sales-assistant": ("web", "slack"),
}
_WRONG_TOOLS = {
    "support-bot": ("web_search", "order_lookup_v1"),
    "ops-agent": ("web_search", "kubectl_exec"),
    "sales-assistant": ("web_search", "hubspot_search"),
}
_FIRST = (
    "Ana",
    "Ben",
    "Chloé",
    "Dmitri",
    "Emeka",
    "Fatima",
    "Giulia",
    "Hiro",
    "Ines",
    "Jonas",
    "Kofi",
    "Lena",
)
_LAST = ("Silva", "Okafor", "Müller", "Nguyen", "Rossi", "Kowalski", "Tanaka", "Haddad", "Berg", "Costa")
_COMPANIES = ("Northwind", "Contoso", "Fabrikam", "Tailspin", "Wingtip", "Litware", "Adatum", "Proseware")
_CITIES = (
    ("Berlin", "10115", "DE"),
    ("Lyon", "69001", "FR"),
    ("Leeds", "LS1 4DY", "GB"),
    ("Porto", "4000-322", "PT"),
    ("Austin", "78701", "US"),
    ("Kraków", "31-000", "PL"),
)
_STREETS = ("Hauptstraße 12", "12 rue de la Paix", "4 Park Row", "Rua das Flores 88", "1200 Congress Ave")
_TOPICS = ("wireless earbuds", "smart thermostat", "robot vacuum", "fitness tracker", "4K webcam", "e-reader")
_SERVICES = ("checkout-api", "search-svc", "payments-gw", "auth-service", "inventory", "notifications")
_METRICS = ("p95_latency_ms", "error_rate", "cpu_utilisation", "queue_depth")
_FEEDBACK_COMMENTS = {
    1: ("Quick and easy, thanks!", "perfect", "Solved my problem."),
    0: ("ok", "Took a while but fine."),
    -1: ("It didn't do what I asked.", "Wrong order!", "Too many confirmations.", "useless"),
}
_BAD_PARAMETER_ERRORS = ("invalid_parameters", "invalid_arguments", "validation_error", "bad_request")
_FINAL_TEXT = {
    "partial": "I completed part of this, but {step} did not go through. A colleague will follow up.",
    "failure": "Sorry, I couldn't complete this: {step} failed. Nothing else was changed.",
    "abandoned": "Okay, I stopped here; nothing was changed.",
}


# --- timestamps ----------------------------------------------------------------------------------


class _Clock:
    """Formats microseconds since the trace day's UTC midnight as RFC 3339 with a fixed offset."""

    __slots__ = ("day", "minutes")
    SUFFIXES = {0: b"Z", 120: b"+02:00", 60: b"+01:00", -300: b"-05:00", 330: b"+05:30"}

    def __init__(self, day: dt.date):
        self.day = day
        self.minutes: dict[int, bytes] = {}  # local minute since the day's midnight -> b"YYYY-MM-DDTHH:MM:"

    def stamp(self, us: int, offset_minutes: int = 0) -> bytes:
        minute, rest = divmod(us + offset_minutes * 60 * _SEC, 60 * _SEC)
        prefix = self.minutes.get(minute)
        if prefix is None:
            days, in_day = divmod(minute, 24 * 60)
            hours, minutes = divmod(in_day, 60)
            date_text = (self.day + dt.timedelta(days=days)).isoformat()
            prefix = self.minutes[minute] = f"{date_text}T{hours:02d}:{minutes:02d}:".encode()
        secs, micros = divmod(rest, _SEC)
        return b"%b%02d.%06d%b" % (prefix, secs, micros, self.SUFFIXES[offset_minutes])


# --- one trace being built -----------------------------------------------------------------------


class _Trace:
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


class _Stop(Exception):
    """The run ends early with this final status (the step already logged why)."""

    def __init__(self, status: str, step: str):
        self.status = status
        self.step = step


def _reordered(value):
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {k: _reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(v) for v in value]
    return value


def _mutated(args: dict) -> dict:
    """Arguments that differ from `args` as JSON values (what a user was shown before an edit)."""
    out = json.loads(json.dumps(args))

    def bump(obj) -> bool:
        for key, value in obj.items():
            if isinstance(value, bool):
                continue
            if isinstance(value, int):
                obj[key] = value * 10 if value else 1
                return True
            if isinstance(value, dict) and bump(value):
                return True
        for key, value in obj.items():
            if isinstance(value, str):
                obj[key] = value + " (edited)"
                return True
        return False

    if not bump(out):
        out["note"] = "edited"
    return out


def _bad_args(args: dict) -> dict:
    """A malformed first attempt: one value has the wrong shape (the retry fixes it)."""
    out = json.loads(json.dumps(args))
    key = next(iter(out))
    value = out[key]
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        out[key] = None
    elif isinstance(value, int):
        out[key] = f"#{value}"
    else:
        out[key] = value.upper() + " "
    return out


# --- a work unit: one collector shard of one delivery day ------------------------------------------


class _Unit:
    def __init__(self, spec: dict):
        self.spec = spec
        self.day = dt.date.fromisoformat(spec["day"])
        self.day_index = spec["day_index"]
        self.last_day = spec["last_day"]
        self.shard = spec["shard"]
        self.rng = random.Random(f"trace-generator/{spec['seed']}/{spec['day']}/{self.shard}")
        self.clock = _Clock(self.day)
        self.main: list[tuple[int, bytes]] = []  # (t_us, line) delivered in this day's shard file
        self.late: list[tuple[int, bytes]] = []  # delivered in the next day's late file
        self.event_types: Counter = Counter()
        self.scenarios: Counter = Counter()
        self.injections: Counter = Counter()
        self.expected: dict[str, list[str]] = {rule: [] for rule in AUDIT_RULES}
        self.traces = 0
        self.sessions = 0
        self.agents = {(name, version): {"name": name, "version": version} for name, version in _MODELS}
        # rollout: the newer version of each agent takes more traffic day by day
        self.new_version_share = min(0.85, 0.3 + 0.08 * self.day_index)

    # -- traces ------------------------------------------------------------------------------------

    def run(self) -> None:
        rng = self.rng
        injections: dict[int, tuple[str, str]] = {
            int(k): tuple(v) for k, v in self.spec["injections"].items()
        }
        index, end = self.spec["first_trace"], self.spec["end_trace"]
        while index < end:
            tenant, agents = _TENANTS[int(rng.random() * len(_TENANTS))]
            agent = agents[int(rng.random() * len(agents))]
            versions = _AGENT_VERSIONS[agent]
            version = versions[1] if rng.random() < self.new_version_share else versions[0]
            automated = agent == "ops-agent" and rng.random() < 0.12  # alert-triggered: no user, no session
            user = (
                None if automated else f"u_{tenant.split('-')[0]}_{int(rng.random() * _USERS_PER_TENANT):04d}"
            )
            session = None if automated else f"sess_{rng.getrandbits(64):016x}"
            size = 1 if automated else min(end - index, 1 + int(rng.random() ** 2 * 4))
            t = int(rng.random() * 20 * 3600) * _SEC + int(rng.random() * _SEC)
            self.sessions += 1
            for _ in range(size):
                t = self.trace(tenant, agent, version, user, session, t, injections.get(index))
                t += int((20 + rng.random() * 580) * _SEC)
                index += 1

    def trace(
        self,
        tenant: str,
        agent: str,
        version: str,
        user: str | None,
        session: str | None,
        t0: int,
        injection: tuple[str, str] | None,
    ) -> int:
        rng = self.rng
        R = rng.random
        self.traces += 1
        trace_id = f"{rng.getrandbits(128):032x}"
        tr = _Trace(trace_id, t0)
        rule, variant = injection if injection else (None, None)
        need = _INJECTION_ACCESS.get(variant)
        intents = _INTENTS[agent]
        names = list(intents)
        intent = names[int(R() * len(names))]
        if need and not any(self.access(tool) == need for tool in intents[intent][0]):
            intent = next(n for n in names if any(self.access(tool) == need for tool in intents[n][0]))
        steps, texts, success_text = intents[intent]
        ctx = self.context(trace_id, agent, user)
        ctx["agent"] = agent
        ctx["principal"] = user or f"svc:{agent}"
        ctx["responder"] = user or "oncall:platform"
        planner, selector = _MODELS[(agent, version)]
        late_tail = injection is None and R() < LATE_TAIL_RATE
        clean_only = injection is not None or late_tail
        offset = 0
        if 6 * 3600 * _SEC <= t0 <= 17 * 3600 * _SEC:
            x = R()
            offset = 120 if x < 0.05 else 60 if x < 0.07 else -300 if x < 0.09 else 330 if x < 0.10 else 0
        scenario: list[str] = []

        root = tr.span()
        request = {"text": texts[int(R() * len(texts))].format(**ctx), "intent": intent}
        if R() < 0.8:
            request["channel"] = _CHANNELS[agent][int(R() * len(_CHANNELS[agent]))]
        if user is None:
            request["channel"] = "alertmanager"
        tr.add("user_request", root, None, request, 0)
        if R() < 0.1:  # an input-moderation call before planning
            self.model_call(tr, tr.span(), root, "other", _MODERATION, allow_error=False)

        planning = tr.span()
        self.model_call(tr, planning, root, "planning", planner, allow_error=not clean_only)
        plan = {"steps": [_TOOL_STEP.get(tool, tool) for tool in steps]}
        if R() < 0.5:
            plan["reasoning"] = (
                f"The user wants to {intent.replace('_', ' ')}. "
                f"Start with {steps[0]}, then act only after the checks pass."
            )
        tr.add("plan", planning, root, plan, 20 * _MS + R() * 200 * _MS)

        inject_at = None
        if need:
            inject_at = next(i for i, tool in enumerate(steps) if self.access(tool) == need)
        status, failed_step = "success", ""
        split_at = None
        try:
            for i, tool in enumerate(steps):
                if variant == "two_user_requests" and i == 1:
                    tr.add(
                        "user_request",
                        root,
                        None,
                        {"text": "Also, can you hurry up please?", "intent": intent},
                        2 * _SEC + R() * 20 * _SEC,
                    )
                if i == inject_at:
                    self.inject(tr, root, tool, ctx, selector, variant)
                    scenario.append(f"injected:{variant}")
                    continue
                if late_tail and split_at is None:
                    split_at = self.timeout_then_late_retry(tr, root, tool, ctx, selector)
                    scenario.append("late_retry")
                    continue
                outcome = "ok" if clean_only else self.pick_outcome(tool)
                scenario.append(outcome)
                self.step(tr, root, tool, ctx, selector, outcome)
            if variant == "two_user_requests" and len(steps) == 1:
                tr.add(
                    "user_request", root, None, {"text": "hello?? anyone there", "intent": intent}, 5 * _SEC
                )
        except _Stop as stop:
            status, failed_step = stop.status, stop.step

        responding = tr.span()
        self.model_call(tr, responding, root, "response", planner, allow_error=not clean_only)
        output = (
            success_text.format(**ctx)
            if status == "success"
            else _FINAL_TEXT[status].format(step=_TOOL_STEP.get(failed_step, failed_step).lower())
        )
        if "suggest" in scenario and status == "success":
            output = "I can't do this for you, but here is what I suggest: " + output
        if variant != "missing_final_result":
            tr.add(
                "final_result", root, None, {"status": status, "output": output}, 30 * _MS + R() * 300 * _MS
            )
        end_t = tr.t

        # feedback: same day, next morning (the next day's late file), or not at all
        feedback_late = False
        if variant != "missing_final_result" and R() < FEEDBACK_RATE:
            rating = (1 if status == "success" else -1) if R() < 0.75 else (0 if R() < 0.5 else -1)
            payload = {"rating": rating}
            if R() < 0.4:
                comments = _FEEDBACK_COMMENTS[rating]
                payload["comment"] = comments[int(R() * len(comments))]
            # same-day feedback must stay on the trace's day; otherwise it arrives the next morning
            feedback_late = R() < LATE_FEEDBACK_SHARE or tr.t + 26 * 60 * _SEC >= _DAY_US
            if feedback_late:
                if not self.last_day:
                    next_morning = _DAY_US + int((6 + R() * 6) * 3600 * _SEC)
                    tr.add("feedback", root, None, payload, next_morning - tr.t)
            else:
                tr.add("feedback", root, None, payload, 30 * _SEC + R() * 25 * 60 * _SEC)
        assert end_t < _DAY_US and tr.events[-1][4] < 2 * _DAY_US, "a trace left its day"

        self.scenarios.update(set(scenario))
        self.scenarios["traces_with_feedback"] += tr.events[-1][0] == "feedback"
        if injection:
            self.injections[f"{rule}/{variant}"] += 1
        self.emit(tr, tenant, agent, version, user, session, offset, variant, split_at)
        return end_t

    def access(self, tool: str) -> str:
        return "sc" if _TOOLS[tool][1] == SC else "ro"

    def context(self, trace_id: str, agent: str, user: str | None) -> dict:
        R = self.rng.random
        bits = self.rng.getrandbits(64)
        first, last = _FIRST[bits % len(_FIRST)], _LAST[(bits >> 8) % len(_LAST)]
        city, postcode, country = _CITIES[(bits >> 16) % len(_CITIES)]
        company = _COMPANIES[(bits >> 24) % len(_COMPANIES)]
        amount_cents = 500 + (bits >> 32) % 40_000
        currency = ("EUR", "USD", "GBP")[(bits >> 50) % 3]
        return {
            "order_id": 100_000 + (bits >> 12) % 900_000,
            "customer_id": f"cus_{(bits >> 20) & 0xFFFFFF:06x}",
            "subscription_id": f"sub_{(bits >> 28) & 0xFFFFFF:06x}",
            "card_last4": f"{(bits >> 40) % 10_000:04d}",
            "email": f"{first.lower().replace('é', 'e')}.{last.lower().replace('ü', 'ue')}@example.com",
            "contact": f"{first} {last}",
            "company": company,
            "rep_email": "sales.rep@example.org",
            "amount_cents": amount_cents,
            "currency": currency,
            "amount": f"{amount_cents / 100:.2f} {currency}",
            "reason": ("damaged", "wrong_item", "late_delivery", "not_as_described")[(bits >> 44) % 4],
            "order_status": ("delivered", "shipped", "processing")[(bits >> 46) % 3],
            "carrier": ("DHL", "UPS", "La Poste", "Royal Mail")[(bits >> 48) % 4],
            "eta": (self.day + dt.timedelta(days=1 + (bits >> 52) % 4)).isoformat(),
            "street": _STREETS[(bits >> 54) % len(_STREETS)],
            "city": city,
            "postcode": postcode,
            "country": country,
            "topic": _TOPICS[(bits >> 57) % len(_TOPICS)],
            "locale": ("en-GB", "en-US", "de-DE", "fr-FR")[(bits >> 60) % 4],
            "priority": ("normal", "high")[(bits >> 62) % 2],
            "email_template": "order_update",
            "service": _SERVICES[int(R() * len(_SERVICES))],
            "environment": "prod" if R() < 0.7 else "staging",
            "metric": _METRICS[int(R() * len(_METRICS))],
            "window_minutes": (15, 30, 60)[int(R() * 3)],
            "replicas": 2 + int(R() * 10),
            "key_name": ("stripe", "sendgrid", "github-deploy")[int(R() * 3)],
            "team": ("platform", "payments", "search")[int(R() * 3)],
            "severity": ("sev2", "sev3")[int(R() * 2)],
            "plan": ("Team", "Business", "Enterprise")[int(R() * 3)],
            "seats": 5 + int(R() * 200),
            "quote_id": f"Q-{trace_id[:6].upper()}",
            "week": f"{self.day.isocalendar().year}-W{self.day.isocalendar().week % 52 + 1:02d}",
            "meeting_start": (self.day + dt.timedelta(days=3)).isoformat()
            + f"T{9 + int(R() * 8):02d}:00:00Z",
        }

    def model_call(
        self, tr: _Trace, span: str, parent: str, purpose: str, model: tuple, allow_error: bool = True
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
            tr.add("model_call", span, parent, failed, 50 * _MS + R() * 200 * _MS)
            tr.add(
                "error",
                tr.span(),
                span,
                {
                    "error_type": "model_error",
                    "message": f"{provider} {failed['error']['type']}",
                    "recoverable": True,
                },
                failed["latency_ms"] * _MS,
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
        return tr.add("model_call", span, parent, payload, latency * _MS)

    def pick_outcome(self, tool: str) -> str:
        x = self.rng.random()
        if _TOOLS[tool][1] == RO:
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
        reversible = _TOOLS[tool][7]
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

    # -- building blocks (one event each, in the order the spec lists) -----------------------------

    def select(
        self,
        tr: _Trace,
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
            payload["rationale"] = f"{tool} is the tool that can {_TOOL_STEP.get(tool, tool).lower()}"
        tr.add("tool_selection", step, parent or root, payload, 5 * _MS + R() * 50 * _MS)
        return step, call_id

    def call(
        self,
        tr: _Trace,
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
        meta = _TOOLS.get(tool)
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
        tr.add("tool_call", step, parent, payload, 2 * _MS + self.rng.random() * 30 * _MS)

    def check(self, tr: _Trace, step: str, call_id: str, tool: str, decision: str, principal: str) -> None:
        meta = _TOOLS[tool]
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
            3 * _MS + self.rng.random() * 40 * _MS,
        )

    def confirm(
        self,
        tr: _Trace,
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
            "prompt": f"{_TOOL_STEP.get(tool, tool)}? Reply yes to continue.",
        }
        if shown is not None:
            payload["arguments"] = shown
        tr.add("confirmation_request", span, step, payload, 20 * _MS + R() * 200 * _MS)
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
            wait * _SEC,
        )

    def result(
        self,
        tr: _Trace,
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
            "output": _output(tool, ctx, resource_id) if status == "ok" else None,
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
        tr.add("tool_result", step, parent, payload, latency * _MS)

    def side_effect(
        self,
        tr: _Trace,
        step: str,
        parent: str,
        call_id: str,
        tool: str,
        resource_id: str,
        *,
        operation: str | None = None,
        reversible: bool | None = None,
    ) -> None:
        meta = _TOOLS[tool]
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
        tr.add("side_effect", step, parent, payload, 1 * _MS + self.rng.random() * 20 * _MS)

    def error(
        self,
        tr: _Trace,
        parent: str,
        error_type: str,
        message: str,
        recoverable: bool,
        call_id: str | None = None,
    ) -> None:
        payload = {"error_type": error_type, "message": message, "recoverable": recoverable}
        if call_id:
            payload["tool_call_id"] = call_id
        tr.add("error", tr.span(), parent, payload, 1 * _MS + self.rng.random() * 10 * _MS)

    # -- clean steps ------------------------------------------------------------------------------

    def authorise(
        self,
        tr: _Trace,
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
        meta = _TOOLS[tool]
        principal = ctx["principal"]
        if meta[1] == RO:
            if tool in _CHECKED_READS or R() < 0.15:
                self.check(tr, step, call_id, tool, "allow", principal)
            return
        decision = "require_confirmation" if R() < (0.3 if meta[2] else 0.2) else "allow"
        self.check(tr, step, call_id, tool, decision, principal)
        if meta[2] or decision == "require_confirmation":
            shown = None
            x = R()
            if show_arguments and args is not None and x < 0.55:
                shown = _reordered(args) if x < 0.2 else json.loads(json.dumps(args))
                if x < 0.2:
                    self.scenarios["confirmation_arguments_reordered"] += 1
            self.confirm(tr, step, call_id, tool, "approved", shown, ctx["responder"])

    def execute_ok(self, tr: _Trace, step: str, parent: str, call_id: str, tool: str, ctx: dict) -> str:
        resource_id = f"{_TOOLS[tool][5]}_{call_id[5:]}"
        self.result(tr, step, parent, call_id, tool, ctx, "ok", resource_id=resource_id)
        if _TOOLS[tool][1] == SC:
            self.side_effect(tr, step, parent, call_id, tool, resource_id)
        return resource_id

    def step(self, tr: _Trace, root: str, tool: str, ctx: dict, selector: tuple, outcome: str) -> None:
        R = self.rng.random
        meta = _TOOLS[tool]
        args = _args(tool, ctx)
        responder = ctx["responder"]

        if outcome == "not_applicable":
            wrong = _WRONG_TOOLS[ctx["agent"]][int(R() * 2)]
            step, call_id = self.select(tr, root, wrong, selector, candidates=[wrong, tool])
            self.call(
                tr, step, root, call_id, wrong, _args(wrong, ctx), access=RO, requires_confirmation=False
            )
            error_type = "not_applicable" if wrong in _TOOLS else "unknown_tool"
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
                100 * _MS + R() * 300 * _MS,
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
            bad = _bad_args(args)
            self.call(tr, step, root, call_id, tool, bad)
            # the confirmation of a call whose arguments then change shows none (else R10 would fire)
            self.authorise(tr, step, call_id, tool, ctx, show_arguments=False)
            error_type = _BAD_PARAMETER_ERRORS[int(R() * len(_BAD_PARAMETER_ERRORS))]
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
            raise _Stop("failure", tool)

        # state-changing only from here on
        principal = ctx["principal"]
        if outcome == "deny":
            self.call(tr, step, root, call_id, tool, args)
            self.check(tr, step, call_id, tool, "deny", principal)
            self.result(tr, step, root, call_id, tool, ctx, "denied")
            self.error(tr, step, "permission_denied", f"policy {meta[4]} denied {meta[3]}", False, call_id)
            raise _Stop("failure" if R() < 0.6 else "partial", tool)

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
            raise _Stop("abandoned" if outcome == "expired" or R() < 0.5 else "partial", tool)

        if outcome == "suggest":
            self.call(tr, step, root, call_id, tool, args, mode="suggest")
            if R() < 0.5:
                self.check(tr, step, call_id, tool, "allow", principal)
            raise _Stop("success", tool)

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
                200 * _MS + R() * 2 * _SEC,
            )
            if not ok:
                self.error(tr, step, "rollback_failed", f"could not roll back {resource_id}", False, call_id)
            self.scenarios["rollback_ok" if ok else "rollback_error"] += 1
            raise _Stop("failure" if ok or R() < 0.5 else "partial", tool)

        raise AssertionError(outcome)  # pragma: no cover

    def timeout_then_late_retry(self, tr: _Trace, root: str, tool: str, ctx: dict, selector: tuple) -> int:
        """First attempt times out; the retry and everything after it is logged late. -> split index."""
        args = _args(tool, ctx)
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

    # -- injected breaches ------------------------------------------------------------------------

    def inject(self, tr: _Trace, root: str, tool: str, ctx: dict, selector: tuple, variant: str) -> None:
        """One tool call breaching a rule on purpose; records the expected (rule, tool_call_id) keys."""
        args = _args(tool, ctx)
        principal, responder = ctx["principal"], ctx["responder"]
        step, c = self.select(tr, root, tool, selector)
        resource_id = f"{_TOOLS[tool][5]}_{c[5:]}"
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
                    "resource_type": _TOOLS[tool][5],
                    "resource_id": resource_id,
                    "operation": "update",
                    "reversible": False,
                },
                2 * _MS,
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
            self.confirm(tr, step, c, tool, "approved", _mutated(args), responder)
            self.execute_ok(tr, step, root, c, tool, ctx)
            expect["R10"].append(c)
        else:  # pragma: no cover
            raise AssertionError(variant)

    # -- serialising ------------------------------------------------------------------------------

    def emit(
        self,
        tr: _Trace,
        tenant: str,
        agent: str,
        version: str,
        user: str | None,
        session: str | None,
        offset: int,
        variant: str | None,
        split_at: int | None,
    ) -> None:
        rng = self.rng
        events = tr.events
        trace_id = tr.trace_id
        sequences = list(range(len(events)))
        if variant == "sequence_gap":
            gap = 1 + int(rng.random() * (len(events) - 1))
            sequences = [s if s < gap else s + 1 for s in sequences]
            self.expected["R7"].append(trace_id)
        elif variant == "unknown_parent_span":
            candidates = [e for e in events if e[2] is not None]
            candidates[int(rng.random() * len(candidates))][2] = f"{rng.getrandbits(64) | 1 << 63:016x}"
            self.expected["R7"].append(trace_id)
        elif variant in ("missing_final_result", "two_user_requests"):
            self.expected["R1"].append(trace_id)
        r8_index = None
        if variant in ("missing_model_version", "empty_model"):
            calls = [i for i, e in enumerate(events) if e[0] == "model_call"]
            r8_index = calls[int(rng.random() * len(calls))]
            payload = events[r8_index][3]
            if variant == "missing_model_version":
                del payload["model_version"]
            else:
                payload["model"] = ""

        # Lines are assembled from pre-serialised parts (the envelope fields are ids and enums that
        # need no escaping; payloads and the per-trace fields go through the JSON serialiser): about
        # twice as fast as serialising one dict per event. Key order as the spec's table lists them.
        stamp = self.clock.stamp
        head = b'{"schema_version":"1","event_id":"evt_%b' % tr.id_prefix.encode()
        trace_part = b'","trace_id":"%b","span_id":"' % trace_id.encode()
        common = (
            b","
            + _dumps(
                {
                    "session_id": session,
                    "tenant_id": tenant,
                    "user_id": user,
                    "agent": self.agents[(agent, version)],
                }
            )[1:-1]
            + b',"payload":'
        )
        # an unknown top-level field (this agent's SDK adds it): kept by ingestion, never a reason to reject
        close = b',"sdk":"agentkit-python/0.14.2"}' if agent == "sales-assistant" else b"}"
        request_attributes = b',"attributes":' + _dumps({"client": f"{agent}-widget/2.{version[2]}"}) + close
        model_attributes = {"tool_selection": b',"attributes":{"temperature":0.2}' + close}
        other_model_attributes = b',"attributes":{"temperature":0.7}' + close
        main_append, late_append = self.main.append, self.late.append
        counts = self.event_types
        late_from = _DAY_US if not self.last_day else 1 << 62
        split = split_at if split_at is not None and not self.last_day else 1 << 62
        for i, (event_type, span, parent, payload, t) in enumerate(events):
            if event_type == "model_call":
                tail = model_attributes.get(payload["purpose"], other_model_attributes)
            elif event_type == "user_request":
                tail = request_attributes
            else:
                tail = close
            line = (
                b'%b%04x","event_type":"%b","timestamp":"%b%b%b","parent_span_id":%b,"sequence":%d%b%b%b'
                % (
                    head,
                    i,
                    _EVENT_TYPE_BYTES[event_type],
                    stamp(t, offset),
                    trace_part,
                    span.encode(),
                    b"null" if parent is None else b'"%b"' % parent.encode(),
                    sequences[i],
                    common,
                    _dumps(payload),
                    tail,
                )
            )
            counts[event_type] += 1
            if t >= late_from or i >= split:
                late_append((t, line))
            else:
                main_append((t, line))
        if r8_index is not None:
            self.expected["R8"].append(f"evt_{tr.id_prefix}{r8_index:04x}")


_EVENT_TYPE_BYTES = {t: t.encode() for t in EVENT_TYPES}


# --- dirty deliveries ----------------------------------------------------------------------------

_REQUIRED = (
    "schema_version",
    "event_id",
    "event_type",
    "timestamp",
    "trace_id",
    "span_id",
    "sequence",
    "tenant_id",
    "agent",
    "payload",
)
# (field, bad value, reason): single departures from a valid event
_BAD_TYPES = (
    ("sequence", "7", "bad_type:sequence"),
    ("tenant_id", 1042, "bad_type:tenant_id"),
    ("payload", "refund order 42", "bad_type:payload"),
    ("agent", "support-bot/3.2.0", "bad_type:agent"),
    ("timestamp", 1763600000, "bad_type:timestamp"),
    ("event_id", None, "bad_type:event_id"),
    ("sequence", 3.0, "bad_type:sequence"),
    ("attributes", ["debug"], "bad_type:attributes"),
    ("user_id", 42, "bad_type:user_id"),
    ("parent_span_id", 7, "bad_type:parent_span_id"),
    ("schema_version", 1, "bad_type:schema_version"),
    ("trace_id", None, "bad_type:trace_id"),
)
_BAD_VALUES = (
    ("event_id", "", "bad_value:event_id"),
    ("sequence", -1, "bad_value:sequence"),
    ("event_id", "e" * 129, "bad_value:event_id"),
)
_BAD_TIMESTAMPS = ("{d}T{t}", "{d} {t}Z", "{y}-02-30T{t}Z", "yesterday")
_NOT_JSON = (
    b"2026/11/20 03:14:07 collector: flush of buffer 7 failed, retrying",
    b"{'event_id': 'python-repr', 'event_type': 'plan'}",
    b"<html><body>502 Bad Gateway</body></html>",
)
_SCALARS = (b"42", b'"event"', b"null", b"true", b"-0.5")


def _junk_line(kind: str, original: bytes, variant: int) -> tuple[bytes, str]:
    """A line that is not a valid event, mostly built from a real event's line (it keeps its
    event_id). `variant` rotates through each kind's sub-cases."""
    obj = _loads(original)
    if kind == "not_json":
        return _NOT_JSON[variant % len(_NOT_JSON)], "invalid_json"
    if kind == "truncated":
        text = original.decode()
        cut = 12 + (variant * 7919) % (len(text) - 14)
        return text[:cut].encode(), "invalid_json"
    if kind == "trailing_comma":
        return original[:-1] + b",}", "invalid_json"
    if kind == "array":
        return b"[" + original + b"]", "not_an_object"
    if kind == "scalar":
        return _SCALARS[variant % len(_SCALARS)], "not_an_object"
    if kind == "missing_field":
        field = _REQUIRED[variant % len(_REQUIRED)]
        del obj[field]
        return _dumps(obj), f"missing_field:{field}"
    if kind == "missing_agent_name":
        obj["agent"] = {"version": obj["agent"]["version"]}
        return _dumps(obj), "missing_field:agent.name"
    if kind in ("bad_type", "bad_value"):
        cases = _BAD_TYPES if kind == "bad_type" else _BAD_VALUES
        field, value, reason = cases[variant % len(cases)]
        obj[field] = value
        return _dumps(obj), reason
    if kind == "unknown_event_type":
        obj["event_type"] = ("heartbeat", "tool_invocation", "UserRequest")[variant % 3]
        return _dumps(obj), "unknown_event_type"
    if kind == "bad_timestamp":
        stamp = obj["timestamp"]
        obj["timestamp"] = _BAD_TIMESTAMPS[variant % len(_BAD_TIMESTAMPS)].format(
            d=stamp[:10], t=stamp[11:26], y=stamp[:4]
        )
        return _dumps(obj), "bad_timestamp"
    if kind == "schema_v2":
        obj["schema_version"] = "2"
        return _dumps(obj), "unsupported_schema_version"
    if kind == "invalid_utf8":
        at = original.index(b'"payload":') + 11
        return original[:at] + b"\xff\xfe" + original[at:], "invalid_utf8"
    raise AssertionError(kind)  # pragma: no cover


_JUNK_KINDS = (
    "not_json",
    "truncated",
    "trailing_comma",
    "array",
    "scalar",
    "missing_field",
    "missing_agent_name",
    "bad_type",
    "bad_value",
    "unknown_event_type",
    "bad_timestamp",
    "schema_v2",
)


def _duplicate(original: bytes, variant: int) -> bytes:
    """The same event as a JSON value: byte-identical, keys reordered, or other whitespace/escaping."""
    if variant == 0:
        return original
    obj = _loads(original)
    if variant == 1:
        return json.dumps(_reordered(obj), separators=(",", ":"), ensure_ascii=False).encode()
    return json.dumps(obj, ensure_ascii=True).encode()  # ", " / ": " separators, \u escapes


def _conflicting(original: bytes, variant: int) -> bytes:
    """The same event_id with different content."""
    obj = _loads(original)
    payload = obj["payload"]
    if variant == 0 and "latency_ms" in payload:
        payload["latency_ms"] = payload["latency_ms"] + 1 + (payload["latency_ms"] % 97)
    elif variant == 1:
        obj["attributes"] = {**(obj.get("attributes") or {}), "redelivered_by": "collector-replay"}
    else:
        payload["note"] = "re-sent with a corrected payload"
    return _dumps(obj)


class _FileBuilder:
    """Lines of one landing file plus their expected R9 accounting."""

    def __init__(self):
        self.lines: list[bytes] = []
        self.reasons: Counter = Counter()
        self.blank = 0
        self.loaded = 0
        self.duplicates = 0
        self.crlf = 0
        self.trailing_newline = True


def _assemble(
    originals: list[bytes],
    rng: random.Random,
    dirty: bool,
    *,
    same_file_copies: bool,
    incoming: list[tuple[bytes, str]],
    junk_kinds: tuple[str, ...],
    scale: int,
    rotation: int,
) -> _FileBuilder:
    """Interleaves original event lines with dirty extras, keeping every copy after its original.

    `incoming`: copies of events delivered earlier (another day): (line, 'duplicate'|'conflict').
    `rotation`: where this file starts in each junk kind's rotation of sub-cases.
    """
    fb = _FileBuilder()
    n = len(originals)
    fb.loaded = n
    if not dirty:
        fb.lines = originals
        return fb
    after: dict[int, list[tuple[bytes, str]]] = {}  # original index (-1: file start) -> extras

    def put(position: int, line: bytes, kind: str) -> None:
        after.setdefault(position, []).append((line, kind))

    def anywhere() -> int:
        return int(rng.random() * (n + 1)) - 1

    if n:
        used: Counter = Counter()
        for k in range(max(len(junk_kinds), round(scale * 0.0005))):
            kind = junk_kinds[k] if k < len(junk_kinds) else junk_kinds[int(rng.random() * len(junk_kinds))]
            line, reason = _junk_line(kind, originals[int(rng.random() * n)], rotation + used[kind])
            used[kind] += 1
            put(anywhere(), line, reason)
        if same_file_copies:
            n_dup = max(3, round(scale * 0.002))
            n_conf = max(1, round(scale * 0.0003))
            sources = rng.sample(range(n), min(n, n_dup + n_conf))
            for k, i in enumerate(sources):
                position = i + int(rng.random() * (n - i))
                if k < n_dup:
                    put(position, _duplicate(originals[i], k % 3), "duplicate")
                else:
                    put(position, _conflicting(originals[i], k % 3), "conflict")
    for line, kind in incoming:
        put(anywhere(), line, kind)
    blanks = (b"", b"   ", b"\t", b" \t ")
    for k in range(max(len(blanks), round(scale * 0.001))):
        put(anywhere(), blanks[k % len(blanks)], "blank")

    lines: list[bytes] = []
    kinds: list[str] = []
    extend_lines, extend_kinds = lines.append, kinds.append
    for line, kind in after.get(-1, ()):
        extend_lines(line)
        extend_kinds(kind)
    for i, original in enumerate(originals):
        extend_lines(original)
        extend_kinds("event")
        extra = after.get(i)
        if extra:
            for line, kind in extra:
                extend_lines(line)
                extend_kinds(kind)
    for kind in kinds:
        if kind == "blank":
            fb.blank += 1
        elif kind == "duplicate":
            fb.duplicates += 1
        elif kind == "conflict":
            fb.reasons["conflict"] += 1
        elif kind != "event":
            fb.reasons[kind] += 1
    # no final newline sometimes (an empty last line needs its newline to exist at all); CRLF
    # endings on some lines, never on an unterminated last line (there the \r would be content)
    fb.trailing_newline = rng.random() >= 0.3 or not lines or lines[-1] == b""
    candidates = len(lines) if fb.trailing_newline else len(lines) - 1
    for position in rng.sample(range(candidates), min(candidates, max(3, round(len(lines) * 0.004)))):
        lines[position] = lines[position] + b"\r"
        fb.crlf += 1
    fb.lines = lines
    return fb


def _write(path: Path, fb: _FileBuilder, gzip_output: bool) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    lines, step = fb.lines, 50_000
    with open(tmp, "wb") as handle:
        sink = (
            gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=0, compresslevel=6)
            if gzip_output
            else handle
        )
        for start in range(0, len(lines), step):
            chunk = b"\n".join(lines[start : start + step])
            if start + step < len(lines) or fb.trailing_newline:
                chunk += b"\n"
            sink.write(chunk)
        if gzip_output:
            sink.close()
    os.replace(tmp, path)
    return path.stat().st_size


def _accounting(fb: _FileBuilder, size: int) -> dict:
    quarantined = sum(fb.reasons.values())
    lines_read = len(fb.lines)
    assert lines_read == fb.blank + fb.loaded + fb.duplicates + quarantined
    return {
        "lines_read": lines_read,
        "blank_lines": fb.blank,
        "events_loaded": fb.loaded,
        "duplicates_dropped": fb.duplicates,
        "lines_quarantined": quarantined,
        "quarantined_by_reason": dict(sorted(fb.reasons.items())),
        "crlf_lines": fb.crlf,
        "trailing_newline": fb.trailing_newline,
        "file_bytes": size,
    }


def _file_names(shard: str, gzip_output: bool) -> tuple[str, str]:
    ext = ".jsonl.gz" if gzip_output else ".jsonl"
    return f"{shard}{ext}", f"{shard}.late{ext}"


def _run_unit(spec: dict) -> dict:
    """Generates and writes one (day, shard) unit; returns its part of the manifest."""
    unit = _Unit(spec)
    unit.run()
    rng = unit.rng
    dirty, gz = spec["dirty"], spec["gzip"]
    out = Path(spec["out_dir"])
    main_name, late_name = _file_names(unit.shard, gz)
    day, next_day = spec["day"], (unit.day + dt.timedelta(days=1)).isoformat()

    unit.main.sort(key=itemgetter(0))
    main_lines = [line for _, line in unit.main]
    unit.late.sort(key=itemgetter(0))
    late_lines = [line for _, line in unit.late]
    scale = len(main_lines)

    # re-deliveries of this day's events in the next day's late file (never on the last day)
    incoming: list[tuple[bytes, str]] = []
    if dirty and not unit.last_day and main_lines:
        n_dup, n_conf = max(3, round(scale * 0.002)), max(1, round(scale * 0.0003))
        for k, i in enumerate(rng.sample(range(len(main_lines)), min(len(main_lines), n_dup + n_conf))):
            if k < n_dup:
                incoming.append((_duplicate(main_lines[i], k % 3), "duplicate"))
            else:
                incoming.append((_conflicting(main_lines[i], k % 3), "conflict"))

    files: dict[str, dict] = {}
    rotation = SHARDS.index(unit.shard) + len(SHARDS) * unit.day_index
    main_fb = _assemble(
        main_lines,
        rng,
        dirty,
        same_file_copies=True,
        incoming=[],
        junk_kinds=_JUNK_KINDS,
        scale=scale,
        rotation=rotation,
    )
    files[f"{day}/{main_name}"] = _accounting(main_fb, _write(out / day / main_name, main_fb, gz))
    del main_fb
    if not unit.last_day and (late_lines or incoming):
        late_fb = _assemble(
            late_lines,
            rng,
            dirty,
            same_file_copies=bool(late_lines),
            incoming=incoming,
            junk_kinds=("invalid_utf8", "truncated"),
            scale=len(late_lines),
            rotation=rotation,
        )
        files[f"{next_day}/{late_name}"] = _accounting(
            late_fb, _write(out / next_day / late_name, late_fb, gz)
        )
    return {
        "files": files,
        "expected": unit.expected,
        "event_types": dict(unit.event_types),
        "scenarios": dict(unit.scenarios),
        "injections": dict(unit.injections),
        "traces": unit.traces,
        "sessions": unit.sessions,
        "late_events": len(late_lines) if not unit.last_day else 0,
        "day": day,
    }


# --- planning and the public entry point ---------------------------------------------------------


def _day_injections(seed: int, day: str, day_index: int, traces: int) -> dict[int, tuple[str, str]]:
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


def _check_args(out_dir, days, traces_per_day, seed, start) -> tuple[Path, dt.date]:
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be a positive integer, got {days!r}")
    if isinstance(traces_per_day, bool) or not isinstance(traces_per_day, int) or traces_per_day < 1:
        raise ValueError(f"traces_per_day must be a positive integer, got {traces_per_day!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if start is None:
        start = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)
    elif isinstance(start, str):
        try:
            start = dt.date.fromisoformat(start)
        except ValueError:
            raise ValueError(f"start must be a date (YYYY-MM-DD), got {start!r}") from None
    elif isinstance(start, dt.datetime):
        start = start.date()
    elif not isinstance(start, dt.date):
        raise ValueError(f"start must be a datetime.date, got {start!r}")
    try:
        start + dt.timedelta(days=days)
    except OverflowError:
        raise ValueError(f"start {start} plus {days} days is out of range") from None
    try:
        out = Path(out_dir)
    except TypeError:
        raise ValueError(f"out_dir must be a path, got {out_dir!r}") from None
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir {out} exists and is not a folder")
    return out, start


def _prepare_folders(out: Path, day_names: list[str], gzip_output: bool) -> None:
    """Refuses to mix with other trace files (the manifest's accounting would be wrong); removes
    this generator's own files from an earlier run into the same folders."""
    ours = {name for shard in SHARDS for name in _file_names(shard, gzip_output)}
    for day in day_names:
        folder = out / day
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"{folder} exists and is not a folder")
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.name in ours and entry.is_file():
                entry.unlink()
            elif entry.name.endswith((".jsonl", ".jsonl.gz")):
                raise ValueError(
                    f"{folder} already holds trace file {entry.name!r} that this run would not "
                    f"write; generate into an empty folder"
                )


def generate(
    out_dir: Path,
    *,
    days: int,
    traces_per_day: int,
    seed: int = 42,
    start: dt.date | None = None,
    gzip_output: bool = False,
    dirty: bool = False,
    progress: bool = False,
) -> dict:
    """Writes `days` delivery days of sample trace logs under `out_dir`; returns the manifest.

    Deterministic: the same arguments give byte-identical files and manifest. See the module
    docstring for the contents, and `<out_dir>/generator-manifest.json` for what the warehouse must
    report after ingesting every day (R9 accounting per file, quarantine reasons, breach keys).
    """
    out, start = _check_args(out_dir, days, traces_per_day, seed, start)
    day_names = [(start + dt.timedelta(days=i)).isoformat() for i in range(days)]
    out.mkdir(parents=True, exist_ok=True)
    _prepare_folders(out, day_names, gzip_output)

    specs = []
    for day_index, day in enumerate(day_names):
        injections = _day_injections(seed, day, day_index, traces_per_day)
        per_shard, extra = divmod(traces_per_day, len(SHARDS))
        first = 0
        for s, shard in enumerate(SHARDS):
            count = per_shard + (1 if s < extra else 0)
            specs.append(
                {
                    "out_dir": str(out),
                    "day": day,
                    "day_index": day_index,
                    "last_day": day_index == days - 1,
                    "shard": shard,
                    "seed": seed,
                    "first_trace": first,
                    "end_trace": first + count,
                    "injections": {str(k): v for k, v in injections.items() if first <= k < first + count},
                    "gzip": gzip_output,
                    "dirty": dirty,
                }
            )
            first += count
    specs = [s for s in specs if s["end_trace"] > s["first_trace"]]

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=days * traces_per_day, desc="generating traces", unit="trace", unit_scale=True)
    try:
        workers = min(len(specs), os.cpu_count() or 1)
        if workers > 1 and days * traces_per_day >= _PARALLEL_MIN_TRACES:
            results = _run_in_workers(specs, workers, bar)
        else:
            results = []
            for spec in specs:
                results.append(_run_unit(spec))
                if bar is not None:
                    bar.update(results[-1]["traces"])
    finally:
        if bar is not None:
            bar.close()

    manifest = _manifest(results, out, day_names, seed, start, days, traces_per_day, gzip_output, dirty)
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return manifest


def _run_in_workers(specs: list[dict], workers: int, bar) -> list[dict]:
    """Runs units in `workers` child interpreters (`python -m trace_platform.lib.generator --worker`).

    Plain subprocesses rather than multiprocessing: nothing of the caller is re-imported or forked
    (a script without a main guard, or a parent holding DuckDB threads, is safe). Each child reads
    one unit spec per line and answers with one result line; the parent hands out the next unit
    as soon as a child is free and puts results back in unit order, so the output does not
    depend on scheduling.
    """
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for item in enumerate(specs):
        todo.put(item)
    results: list[dict | None] = [None] * len(specs)
    errors: list[BaseException] = []
    lock = threading.Lock()
    package_root = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p),
    }

    def serve() -> None:
        with tempfile.TemporaryFile() as stderr:
            child = subprocess.Popen(
                [sys.executable, "-m", "trace_platform.lib.generator", "--worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
            )
            try:
                while not errors:
                    try:
                        index, spec = todo.get_nowait()
                    except queue.Empty:
                        break
                    child.stdin.write(json.dumps(spec).encode() + b"\n")
                    child.stdin.flush()
                    line = child.stdout.readline()
                    if not line:
                        child.wait()
                        stderr.seek(0)
                        detail = stderr.read().decode(errors="replace").strip().splitlines()[-1:] or [
                            "no output"
                        ]
                        raise RuntimeError(
                            f"generator worker for {spec['day']}/{spec['shard']} failed "
                            f"(exit {child.returncode}): {detail[0]}"
                        )
                    results[index] = json.loads(line)
                    if bar is not None:
                        with lock:
                            bar.update(results[index]["traces"])
            except BaseException as exc:  # noqa: BLE001 - reported by the caller's thread
                errors.append(exc)
            finally:
                child.stdin.close()
                if errors:
                    child.kill()
                child.wait()

    threads = [threading.Thread(target=serve, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]


def _worker_main() -> None:
    for line in sys.stdin.buffer:
        result = _run_unit(json.loads(line))
        sys.stdout.buffer.write(json.dumps(result).encode() + b"\n")
        sys.stdout.buffer.flush()


_FIGURES = ("lines_read", "blank_lines", "events_loaded", "duplicates_dropped", "lines_quarantined")


def _manifest(
    results: list[dict],
    out: Path,
    day_names: list[str],
    seed: int,
    start: dt.date,
    days: int,
    traces_per_day: int,
    gzip_output: bool,
    dirty: bool,
) -> dict:
    files: dict[str, dict] = {}
    expected: dict[str, list[str]] = {rule: [] for rule in AUDIT_RULES}
    event_types: Counter = Counter()
    scenarios: Counter = Counter()
    injections: Counter = Counter()
    traces_by_day: Counter = Counter()
    sessions = late_events = 0
    for result in results:
        files.update(result["files"])
        for rule, keys in result["expected"].items():
            expected[rule] += keys
        event_types.update(result["event_types"])
        scenarios.update(result["scenarios"])
        injections.update(result["injections"])
        traces_by_day[result["day"]] += result["traces"]
        sessions += result["sessions"]
        late_events += result["late_events"]
    files = dict(sorted(files.items()))
    per_day: dict[str, dict] = {}
    for day in day_names:
        day_files = {name: f for name, f in files.items() if name.startswith(day + "/")}
        reasons: Counter = Counter()
        for f in day_files.values():
            reasons.update(f["quarantined_by_reason"])
        per_day[day] = {
            "traces": traces_by_day[day],
            "files": len(day_files),
            **{k: sum(f[k] for f in day_files.values()) for k in _FIGURES},
            "quarantined_by_reason": dict(sorted(reasons.items())),
        }
    all_reasons: Counter = Counter()
    for f in files.values():
        all_reasons.update(f["quarantined_by_reason"])
    events = sum(event_types.values())
    totals = {
        "traces": sum(traces_by_day.values()),
        "sessions": sessions,
        "events": events,
        "files": len(files),
        **{k: sum(f[k] for f in files.values()) for k in _FIGURES},
        "conflicts": all_reasons.get("conflict", 0),
        "late_events": late_events,
        "expected_breaches": sum(len(v) for v in expected.values()),
    }
    assert totals["events_loaded"] == events, (totals["events_loaded"], events)
    return {
        "format": "agent-trace-event-v1",
        "generator_version": GENERATOR_VERSION,
        "arguments": {
            "days": days,
            "traces_per_day": traces_per_day,
            "seed": seed,
            "start": start.isoformat(),
            "gzip": gzip_output,
            "dirty": dirty,
        },
        "days": per_day,
        "totals": totals,
        "quarantined_by_reason": dict(sorted(all_reasons.items())),
        "event_types": {t: event_types.get(t, 0) for t in EVENT_TYPES},
        "expected_breaches": {rule: sorted(keys) for rule, keys in expected.items()},
        "breach_keys": {
            "R1": "trace_id",
            "R2": "tool_call_id",
            "R3": "tool_call_id",
            "R4": "tool_call_id",
            "R5": "tool_call_id",
            "R6": "tool_call_id (of the side effect)",
            "R7": "trace_id",
            "R8": "event_id (of the model_call)",
            "R10": "tool_call_id",
        },
        "injections": dict(sorted(injections.items())),
        "rule_rates": RULE_RATES,
        "scenarios": dict(sorted(scenarios.items())),
        "late_policy": (
            "next-morning feedback and late-logged retries are delivered in the next day's "
            "<shard>.late file; on the last generated day, late feedback is not emitted and "
            "late-logged retries are delivered in that day's own shard file"
        ),
        "files": files,
    }


if __name__ == "__main__" and sys.argv[1:] == ["--worker"]:
    _worker_main()
