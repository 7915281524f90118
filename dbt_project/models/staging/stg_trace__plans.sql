-- One row per `plan` event, payload fields as typed columns.
select
    event_id, trace_id, span_id, parent_span_id, sequence, event_timestamp,
    tenant_id, user_id, session_id, agent_name, agent_version, delivery_date,
    {{ payload_json('steps') }} as steps,
    coalesce(json_array_length(payload, '$.steps'), 0) as step_count,
    {{ payload_text('reasoning') }} as reasoning
from {{ ref('stg_trace__events') }}
where event_type = 'plan'
