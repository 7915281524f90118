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
    {%- if is_incremental() %}
    delete from {{ this }}
    where {{ day_column }} in (select delivery_date from {{ ref('int_rebuild_days') }})
      and trace_id in (select trace_id from {{ ref('int_rebuild_scope') }}
                       {%- if only_calls_changed %} where calls_changed{% endif %})
    {%- endif %}
{%- endmacro %}
