{#- Column types, by portable name (docs/warehouse.md, "Dialect layer").

    dbt renders a YAML data_type with var, env_var and target but no macro, so the one map of the
    project's types lives in dbt_project.yml (var trace_types, one row per adapter type), and
    contracts read it there: data_type: "{{ var('trace_types')[target.type].json }}". Models read
    the same map through trace_type(name), so a model's casts and its contract always agree.

    Names: string, bigint, double, boolean, date, timestamp_tz (an instant: DuckDB timestamptz,
    Spark timestamp), json (JSON text: DuckDB json, Spark string), string_list (a list of strings),
    fingerprint (the 64-bit hash of hash64(): DuckDB ubigint, Spark bigint). -#}
{% macro trace_type(name) -%}
    {{ return(adapter.dispatch('trace_type', 'trace_platform')(name)) }}
{%- endmacro %}

{% macro duckdb__trace_type(name) -%}
    {{ return(trace_type_lookup('duckdb', name)) }}
{%- endmacro %}

{% macro spark__trace_type(name) -%}
    {{ return(trace_type_lookup('spark', name)) }}
{%- endmacro %}

{% macro default__trace_type(name) -%}
    {{ return(trace_type_lookup(target.type, name)) }}
{%- endmacro %}

{#- cast(expr as <trace type>) that yields NULL instead of an error when the value does not convert.
    (dbt.safe_cast is a plain cast on dbt-duckdb, so it does not fit.) Spark: try_cast (3.2+). -#}
{% macro try_cast_as(expr, name) -%}
    {{ return(adapter.dispatch('try_cast_as', 'trace_platform')(expr, name)) }}
{%- endmacro %}

{% macro duckdb__try_cast_as(expr, name) -%}
    try_cast({{ expr }} as {{ trace_type(name) }})
{%- endmacro %}

{% macro spark__try_cast_as(expr, name) -%}
    try_cast({{ expr }} as {{ trace_type(name) }})
{%- endmacro %}
