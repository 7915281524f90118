-- One row per `tool_call` event, payload fields as typed columns.
{%- set payload = payload_reader() %}
select
    event_id, trace_id, span_id, parent_span_id, sequence, event_timestamp,
    tenant_id, user_id, session_id, agent_name, agent_version, delivery_date,
    {{ payload_text('tool_call_id', payload) }} as tool_call_id,
    {{ payload_text('tool_name', payload) }} as tool_name,
    {{ payload_text('tool_version', payload) }} as tool_version,
    {{ payload_json('arguments', payload) }} as arguments,
    -- an access class other than these is `unknown` (finding R6U when the call ran); the value stays in raw
    {{ payload_closed('access', payload, ['read_only', 'state_changing', 'unknown'], 'unknown') }} as access,
    {{ payload_text('mode', payload) }} as mode,
    {{ payload_bigint('attempt', payload) }} as attempt,
    {{ payload_text('retry_of', payload) }} as retry_of,
    {{ payload_bool('requires_confirmation', payload) }} as requires_confirmation
from (
    select *, {{ payload_values(payload) }}
    from {{ ref('stg_trace__events') }}
    where event_type = 'tool_call'
) as events
