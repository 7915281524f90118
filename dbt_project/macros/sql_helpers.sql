{#- Helpers of the dialect layer (macros/cross_db/) that render no engine-specific SQL. -#}

{#- The type `name` of adapter type `dialect` in var trace_types; a compiler error when it has none. -#}
{% macro trace_type_lookup(dialect, name) -%}
    {%- set types = var('trace_types', {}).get(dialect) -%}
    {%- if types is none -%}
        {{ exceptions.raise_compiler_error("var trace_types (dbt_project.yml) has no row for adapter type '" ~ dialect ~ "'") }}
    {%- endif -%}
    {%- if name not in types -%}
        {{ exceptions.raise_compiler_error("trace_type(): unknown type '" ~ name ~ "' for '" ~ dialect ~ "'; known: " ~ (types.keys() | sort | join(', '))) }}
    {%- endif -%}
    {{ return(types[name]) }}
{%- endmacro %}

{#- A SQL string literal of a Jinja string (quotes doubled). Not dispatched: standard SQL. -#}
{% macro sql_string_literal(text) -%}
    '{{ (text | string).replace("'", "''") }}'
{%- endmacro %}
