{{ config(materialized='table') }}

-- One row per trace with boolean evaluation labels and the reason for each.
-- Definitions (also in _eval.yml); thresholds are dbt vars in dbt_project.yml. The labels come from
-- unredacted features (e.g. retried with changed arguments); the texts leave redacted (docs/security.md).
with features as (
    select * from {{ ref('int_trace_eval_features') }}
),

intent_medians as (
    select intent, median(tool_call_count) as median_tool_calls, count(*) as intent_traces
    from features
    where intent is not null
    group by intent
    having count(*) >= {{ number_var('inefficient_path_min_intent_traces') }}
)

select
    features.trace_id,
    redact_text(features.intent) as intent,
    features.tool_call_count,
    intent_medians.median_tool_calls as intent_median_tool_calls,
    features.wrong_tool_reason is not null as wrong_tool,
    redact_text(features.wrong_tool_reason) as wrong_tool_reason,
    features.bad_parameters_reason is not null as bad_parameters,
    redact_text(features.bad_parameters_reason) as bad_parameters_reason,
    features.recovered_reason is not null as recovered_from_error,
    redact_text(features.recovered_reason) as recovered_from_error_reason,
    features.repeated_calls_reason is not null
        or features.tool_call_count > {{ number_var('inefficient_path_median_multiplier') }} * intent_medians.median_tool_calls
        as inefficient_path,
    redact_text(coalesce(features.repeated_calls_reason,
             case when features.tool_call_count > {{ number_var('inefficient_path_median_multiplier') }} * intent_medians.median_tool_calls
                  then format('{} tool calls, more than {} × the median {} for intent {}',
                              features.tool_call_count, {{ number_var('inefficient_path_median_multiplier') }},
                              intent_medians.median_tool_calls, features.intent) end)) as inefficient_path_reason
from features
left join intent_medians using (intent)
