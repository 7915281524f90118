-- One row per `final_result` event, payload fields as typed columns.
{%- set payload = payload_reader() %}
select
    event_id, trace_id, span_id, parent_span_id, sequence, event_timestamp,
    tenant_id, user_id, session_id, agent_name, agent_version, delivery_date,
    {{ payload_text('status', payload) }} as status,
    {{ payload_json('output', payload) }} as output,
    {{ json_extract_text('payload', '$.output') }} as output_text
from (
    select *, {{ payload_values(payload) }}
    from {{ ref('stg_trace__events') }}
    where event_type = 'final_result'
) as events
