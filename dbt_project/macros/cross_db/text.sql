{#- Text (docs/warehouse.md, "Dialect layer"). -#}

{#- `template` (plain text) with each {} replaced by the next of `args` (SQL expressions, as text,
    or numbers); NULL when any argument is NULL (DuckDB format). -#}
{% macro format_text(template, args) -%}
    {{ return(adapter.dispatch('format_text', 'trace_platform')(template, args)) }}
{%- endmacro %}

{% macro duckdb__format_text(template, args) -%}
    format({{ sql_string_literal(template) }}{% for arg in args %}, {{ arg }}{% endfor %})
{%- endmacro %}

{% macro spark__format_text(template, args) -%}
    {%- set pattern = template.replace('%', '%%').replace('{}', '%s') -%}
    (case when {% for arg in args %}({{ arg }}) is not null{{ ' and ' if not loop.last }}{% endfor %}
          then format_string({{ sql_string_literal(pattern) }}{% for arg in args %}, {{ arg }}{% endfor %}) end)
{%- endmacro %}
