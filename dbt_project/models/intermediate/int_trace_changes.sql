{{ config(materialized='incremental', unique_key='trace_id', incremental_strategy='delete+insert') }}

-- One row per trace ever seen: a fingerprint of its current events, and whether the trace-scoped
-- models still have to rebuild it (see macros/trace_changes.sql).
with current_traces as (
    select
        trace_id,
        count(*) as event_count,
        -- line_hash differs when a different delivery wins, so a changed winner is a change too
        bit_xor(xor(hash(event_id), line_hash)) as events_fingerprint,
        min(delivery_date) as first_delivery_date,
        max(delivery_date) as last_delivery_date
    from {{ ref('stg_trace__events') }}
    group by trace_id
)

{% if is_incremental() %}
, changed as (
    select current_traces.*
    from current_traces
    left join {{ this }} as previous using (trace_id)
    where previous.trace_id is null
       or previous.event_count <> current_traces.event_count
       or previous.events_fingerprint <> current_traces.events_fingerprint
    union all
    -- traces whose every event disappeared (a re-delivered file dropped them): rebuild to nothing
    select previous.trace_id, 0, 0::ubigint, previous.first_delivery_date, previous.last_delivery_date
    from {{ this }} as previous
    anti join current_traces using (trace_id)
    where previous.event_count > 0
)
select changed.*, true as is_pending, now() as changed_at
from changed
{% else %}
select current_traces.*, true as is_pending, now() as changed_at
from current_traces
{% endif %}
