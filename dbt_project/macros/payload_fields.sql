{#- Typed access to an event's JSON payload. A value of the wrong JSON type becomes NULL rather
    than a cast error: payload departures are audit findings, not load failures.

    The payload is parsed once per row: a staging view creates a reader (payload_reader()), each
    typed field registers its path with it, and payload_values(reader) in the view's FROM extracts
    every registered path in one json_extract(payload, [paths]) call. Each field then reads its
    small extracted value. (One json_type + one ->> per field parsed the whole payload twice per
    field: measured 2 x slower on a 1M-event day's model_call views, docs/performance.md.)

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
    payload_values[{{ reader.paths.index(path) + 1 }}]
{%- endmacro %}

{% macro payload_values(reader) -%}
    {%- if reader.paths | length == 0 -%}
        {{ exceptions.raise_compiler_error("payload_values(): no payload field was read through this reader") }}
    {%- endif -%}
    json_extract(payload, [{% for path in reader.paths %}'{{ path }}'{{ ', ' if not loop.last }}{% endfor %}]) as payload_values
{%- endmacro %}

{% macro payload_text(field, reader) -%}
    {%- set value = payload_value(field, reader) -%}
    (case when json_type({{ value }}) = 'VARCHAR' then {{ value }} ->> '$' end)
{%- endmacro %}

{% macro payload_bigint(field, reader) -%}
    {%- set value = payload_value(field, reader) -%}
    (case when json_type({{ value }}) in ('BIGINT', 'UBIGINT')
          then try_cast({{ value }} ->> '$' as bigint)
          when json_type({{ value }}) = 'DOUBLE'
          then try_cast(round(try_cast({{ value }} ->> '$' as double)) as bigint) end)
{%- endmacro %}

{% macro payload_double(field, reader) -%}
    {%- set value = payload_value(field, reader) -%}
    (case when json_type({{ value }}) in ('BIGINT', 'UBIGINT', 'DOUBLE')
          then try_cast({{ value }} ->> '$' as double) end)
{%- endmacro %}

{% macro payload_bool(field, reader) -%}
    {%- set value = payload_value(field, reader) -%}
    (case when json_type({{ value }}) = 'BOOLEAN'
          then ({{ value }} ->> '$') = 'true' end)
{%- endmacro %}

{#- A closed payload field that ingestion does not quarantine (docs/trace-format.md, "Closed payload
    fields"): one of `values` as is; any other value that is present and not JSON null (another
    string, a number, an object ...) becomes `other`, so an unknown value never leaves the raw zone.
    Absent or null stays NULL. -#}
{% macro payload_closed(field, reader, values, other) -%}
    {%- set value = payload_value(field, reader) -%}
    (case when {{ value }} is null or json_type({{ value }}) = 'NULL' then null
          when json_type({{ value }}) = 'VARCHAR' and ({{ value }} ->> '$') in ({% for v in values %}'{{ v }}'{{ ', ' if not loop.last }}{% endfor %})
          then {{ value }} ->> '$'
          else '{{ other }}' end)
{%- endmacro %}

{% macro payload_json(field, reader) -%}
    {{ payload_value(field, reader) }}
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
