{#- Lists (arrays) (docs/warehouse.md, "Dialect layer"). Building one: dbt.array_construct([x])
    and dbt.array_append(list, x) (dbt's own cross-database macros; on DuckDB array[x] and
    array_append, the list_append alias). -#}

{#- The element of `list_expr` at `index`, counted from 1; NULL when there is none. -#}
{% macro list_element(list_expr, index) -%}
    {{ return(adapter.dispatch('list_element', 'trace_platform')(list_expr, index)) }}
{%- endmacro %}

{% macro duckdb__list_element(list_expr, index) -%}
    {{ list_expr }}[{{ index }}]
{%- endmacro %}

{% macro spark__list_element(list_expr, index) -%}
    try_element_at({{ list_expr }}, {{ index }})
{%- endmacro %}

{#- True when `list_expr` holds `value`. -#}
{% macro list_has(list_expr, value) -%}
    {{ return(adapter.dispatch('list_has', 'trace_platform')(list_expr, value)) }}
{%- endmacro %}

{% macro duckdb__list_has(list_expr, value) -%}
    list_contains({{ list_expr }}, {{ value }})
{%- endmacro %}

{% macro spark__list_has(list_expr, value) -%}
    array_contains({{ list_expr }}, {{ value }})
{%- endmacro %}
