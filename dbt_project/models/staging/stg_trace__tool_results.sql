-- One row per `tool_result` event, payload fields as typed columns.
{%- set payload = payload_reader() %}
select
    event_id, trace_id, span_id, parent_span_id, sequence, event_timestamp,
    tenant_id, user_id, session_id, agent_name, agent_version, delivery_date,
    {{ payload_text('tool_call_id', payload) }} as tool_call_id,
    {{ payload_text('status', payload) }} as status,
    {{ payload_json('output', payload) }} as output,
    {{ payload_text('error.type', payload) }} as error_type,
    {{ payload_text('error.message', payload) }} as error_message,
    {{ payload_double('latency_ms', payload) }} as latency_ms
from (
    select *, {{ payload_values(payload) }}
    from {{ ref('stg_trace__events') }}
    where event_type = 'tool_result'
) as events
