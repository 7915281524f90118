-- One row per `confirmation_response` event, payload fields as typed columns.
{%- set payload = payload_reader() %}
select
    event_id, trace_id, span_id, parent_span_id, sequence, event_timestamp,
    tenant_id, user_id, session_id, agent_name, agent_version, delivery_date,
    {{ payload_text('confirmation_id', payload) }} as confirmation_id,
    {{ payload_text('tool_call_id', payload) }} as tool_call_id,
    {{ payload_text('decision', payload) }} as decision,
    {{ payload_text('responder', payload) }} as responder
from (
    select *, {{ payload_values(payload) }}
    from {{ ref('stg_trace__events') }}
    where event_type = 'confirmation_response'
) as events
