{{ config(materialized='table') }}

-- The delivery days the traces of int_rebuild_scope touch: where their events lie now and where
-- their rows in the trace-scoped models can lie (int_trace_changes.rows_*_delivery_date). Models
-- read events and delete rows only on these days: a semi-join on this small table lets DuckDB skip
-- every other day's row groups, so a night costs the same whatever the length of history.
select distinct {{ explode_days(
    'least(first_delivery_date, rows_first_delivery_date)',
    'greatest(last_delivery_date, rows_last_delivery_date)') }} as delivery_date
from {{ ref('int_rebuild_scope') }}
where first_delivery_date is not null
