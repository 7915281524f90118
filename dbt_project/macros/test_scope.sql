{#- Nightly test scope.

    In the nightly build (a delivery day set, see nightly_delivery_date) a generic test looks only at what that build
    could have changed, so its cost does not grow with history:
      - raw.trace_events and the staging views: the delivery day being built;
      - trace-scoped models: the traces rebuilt in this run (pending in int_trace_changes for the
        model's scope; the flags are cleared by on-run-end, after the tests). Keys made of
        trace_id and a per-trace id are therefore still checked completely for every trace that
        changed. The rows lie in the pending traces' delivery days, named as constants;
      - int_trace_changes: the traces this build fingerprinted;
      - every other model (dims, summaries, seeds): the whole table.
    Without a day (`dbt build` or `dbt test` by hand) every test covers all of history.
    dbt_project.yml sets `where: __nightly_scope__` on all data tests; a test's own `where`
    replaces it. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where == '__nightly_scope__' -%}
        {%- set where = nightly_test_scope() -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}

{#- The delivery day of a nightly build: var delivery_date (by hand: `dbt build --vars
    '{"delivery_date": "2026-12-01"}'`), else the environment variable TRACE_PLATFORM_DELIVERY_DATE,
    which the Dagster step sets. A CLI var is part of dbt's partial-parse state, so a new day every
    night forced a full re-parse of the project (~3 s); read only while executing, the environment
    variable is not recorded by the parse either. -#}
{% macro nightly_delivery_date() -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(var('delivery_date', none) or env_var('TRACE_PLATFORM_DELIVERY_DATE', '') or none) }}
{%- endmacro %}

{% macro nightly_test_scope() -%}
    {%- set day = nightly_delivery_date() -%}
    {%- if day is none -%}
        {{ return('') }}
    {%- endif -%}
    {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', day | string) -%}
        {{ exceptions.raise_compiler_error("the delivery day (var delivery_date or TRACE_PLATFORM_DELIVERY_DATE) must be YYYY-MM-DD, got " ~ (day | string)[:40]) }}
    {%- endif -%}
    {#- a model's test names it in attached_node; a source's test only in depends_on -#}
    {%- set tested_id = model.attached_node or (model.depends_on.nodes | first) -%}
    {%- set tested = graph.nodes.get(tested_id) or graph.sources.get(tested_id) -%}
    {%- if tested is none -%}
        {{ return('') }}
    {%- elif tested.resource_type == 'source' and tested.name == 'trace_events' -%}
        {{ return("delivery_date = date '" ~ day ~ "'") }}
    {%- elif tested.resource_type == 'model' and tested.name.startswith('stg_trace__') -%}
        {{ return("delivery_date = date '" ~ day ~ "'") }}
    {%- elif tested.resource_type == 'model' and 'trace_scoped' in tested.tags -%}
        {%- set changes = trace_changes_relation() -%}
        {#- a 'calls' model rewrote only the traces whose calls changed (macros/trace_changes.sql) -#}
        {%- set pending = pending_predicate(trace_scope(tested.config)) -%}
        {%- set scope = "trace_id in (select trace_id from " ~ changes ~ " where " ~ pending ~ ")" -%}
        {#- Every row of a pending trace lies within the days its rows can carry
            (pending_rows_days). Naming them as constants lets DuckDB skip the row groups of every
            other day by zone maps; the trace ids alone are random and prune nothing, so without it
            each test would scan the model's whole history. (A subquery of those days pruned only
            when the planner happened to build its hash table on the days' side.) -#}
        {%- set day_column = rows_day_column(tested.columns.keys()) -%}
        {%- if day_column is not none -%}
            {%- set days = pending_rows_days(changes, trace_scope(tested.config)).days -%}
            {%- set scope = day_column ~ " in (" ~ delivery_dates_sql(days) ~ ") and " ~ scope -%}
        {%- endif -%}
        {{ return(scope) }}
    {%- elif tested.resource_type == 'model' and tested.name == 'int_trace_changes' -%}
        {#- the traces this build wrote (all rows of a trace id, so a duplicate of an older row shows) -#}
        {%- set changes = trace_changes_relation() -%}
        {{ return("trace_id in (select trace_id from " ~ changes ~ " where changes_logged_through = "
                  ~ changes_logged_through(changes) ~ ")") }}
    {%- else -%}
        {{ return('') }}
    {%- endif -%}
{%- endmacro %}
