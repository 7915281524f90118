-- One row per `model_call` event, payload fields as typed columns.
select
    event_id, trace_id, span_id, parent_span_id, sequence, event_timestamp,
    tenant_id, user_id, session_id, agent_name, agent_version, delivery_date,
    {{ payload_text('provider') }} as provider,
    {{ payload_text('model') }} as model,
    {{ payload_text('model_version') }} as model_version,
    {{ payload_text('purpose') }} as purpose,
    {{ payload_bigint('input_tokens') }} as input_tokens,
    {{ payload_bigint('output_tokens') }} as output_tokens,
    {{ payload_double('latency_ms') }} as latency_ms,
    {{ payload_text('finish_reason') }} as finish_reason,
    {{ payload_text('status') }} as status,
    {{ payload_text('error.type') }} as error_type,
    {{ payload_text('error.message') }} as error_message
from {{ ref('stg_trace__events') }}
where event_type = 'model_call'
