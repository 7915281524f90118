"""A work unit: the traces of one collector shard of one delivery day.

Tenants, users, sessions of one to four traces, agents with versions (a rollout shifts traffic to
the newer version day by day), intents with user request texts, a planning model call and a plan,
one step per tool (a tool_selection, often preceded by a tool-selection model call, then tool_call,
policy_check, confirmation_request/response, tool_result, side_effect), a response model call, the
final_result, sometimes feedback. Spans: the root span holds user_request, final_result and
feedback; each step has a span under the root, its model call, policy check, confirmation, error and
rollback events have child spans; a retry's step span is a child of the first attempt's. `sequence`
is contiguous from 0, timestamps (RFC 3339, microseconds, mostly `Z`, some `+02:00`/`+01:00`/
`-05:00` local offsets) increase with it and stay inside the trace's day. Steps: `scenarios`;
breaches: `breaches`; lines: `rendering`.

Late events: feedback arrives the same day or (mostly) the next morning, in the next day's late
file. About 1 % of traces have their retry, its result and the end of the run "logged late", in the
next day's late file (timestamps stay on the trace's day). On the LAST generated day nothing is
delivered into a folder after the range: next-morning feedback is simply not emitted (the user has
not rated yet), and the late-logged tail of a trace is delivered with the rest of the trace in that
day's own shard file, so every generated trace is complete.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

from trace_platform.sample_data.breaches import BreachInjection
from trace_platform.sample_data.catalog import (
    AGENT_VERSIONS,
    CHANNELS,
    CITIES,
    COMPANIES,
    FEEDBACK_COMMENTS,
    FINAL_TEXT,
    FIRST_NAMES,
    INTENTS,
    LAST_NAMES,
    METRICS,
    MODELS,
    MODERATION,
    SERVICES,
    STREETS,
    TENANTS,
    TOOL_STEP,
    TOOLS,
    TOPICS,
    USERS_PER_TENANT,
)
from trace_platform.sample_data.constants import (
    AUDIT_RULES,
    DAY_US,
    FEEDBACK_RATE,
    INJECTION_ACCESS,
    LATE_FEEDBACK_SHARE,
    LATE_TAIL_RATE,
    MS,
    SC,
    SEC,
)
from trace_platform.sample_data.events import Clock, Stop, Trace
from trace_platform.sample_data.rendering import LineRendering


class Unit(BreachInjection, LineRendering):
    """Builds (`run`) and renders the traces of one (delivery day, collector shard) work unit; the
    files are written by `files.run_unit`."""

    def __init__(self, spec: dict):
        self.spec = spec
        self.day = dt.date.fromisoformat(spec["day"])
        self.day_index = spec["day_index"]
        self.last_day = spec["last_day"]
        self.shard = spec["shard"]
        self.rng = random.Random(f"trace-generator/{spec['seed']}/{spec['day']}/{self.shard}")
        self.clock = Clock(self.day)
        self.main: list[tuple[int, bytes]] = []  # (t_us, line) delivered in this day's shard file
        self.late: list[tuple[int, bytes]] = []  # delivered in the next day's late file
        self.event_types: Counter = Counter()
        self.scenarios: Counter = Counter()
        self.injections: Counter = Counter()
        self.expected: dict[str, list[str]] = {rule: [] for rule in AUDIT_RULES}
        self.traces = 0
        self.sessions = 0
        self.agents = {(name, version): {"name": name, "version": version} for name, version in MODELS}
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
            tenant, agents = TENANTS[int(rng.random() * len(TENANTS))]
            agent = agents[int(rng.random() * len(agents))]
            versions = AGENT_VERSIONS[agent]
            version = versions[1] if rng.random() < self.new_version_share else versions[0]
            automated = agent == "ops-agent" and rng.random() < 0.12  # alert-triggered: no user, no session
            user = (
                None if automated else f"u_{tenant.split('-')[0]}_{int(rng.random() * USERS_PER_TENANT):04d}"
            )
            session = None if automated else f"sess_{rng.getrandbits(64):016x}"
            size = 1 if automated else min(end - index, 1 + int(rng.random() ** 2 * 4))
            t = int(rng.random() * 20 * 3600) * SEC + int(rng.random() * SEC)
            self.sessions += 1
            for _ in range(size):
                t = self.trace(tenant, agent, version, user, session, t, injections.get(index))
                t += int((20 + rng.random() * 580) * SEC)
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
        tr = Trace(trace_id, t0)
        rule, variant = injection if injection else (None, None)
        need = INJECTION_ACCESS.get(variant)
        intents = INTENTS[agent]
        names = list(intents)
        intent = names[int(R() * len(names))]
        if need and not any(self.access(tool) == need for tool in intents[intent][0]):
            intent = next(n for n in names if any(self.access(tool) == need for tool in intents[n][0]))
        steps, texts, success_text = intents[intent]
        ctx = self.context(trace_id, agent, user)
        ctx["agent"] = agent
        ctx["principal"] = user or f"svc:{agent}"
        ctx["responder"] = user or "oncall:platform"
        planner, selector = MODELS[(agent, version)]
        late_tail = injection is None and R() < LATE_TAIL_RATE
        clean_only = injection is not None or late_tail
        offset = 0
        if 6 * 3600 * SEC <= t0 <= 17 * 3600 * SEC:
            x = R()
            offset = 120 if x < 0.05 else 60 if x < 0.07 else -300 if x < 0.09 else 330 if x < 0.10 else 0
        scenario: list[str] = []

        root = tr.span()
        request = {"text": texts[int(R() * len(texts))].format(**ctx), "intent": intent}
        if R() < 0.8:
            request["channel"] = CHANNELS[agent][int(R() * len(CHANNELS[agent]))]
        if user is None:
            request["channel"] = "alertmanager"
        tr.add("user_request", root, None, request, 0)
        if R() < 0.1:  # an input-moderation call before planning
            self.model_call(tr, tr.span(), root, "other", MODERATION, allow_error=False)

        planning = tr.span()
        self.model_call(tr, planning, root, "planning", planner, allow_error=not clean_only)
        plan = {"steps": [TOOL_STEP.get(tool, tool) for tool in steps]}
        if R() < 0.5:
            plan["reasoning"] = (
                f"The user wants to {intent.replace('_', ' ')}. "
                f"Start with {steps[0]}, then act only after the checks pass."
            )
        tr.add("plan", planning, root, plan, 20 * MS + R() * 200 * MS)

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
                        2 * SEC + R() * 20 * SEC,
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
                    "user_request", root, None, {"text": "hello?? anyone there", "intent": intent}, 5 * SEC
                )
        except Stop as stop:
            status, failed_step = stop.status, stop.step

        responding = tr.span()
        self.model_call(tr, responding, root, "response", planner, allow_error=not clean_only)
        output = (
            success_text.format(**ctx)
            if status == "success"
            else FINAL_TEXT[status].format(step=TOOL_STEP.get(failed_step, failed_step).lower())
        )
        if "suggest" in scenario and status == "success":
            output = "I can't do this for you, but here is what I suggest: " + output
        if variant != "missing_final_result":
            tr.add("final_result", root, None, {"status": status, "output": output}, 30 * MS + R() * 300 * MS)
        end_t = tr.t

        # feedback: same day, next morning (the next day's late file), or not at all
        feedback_late = False
        if variant != "missing_final_result" and R() < FEEDBACK_RATE:
            rating = (1 if status == "success" else -1) if R() < 0.75 else (0 if R() < 0.5 else -1)
            payload = {"rating": rating}
            if R() < 0.4:
                comments = FEEDBACK_COMMENTS[rating]
                payload["comment"] = comments[int(R() * len(comments))]
            # same-day feedback must stay on the trace's day; otherwise it arrives the next morning
            feedback_late = R() < LATE_FEEDBACK_SHARE or tr.t + 26 * 60 * SEC >= DAY_US
            if feedback_late:
                if not self.last_day:
                    next_morning = DAY_US + int((6 + R() * 6) * 3600 * SEC)
                    tr.add("feedback", root, None, payload, next_morning - tr.t)
            else:
                tr.add("feedback", root, None, payload, 30 * SEC + R() * 25 * 60 * SEC)
        assert end_t < DAY_US and tr.events[-1][4] < 2 * DAY_US, "a trace left its day"

        self.scenarios.update(set(scenario))
        self.scenarios["traces_with_feedback"] += tr.events[-1][0] == "feedback"
        if injection:
            self.injections[f"{rule}/{variant}"] += 1
        self.emit(tr, tenant, agent, version, user, session, offset, variant, split_at)
        return end_t

    def access(self, tool: str) -> str:
        return "sc" if TOOLS[tool][1] == SC else "ro"

    def context(self, trace_id: str, agent: str, user: str | None) -> dict:
        R = self.rng.random
        bits = self.rng.getrandbits(64)
        first, last = FIRST_NAMES[bits % len(FIRST_NAMES)], LAST_NAMES[(bits >> 8) % len(LAST_NAMES)]
        city, postcode, country = CITIES[(bits >> 16) % len(CITIES)]
        company = COMPANIES[(bits >> 24) % len(COMPANIES)]
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
            "street": STREETS[(bits >> 54) % len(STREETS)],
            "city": city,
            "postcode": postcode,
            "country": country,
            "topic": TOPICS[(bits >> 57) % len(TOPICS)],
            "locale": ("en-GB", "en-US", "de-DE", "fr-FR")[(bits >> 60) % 4],
            "priority": ("normal", "high")[(bits >> 62) % 2],
            "email_template": "order_update",
            "service": SERVICES[int(R() * len(SERVICES))],
            "environment": "prod" if R() < 0.7 else "staging",
            "metric": METRICS[int(R() * len(METRICS))],
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
