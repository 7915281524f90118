{#- Values looked up once per dbt invocation and shared by all its nodes.

    A nightly build compiles some thirty trace-scoped nodes (models and their tests) that each need
    the same few facts about int_trace_changes: the change-log position, and the delivery days of
    the pending traces of each scope. Asked per node, that was some forty small queries a night.
    They cannot change between int_trace_changes and the on-run-end hook, so they are kept here.

    dbt gives every node its own Jinja context; `graph` (the manifest's flat graph) is the one object
    all nodes of an invocation share, so the cache lives in it (the elementary package keeps its
    cache there too). Keyed by invocation_id: a process that runs dbt again with the same manifest
    (dbtRunner) starts empty. int_trace_changes clears it in a post-hook (clear_invocation_cache),
    so nothing read before its build is ever reused after it. -#}
{% macro invocation_cache() -%}
    {%- if not execute -%}
        {{ return({}) }}
    {%- endif -%}
    {%- set caches = graph.setdefault('trace_platform_invocation_cache', {}) -%}
    {%- for key in caches.keys() | list -%}
        {%- if key != invocation_id -%}
            {%- do caches.pop(key) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(caches.setdefault(invocation_id, {})) }}
{%- endmacro %}

{#- A post-hook that renders to nothing (dbt skips an empty hook). -#}
{% macro clear_invocation_cache() -%}
    {%- do invocation_cache().clear() -%}
{%- endmacro %}
