{{ config(
    incremental_strategy=replace_by_key_strategy(), unique_key='trace_id',
    tags=['trace_scoped'],
    meta={'reader_snapshot': 'fingerprint'},
    pre_hook=before_begin("{{ delete_rebuilt_traces('first_delivery_date') }}"),
) }}

-- The traces this build rebuilds, and the delivery days they touch (a full build reads all):
-- depends_on: {{ ref('int_rebuild_scope') }}, {{ ref('int_rebuild_days') }}

-- One row per trace (tenant_id, trace_id) with boolean evaluation labels and the reason for each.
-- Definitions (also in _eval.yml); thresholds are dbt vars in dbt_project.yml. The labels come from
-- unredacted features (e.g. retried with changed arguments); the texts leave redacted (docs/security.md).
--
-- Incremental, like every trace-scoped model: the pre-hook deletes the rows of the traces in
-- int_rebuild_scope and the query labels them again. One label needs more: inefficient_path compares
-- a trace's tool calls with the median of all traces of its intent, over all of history. When new
-- traces move an intent's median (or bring the intent to the minimum number of traces), every trace
-- of that intent is relabelled too (moved_intents), and delete+insert on trace_id replaces their rows,
-- so the labels never depend on the order in which partitions ran. Which intents moved is read from
-- what the table holds (the medians stored on the rows the pre-hook left), so a failed build is
-- repaired by the next one. Tool-call counts are small integers, so a settled intent's median rarely
-- moves. Not a tracked table for the reader snapshot (meta above): rows of traces that did not
-- change can be rewritten here, so the snapshot compares fingerprints.
with intent_medians as (
    select intent, {{ median('tool_call_count') }} as median_tool_calls
    from {{ ref('int_trace_eval_features') }}
    where intent is not null
    group by intent
    having count(*) >= {{ number_var('inefficient_path_min_intent_traces') }}
),

{%- if is_incremental() %}

-- The table stores intents redacted, hence the comparison on redacted intents; the raw intents
-- that map to a moved one are what the model reads again.
raw_intents as (
    select distinct intent from {{ ref('int_trace_eval_features') }} where intent is not null
),

wanted_medians as (
    select distinct {{ redact_text('raw_intents.intent') }} as intent, intent_medians.median_tool_calls
    from raw_intents
    left join intent_medians using (intent)
),

stored_medians as (
    select distinct intent, intent_median_tool_calls as median_tool_calls
    from {{ this }}
    where intent is not null
),

moved_intents as (
    select raw_intents.intent
    from raw_intents
    where {{ redact_text('raw_intents.intent') }} in (
        select differing.intent
        from (
            (
                select * from wanted_medians
                except
                select * from stored_medians
            )
            union
            (
                select * from stored_medians
                except
                select * from wanted_medians
            )
        ) as differing
    )
),
{%- endif %}

relabelled as (
    select * from {{ ref('int_trace_eval_features') }}
    {%- if is_incremental() %}
    where trace_id in (select trace_id from {{ ref('int_rebuild_scope') }})
      and first_delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    union all
    select * from {{ ref('int_trace_eval_features') }}
    where intent in (select intent from moved_intents)
      and trace_id not in (select trace_id from {{ ref('int_rebuild_scope') }})
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
