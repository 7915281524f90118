{{ config(materialized='incremental', unique_key='trace_id', incremental_strategy='delete+insert') }}

-- One row per trace ever seen: a fingerprint of its current events, the delivery days they span,
-- and whether the trace-scoped models still have to rebuild it (see macros/trace_changes.sql).
--
-- Ingestion logs every trace a publish touches in raw.trace_change_log. An incremental run
-- fingerprints only the traces logged since the last run (change_seq above the watermark kept in
-- changes_logged_through), reading only the delivery days where their events can be: the days
-- logged for them and the days they spanned before. So a new day costs the same whatever the
-- length of history.
{%- set change_log = source('raw', 'trace_change_log') %}
{%- set events = ref('stg_trace__events') %}

{%- if is_incremental() and execute %}
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
        select unnest(generate_series(previous.first_delivery_date, previous.last_delivery_date, interval 1 day))::date
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
        bit_xor(xor(hash(event_id), line_hash)) as events_fingerprint,
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
        coalesce(current_traces.events_fingerprint, 0::ubigint) as events_fingerprint,
        coalesce(current_traces.first_delivery_date, previous.first_delivery_date) as first_delivery_date,
        coalesce(current_traces.last_delivery_date, previous.last_delivery_date) as last_delivery_date,
        -- new, grown, shrunk, emptied, or a different winning copy
        previous.trace_id is null
            or previous.event_count <> coalesce(current_traces.event_count, 0)
            or previous.events_fingerprint <> coalesce(current_traces.events_fingerprint, 0::ubigint)
            as has_changed,
        previous.is_pending as was_pending,
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
    first_delivery_date,
    last_delivery_date,
    -- a trace still pending from a failed run stays pending
    has_changed or coalesce(was_pending, false) as is_pending,
    case when has_changed then now() else previously_changed_at end as changed_at,
    {{ logged_through }}::bigint as changes_logged_through
from compared
{% else %}
select
    trace_id,
    count(*) as event_count,
    bit_xor(xor(hash(event_id), line_hash)) as events_fingerprint,
    min(delivery_date) as first_delivery_date,
    max(delivery_date) as last_delivery_date,
    true as is_pending,
    now() as changed_at,
    (select coalesce(max(change_seq), 0) from {{ change_log }})::bigint as changes_logged_through
from {{ events }}
group by trace_id
{% endif %}
