{#- Trace-scoped incremental models insert their new rows straight from the model's query.

    dbt-duckdb's incremental materialization first materialises the query into a temporary table,
    then copies that table into the target (INSERT ... SELECT * FROM the temporary table). For the
    trace-scoped models (strategy trace_scoped: delete the pending traces, then append) that copy is pure
    overhead: every new row is built in memory, then compressed and written a second time. Here the
    temporary relation of a trace-scoped model is a temporary *view* over the query instead, so the
    materialization's own steps (schema-change check on its columns, the append) run unchanged and
    the append executes the query once, writing each row once.

    Safe because no trace-scoped model's query reads its own table ({{ this }}): the view is
    evaluated by the append, after the strategy's delete, and returns what the temporary table
    built before the delete would have held. Every other relation
    (first builds, full refreshes, other models) goes through dbt-duckdb's macro unchanged.
    Measured: docs/performance.md. -#}
{% macro duckdb__create_table_as(temporary, relation, compiled_code, language='sql', partitioned_by=none, sorted_by=none) -%}
  {%- if temporary and language == 'sql' and 'trace_scoped' in config.get('tags', []) -%}
    {%- set contract_config = config.get('contract') -%}
    {%- if contract_config.enforced -%}
      {{ get_assert_columns_equivalent(compiled_code) }}
    {%- endif %}
    create temporary view {{ relation.include(database=false, schema=false) }} as (
      {{ compiled_code }}
    )
  {%- else -%}
    {{ return(dbt.duckdb__create_table_as(temporary, relation, compiled_code, language, partitioned_by, sorted_by)) }}
  {%- endif -%}
{%- endmacro %}
