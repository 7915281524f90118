-- One row per `policy_check` event, payload fields as typed columns.
select
    event_id, trace_id, span_id, parent_span_id, sequence, event_timestamp,
    tenant_id, user_id, session_id, agent_name, agent_version, delivery_date,
    {{ payload_text('check_id') }} as check_id,
    {{ payload_text('tool_call_id') }} as tool_call_id,
    {{ payload_text('policy') }} as policy,
    {{ payload_text('permission') }} as permission,
    {{ payload_text('principal') }} as principal,
    {{ payload_text('decision') }} as decision,
    {{ payload_text('reason') }} as reason
from {{ ref('stg_trace__events') }}
where event_type = 'policy_check'
