{{ config(materialized='incremental', tags=['trace_scoped'], incremental_strategy='trace_scoped',
          trace_scope='calls') }}

-- One row per side effect, with whether it was rolled back (a successful rollback of the same
-- resource for the same tool call) and whether it still can be. Rollbacks match on the real
-- resource_id; resource_id and rollback_ref leave redacted (docs/security.md).
with rollbacks as (
    select tenant_id, trace_id, tool_call_id, resource_type, resource_id,
           min(event_timestamp) filter (where status = 'ok') as rolled_back_at,
           arg_max(status, sequence) as last_rollback_status
    from {{ ref('stg_trace__rollbacks') }}
    where true {{ pending_trace_events_only() }}
    group by all
)

select
    effects.event_id::varchar as event_id,
    effects.trace_id::varchar as trace_id,
    effects.tool_call_id::varchar as tool_call_id,
    effects.tenant_id::varchar as tenant_id,
    redact_text(effects.agent_name)::varchar as agent_name,
    redact_text(effects.agent_version)::varchar as agent_version,
    redact_text(calls.tool_name)::varchar as tool_name,
    redact_text(effects.resource_type)::varchar as resource_type,
    redact_text(effects.resource_id)::varchar as resource_id,
    effects.operation::varchar as operation,
    coalesce(effects.reversible, false)::boolean as reversible,
    redact_text(effects.rollback_ref)::varchar as rollback_ref,
    (rollbacks.rolled_back_at is not null)::boolean as rolled_back,
    rollbacks.rolled_back_at::timestamptz as rolled_back_at,
    rollbacks.last_rollback_status::varchar as last_rollback_status,
    (coalesce(effects.reversible, false) and rollbacks.rolled_back_at is null)::boolean as can_still_roll_back,
    effects.event_timestamp::timestamptz as occurred_at,
    effects.delivery_date::date as delivery_date
from {{ ref('stg_trace__side_effects') }} as effects
left join rollbacks
    on rollbacks.tenant_id = effects.tenant_id
   and rollbacks.trace_id = effects.trace_id
   and rollbacks.tool_call_id is not distinct from effects.tool_call_id
   and rollbacks.resource_type is not distinct from effects.resource_type
   and rollbacks.resource_id is not distinct from effects.resource_id
left join (
    select * from {{ ref('int_tool_call_lifecycle') }}
    where true {{ pending_traces_only() }}
) as calls
    on calls.tenant_id = effects.tenant_id and calls.trace_id = effects.trace_id
   and calls.tool_call_id = effects.tool_call_id
where true {{ pending_trace_events_only('effects.trace_id', 'effects.delivery_date') }}
