{{ config(materialized='table') }}

-- The traces tonight's build rebuilds: every trace whose events changed since the last complete
-- build (the last row of int_completed_builds). Every trace-scoped model reads only these traces,
-- and its pre-hook (delete_rebuilt_traces) deletes its rows of them first.
--
-- A build that fails leaves int_completed_builds as it was, so the next build rebuilds the failed
-- build's traces too; rebuilding a trace twice gives the same rows. A full refresh rebuilds every
-- trace, so every trace is in scope (the tests then check all of history).
{%- set completed_builds = load_relation(source('build_state', 'completed_builds')) %}

with last_complete_build as (
    select
        {% if completed_builds is not none and not flags.FULL_REFRESH -%}
        (select coalesce(max(changes_built_through), 0) from {{ completed_builds }})
        {%- else -%}
        cast(-1 as bigint)
        {%- endif %} as built_through
)

select
    changes.trace_id,
    -- the 'calls' models (tool calls, checks, confirmations, side effects, model calls) rebuild a
    -- trace only when the events of its calls changed; the others whenever any event did
    changes.calls_changed_in_build > last_complete_build.built_through as calls_changed,
    changes.first_delivery_date,
    changes.last_delivery_date,
    changes.rows_first_delivery_date,
    changes.rows_last_delivery_date
from {{ ref('int_trace_changes') }} as changes
cross join last_complete_build
where changes.changed_in_build > last_complete_build.built_through
