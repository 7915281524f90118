{#- Schemas are named exactly as configured (staging, intermediate, marts, audit, eval), without
    dbt's default "<target schema>_" prefix, so users query marts.fct_tool_calls. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
