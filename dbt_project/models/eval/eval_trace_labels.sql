{{ config(materialized='incremental', tags=['trace_scoped'], incremental_strategy='trace_scoped',
          relabels_moved_intents=true, meta={'reader_snapshot': 'fingerprint'},
          pre_hook="{{ eval_find_moved_intents() }}") }}

-- One row per trace (tenant_id, trace_id) with boolean evaluation labels and the reason for each.
-- Definitions (also in _eval.yml); thresholds are dbt vars in dbt_project.yml. The labels come from
-- unredacted features (e.g. retried with changed arguments); the texts leave redacted (docs/security.md).
-- Incremental: the pending traces, plus every trace of an intent whose median moved
-- (macros/eval_relabel.sql). Not a tracked table for the reader snapshot (meta above): rows of
-- traces that did not change can be rewritten here, so the snapshot compares fingerprints.
with relabelled as (
    select * from {{ ref('int_trace_eval_features') }}
    where true {{ pending_traces_only() }}
    {%- if is_incremental() %}
    union all
    select * from {{ ref('int_trace_eval_features') }}
    where intent in (select intent from eval_moved_intents)
      and trace_id not in (select trace_id from {{ ref('int_trace_changes') }} where is_pending)
    {%- endif %}
),

intent_medians as (
    {%- if is_incremental() %}
    select * from eval_intent_medians  -- computed by the pre-hook
    {%- else %}
    {{ eval_intent_medians_sql() }}
    {%- endif %}
)

select
    features.trace_id,
    {{ redact_text('features.intent') }} as intent,
    features.tool_call_count,
    intent_medians.median_tool_calls as intent_median_tool_calls,
    features.wrong_tool_reason is not null as wrong_tool,
    {{ redact_text('features.wrong_tool_reason') }} as wrong_tool_reason,
    features.bad_parameters_reason is not null as bad_parameters,
    {{ redact_text('features.bad_parameters_reason') }} as bad_parameters_reason,
    features.recovered_reason is not null as recovered_from_error,
    {{ redact_text('features.recovered_reason') }} as recovered_from_error_reason,
    features.repeated_calls_reason is not null
        or features.tool_call_count > {{ number_var('inefficient_path_median_multiplier') }} * intent_medians.median_tool_calls
        as inefficient_path,
    {%- set inefficient_path_reason %}
        coalesce(features.repeated_calls_reason,
             case when features.tool_call_count > {{ number_var('inefficient_path_median_multiplier') }} * intent_medians.median_tool_calls
                  then {{ format_text('{} tool calls, more than {} × the median {} for intent {}',
                                      ['features.tool_call_count', number_var('inefficient_path_median_multiplier'),
                                       'intent_medians.median_tool_calls', 'features.intent']) }} end)
    {%- endset %}
    {{ redact_text(inefficient_path_reason) }} as inefficient_path_reason,
    features.first_delivery_date,
    features.tenant_id
from relabelled as features
left join intent_medians using (intent)
