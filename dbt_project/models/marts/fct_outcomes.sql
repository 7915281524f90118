{{ config(
    tags=['trace_scoped'],
    pre_hook=before_begin("{{ delete_rebuilt_traces('first_delivery_date') }}"),
) }}

-- The traces this build rebuilds, and the delivery days they touch (a full build reads all):
-- depends_on: {{ ref('int_rebuild_scope') }}, {{ ref('int_rebuild_days') }}

-- One row per trace (tenant_id, trace_id): what the user asked, how the run ended, what it cost, and how it went.
-- The request, the final output and the user leave redacted (docs/security.md).
with traces as (
    select * from {{ ref('int_trace_facts') }}
    {%- if is_incremental() %}
    where trace_id in (select trace_id from {{ ref('int_rebuild_scope') }})
      and first_delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
),

calls as (
    select
        tenant_id,
        trace_id,
        count(*) as tool_call_count,
        count(*) filter (where result_status in ('error', 'timeout')) as failed_tool_call_count,
        count(*) filter (where chain_position > 0 or coalesce(attempt, 1) > 1) as retry_count,
        count(*) filter (where executed and access = 'state_changing') as executed_write_count,
        min(first_result_sequence) filter (where result_status in ('error', 'timeout')) as first_failed_call_sequence
    from {{ ref('int_tool_call_lifecycle') }}
    -- a 'calls' model: a trace whose calls did not change keeps the rows of an earlier build
    {%- if is_incremental() %}
    where trace_id in (select trace_id from {{ ref('int_rebuild_scope') }})
      and request_delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
    group by tenant_id, trace_id
),

breaches as (
    select tenant_id, trace_id, count(*) as breach_count
    from {{ ref('audit_violations') }}
    {%- if is_incremental() %}
    where trace_id in (select trace_id from {{ ref('int_rebuild_scope') }})
    {%- endif %}
    group by tenant_id, trace_id
),

combined as (
    select
        traces.*,
        coalesce(calls.tool_call_count, 0) as tool_call_count,
        coalesce(calls.failed_tool_call_count, 0) as failed_tool_call_count,
        coalesce(calls.retry_count, 0) as retry_count,
        coalesce(calls.executed_write_count, 0) as executed_write_count,
        least(calls.first_failed_call_sequence, traces.first_error_event_sequence,
              traces.first_model_error_sequence) as first_error_sequence,
        coalesce(breaches.breach_count, 0) as breach_count
    from traces
    left join calls using (tenant_id, trace_id)
    left join breaches using (tenant_id, trace_id)
)

select
    cast(trace_id as {{ trace_type('string') }}) as trace_id,
    cast({{ redact_text('session_id') }} as {{ trace_type('string') }}) as session_id,
    cast(tenant_id as {{ trace_type('string') }}) as tenant_id,
    cast({{ redact_text('user_id') }} as {{ trace_type('string') }}) as user_id,
    cast({{ redact_text('agent_name') }} as {{ trace_type('string') }}) as agent_name,
    cast({{ redact_text('agent_version') }} as {{ trace_type('string') }}) as agent_version,
    cast({{ redact_text('intent') }} as {{ trace_type('string') }}) as intent,
    cast({{ redact_text('request_text') }} as {{ trace_type('string') }}) as request_text,
    cast({{ redact_text('channel') }} as {{ trace_type('string') }}) as channel,
    cast(coalesce(final_status, 'no_final_result') as {{ trace_type('string') }}) as final_status,
    cast({{ redact_text('final_output') }} as {{ trace_type('string') }}) as final_output,
    cast(started_at as {{ trace_type('timestamp_tz') }}) as started_at,
    cast(ended_at as {{ trace_type('timestamp_tz') }}) as ended_at,
    cast({{ milliseconds_between('started_at', 'ended_at') }} as bigint) as duration_ms,
    {{ utc_date('started_at') }} as activity_date,
    cast(span_count as bigint) as step_count,
    cast(planned_step_count as bigint) as planned_step_count,
    cast(event_count as bigint) as event_count,
    cast(tool_call_count as bigint) as tool_call_count,
    cast((failed_tool_call_count + error_event_count + model_error_count) as bigint) as error_count,
    cast(retry_count as bigint) as retry_count,
    cast(executed_write_count as bigint) as executed_write_count,
    cast((first_error_sequence is not null and final_status = 'success'
        and first_error_sequence < final_result_sequence) as boolean) as recovered_from_error,
    cast(model_call_count as bigint) as model_call_count,
    cast(input_tokens as bigint) as input_tokens,
    cast(output_tokens as bigint) as output_tokens,
    cast((input_tokens + output_tokens) as bigint) as total_tokens,
    cast(feedback_rating as bigint) as feedback_rating,
    cast(feedback_count as bigint) as feedback_count,
    cast(breach_count as bigint) as breach_count,
    cast(first_delivery_date as date) as first_delivery_date,
    cast(last_delivery_date as date) as last_delivery_date
from combined
