{#- Trace-scoped incremental models.

    Every fact in this warehouse belongs to one trace, and a trace may arrive over several
    delivery days. int_trace_changes records, per trace, a fingerprint of its current events and
    flags the traces whose fingerprint changed (new, grown, shrunk, or a different winning copy)
    as pending. Trace-scoped models delete and rebuild exactly the pending traces, so results do
    not depend on the order in which partitions run. The flags are cleared at the end of a
    successful run that rebuilt every trace-scoped model; after a failed run they stay pending and
    the next run picks them up again.

    Two scopes. A 'trace' model (the default) rebuilds a trace when any of its events changed. A
    'calls' model (config trace_scope='calls': the tool-call and model-call models) reads only the
    events of a call's lifecycle (call_event_types()) and rebuilds a trace only when those changed
    (calls_pending). The commonest late event, a rating delivered the next morning, then rebuilds
    the trace's outcome, labels and audit facts but none of its calls: on a 1M-event day about a
    fifth of the traces rebuilt are such traces (docs/performance.md). tests/test_trace_scopes.py
    checks from the manifest that a 'calls' model depends on nothing else. -#}

{#- The event types whose changes the 'calls' models see; int_trace_changes fingerprints them
    apart from the others. -#}
{% macro call_event_types() -%}
    {{ return(['tool_call', 'policy_check', 'confirmation_request', 'confirmation_response',
               'tool_result', 'side_effect', 'rollback', 'model_call']) }}
{%- endmacro %}

{#- The scope of the model being built: 'trace' or 'calls'. -#}
{% macro trace_scope(node_config=none) -%}
    {%- set scope = (node_config or config).get('trace_scope') or 'trace' -%}
    {%- if scope not in ['trace', 'calls'] -%}
        {{ exceptions.raise_compiler_error("trace_scope must be 'trace' or 'calls', got " ~ scope) }}
    {%- endif -%}
    {{ return(scope) }}
{%- endmacro %}

{#- The int_trace_changes predicate of the traces a model of `scope` must rebuild. calls_pending
    is NULL on rows written before the column existed: such a trace counts as pending for both. -#}
{% macro pending_predicate(scope='trace') -%}
    {{ return('coalesce(calls_pending, is_pending)' if scope == 'calls' else 'is_pending') }}
{%- endmacro %}

{#- SQL predicate (prefixed with AND) limiting a read of a trace-scoped model's table to the
    pending traces. Their rows were all (re)written in this run by that model, so they also carry
    this run's model_build_seq: the equality on it lets DuckDB skip, by zone maps, the row groups
    of every earlier build instead of reading all of history (trace ids are random, so the id
    list alone prunes nothing). Only for a model of the reader's own scope (or a 'calls' model
    read by a 'calls' model): a 'trace' model reading a 'calls' model's table finds rows of
    earlier builds for the traces whose calls did not change, and reads it with
    pending_trace_events_only() on the table's delivery day column instead. -#}
{% macro pending_traces_only(trace_column='trace_id') -%}
    {{ pending_trace_ids_only(trace_column) }}
    {%- if is_incremental() %}
    and {{ trace_column[:-8] ~ 'model_build_seq' }} = {{ current_model_build_seq() }}
    {%- endif %}
{%- endmacro %}

{% macro pending_trace_ids_only(trace_column='trace_id') -%}
    {#- ref() outside the condition, so dbt records the dependency at parse time -#}
    {%- set changes = ref('int_trace_changes') -%}
    {%- if is_incremental() %}
    and {{ trace_column }} in (select trace_id from {{ changes }} where {{ pending_predicate(trace_scope()) }})
    {%- endif %}
{%- endmacro %}

{#- The change-log position this build has processed (int_trace_changes runs first). Every
    trace-scoped model stores it in model_build_seq on the rows it writes. -#}
{% macro current_model_build_seq() -%}
    {{ return(changes_logged_through(ref('int_trace_changes'))) }}
{%- endmacro %}

{#- The same for a caller that has the int_trace_changes relation without ref() (a test's scope):
    every row int_trace_changes wrote in this build carries it in changes_logged_through. -#}
{% macro changes_logged_through(changes) -%}
    {%- if not execute -%}
        {{ return(0) }}
    {%- endif -%}
    {%- set cache = invocation_cache() -%}
    {%- if 'changes_logged_through' not in cache -%}
        {%- set found = run_query('select coalesce(max(changes_logged_through), 0) from ' ~ changes) -%}
        {%- do cache.update({'changes_logged_through': found.columns[0].values()[0] | int}) -%}
    {%- endif -%}
    {{ return(cache['changes_logged_through']) }}
{%- endmacro %}

{#- The same, for reads of the staging views (or of a table with the delivery day of each row):
    also limits the scan to the delivery days that hold the pending traces' events, as constants,
    so DuckDB skips every other day's row groups of raw.trace_events. Without it each day would
    rescan all of history. (Naming the few pending traces of the day before as constants, so the
    scan drops that day's other rows before the payload is parsed, was measured and dropped: the
    OR of the two made int_tool_call_lifecycle slower at 30 days, 2.0 s against 1.45 s.) -#}
{% macro pending_trace_events_only(trace_column='trace_id', delivery_column='delivery_date') -%}
    {{ pending_trace_ids_only(trace_column) }}
    {%- if is_incremental() %}
    and {{ delivery_column }} in ({{ delivery_dates_sql(pending_delivery_dates()) }})
    {%- endif %}
{%- endmacro %}

{#- Every delivery day between the first and the last of some pending trace (of this model's scope). -#}
{% macro pending_delivery_dates() -%}
    {%- set changes = ref('int_trace_changes') -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set scope = trace_scope() -%}
    {%- set cache = invocation_cache() -%}
    {%- set key = 'pending_delivery_dates:' ~ scope -%}
    {%- if key not in cache -%}
        {%- set dates_query -%}
            select distinct unnest(generate_series(first_delivery_date, last_delivery_date, interval 1 day))::date
            from {{ changes }}
            where {{ pending_predicate(scope) }} and event_count > 0
            order by 1
        {%- endset -%}
        {%- do cache.update({key: run_query(dates_query).columns[0].values() | list}) -%}
    {%- endif -%}
    {{ return(cache[key]) }}
{%- endmacro %}

{#- The days the rows of the pending traces of `scope` can lie in, in the trace-scoped models'
    tables: every day from rows_first_delivery_date to rows_last_delivery_date of some pending trace
    (its span, widened by its spans since its last complete rebuild; int_trace_changes.sql).
    Returns {'days': ['YYYY-MM-DD', ...], 'has_unknown': true when some pending trace has no recorded
    span (a row written before those columns existed): its days then come from its current span,
    which is good enough to scope a test but not to limit a delete}. `changes` is the
    int_trace_changes relation (a test resolves it without ref()). -#}
{% macro pending_rows_days(changes, scope) -%}
    {%- if not execute -%}
        {{ return({'days': [], 'has_unknown': true}) }}
    {%- endif -%}
    {%- set cache = invocation_cache() -%}
    {%- set key = 'pending_rows_days:' ~ scope -%}
    {%- if key not in cache -%}
        {%- set span_query -%}
            with pending as (
                select * from {{ changes }} where {{ pending_predicate(scope) }}
            )
            select
                exists(select 1 from pending
                       where rows_first_delivery_date is null or rows_last_delivery_date is null) as has_unknown,
                (select string_agg(distinct strftime(day, '%Y-%m-%d'), ',') from (
                    select unnest(generate_series(coalesce(rows_first_delivery_date, first_delivery_date),
                                                  coalesce(rows_last_delivery_date, last_delivery_date),
                                                  interval 1 day))::date as day
                    from pending)) as days
        {%- endset -%}
        {%- set found = run_query(span_query).rows[0] -%}
        {%- do cache.update({key: {'has_unknown': found[0],
                                   'days': (found[1].split(',') | sort | list) if found[1] else []}}) -%}
    {%- endif -%}
    {{ return(cache[key]) }}
{%- endmacro %}

{#- A SQL list of DATE literals; a never-true one when empty. -#}
{% macro delivery_dates_sql(dates) -%}
    {%- if dates | length == 0 -%}
    null::date
    {%- else -%}
    {%- for day in dates -%}
    date '{{ day }}'{{ ", " if not loop.last }}
    {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#- Incremental strategy of the trace-scoped models (incremental_strategy='trace_scoped'): delete the
    rows the model rewrites, then insert the model's query (not a copy of a temporary table: see
    macros/incremental_direct_insert.sql), in the materialization's one transaction.
    The delete is part of the strategy, not a pre-hook, because it must come after dbt's schema
    evolution (on_schema_change: append_new_columns runs ALTER TABLE ... ADD COLUMN): DuckDB cannot
    commit a transaction that deleted from a table and then altered it ("another transaction has
    altered this table"), so a model that gained a column could never be built again. -#}
{% macro get_incremental_trace_scoped_sql(arg_dict) -%}
    {%- if config.get('relabels_moved_intents') -%}
    {{ eval_delete_relabelled() }};
    {%- else -%}
    {{ delete_pending_traces() }};
    {%- endif %}
    {%- set dest_columns_csv = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) %}
    insert into {{ arg_dict['target_relation'] }} ({{ dest_columns_csv }})
    select {{ dest_columns_csv }} from (
        {{ model['compiled_code'] }}
    ) as trace_scoped_rows
{%- endmacro %}

{% macro delete_pending_traces() -%}
    delete from {{ this }}
    where trace_id in (select trace_id from {{ ref('int_trace_changes') }} where {{ pending_predicate(trace_scope()) }})
    {{- pending_rows_days_only() }}
{%- endmacro %}

{#- SQL predicate (prefixed with AND) limiting the delete to the days the pending traces' rows can
    carry (pending_rows_days), on the table's delivery day column, so DuckDB skips every other day's
    row groups; without it the delete probes every trace id of history (about 1 s a night over the
    trace-scoped tables at 30 days of 1M events). Nothing when the table has no such column, or a
    NULL in it (rows written before the column existed), or when some pending trace has no recorded
    span. -#}
{#- The column of a trace-scoped table that holds each row's delivery day (the first of the
    candidates among `column_names`), or none. Every row of a pending trace has it within
    pending_rows_days; the nightly delete and the nightly tests filter on it. -#}
{% macro rows_day_column(column_names) -%}
    {%- set names = column_names | list -%}
    {%- for candidate in ['delivery_date', 'request_delivery_date', 'first_delivery_date', 'detected_in_partition'] -%}
        {%- if candidate in names -%}
            {{ return(candidate) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}

{% macro pending_rows_days_only() -%}
    {%- if execute -%}
        {%- set day_column = rows_day_column(adapter.get_columns_in_relation(this) | map(attribute='name')) -%}
        {%- if day_column is not none -%}
            {%- set span = pending_rows_days(ref('int_trace_changes'), trace_scope()) -%}
            {%- if not span.has_unknown and span.days -%}
                {%- set null_days = run_query('select exists(select 1 from ' ~ this ~ ' where '
                                              ~ day_column ~ ' is null)').columns[0].values()[0] -%}
                {%- if not null_days %}
    and {{ day_column }} in ({{ delivery_dates_sql(span.days) }})
                {%- endif -%}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- int_trace_changes for a caller that must not ref() it (a test, the on-run-end hook); none when
    it does not exist yet. -#}
{% macro trace_changes_relation() -%}
    {{ return(adapter.get_relation(database=target.database, schema='intermediate', identifier='int_trace_changes')) }}
{%- endmacro %}

{% macro mark_trace_changes_processed(results) -%}
    {%- if execute -%}
        {%- set scoped = [] -%}
        {%- for node in graph.nodes.values() -%}
            {%- if node.resource_type == 'model' and 'trace_scoped' in node.tags -%}
                {%- do scoped.append(node.unique_id) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set succeeded = [] -%}
        {%- for result in results -%}
            {%- if result.node.unique_id in scoped and result.status == 'success' -%}
                {%- do succeeded.append(result.node.unique_id) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set changes = trace_changes_relation() -%}
        {%- if changes is not none and scoped | length > 0 and succeeded | length == scoped | length -%}
            update {{ changes }}
            set is_pending = false, calls_pending = false,
                rows_first_delivery_date = first_delivery_date, rows_last_delivery_date = last_delivery_date
            where is_pending or calls_pending
        {%- else -%}
            select 1 as no_op
        {%- endif -%}
    {%- else -%}
        select 1 as no_op
    {%- endif -%}
{%- endmacro %}
