-- One row per `rollback` event, payload fields as typed columns.
{%- set payload = payload_reader() %}
select
    event_id, trace_id, span_id, parent_span_id, sequence, event_timestamp,
    tenant_id, user_id, session_id, agent_name, agent_version, delivery_date,
    {{ payload_text('tool_call_id', payload) }} as tool_call_id,
    {{ payload_text('resource_type', payload) }} as resource_type,
    {{ payload_text('resource_id', payload) }} as resource_id,
    {{ payload_text('status', payload) }} as status,
    {{ payload_text('reason', payload) }} as reason
from (
    select *, {{ payload_values(payload) }}
    from {{ ref('stg_trace__events') }}
    where event_type = 'rollback'
) as events
