{#- Typed access to an event's JSON payload. A value of the wrong JSON type becomes NULL rather
    than a cast error: payload departures are audit findings, not load failures.

    The payload is parsed once per row: a staging view creates a reader (payload_reader()), each
    typed field registers its path with it, and payload_values(reader) in the view's FROM extracts
    every registered path in one json_extract_paths(payload, paths) call (DuckDB: json_extract with
    a list of paths). Each field then reads its small extracted value. (One json_type + one ->> per
    field parsed the whole payload twice per field: measured 2 x slower on a 1M-event day's
    model_call views, docs/performance.md.) The JSON functions are the dialect layer's
    (macros/cross_db/json.sql).

        {%- set payload = payload_reader() %}
        select ..., {{ payload_text('tool_name', payload) }} as tool_name
        from (select *, {{ payload_values(payload) }} from ... where event_type = 'tool_call')

    The select list renders before the FROM clause, so every path is known by then. -#}

{% macro payload_reader() -%}
    {{ return(namespace(paths=[])) }}
{%- endmacro %}

{#- The extracted JSON value of payload field `field` ('a' or 'a.b'), registered with the reader. -#}
{% macro payload_value(field, reader) -%}
    {%- set path = '$.' ~ field -%}
    {%- if path not in reader.paths -%}
        {%- do reader.paths.append(path) -%}
    {%- endif -%}
    {{ list_element('payload_values', reader.paths.index(path) + 1) }}
{%- endmacro %}

{% macro payload_values(reader) -%}
    {%- if reader.paths | length == 0 -%}
        {{ exceptions.raise_compiler_error("payload_values(): no payload field was read through this reader") }}
    {%- endif -%}
    {{ json_extract_paths('payload', reader.paths) }} as payload_values
{%- endmacro %}

{% macro payload_text(field, reader) -%}
    {%- set value = payload_value(field, reader) -%}
    (case when {{ json_type_is(value, 'string') }} then {{ json_extract_text(value) }} end)
{%- endmacro %}

{% macro payload_bigint(field, reader) -%}
    {%- set value = payload_value(field, reader) -%}
    (case when {{ json_type_is(value, 'integer') }}
          then {{ try_cast_as(json_extract_text(value), 'bigint') }}
          when {{ json_type_is(value, 'float') }}
          then {{ try_cast_as('round(' ~ try_cast_as(json_extract_text(value), 'double') ~ ')', 'bigint') }} end)
{%- endmacro %}

{% macro payload_double(field, reader) -%}
    {%- set value = payload_value(field, reader) -%}
    (case when {{ json_type_is(value, ['integer', 'float']) }}
          then {{ try_cast_as(json_extract_text(value), 'double') }} end)
{%- endmacro %}

{% macro payload_bool(field, reader) -%}
    {%- set value = payload_value(field, reader) -%}
    (case when {{ json_type_is(value, 'boolean') }}
          then {{ json_extract_text(value) }} = 'true' end)
{%- endmacro %}

{#- A closed payload field that ingestion does not quarantine (docs/trace-format.md, "Closed payload
    fields"): one of `values` as is; any other value that is present and not JSON null (another
    string, a number, an object ...) becomes `other`, so an unknown value never leaves the raw zone.
    Absent or null stays NULL. -#}
{% macro payload_closed(field, reader, values, other) -%}
    {%- set value = payload_value(field, reader) -%}
    (case when {{ value }} is null or {{ json_type_is(value, 'null') }} then null
          when {{ json_type_is(value, 'string') }} and {{ json_extract_text(value) }} in ({% for v in values %}{{ sql_string_literal(v) }}{{ ', ' if not loop.last }}{% endfor %})
          then {{ json_extract_text(value) }}
          else {{ sql_string_literal(other) }} end)
{%- endmacro %}

{% macro payload_json(field, reader) -%}
    {{ payload_value(field, reader) }}
{%- endmacro %}
