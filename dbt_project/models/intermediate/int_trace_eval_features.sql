{{ config(
    tags=['trace_scoped'],
    pre_hook=before_begin("{{ delete_rebuilt_traces('first_delivery_date') }}"),
) }}

-- The traces this build rebuilds, and the delivery days they touch (a full build reads all):
-- depends_on: {{ ref('int_rebuild_scope') }}, {{ ref('int_rebuild_days') }}

-- Per-trace evidence for the evaluation labels (eval.eval_trace_labels applies the thresholds).
with calls as (
    select * from {{ ref('int_tool_call_lifecycle') }}
    -- a 'calls' model: a trace whose calls did not change keeps the rows of an earlier build
    {%- if is_incremental() %}
    where trace_id in (select trace_id from {{ ref('int_rebuild_scope') }})
      and request_delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
),

wrong_tool as (
    -- a call failed as not applicable and a different tool was called after it
    select failed.tenant_id, failed.trace_id,
           -- a full ORDER BY, not arg_min: ties would make the reason differ between rebuilds
           {{ first_by_order(format_text('{} failed with {}; {} was called next',
                                         ['failed.tool_name', 'failed.error_type', 'later.tool_name']),
                             'failed.request_sequence, later.request_sequence') }} as wrong_tool_reason
    from calls as failed
    join calls as later
        on later.tenant_id = failed.tenant_id
       and later.trace_id = failed.trace_id
       and later.request_sequence > failed.request_sequence
       and later.tool_name is distinct from failed.tool_name
    where failed.result_status = 'error'
      and failed.error_type in ({{ string_list_var('wrong_tool_error_types') }})
    group by failed.tenant_id, failed.trace_id
),

failed_validation as (
    select tenant_id, trace_id,
           {{ arg_min(format_text('{} result failed validation ({})', ['tool_name', 'error_type']),
                      'request_sequence') }} as reason
    from calls
    where result_status in ('error', 'timeout')
      and error_type in ({{ string_list_var('bad_parameters_error_types') }})
    group by tenant_id, trace_id
),

changed_retries as (
    select retry.tenant_id, retry.trace_id,
           {{ arg_min(format_text('{} was retried with changed arguments', ['retry.tool_name']),
                      'retry.request_sequence') }} as reason
    from calls as retry
    join calls as original
        on original.tenant_id = retry.tenant_id and original.trace_id = retry.trace_id
       and original.tool_call_id = retry.retry_of
    where not coalesce({{ json_equal('retry.arguments', 'original.arguments') }}, false)
    group by retry.tenant_id, retry.trace_id
),

repeated_calls as (
    -- the same tool called more than once with the same arguments (exact JSON text)
    select tenant_id, trace_id,
           {{ first_by_order(format_text('{} called {} times with identical arguments', ['tool_name', 'repeats']),
                             'repeats desc, tool_name, arguments_text') }} as reason
    from (
        select tenant_id, trace_id, tool_name, {{ json_to_text('arguments') }} as arguments_text, count(*) as repeats
        from calls
        group by tenant_id, trace_id, tool_name, {{ json_to_text('arguments') }}
        having count(*) > 1
    ) as repeats_per_arguments
    group by tenant_id, trace_id
),

traces as (
    select tenant_id, trace_id, intent, final_status, final_result_sequence, first_error_event_sequence, first_model_error_sequence,
           first_delivery_date
    from {{ ref('int_trace_facts') }}
    {%- if is_incremental() %}
    where trace_id in (select trace_id from {{ ref('int_rebuild_scope') }})
      and first_delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
),

failures as (
    select tenant_id, trace_id, min(first_result_sequence) as first_failed_sequence,
           count(*) filter (where chain_position > 0) as retry_count,
           count(*) as tool_call_count
    from calls
    where true
    group by tenant_id, trace_id
)

select
    traces.trace_id,
    traces.tenant_id,
    traces.intent,
    traces.first_delivery_date,
    coalesce(failures.tool_call_count, 0) as tool_call_count,
    wrong_tool.wrong_tool_reason,
    coalesce(failed_validation.reason, changed_retries.reason) as bad_parameters_reason,
    repeated_calls.reason as repeated_calls_reason,
    case when traces.final_status = 'success'
          and least(traces.first_error_event_sequence, traces.first_model_error_sequence,
                    failed_calls.first_failed_sequence) < traces.final_result_sequence
         then 'an error or failed attempt was followed by a successful final result' end as recovered_reason,
    (select max(changes_logged_through) from {{ ref('int_trace_changes') }}) as model_build_seq
from traces
left join failures using (tenant_id, trace_id)
left join (
    select tenant_id, trace_id, min(first_result_sequence) as first_failed_sequence
    from calls where result_status in ('error', 'timeout', 'denied') group by tenant_id, trace_id
) as failed_calls using (tenant_id, trace_id)
left join wrong_tool using (tenant_id, trace_id)
left join failed_validation using (tenant_id, trace_id)
left join changed_retries using (tenant_id, trace_id)
left join repeated_calls using (tenant_id, trace_id)
