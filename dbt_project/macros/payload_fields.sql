{#- Typed access to an event's JSON payload. A value of the wrong JSON type becomes NULL rather
    than a cast error: payload departures are audit findings, not load failures. -#}

{% macro payload_text(field, column='payload') -%}
    (case when json_type({{ column }}, '$.{{ field }}') = 'VARCHAR' then {{ column }} ->> '$.{{ field }}' end)
{%- endmacro %}

{% macro payload_bigint(field, column='payload') -%}
    (case when json_type({{ column }}, '$.{{ field }}') in ('BIGINT', 'UBIGINT')
          then try_cast({{ column }} ->> '$.{{ field }}' as bigint)
          when json_type({{ column }}, '$.{{ field }}') = 'DOUBLE'
          then try_cast(round(try_cast({{ column }} ->> '$.{{ field }}' as double)) as bigint) end)
{%- endmacro %}

{% macro payload_double(field, column='payload') -%}
    (case when json_type({{ column }}, '$.{{ field }}') in ('BIGINT', 'UBIGINT', 'DOUBLE')
          then try_cast({{ column }} ->> '$.{{ field }}' as double) end)
{%- endmacro %}

{% macro payload_bool(field, column='payload') -%}
    (case when json_type({{ column }}, '$.{{ field }}') = 'BOOLEAN'
          then ({{ column }} ->> '$.{{ field }}') = 'true' end)
{%- endmacro %}

{% macro payload_json(field, column='payload') -%}
    json_extract({{ column }}, '$.{{ field }}')
{%- endmacro %}

{#- A JSON value in canonical text form, so two values compare equal exactly when they are equal
    as JSON: object key order and whitespace are ignored, numbers compare by value (1 = 1.0),
    array order matters. canonical_json is a Python function registered on dbt's connections by
    the dbt-duckdb plugin trace_platform.lib.dbt_duckdb_plugin (see profiles.yml). -#}
{% macro json_canonical(expr) -%}
    canonical_json(({{ expr }})::varchar)
{%- endmacro %}

{#- JSON equality with a cheap exact-text fast path. -#}
{% macro json_equal(left, right) -%}
    (case when {{ left }} is null or {{ right }} is null then null
          when {{ left }}::varchar = {{ right }}::varchar then true
          else {{ json_canonical(left) }} = {{ json_canonical(right) }} end)
{%- endmacro %}
