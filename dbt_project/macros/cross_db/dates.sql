{#- Dates and times (docs/warehouse.md, "Dialect layer"). Also dbt's own: dbt.date_trunc(part, ts)
    and dbt.current_timestamp() (DuckDB: date_trunc, now()). dbt.datediff does not fit: on DuckDB it
    casts both sides to a naive timestamp first. -#}

{#- Whole milliseconds from `start` to `end` (negative when end is earlier). -#}
{% macro milliseconds_between(start, end) -%}
    {{ return(adapter.dispatch('milliseconds_between', 'trace_platform')(start, end)) }}
{%- endmacro %}

{% macro duckdb__milliseconds_between(start, end) -%}
    date_diff('millisecond', {{ start }}, {{ end }})
{%- endmacro %}

{% macro spark__milliseconds_between(start, end) -%}
    (unix_millis({{ end }}) - unix_millis({{ start }}))
{%- endmacro %}

{#- The UTC calendar day of the instant `ts`, whatever the session's time zone. -#}
{% macro utc_date(ts) -%}
    {{ return(adapter.dispatch('utc_date', 'trace_platform')(ts)) }}
{%- endmacro %}

{% macro duckdb__utc_date(ts) -%}
    cast(({{ ts }} at time zone 'UTC') as date)
{%- endmacro %}

{% macro spark__utc_date(ts) -%}
    to_date(to_utc_timestamp({{ ts }}, current_timezone()))
{%- endmacro %}

{#- One row per day from `first_date` to `last_date` (dates, both included): a set-returning
    expression for a select list. -#}
{% macro explode_days(first_date, last_date) -%}
    {{ return(adapter.dispatch('explode_days', 'trace_platform')(first_date, last_date)) }}
{%- endmacro %}

{% macro duckdb__explode_days(first_date, last_date) -%}
    unnest(generate_series({{ first_date }}, {{ last_date }}, interval 1 day))::date
{%- endmacro %}

{% macro spark__explode_days(first_date, last_date) -%}
    explode(sequence({{ first_date }}, {{ last_date }}, interval 1 day))
{%- endmacro %}
