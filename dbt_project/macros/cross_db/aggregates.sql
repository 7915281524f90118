{#- Aggregates whose name or semantics differ between engines (docs/warehouse.md, "Dialect layer").
    Arguments are SQL expressions, as text; `delimiter` is plain text (quoted here). Each renders
    one aggregate call, so FILTER (WHERE ...) may follow it (standard SQL; Spark 3.0+). -#}

{#- The value of `arg` on the row with the least `val`, over the rows where both are non-NULL
    (DuckDB arg_min). Ties: any of the tied rows. min_by(...) on Spark 3.0+, Trino, Snowflake, whose
    min_by keeps a NULL arg: the CASE gives those rows a NULL `val`, which min_by skips. -#}
{% macro arg_min(arg, val) -%}
    {{ return(adapter.dispatch('arg_min', 'trace_platform')(arg, val)) }}
{%- endmacro %}

{% macro duckdb__arg_min(arg, val) -%}
    arg_min({{ arg }}, {{ val }})
{%- endmacro %}

{% macro default__arg_min(arg, val) -%}
    min_by({{ arg }}, case when {{ arg }} is not null then {{ val }} end)
{%- endmacro %}

{#- The value of `arg` on the row with the greatest `val`; as arg_min. -#}
{% macro arg_max(arg, val) -%}
    {{ return(adapter.dispatch('arg_max', 'trace_platform')(arg, val)) }}
{%- endmacro %}

{% macro duckdb__arg_max(arg, val) -%}
    arg_max({{ arg }}, {{ val }})
{%- endmacro %}

{% macro default__arg_max(arg, val) -%}
    max_by({{ arg }}, case when {{ arg }} is not null then {{ val }} end)
{%- endmacro %}

{#- The value of `expr` on the first row in `order_by` (an ORDER BY list, e.g. 'a desc, b'), NULL
    included: a full order makes it deterministic, where arg_min breaks ties arbitrarily. -#}
{% macro first_by_order(expr, order_by) -%}
    {{ return(adapter.dispatch('first_by_order', 'trace_platform')(expr, order_by)) }}
{%- endmacro %}

{% macro duckdb__first_by_order(expr, order_by) -%}
    first({{ expr }} order by {{ order_by }})
{%- endmacro %}

{#- Spark has no ordered aggregate: min_by over a struct of the sort keys, a `desc` key negated (so
    on Spark a descending key must be numeric). Spark sorts NULL keys first, DuckDB last. -#}
{% macro spark__first_by_order(expr, order_by) -%}
    {%- set keys = [] -%}
    {%- for item in order_by.split(',') -%}
        {%- set words = item.strip().split() -%}
        {%- if words | length == 2 and words[1] | lower == 'desc' -%}
            {%- do keys.append('-(' ~ words[0] ~ ')') -%}
        {%- elif words | length == 1 or (words | length == 2 and words[1] | lower == 'asc') -%}
            {%- do keys.append(words[0]) -%}
        {%- else -%}
            {{ exceptions.raise_compiler_error("first_by_order(): on Spark each ORDER BY item is 'expr [asc|desc]', got '" ~ item ~ "'") }}
        {%- endif -%}
    {%- endfor -%}
    min_by({{ expr }}, struct({{ keys | join(', ') }}))
{%- endmacro %}

{#- The distinct non-NULL values of `expr` joined by `delimiter`, in ascending order (so the text
    does not depend on the plan); NULL when there are none. -#}
{% macro sorted_distinct_string_agg(expr, delimiter) -%}
    {{ return(adapter.dispatch('sorted_distinct_string_agg', 'trace_platform')(expr, delimiter)) }}
{%- endmacro %}

{% macro duckdb__sorted_distinct_string_agg(expr, delimiter) -%}
    string_agg(distinct {{ expr }}, {{ sql_string_literal(delimiter) }} order by {{ expr }})
{%- endmacro %}

{% macro spark__sorted_distinct_string_agg(expr, delimiter) -%}
    (case when count({{ expr }}) > 0 then array_join(array_sort(collect_set({{ expr }})), {{ sql_string_literal(delimiter) }}) end)
{%- endmacro %}

{#- The distinct non-NULL values of `expr` as a list in ascending order; NULL when there are none. -#}
{% macro sorted_distinct_array_agg(expr) -%}
    {{ return(adapter.dispatch('sorted_distinct_array_agg', 'trace_platform')(expr)) }}
{%- endmacro %}

{% macro duckdb__sorted_distinct_array_agg(expr) -%}
    list_sort(list_distinct(list({{ expr }}) filter (where {{ expr }} is not null)))
{%- endmacro %}

{% macro spark__sorted_distinct_array_agg(expr) -%}
    (case when count({{ expr }}) > 0 then array_sort(collect_set({{ expr }})) end)
{%- endmacro %}

{#- The median of `expr`, interpolated between the two middle values (a double). -#}
{% macro median(expr) -%}
    {{ return(adapter.dispatch('median', 'trace_platform')(expr)) }}
{%- endmacro %}

{% macro duckdb__median(expr) -%}
    median({{ expr }})
{%- endmacro %}

{% macro spark__median(expr) -%}
    percentile({{ expr }}, 0.5)
{%- endmacro %}

{% macro default__median(expr) -%}
    percentile_cont(0.5) within group (order by {{ expr }})
{%- endmacro %}
