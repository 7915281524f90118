{{ config(materialized='incremental', unique_key='trace_id', incremental_strategy='delete+insert',
          post_hook="{{ clear_invocation_cache() }}") }}

-- One row per trace ever seen: a fingerprint of its current events, the delivery days they span,
-- and whether the trace-scoped models still have to rebuild it (see macros/trace_changes.sql):
-- is_pending for the 'trace' models, calls_pending for the 'calls' models, from a second
-- fingerprint of the call events alone.
--
-- Ingestion logs every trace a publish touches in raw.trace_change_log. An incremental run
-- fingerprints only the traces logged since the last run (change_seq above the watermark kept in
-- changes_logged_through), reading only the delivery days where their events can be: the days
-- logged for them and the days they spanned before. So a new day costs the same whatever the
-- length of history.
{%- set change_log = source('raw', 'trace_change_log') %}
{%- set events = ref('stg_trace__events') %}
{%- set is_call_event -%}
    event_type in ({% for event_type in call_event_types() %}'{{ event_type }}'{{ ', ' if not loop.last }}{% endfor %})
{%- endset %}

{%- if is_incremental() and execute %}
    {#- a warehouse built before the call fingerprint existed gets its columns only after this
        query has run (on_schema_change), so a missing one reads as NULL: the trace counts as changed -#}
    {%- set existing = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    {%- set previous_call_event_count = 'previous.call_event_count' if 'call_event_count' in existing else 'cast(null as bigint)' -%}
    {%- set previous_call_events_fingerprint = 'previous.call_events_fingerprint' if 'call_events_fingerprint' in existing else 'cast(null as ' ~ trace_type('fingerprint') ~ ')' -%}
    {%- set previous_calls_pending = 'previous.calls_pending' if 'calls_pending' in existing else 'cast(null as boolean)' -%}
    {%- set previous_rows_first = 'previous.rows_first_delivery_date' if 'rows_first_delivery_date' in existing else 'cast(null as date)' -%}
    {%- set previous_rows_last = 'previous.rows_last_delivery_date' if 'rows_last_delivery_date' in existing else 'cast(null as date)' -%}
    {%- set window_query -%}
        select
            (select coalesce(max(changes_logged_through), 0) from {{ this }}) as logged_after,
            (select coalesce(max(change_seq), 0) from {{ change_log }}) as logged_through
    {%- endset -%}
    {%- set window = run_query(window_query).rows[0] -%}
    {%- set logged_after, logged_through = window[0], window[1] -%}
    {%- set dates_query -%}
        with touched as (
            select trace_id, delivery_date from {{ change_log }}
            where change_seq > {{ logged_after }} and change_seq <= {{ logged_through }}
        )
        select delivery_date from touched
        union
        select {{ explode_days('previous.first_delivery_date', 'previous.last_delivery_date') }}
        from {{ this }} as previous
        where previous.event_count > 0 and previous.trace_id in (select trace_id from touched)
        order by 1
    {%- endset -%}
    {%- set scan_dates = run_query(dates_query).columns[0].values() | list -%}
{%- else %}
    {%- set logged_after, logged_through, scan_dates = 0, 0, [] -%}
{%- endif %}

{% if is_incremental() %}
with touched_traces as (
    select distinct trace_id
    from {{ change_log }}
    where change_seq > {{ logged_after }} and change_seq <= {{ logged_through }}
),

current_traces as (
    select
        trace_id,
        count(*) as event_count,
        -- line_hash differs when a different delivery wins, so a changed winner is a change too
        {{ bit_xor_agg(bitwise_xor(hash64('event_id'), 'line_hash')) }} as events_fingerprint,
        count(*) filter (where {{ is_call_event }}) as call_event_count,
        coalesce({{ bit_xor_agg(bitwise_xor(hash64('event_id'), 'line_hash')) }} filter (where {{ is_call_event }}), cast(0 as {{ trace_type('fingerprint') }}))
            as call_events_fingerprint,
        min(delivery_date) as first_delivery_date,
        max(delivery_date) as last_delivery_date
    from {{ events }}
    where delivery_date in ({{ delivery_dates_sql(scan_dates) }})
      and trace_id in (select trace_id from touched_traces)
    group by trace_id
),

compared as (
    select
        touched_traces.trace_id,
        coalesce(current_traces.event_count, 0) as event_count,
        coalesce(current_traces.events_fingerprint, cast(0 as {{ trace_type('fingerprint') }})) as events_fingerprint,
        coalesce(current_traces.first_delivery_date, previous.first_delivery_date) as first_delivery_date,
        coalesce(current_traces.last_delivery_date, previous.last_delivery_date) as last_delivery_date,
        -- the days the trace's rows in the models can carry until they are all rebuilt: the rows of
        -- the last complete rebuild lie in the span it had then, later (failed) builds' in theirs
        least(coalesce({{ previous_rows_first }}, previous.first_delivery_date),
              current_traces.first_delivery_date) as rows_first_delivery_date,
        greatest(coalesce({{ previous_rows_last }}, previous.last_delivery_date),
                 current_traces.last_delivery_date) as rows_last_delivery_date,
        -- new, grown, shrunk, emptied, or a different winning copy
        previous.trace_id is null
            or previous.event_count <> coalesce(current_traces.event_count, 0)
            or previous.events_fingerprint <> coalesce(current_traces.events_fingerprint, cast(0 as {{ trace_type('fingerprint') }}))
            as has_changed,
        coalesce(current_traces.call_event_count, 0) as call_event_count,
        coalesce(current_traces.call_events_fingerprint, cast(0 as {{ trace_type('fingerprint') }})) as call_events_fingerprint,
        -- the call events alone; a row written before these columns existed counts as changed
        (
            previous.trace_id is null
            or ({{ previous_call_event_count }} is distinct from coalesce(current_traces.call_event_count, 0))
            or ({{ previous_call_events_fingerprint }}
                is distinct from coalesce(current_traces.call_events_fingerprint, cast(0 as {{ trace_type('fingerprint') }})))
        ) as calls_have_changed,
        previous.is_pending as was_pending,
        coalesce({{ previous_calls_pending }}, previous.is_pending) as were_calls_pending,
        previous.changed_at as previously_changed_at
    from touched_traces
    left join current_traces using (trace_id)
    left join {{ this }} as previous using (trace_id)
    -- a trace that came and went between two runs never reached the models
    where current_traces.trace_id is not null or previous.trace_id is not null
)

select
    trace_id,
    event_count,
    events_fingerprint,
    call_event_count,
    call_events_fingerprint,
    first_delivery_date,
    last_delivery_date,
    rows_first_delivery_date,
    rows_last_delivery_date,
    -- a trace still pending from a failed run stays pending
    has_changed or calls_have_changed or coalesce(was_pending, false) as is_pending,
    calls_have_changed or coalesce(were_calls_pending, false) as calls_pending,
    case when has_changed then {{ dbt.current_timestamp() }} else previously_changed_at end as changed_at,
    cast({{ logged_through }} as bigint) as changes_logged_through
from compared
{% else %}
select
    trace_id,
    count(*) as event_count,
    {{ bit_xor_agg(bitwise_xor(hash64('event_id'), 'line_hash')) }} as events_fingerprint,
    count(*) filter (where {{ is_call_event }}) as call_event_count,
    coalesce({{ bit_xor_agg(bitwise_xor(hash64('event_id'), 'line_hash')) }} filter (where {{ is_call_event }}), cast(0 as {{ trace_type('fingerprint') }}))
        as call_events_fingerprint,
    min(delivery_date) as first_delivery_date,
    max(delivery_date) as last_delivery_date,
    min(delivery_date) as rows_first_delivery_date,
    max(delivery_date) as rows_last_delivery_date,
    true as is_pending,
    true as calls_pending,
    {{ dbt.current_timestamp() }} as changed_at,
    cast((select coalesce(max(change_seq), 0) from {{ change_log }}) as bigint) as changes_logged_through
from {{ events }}
group by trace_id
{% endif %}
