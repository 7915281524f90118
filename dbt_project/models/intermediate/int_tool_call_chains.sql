{{ config(
    tags=['trace_scoped'],
    pre_hook=before_begin("{{ delete_rebuilt_traces('delivery_date', only_calls_changed=true) }}"),
) }}

-- The traces this build rebuilds, and the delivery days they touch (a full build reads all):
-- depends_on: {{ ref('int_rebuild_scope') }}, {{ ref('int_rebuild_days') }}

-- Retry chains resolved to their first attempt. A retry names the attempt it repeats in
-- `retry_of`; following those links back inside the trace reaches the chain's first attempt,
-- whose policy checks and confirmations also cover the retry. A link to an unknown call ends the
-- walk at the last known call; cycles are cut. A trace is (tenant_id, trace_id): links never
-- cross tenants.
with recursive calls as (
    {% call first_row_per('tenant_id, trace_id, tool_call_id', 'sequence, event_id') -%}
    -- (sequence and event_id order the copies: selected, since engines without QUALIFY order outside)
    select tenant_id, trace_id, tool_call_id, retry_of, delivery_date, sequence, event_id
    from {{ ref('stg_trace__tool_calls') }}
    where tool_call_id is not null
    {%- if is_incremental() %}
      and trace_id in (select trace_id from {{ ref('int_rebuild_scope') }} where calls_changed)
      and delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
    {%- endcall %}
),

walk(tenant_id, trace_id, tool_call_id, current_id, depth, visited) as (
    select tenant_id, trace_id, tool_call_id, tool_call_id, 0, {{ dbt.array_construct(['tool_call_id']) }}
    from calls
    union all
    select walk.tenant_id, walk.trace_id, walk.tool_call_id, previous.tool_call_id, walk.depth + 1,
           {{ dbt.array_append('walk.visited', 'previous.tool_call_id') }}
    from walk
    join calls as current_call
        on current_call.tenant_id = walk.tenant_id and current_call.trace_id = walk.trace_id
       and current_call.tool_call_id = walk.current_id
    join calls as previous
        on previous.tenant_id = current_call.tenant_id and previous.trace_id = current_call.trace_id
       and previous.tool_call_id = current_call.retry_of
    where not {{ list_has('walk.visited', 'previous.tool_call_id') }}
)

select
    tenant_id,
    trace_id,
    tool_call_id,
    {{ arg_max('current_id', 'depth') }} as chain_root_tool_call_id,
    max(depth) as chain_position,
    -- the call's own delivery day: lets the nightly delete skip other days' row groups
    any_value(calls.delivery_date) as delivery_date,
    (select max(changes_logged_through) from {{ ref('int_trace_changes') }}) as model_build_seq
from walk
join calls using (tenant_id, trace_id, tool_call_id)
group by tenant_id, trace_id, tool_call_id
