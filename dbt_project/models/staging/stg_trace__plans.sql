-- One row per `plan` event, payload fields as typed columns.
{%- set payload = payload_reader() %}
select
    event_id, trace_id, span_id, parent_span_id, sequence, event_timestamp,
    tenant_id, user_id, session_id, agent_name, agent_version, delivery_date,
    {{ payload_json('steps', payload) }} as steps,
    coalesce({{ json_array_length('payload', '$.steps') }}, 0) as step_count,
    {{ payload_text('reasoning', payload) }} as reasoning,
    -- an OTLP span or log record with no other mapping (a chain step, an HTTP call, a GenAI message
    -- event) is loaded as a plan event that records the step: it is not a plan (docs/otlp.md)
    coalesce(source_format = 'otlp' and {{ json_extract_text('extra_fields', '$.otlp.mapping') }} in ('step', 'note'), false)
        as is_otlp_step
from (
    select *, {{ payload_values(payload) }}
    from {{ ref('stg_trace__events') }}
    where event_type = 'plan'
) as events
