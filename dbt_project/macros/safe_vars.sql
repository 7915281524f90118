{#- dbt vars reach SQL only through these: a number is checked to be one, a list of strings
    becomes quoted SQL literals (quotes doubled), so a hostile --vars value stays data. -#}
{% macro number_var(name) -%}
    {%- set value = var(name) -%}
    {%- if value is number and value is not boolean -%}
        {{ return(value) }}
    {%- endif -%}
    {%- if value is string and modules.re.fullmatch('[0-9]+([.][0-9]+)?', value.strip()) -%}
        {{ return(value.strip() | float) }}
    {%- endif -%}
    {{ exceptions.raise_compiler_error("var " ~ name ~ " must be a number, got " ~ (value | string)[:60]) }}
{%- endmacro %}

{% macro string_list_var(name) -%}
    {%- set value = var(name) -%}
    {%- if value is string or value is not iterable -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ " must be a list of strings") }}
    {%- endif -%}
    {%- set literals = [] -%}
    {%- for item in value -%}
        {%- do literals.append("'" ~ (item | string).replace("'", "''") ~ "'") -%}
    {%- endfor -%}
    {{ return(literals | join(', ') if literals else 'null') }}
{%- endmacro %}
