{#- eval_trace_labels is incremental (models/eval/eval_trace_labels.sql).

    Every label but one depends only on its own trace, so a nightly build relabels the pending
    traces, like every trace-scoped model. The exception is inefficient_path: it compares a trace's
    tool calls with the median of all traces of the same intent, over all of history. When new
    traces move an intent's median (or bring the intent to the minimum number of traces), every
    trace of that intent is relabelled too, so the labels never depend on the order in which
    partitions ran. Tool-call counts are small integers, so a settled intent's median rarely moves
    and a nightly build normally relabels only the pending traces.

    Which intents moved is read from what the table holds (its stored medians), not from a record
    of the previous build, so a failed build is simply repaired by the next one. The table stores
    intents redacted, hence the comparison on redact_text(intent); the raw intents that map to a
    moved one are what the model reads again. -#}

{#- The median of tool calls per intent over every trace (intents with enough traces). -#}
{% macro eval_intent_medians_sql() -%}
    select intent, {{ median('tool_call_count') }} as median_tool_calls
    from {{ ref('int_trace_eval_features') }}
    where intent is not null
    group by intent
    having count(*) >= {{ number_var('inefficient_path_min_intent_traces') }}
{%- endmacro %}

{#- Pre-hook: compute the medians once (temporary table eval_intent_medians, read by the model) and
    record the raw intents whose median differs from the one stored in the table (temporary table
    eval_moved_intents, read by the model and by the delete below). -#}
{% macro eval_find_moved_intents() -%}
    {%- if is_incremental() -%}
    {% call create_temp_table_as('eval_intent_medians') %}{{ eval_intent_medians_sql() }}{% endcall %};
    {% call create_temp_table_as('eval_moved_intents') -%}
    with raw_intents as (
        select distinct intent from {{ ref('int_trace_eval_features') }} where intent is not null
    ),
    wanted as (
        select distinct {{ redact_text('raw_intents.intent') }} as intent, medians.median_tool_calls
        from raw_intents
        left join eval_intent_medians as medians using (intent)
    ),
    stored as (
        select distinct intent, intent_median_tool_calls as median_tool_calls
        from {{ this }}
        where intent is not null
    ),
    moved as (
        select intent from (select * from wanted except select * from stored)
        union
        select intent from (select * from stored except select * from wanted)
    )
    select intent from raw_intents where {{ redact_text('intent') }} in (select intent from moved)
    {%- endcall %}
    {%- else -%}
    select 1 as no_op
    {%- endif -%}
{%- endmacro %}

{#- The delete of the model's incremental strategy (get_incremental_trace_scoped_sql): the rows the
    model rewrites, the pending traces' (limited to their rows' days, like every trace-scoped delete)
    and those of the moved intents (none on most nights). Two statements: with an OR of the two,
    DuckDB could not limit the first to those days. -#}
{% macro eval_delete_relabelled() -%}
    {{ delete_pending_traces() }};
    delete from {{ this }}
    where trace_id in (select trace_id from {{ ref('int_trace_eval_features') }}
                       where intent in (select intent from eval_moved_intents))
{%- endmacro %}
