{#- Query clauses and statements (docs/warehouse.md, "Dialect layer"). -#}

{#- The first row of each `partition_by` group in `order_by` order, of the query in the call
    block's body (DuckDB: QUALIFY, which open-source Spark lacks):

        {% call first_row_per('trace_id, tool_call_id', 'sequence, event_id') -%}
        select * from calls where ...
        {%- endcall %}

    default__ wraps the query instead, and adds a column first_row_number (always 1). -#}
{% macro first_row_per(partition_by, order_by) -%}
    {{ return(adapter.dispatch('first_row_per', 'trace_platform')(caller(), partition_by, order_by)) }}
{%- endmacro %}

{% macro duckdb__first_row_per(query, partition_by, order_by) -%}
    {{ query }}
    qualify row_number() over (partition by {{ partition_by }} order by {{ order_by }}) = 1
{%- endmacro %}

{% macro default__first_row_per(query, partition_by, order_by) -%}
    select * from (
        select first_row_candidates.*,
               row_number() over (partition by {{ partition_by }} order by {{ order_by }}) as first_row_number
        from (
            {{ query }}
        ) as first_row_candidates
    ) as first_rows
    where first_row_number = 1
{%- endmacro %}
