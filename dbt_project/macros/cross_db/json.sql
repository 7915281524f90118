{#- JSON access (docs/warehouse.md, "Dialect layer"). Paths are JSONPath strings ('$.a.b'),
    given as plain text: the macros quote them. Only DuckDB implementations where another engine
    has no function of the same semantics (a JSON value with its type, several paths at once). -#}

{#- The values at `paths` (a list of JSONPath strings) of one JSON document, parsed once, as a
    list of JSON values in the order of `paths` (list_element(list, i) reads the i-th, from 1). -#}
{% macro json_extract_paths(json_expr, paths) -%}
    {{ return(adapter.dispatch('json_extract_paths', 'trace_platform')(json_expr, paths)) }}
{%- endmacro %}

{% macro duckdb__json_extract_paths(json_expr, paths) -%}
    json_extract({{ json_expr }}, [{% for path in paths %}{{ sql_string_literal(path) }}{{ ', ' if not loop.last }}{% endfor %}])
{%- endmacro %}

{#- Spark 4: the document parsed as a VARIANT (try_parse_json: NULL for text that is not JSON), each
    value written back as JSON text. Variant text is canonical: object keys sorted, numbers by value
    (1.0 -> 1, 1.50 -> 1.5); a document nested deeper than Spark's parser allows (~1,000 levels)
    reads as NULL (docs/scale.md, "Engine differences"). -#}
{% macro spark__json_extract_paths(json_expr, paths) -%}
    array({% for path in paths %}to_json(variant_get(try_parse_json({{ json_expr }}), {{ sql_string_literal(path) }})){{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}

{#- True when the JSON value `json_expr` is of one of `kinds`: 'null' (JSON null), 'boolean',
    'string', 'integer', 'float' (a number with a fraction or an exponent), 'object', 'array'.
    NULL when json_expr is SQL NULL (absent). -#}
{% macro json_type_is(json_expr, kinds) -%}
    {{ return(adapter.dispatch('json_type_is', 'trace_platform')(json_expr, kinds)) }}
{%- endmacro %}

{% macro duckdb__json_type_is(json_expr, kinds) -%}
    {%- set names = {'null': ['NULL'], 'boolean': ['BOOLEAN'], 'string': ['VARCHAR'],
                     'integer': ['BIGINT', 'UBIGINT'], 'float': ['DOUBLE'],
                     'object': ['OBJECT'], 'array': ['ARRAY']} -%}
    {%- set kinds = [kinds] if kinds is string else kinds -%}
    {%- set types = [] -%}
    {%- for kind in kinds -%}
        {%- if kind not in names -%}
            {{ exceptions.raise_compiler_error("json_type_is(): unknown kind '" ~ kind ~ "'; known: " ~ (names.keys() | sort | join(', '))) }}
        {%- endif -%}
        {%- do types.extend(names[kind]) -%}
    {%- endfor -%}
    {%- if types | length == 1 -%}
    (json_type({{ json_expr }}) = '{{ types[0] }}')
    {%- else -%}
    (json_type({{ json_expr }}) in ({% for t in types %}'{{ t }}'{{ ', ' if not loop.last }}{% endfor %}))
    {%- endif -%}
{%- endmacro %}

{#- Spark: from the first character of the value's JSON text (as json_extract_paths writes it). -#}
{% macro spark__json_type_is(json_expr, kinds) -%}
    {%- set tests = {'null': "= 'null'", 'boolean': "in ('true', 'false')", 'string': "like '\"%'",
                     'integer': "rlike '^-?[0-9]+$'", 'float': "rlike '^-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$' and not ({v} rlike '^-?[0-9]+$')",
                     'object': "like '{%'", 'array': "like '[%'"} -%}
    {%- set kinds = [kinds] if kinds is string else kinds -%}
    {%- set value = 'trim(' ~ json_expr ~ ')' -%}
    (
    {%- for kind in kinds -%}
        {%- if kind not in tests -%}
            {{ exceptions.raise_compiler_error("json_type_is(): unknown kind '" ~ kind ~ "'; known: " ~ (tests.keys() | sort | join(', '))) }}
        {%- endif -%}
        ({{ value }} {{ tests[kind].replace('{v}', value) }}){{ ' or ' if not loop.last }}
    {%- endfor -%}
    )
{%- endmacro %}

{#- The value at `path` as text: a string without its quotes, any other value as JSON text, NULL
    when absent (DuckDB ->> / json_extract_string; Spark get_json_object). -#}
{% macro json_extract_text(json_expr, path='$') -%}
    {{ return(adapter.dispatch('json_extract_text', 'trace_platform')(json_expr, path)) }}
{%- endmacro %}

{% macro duckdb__json_extract_text(json_expr, path='$') -%}
    json_extract_string({{ json_expr }}, {{ sql_string_literal(path) }})
{%- endmacro %}

{#- Spark: a scalar cast to string (the VARIANT of json_extract_paths), an object or array as its
    JSON text; NULL for JSON null, as on DuckDB (get_json_object would return 'null'). -#}
{% macro spark__json_extract_text(json_expr, path='$') -%}
    {%- set value = 'variant_get(try_parse_json(' ~ json_expr ~ '), ' ~ sql_string_literal(path) ~ ')' -%}
    coalesce(try_variant_get({{ value }}, '$', 'string'),
             case when to_json({{ value }}) rlike '^[\\[{]' then to_json({{ value }}) end)
{%- endmacro %}

{#- The number of elements of the array at `path`: 0 when the value is not an array, NULL when the
    path is absent. -#}
{% macro json_array_length(json_expr, path) -%}
    {{ return(adapter.dispatch('json_array_length', 'trace_platform')(json_expr, path)) }}
{%- endmacro %}

{% macro duckdb__json_array_length(json_expr, path) -%}
    json_array_length({{ json_expr }}, {{ sql_string_literal(path) }})
{%- endmacro %}
{% macro spark__json_array_length(json_expr, path) -%}
    (case when get_json_object({{ json_expr }}, {{ sql_string_literal(path) }}) is not null
          then coalesce(json_array_length(get_json_object({{ json_expr }}, {{ sql_string_literal(path) }})), 0) end)
{%- endmacro %}

{#- A JSON value as its JSON text (for comparisons and grouping). -#}
{% macro json_to_text(json_expr) -%}
    {{ return(adapter.dispatch('json_to_text', 'trace_platform')(json_expr)) }}
{%- endmacro %}

{% macro duckdb__json_to_text(json_expr) -%}
    ({{ json_expr }})::varchar
{%- endmacro %}

{% macro spark__json_to_text(json_expr) -%}
    cast({{ json_expr }} as string)
{%- endmacro %}
