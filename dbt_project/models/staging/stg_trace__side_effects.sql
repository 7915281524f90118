-- One row per `side_effect` event, payload fields as typed columns.
select
    event_id, trace_id, span_id, parent_span_id, sequence, event_timestamp,
    tenant_id, user_id, session_id, agent_name, agent_version, delivery_date,
    {{ payload_text('tool_call_id') }} as tool_call_id,
    {{ payload_text('resource_type') }} as resource_type,
    {{ payload_text('resource_id') }} as resource_id,
    {{ payload_text('operation') }} as operation,
    {{ payload_bool('reversible') }} as reversible,
    {{ payload_text('rollback_ref') }} as rollback_ref
from {{ ref('stg_trace__events') }}
where event_type = 'side_effect'
