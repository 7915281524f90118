-- One row per `tool_call` event, payload fields as typed columns.
select
    event_id, trace_id, span_id, parent_span_id, sequence, event_timestamp,
    tenant_id, user_id, session_id, agent_name, agent_version, delivery_date,
    {{ payload_text('tool_call_id') }} as tool_call_id,
    {{ payload_text('tool_name') }} as tool_name,
    {{ payload_text('tool_version') }} as tool_version,
    {{ payload_json('arguments') }} as arguments,
    {{ payload_text('access') }} as access,
    {{ payload_text('mode') }} as mode,
    {{ payload_bigint('attempt') }} as attempt,
    {{ payload_text('retry_of') }} as retry_of,
    {{ payload_bool('requires_confirmation') }} as requires_confirmation
from {{ ref('stg_trace__events') }}
where event_type = 'tool_call'
