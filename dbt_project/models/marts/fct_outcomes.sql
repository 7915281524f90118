{{ config(materialized='incremental', tags=['trace_scoped'], incremental_strategy='trace_scoped') }}

-- One row per trace (tenant_id, trace_id): what the user asked, how the run ended, what it cost, and how it went.
-- The request, the final output and the user leave redacted (docs/security.md).
with traces as (
    select * from {{ ref('int_trace_facts') }}
    where true {{ pending_traces_only() }}
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
    where true {{ pending_trace_events_only('trace_id', 'request_delivery_date') }}
    group by tenant_id, trace_id
),

breaches as (
    select tenant_id, trace_id, count(*) as breach_count
    from {{ ref('audit_violations') }}
    where true {{ pending_trace_ids_only() }}  -- small table: no build-seq column
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
    trace_id::varchar as trace_id,
    redact_text(session_id)::varchar as session_id,
    tenant_id::varchar as tenant_id,
    redact_text(user_id)::varchar as user_id,
    redact_text(agent_name)::varchar as agent_name,
    redact_text(agent_version)::varchar as agent_version,
    redact_text(intent)::varchar as intent,
    redact_text(request_text)::varchar as request_text,
    redact_text(channel)::varchar as channel,
    coalesce(final_status, 'no_final_result')::varchar as final_status,
    redact_text(final_output)::varchar as final_output,
    started_at::timestamptz as started_at,
    ended_at::timestamptz as ended_at,
    date_diff('millisecond', started_at, ended_at)::bigint as duration_ms,
    (started_at at time zone 'UTC')::date as activity_date,
    span_count::bigint as step_count,
    planned_step_count::bigint as planned_step_count,
    event_count::bigint as event_count,
    tool_call_count::bigint as tool_call_count,
    (failed_tool_call_count + error_event_count + model_error_count)::bigint as error_count,
    retry_count::bigint as retry_count,
    executed_write_count::bigint as executed_write_count,
    (first_error_sequence is not null and final_status = 'success'
        and first_error_sequence < final_result_sequence)::boolean as recovered_from_error,
    model_call_count::bigint as model_call_count,
    input_tokens::bigint as input_tokens,
    output_tokens::bigint as output_tokens,
    (input_tokens + output_tokens)::bigint as total_tokens,
    feedback_rating::bigint as feedback_rating,
    feedback_count::bigint as feedback_count,
    breach_count::bigint as breach_count,
    first_delivery_date::date as first_delivery_date,
    last_delivery_date::date as last_delivery_date
from combined
