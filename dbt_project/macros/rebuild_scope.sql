{#- Trace-scoped incremental models (docs/warehouse.md, "How a night rebuilds").

    Every fact in this warehouse belongs to one trace, and a trace may arrive over several delivery
    days. int_trace_changes fingerprints each trace's events; int_rebuild_scope lists the traces
    whose events changed since the last complete build, and int_rebuild_days the delivery days they
    touch. A trace-scoped model reads only those traces (a visible ref() in the model), and before
    it appends them (incremental_strategy 'append') this pre-hook deletes its rows of them, so a
    trace whose rows vanish (a breach cleared by a late confirmation, a call removed by a corrected
    delivery) loses them. Results do not depend on the order in which partitions run.

    The delete runs before dbt's transaction (before_begin in the model's config): DuckDB cannot
    commit a transaction that deleted from a table and then altered it, which dbt does when a model
    gains a column (on_schema_change). Should the build fail after it, the traces stay in scope and
    the next build rebuilds them. -#}

{#- The event types whose changes the 'calls' models see (int_rebuild_scope.calls_changed). -#}
{% macro call_event_types() -%}
    {{ return(['tool_call', 'policy_check', 'confirmation_request', 'confirmation_response',
               'tool_result', 'side_effect', 'rollback', 'model_call']) }}
{%- endmacro %}

{#- Pre-hook of a trace-scoped model: delete its rows of the traces in int_rebuild_scope
    (only_calls_changed: of those whose call events changed), on the days in int_rebuild_days.
    `day_column` is the table's column holding each row's delivery day. -#}
{% macro delete_rebuilt_traces(day_column, only_calls_changed=false) -%}
    {{- refuse_incremental_run() }}
    {%- if is_incremental() %}
    delete from {{ this }}
    where {{ day_column }} in (select delivery_date from {{ ref('int_rebuild_days') }})
      and trace_id in (select trace_id from {{ ref('int_rebuild_scope') }}
                       {%- if only_calls_changed %} where calls_changed{% endif %})
    {%- endif %}
{%- endmacro %}

{#- The strategy of the two models that replace a trace's row by key (int_trace_changes,
    eval_trace_labels): dbt's delete+insert. Spark on plain Parquet has neither delete nor merge,
    and cannot overwrite a table it reads; there the models are built in full (below). -#}
{% macro replace_by_key_strategy() -%}
    {{ return(adapter.dispatch('replace_by_key_strategy', 'trace_platform')()) }}
{%- endmacro %}
{% macro default__replace_by_key_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}
{% macro spark__replace_by_key_strategy() -%}
    {{ return('append') }}
{%- endmacro %}

{#- Spark builds every model in full (`dbt build --full-refresh`; the Dagster step passes it, docs/
    scale.md): incremental builds on Parquet tables are not there yet, and an incremental run would
    append rows next to the ones it should replace. Stop it instead. -#}
{% macro refuse_incremental_run() -%}
    {{ return(adapter.dispatch('refuse_incremental_run', 'trace_platform')()) }}
{%- endmacro %}
{% macro default__refuse_incremental_run() -%}
{%- endmacro %}
{% macro spark__refuse_incremental_run() -%}
    {%- if is_incremental() -%}
        {{ exceptions.raise_compiler_error("model " ~ this ~ ": on Spark the warehouse is built in full; run `dbt build --full-refresh` (TRACE_PLATFORM_ENGINE=spark, docs/scale.md)") }}
    {%- endif -%}
{%- endmacro %}
