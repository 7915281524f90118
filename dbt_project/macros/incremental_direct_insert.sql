{#- Trace-scoped incremental models insert their new rows straight from the model's query.

    dbt-duckdb's incremental materialization first materialises the query into a temporary table,
    then copies that table into the target (INSERT ... SELECT * FROM the temporary table). For the
    trace-scoped models (strategy trace_scoped: delete the pending traces, then append) that copy is
    pure overhead: every new row is built in memory, then compressed and written a second time.

    Here the temporary relation of a trace-scoped model is an *empty* temporary table with the
    query's columns, which is all the materialization needs it for (the schema-change check), and
    the strategy (get_incremental_trace_scoped_sql) inserts from the model's query itself, so each
    row is built and written once. The columns come from the model's enforced contract (checked
    against the query just before), else from one DESCRIBE of the query. A temporary *view* would do
    too, but DuckDB binds a view's query again for every DESCRIBE of it, and the marts' queries are
    expensive to bind (the redaction macros expand into large expressions): ~0.5 s a mart.

    Safe because no trace-scoped model's query reads its own table ({{ this }}): the query runs in
    the append, after the strategy's delete, and returns what a temporary table built before the
    delete would have held. Every other relation (first builds, full refreshes, other models) goes
    through dbt-duckdb's macro unchanged. Measured: docs/performance.md. -#}
{% macro duckdb__create_table_as(temporary, relation, compiled_code, language='sql', partitioned_by=none, sorted_by=none) -%}
  {%- if temporary and language == 'sql' and 'trace_scoped' in config.get('tags', []) -%}
    {%- set contract_config = config.get('contract') -%}
    {%- if contract_config.enforced -%}
      {{ get_assert_columns_equivalent(compiled_code) }}
      {%- set columns = [] -%}
      {%- for column in model['columns'].values() -%}
        {%- do columns.append((adapter.quote(column['name']) if column.get('quote') else column['name'])
                              ~ ' ' ~ column['data_type']) -%}
      {%- endfor -%}
    {%- else -%}
      {%- set columns = [] -%}
      {%- for column in adapter.get_column_schema_from_query(compiled_code) -%}
        {%- do columns.append(adapter.quote(column.name) ~ ' ' ~ column.dtype) -%}
      {%- endfor -%}
    {%- endif %}
    create temporary table {{ relation.include(database=false, schema=false) }} (
      {{ columns | join(',\n      ') }}
    )
  {%- else -%}
    {{ return(dbt.duckdb__create_table_as(temporary, relation, compiled_code, language, partitioned_by, sorted_by)) }}
  {%- endif -%}
{%- endmacro %}
