{{ config(
    tags=['trace_scoped'],
    pre_hook=before_begin("{{ delete_rebuilt_traces('delivery_date', only_calls_changed=true) }}"),
) }}

-- The traces this build rebuilds, and the delivery days they touch (a full build reads all):
-- depends_on: {{ ref('int_rebuild_scope') }}, {{ ref('int_rebuild_days') }}

-- Each confirmation request joined to its response (by confirmation_id inside the trace, which is
-- (tenant_id, trace_id): one tenant's response never answers another's request).
-- A response without a request is kept too, so nothing the user answered goes missing.
with requests as (
    {% call first_row_per('tenant_id, trace_id, confirmation_id', 'sequence, event_id') -%}
    select *
    from {{ ref('stg_trace__confirmation_requests') }}
    where confirmation_id is not null
    {%- if is_incremental() %}
      and trace_id in (select trace_id from {{ ref('int_rebuild_scope') }} where calls_changed)
      and delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
    {%- endcall %}
),

responses as (
    {% call first_row_per('tenant_id, trace_id, confirmation_id', 'sequence, event_id') -%}
    select *
    from {{ ref('stg_trace__confirmation_responses') }}
    where confirmation_id is not null
    {%- if is_incremental() %}
      and trace_id in (select trace_id from {{ ref('int_rebuild_scope') }} where calls_changed)
      and delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
    {%- endcall %}
)

select
    coalesce(requests.trace_id, responses.trace_id) as trace_id,
    coalesce(requests.confirmation_id, responses.confirmation_id) as confirmation_id,
    coalesce(requests.tool_call_id, responses.tool_call_id) as tool_call_id,
    coalesce(requests.tenant_id, responses.tenant_id) as tenant_id,
    coalesce(requests.agent_name, responses.agent_name) as agent_name,
    coalesce(requests.agent_version, responses.agent_version) as agent_version,
    requests.event_id as request_event_id,
    requests.sequence as request_sequence,
    requests.event_timestamp as requested_at,
    requests.prompt,
    -- JSON null counts as "no arguments shown"
    case when not {{ json_type_is('requests.arguments_shown', 'null') }} then requests.arguments_shown end as arguments_shown,
    responses.event_id as response_event_id,
    responses.sequence as response_sequence,
    responses.event_timestamp as responded_at,
    coalesce(responses.decision, 'no_response') as decision,
    responses.responder,
    {{ milliseconds_between('requests.event_timestamp', 'responses.event_timestamp') }} / 1000.0
        as seconds_to_respond,
    coalesce(requests.delivery_date, responses.delivery_date) as delivery_date,
    (select max(changes_logged_through) from {{ ref('int_trace_changes') }}) as model_build_seq
from requests
full outer join responses
    on responses.tenant_id = requests.tenant_id and responses.trace_id = requests.trace_id
   and responses.confirmation_id = requests.confirmation_id
