-- One row per `policy_check` event, payload fields as typed columns.
{%- set payload = payload_reader() %}
select
    event_id, trace_id, span_id, parent_span_id, sequence, event_timestamp,
    tenant_id, user_id, session_id, agent_name, agent_version, delivery_date,
    {{ payload_text('check_id', payload) }} as check_id,
    {{ payload_text('tool_call_id', payload) }} as tool_call_id,
    {{ payload_text('policy', payload) }} as policy,
    {{ payload_text('permission', payload) }} as permission,
    {{ payload_text('principal', payload) }} as principal,
    {{ payload_text('decision', payload) }} as decision,
    {{ payload_text('reason', payload) }} as reason
from (
    select *, {{ payload_values(payload) }}
    from {{ ref('stg_trace__events') }}
    where event_type = 'policy_check'
) as events
