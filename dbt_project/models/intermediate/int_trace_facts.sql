{{ config(
    tags=['trace_scoped'],
    pre_hook=before_begin("{{ delete_rebuilt_traces('first_delivery_date') }}"),
) }}

-- The traces this build rebuilds, and the delivery days they touch (a full build reads all):
-- depends_on: {{ ref('int_rebuild_scope') }}, {{ ref('int_rebuild_days') }}

-- One row per trace: identity, completeness facts (R1, R7, R7T) and the outcome's inputs.
-- A trace is (tenant_id, trace_id) (docs/trace-format.md, "Tenant scope"): events of two tenants that
-- share a trace_id are two traces, never combined; claiming_tenant_count > 1 flags them (R7T).
-- The rules' predicates are in audit/audit_violations.sql (r1_complete_run, r7_well_formed_trace,
-- r7t_tenant_collision); a comment "R<n>" here marks a fact a rule reads.
with events as (
    select *
    from {{ ref('stg_trace__events') }}
    {%- if is_incremental() %}
    where trace_id in (select trace_id from {{ ref('int_rebuild_scope') }})
      and delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
),

spans as (
    select distinct tenant_id, trace_id, span_id from events
),

orphan_parents as (
    -- events whose parent_span_id names no span of the same trace (R7)
    select events.tenant_id, events.trace_id, count(*) as orphan_parent_count,
           {{ arg_min('events.event_id', 'events.sequence') }} as first_orphan_event_id
    from events
    anti join spans
        on spans.tenant_id = events.tenant_id and spans.trace_id = events.trace_id
       and spans.span_id = events.parent_span_id
    where events.parent_span_id is not null
    group by events.tenant_id, events.trace_id
),

per_trace as (
    select
        trace_id,
        tenant_id,
        -- identity from the request when there is one, else from the first event
        coalesce({{ arg_min('user_id', 'sequence') }} filter (where event_type = 'user_request'),
                 {{ arg_min('user_id', 'sequence') }}) as user_id,
        coalesce({{ arg_min('session_id', 'sequence') }} filter (where event_type = 'user_request'),
                 {{ arg_min('session_id', 'sequence') }}) as session_id,
        coalesce({{ arg_min('agent_name', 'sequence') }} filter (where event_type = 'user_request'),
                 {{ arg_min('agent_name', 'sequence') }}) as agent_name,
        coalesce({{ arg_min('agent_version', 'sequence') }} filter (where event_type = 'user_request'),
                 {{ arg_min('agent_version', 'sequence') }}) as agent_version,
        min(event_timestamp) as started_at,
        max(event_timestamp) filter (where event_type <> 'feedback') as ended_at,
        count(*) as event_count,
        count(distinct sequence) as distinct_sequence_count,
        min(sequence) as min_sequence,
        max(sequence) as max_sequence,
        count(distinct span_id) as span_count,
        count(*) filter (where event_type = 'user_request') as user_request_count,  -- R1
        count(*) filter (where event_type = 'final_result') as final_result_count,  -- R1
        count(*) filter (where event_type = 'error') as error_event_count,
        min(sequence) filter (where event_type = 'error') as first_error_event_sequence,
        min(delivery_date) as first_delivery_date,
        max(delivery_date) as last_delivery_date,
        -- how many tenants' events carry this trace_id (more than one: finding R7T)
        count(*) over (partition by trace_id) as claiming_tenant_count
    from events
    group by tenant_id, trace_id
),

requests as (
    select tenant_id, trace_id, {{ arg_min('request_text', 'sequence') }} as request_text, {{ arg_min('intent', 'sequence') }} as intent,
           {{ arg_min('channel', 'sequence') }} as channel
    from {{ ref('stg_trace__user_requests') }}
    {%- if is_incremental() %}
    where trace_id in (select trace_id from {{ ref('int_rebuild_scope') }})
      and delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
    group by tenant_id, trace_id
),

finals as (
    select tenant_id, trace_id, {{ arg_max('status', 'sequence') }} as final_status, {{ arg_max('output_text', 'sequence') }} as final_output,
           max(event_timestamp) as final_result_at, max(sequence) as final_result_sequence
    from {{ ref('stg_trace__final_results') }}
    {%- if is_incremental() %}
    where trace_id in (select trace_id from {{ ref('int_rebuild_scope') }})
      and delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
    group by tenant_id, trace_id
),

plans as (
    select tenant_id, trace_id, max(step_count) as planned_step_count
    from {{ ref('stg_trace__plans') }}
    -- OTLP step records are plan events that are not plans (docs/otlp.md)
    where not is_otlp_step
    {%- if is_incremental() %}
      and trace_id in (select trace_id from {{ ref('int_rebuild_scope') }})
      and delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
    group by tenant_id, trace_id
),

models as (
    select tenant_id, trace_id,
           count(*) as model_call_count,
           count(*) filter (where status = 'error') as model_error_count,
           min(sequence) filter (where status = 'error') as first_model_error_sequence,
           sum(coalesce(input_tokens, 0)) as input_tokens,
           sum(coalesce(output_tokens, 0)) as output_tokens
    from {{ ref('stg_trace__model_calls') }}
    {%- if is_incremental() %}
    where trace_id in (select trace_id from {{ ref('int_rebuild_scope') }})
      and delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
    group by tenant_id, trace_id
),

feedback as (
    -- the latest rating given wins
    select tenant_id, trace_id, {{ arg_max('rating', 'event_timestamp') }} as feedback_rating, count(*) as feedback_count
    from {{ ref('stg_trace__feedback') }}
    {%- if is_incremental() %}
    where trace_id in (select trace_id from {{ ref('int_rebuild_scope') }})
      and delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
    group by tenant_id, trace_id
)

select
    per_trace.*,
    per_trace.min_sequence = 0
        and per_trace.max_sequence = per_trace.event_count - 1
        and per_trace.distinct_sequence_count = per_trace.event_count as sequence_is_contiguous,  -- R7
    coalesce(orphan_parents.orphan_parent_count, 0) as orphan_parent_count,  -- R7
    orphan_parents.first_orphan_event_id,
    requests.request_text,
    requests.intent,
    requests.channel,
    finals.final_status,
    finals.final_output,
    finals.final_result_at,
    finals.final_result_sequence,
    models.first_model_error_sequence,
    plans.planned_step_count,
    coalesce(models.model_call_count, 0) as model_call_count,
    coalesce(models.model_error_count, 0) as model_error_count,
    coalesce(models.input_tokens, 0) as input_tokens,
    coalesce(models.output_tokens, 0) as output_tokens,
    feedback.feedback_rating,
    coalesce(feedback.feedback_count, 0) as feedback_count,
    (select max(changes_logged_through) from {{ ref('int_trace_changes') }}) as model_build_seq
from per_trace
left join orphan_parents using (tenant_id, trace_id)
left join requests using (tenant_id, trace_id)
left join finals using (tenant_id, trace_id)
left join plans using (tenant_id, trace_id)
left join models using (tenant_id, trace_id)
left join feedback using (tenant_id, trace_id)
