{#- Hashes and bit operations, for the trace fingerprints of int_trace_changes (docs/warehouse.md,
    "Dialect layer"). The fingerprint type is trace_type('fingerprint'). -#}

{#- A 64-bit non-cryptographic hash of `expr` (DuckDB hash: ubigint; Spark xxhash64: bigint). Not
    stable across engines or DuckDB versions: compare fingerprints only within one warehouse. -#}
{% macro hash64(expr) -%}
    {{ return(adapter.dispatch('hash64', 'trace_platform')(expr)) }}
{%- endmacro %}

{% macro duckdb__hash64(expr) -%}
    hash({{ expr }})
{%- endmacro %}

{% macro spark__hash64(expr) -%}
    xxhash64({{ expr }})
{%- endmacro %}

{#- Bitwise exclusive or of two integers. -#}
{% macro bitwise_xor(left, right) -%}
    {{ return(adapter.dispatch('bitwise_xor', 'trace_platform')(left, right)) }}
{%- endmacro %}

{% macro duckdb__bitwise_xor(left, right) -%}
    xor({{ left }}, {{ right }})
{%- endmacro %}

{% macro spark__bitwise_xor(left, right) -%}
    ({{ left }} ^ {{ right }})
{%- endmacro %}

{#- Aggregate: bitwise exclusive or of the non-NULL values (order-independent); NULL when none. -#}
{% macro bit_xor_agg(expr) -%}
    {{ return(adapter.dispatch('bit_xor_agg', 'trace_platform')(expr)) }}
{%- endmacro %}

{% macro duckdb__bit_xor_agg(expr) -%}
    bit_xor({{ expr }})
{%- endmacro %}

{% macro default__bit_xor_agg(expr) -%}
    bit_xor({{ expr }})
{%- endmacro %}
