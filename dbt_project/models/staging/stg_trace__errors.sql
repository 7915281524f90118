-- One row per `error` event, payload fields as typed columns.
{%- set payload = payload_reader() %}
select
    event_id, trace_id, span_id, parent_span_id, sequence, event_timestamp,
    tenant_id, user_id, session_id, agent_name, agent_version, delivery_date,
    {{ payload_text('error_type', payload) }} as error_type,
    {{ payload_text('message', payload) }} as message,
    {{ payload_bool('recoverable', payload) }} as recoverable,
    {{ payload_text('tool_call_id', payload) }} as tool_call_id
from (
    select *, {{ payload_values(payload) }}
    from {{ ref('stg_trace__events') }}
    where event_type = 'error'
) as events
