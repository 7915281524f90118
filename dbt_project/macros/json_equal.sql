{#- JSON equality, as R10 (approved vs executed arguments, int_tool_call_lifecycle and
    fct_confirmations.arguments_match) and eval's "retried with changed arguments" compare values:
    on the unredacted values, in intermediate (docs/security.md). Two values are equal exactly when
    they are equal as JSON: object key order and whitespace are ignored, numbers compare by value
    (1 = 1.0), array order matters. NULL when either side is NULL. Dispatched: duckdb__json_equal
    and spark__json_equal below. -#}
{% macro json_equal(left, right) -%}
    {{ return(adapter.dispatch('json_equal', 'trace_platform')(left, right)) }}
{%- endmacro %}

{% macro default__json_equal(left, right) -%}
    {{ exceptions.raise_compiler_error("json_equal() has no implementation for the '" ~ adapter.type() ~ "' adapter: port duckdb__json_equal (dbt_project/macros/json_equal.sql)") }}
{%- endmacro %}

{#- A cheap exact-text fast path, then canonical_json: a Python function (trace_platform/lib/
    json_canonical.py, safe on arbitrarily deep values) that the dbt-duckdb plugin
    trace_platform.lib.dbt_duckdb_plugin registers on dbt's connections (profiles.yml `plugins`). -#}
{% macro duckdb__json_equal(left, right) -%}
    (case when {{ left }} is null or {{ right }} is null then null
          when {{ left }}::varchar = {{ right }}::varchar then true
          else canonical_json(({{ left }})::varchar) = canonical_json(({{ right }})::varchar) end)
{%- endmacro %}

{#- Spark 4: both sides parsed as VARIANT and written back as JSON text, which is canonical (keys
    sorted, numbers by value: 1 = 1.0). Differs from DuckDB only for an integral number written
    with an exponent (1e2 is the double 100.0, not 100) and for values nested deeper than Spark's
    parser allows, which compare as NULL (docs/scale.md, "Engine differences"). -#}
{% macro spark__json_equal(left, right) -%}
    (case when {{ left }} is null or {{ right }} is null then null
          when cast({{ left }} as string) = cast({{ right }} as string) then true
          else to_json(try_parse_json(cast({{ left }} as string))) = to_json(try_parse_json(cast({{ right }} as string))) end)
{%- endmacro %}
