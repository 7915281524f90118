{{ config(unique_key='trace_id', incremental_strategy=replace_by_key_strategy()) }}
{{ refuse_incremental_run() }}

-- One row per trace ever seen: a fingerprint of its current events, the delivery days they span,
-- and the build that last saw them change (changed_in_build; calls_changed_in_build for the
-- events of its calls alone). int_rebuild_scope compares those with the last complete build
-- (int_completed_builds) to decide which traces tonight's build rebuilds.
--
-- Ingestion logs every trace a publish touches in raw.trace_change_log. An incremental run
-- fingerprints only the traces logged since the last run (change_seq above the watermark kept in
-- changes_logged_through), reading only the delivery days where their events can be: the days
-- logged for them and the days they spanned before. So a new day costs the same whatever the
-- length of history.
{%- set change_log = source('raw', 'trace_change_log') %}
{%- set events = ref('stg_trace__events') %}
{%- set completed_builds = load_relation(source('build_state', 'completed_builds')) %}
{%- set is_call_event -%}
    event_type in ({% for event_type in call_event_types() %}'{{ event_type }}'{{ ', ' if not loop.last }}{% endfor %})
{%- endset %}

{% if is_incremental() %}
with change_window as (
    select
        (select coalesce(max(changes_logged_through), 0) from {{ this }}) as logged_after,
        (select coalesce(max(change_seq), 0) from {{ change_log }}) as logged_through,
        -- the change-log position of the last build that rebuilt every trace-scoped model
        {% if completed_builds is not none -%}
        (select coalesce(max(changes_built_through), 0) from {{ completed_builds }})
        {%- else -%}
        cast(0 as bigint)
        {%- endif %} as built_through
),

touched_traces as (
    select distinct trace_id, delivery_date
    from {{ change_log }}
    where change_seq > (select logged_after from change_window)
      and change_seq <= (select logged_through from change_window)
),

-- the days the touched traces' events can lie on: the days logged for them now, and the days
-- they spanned before (a semi-join on this small set lets DuckDB skip every other day's row groups)
days_to_scan as (
    select delivery_date from touched_traces
    union
    select {{ explode_days('previous.first_delivery_date', 'previous.last_delivery_date') }} as delivery_date
    from {{ this }} as previous
    where previous.event_count > 0 and previous.trace_id in (select trace_id from touched_traces)
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
    where delivery_date in (select delivery_date from days_to_scan)
      and trace_id in (select trace_id from touched_traces)
    group by trace_id
),

compared as (
    select
        touched.trace_id,
        coalesce(current_traces.event_count, 0) as event_count,
        coalesce(current_traces.events_fingerprint, cast(0 as {{ trace_type('fingerprint') }})) as events_fingerprint,
        coalesce(current_traces.first_delivery_date, previous.first_delivery_date) as first_delivery_date,
        coalesce(current_traces.last_delivery_date, previous.last_delivery_date) as last_delivery_date,
        -- the days the trace's rows in the trace-scoped models can carry until a complete build has
        -- rebuilt them: the span they were last completely built in, widened by every later span
        -- (a failed build may have rewritten some models' rows at those)
        least(case when previous.changed_in_build <= change_window.built_through then previous.first_delivery_date
                   else previous.rows_first_delivery_date end,
              current_traces.first_delivery_date) as rows_first_delivery_date,
        greatest(case when previous.changed_in_build <= change_window.built_through then previous.last_delivery_date
                      else previous.rows_last_delivery_date end,
                 current_traces.last_delivery_date) as rows_last_delivery_date,
        -- new, grown, shrunk, emptied, or a different winning copy
        previous.trace_id is null
            or previous.event_count <> coalesce(current_traces.event_count, 0)
            or previous.events_fingerprint <> coalesce(current_traces.events_fingerprint, cast(0 as {{ trace_type('fingerprint') }}))
            as has_changed,
        coalesce(current_traces.call_event_count, 0) as call_event_count,
        coalesce(current_traces.call_events_fingerprint, cast(0 as {{ trace_type('fingerprint') }})) as call_events_fingerprint,
        -- the call events alone: the 'calls' models rebuild a trace only when these changed
        (
            previous.trace_id is null
            or previous.call_event_count <> coalesce(current_traces.call_event_count, 0)
            or previous.call_events_fingerprint
                <> coalesce(current_traces.call_events_fingerprint, cast(0 as {{ trace_type('fingerprint') }}))
        ) as calls_have_changed,
        previous.changed_in_build as previously_changed_in_build,
        previous.calls_changed_in_build as previously_calls_changed_in_build,
        previous.changed_at as previously_changed_at,
        change_window.logged_through
    from (select distinct trace_id from touched_traces) as touched
    cross join change_window
    left join current_traces on current_traces.trace_id = touched.trace_id
    left join {{ this }} as previous on previous.trace_id = touched.trace_id
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
    case when has_changed then logged_through else previously_changed_in_build end as changed_in_build,
    case when calls_have_changed then logged_through else previously_calls_changed_in_build end
        as calls_changed_in_build,
    case when has_changed then {{ dbt.current_timestamp() }} else previously_changed_at end as changed_at,
    logged_through as changes_logged_through
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
    cast((select coalesce(max(change_seq), 0) from {{ change_log }}) as bigint) as changed_in_build,
    cast((select coalesce(max(change_seq), 0) from {{ change_log }}) as bigint) as calls_changed_in_build,
    {{ dbt.current_timestamp() }} as changed_at,
    cast((select coalesce(max(change_seq), 0) from {{ change_log }}) as bigint) as changes_logged_through
from {{ events }}
group by trace_id
{% endif %}
