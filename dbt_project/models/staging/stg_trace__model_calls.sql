-- One row per `model_call` event, payload fields as typed columns.
{%- set payload = payload_reader() %}
select
    event_id, trace_id, span_id, parent_span_id, sequence, event_timestamp,
    tenant_id, user_id, session_id, agent_name, agent_version, delivery_date,
    {{ payload_text('provider', payload) }} as provider,
    {{ payload_text('model', payload) }} as model,
    {{ payload_text('model_version', payload) }} as model_version,
    -- a purpose other than these is `other`; the value stays in raw
    {{ payload_closed('purpose', payload, ['planning', 'tool_selection', 'response', 'other'], 'other') }} as purpose,
    {{ payload_bigint('input_tokens', payload) }} as input_tokens,
    {{ payload_bigint('output_tokens', payload) }} as output_tokens,
    {{ payload_double('latency_ms', payload) }} as latency_ms,
    {{ payload_text('finish_reason', payload) }} as finish_reason,
    {{ payload_text('status', payload) }} as status,
    {{ payload_text('error.type', payload) }} as error_type,
    {{ payload_text('error.message', payload) }} as error_message
from (
    select *, {{ payload_values(payload) }}
    from {{ ref('stg_trace__events') }}
    where event_type = 'model_call'
) as events
