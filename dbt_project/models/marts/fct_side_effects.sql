{{ config(
    tags=['trace_scoped'],
    pre_hook=before_begin("{{ delete_rebuilt_traces('delivery_date', only_calls_changed=true) }}"),
) }}

-- The traces this build rebuilds, and the delivery days they touch (a full build reads all):
-- depends_on: {{ ref('int_rebuild_scope') }}, {{ ref('int_rebuild_days') }}

-- One row per side effect, with whether it was rolled back (a successful rollback of the same
-- resource for the same tool call) and whether it still can be. Rollbacks match on the real
-- resource_id; resource_id and rollback_ref leave redacted (docs/security.md).
with rollbacks as (
    select tenant_id, trace_id, tool_call_id, resource_type, resource_id,
           min(event_timestamp) filter (where status = 'ok') as rolled_back_at,
           {{ arg_max('status', 'sequence') }} as last_rollback_status
    from {{ ref('stg_trace__rollbacks') }}
    {%- if is_incremental() %}
    where trace_id in (select trace_id from {{ ref('int_rebuild_scope') }} where calls_changed)
      and delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
    group by tenant_id, trace_id, tool_call_id, resource_type, resource_id
)

select
    cast(effects.event_id as {{ trace_type('string') }}) as event_id,
    cast(effects.trace_id as {{ trace_type('string') }}) as trace_id,
    cast(effects.tool_call_id as {{ trace_type('string') }}) as tool_call_id,
    cast(effects.tenant_id as {{ trace_type('string') }}) as tenant_id,
    cast({{ redact_text('effects.agent_name') }} as {{ trace_type('string') }}) as agent_name,
    cast({{ redact_text('effects.agent_version') }} as {{ trace_type('string') }}) as agent_version,
    cast({{ redact_text('calls.tool_name') }} as {{ trace_type('string') }}) as tool_name,
    cast({{ redact_text('effects.resource_type') }} as {{ trace_type('string') }}) as resource_type,
    cast({{ redact_text('effects.resource_id') }} as {{ trace_type('string') }}) as resource_id,
    cast(effects.operation as {{ trace_type('string') }}) as operation,
    cast(coalesce(effects.reversible, false) as boolean) as reversible,
    cast({{ redact_text('effects.rollback_ref') }} as {{ trace_type('string') }}) as rollback_ref,
    cast((rollbacks.rolled_back_at is not null) as boolean) as rolled_back,
    cast(rollbacks.rolled_back_at as {{ trace_type('timestamp_tz') }}) as rolled_back_at,
    cast(rollbacks.last_rollback_status as {{ trace_type('string') }}) as last_rollback_status,
    cast((coalesce(effects.reversible, false) and rollbacks.rolled_back_at is null) as boolean) as can_still_roll_back,
    cast(effects.event_timestamp as {{ trace_type('timestamp_tz') }}) as occurred_at,
    cast(effects.delivery_date as date) as delivery_date
from {{ ref('stg_trace__side_effects') }} as effects
left join rollbacks
    on rollbacks.tenant_id = effects.tenant_id
   and rollbacks.trace_id = effects.trace_id
   and rollbacks.tool_call_id is not distinct from effects.tool_call_id
   and rollbacks.resource_type is not distinct from effects.resource_type
   and rollbacks.resource_id is not distinct from effects.resource_id
left join (
    select * from {{ ref('int_tool_call_lifecycle') }}
    {%- if is_incremental() %}
    where trace_id in (select trace_id from {{ ref('int_rebuild_scope') }} where calls_changed)
      and request_delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
) as calls
    on calls.tenant_id = effects.tenant_id and calls.trace_id = effects.trace_id
   and calls.tool_call_id = effects.tool_call_id
{%- if is_incremental() %}
where effects.trace_id in (select trace_id from {{ ref('int_rebuild_scope') }} where calls_changed)
  and effects.delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
{%- endif %}
