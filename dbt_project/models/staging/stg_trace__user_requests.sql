-- One row per `user_request` event, payload fields as typed columns.
{%- set payload = payload_reader() %}
select
    event_id, trace_id, span_id, parent_span_id, sequence, event_timestamp,
    tenant_id, user_id, session_id, agent_name, agent_version, delivery_date,
    {{ payload_text('text', payload) }} as request_text,
    {{ payload_text('intent', payload) }} as intent,
    {{ payload_text('channel', payload) }} as channel
from (
    select *, {{ payload_values(payload) }}
    from {{ ref('stg_trace__events') }}
    where event_type = 'user_request'
) as events
