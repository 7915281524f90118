"""Rendering a built trace as native v1 JSON lines, sorted into this day's shard file or the next
day's late file; R7 and R8 breaches are applied here (sequence gap, unknown parent span, model
call without a version or model)."""

from __future__ import annotations

import random
from collections import Counter

from trace_platform.sample_data.constants import DAY_US, EVENT_TYPES
from trace_platform.sample_data.events import Clock, Trace
from trace_platform.sample_data.json_values import dumps

_EVENT_TYPE_BYTES = {t: t.encode() for t in EVENT_TYPES}


class LineRendering:
    """The part of a work unit (`unit.Unit`) that turns its built traces into lines."""

    rng: random.Random
    clock: Clock
    agents: dict[tuple[str, str], dict]
    main: list[tuple[int, bytes]]
    late: list[tuple[int, bytes]]
    event_types: Counter
    expected: dict[str, list[str]]
    last_day: bool

    def emit(
        self,
        tr: Trace,
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
            + dumps(
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
        request_attributes = b',"attributes":' + dumps({"client": f"{agent}-widget/2.{version[2]}"}) + close
        model_attributes = {"tool_selection": b',"attributes":{"temperature":0.2}' + close}
        other_model_attributes = b',"attributes":{"temperature":0.7}' + close
        main_append, late_append = self.main.append, self.late.append
        counts = self.event_types
        late_from = DAY_US if not self.last_day else 1 << 62
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
                    dumps(payload),
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
