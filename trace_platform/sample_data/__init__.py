"""Deterministic, realistic sample trace logs in the native v1 format (docs: agent-trace-event-v1).

`generate()` (`trace-platform generate`) writes one landing folder per delivery day and a manifest
at the landing root:

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

Modules (what is not exported here is internal to the package):

* `constants` — format constants, collector shards, audit rules, breach variants and rates, time units;
* `catalog` — the simulated world: tools, agents and models, intents and request texts, tenants, names;
* `json_values` — the JSON codec, and the argument transforms scenarios use;
* `events` — timestamps, one trace being built, one method per event type;
* `scenarios` — clean steps: retries, wrong tools, denials, confirmations, rollbacks, failures;
* `breaches` — which traces carry an injected breach, and the breaching tool calls;
* `rendering` — a built trace as v1 JSON lines (and the R7/R8 breaches applied there);
* `unit` — one work unit's traces: sessions, intents, plans, steps, feedback, late events;
* `dirty` — dirty deliveries (malformed and blank lines, duplicates, conflicts) and file assembly;
* `files` — one work unit's files written, with their R9 accounting;
* `manifest` — the manifest at the landing root;
* `workers` — work units in parallel child processes (`python -m trace_platform.sample_data --worker`);
* `api` — `generate()`: argument checks, planning, running, the manifest.
"""

from trace_platform.sample_data.api import generate
from trace_platform.sample_data.constants import (
    AUDIT_RULES,
    EVENT_TYPES,
    GENERATOR_VERSION,
    MANIFEST_NAME,
    RULE_RATES,
    RULE_VARIANTS,
    SHARDS,
)

__all__ = [
    "AUDIT_RULES",
    "EVENT_TYPES",
    "GENERATOR_VERSION",
    "MANIFEST_NAME",
    "RULE_RATES",
    "RULE_VARIANTS",
    "SHARDS",
    "generate",
]
