-- One row per `tool_selection` event, payload fields as typed columns.
{%- set payload = payload_reader() %}
select
    event_id, trace_id, span_id, parent_span_id, sequence, event_timestamp,
    tenant_id, user_id, session_id, agent_name, agent_version, delivery_date,
    {{ payload_text('tool_call_id', payload) }} as tool_call_id,
    {{ payload_text('tool_name', payload) }} as tool_name,
    {{ payload_json('candidates', payload) }} as candidates,
    {{ payload_text('rationale', payload) }} as rationale
from (
    select *, {{ payload_values(payload) }}
    from {{ ref('stg_trace__events') }}
    where event_type = 'tool_selection'
) as events
