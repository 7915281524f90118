{{ config(materialized='table') }}

-- One row per agent build (name and version).
select
    cast(md5(agent_name || '@' || agent_version) as {{ trace_type('string') }}) as agent_key,
    cast(agent_name as {{ trace_type('string') }}) as agent_name,
    cast(agent_version as {{ trace_type('string') }}) as agent_version,
    cast(count(*) as bigint) as trace_count,
    cast(count(distinct tenant_id) as bigint) as tenant_count,
    cast(min(started_at) as {{ trace_type('timestamp_tz') }}) as first_seen_at,
    cast(max(started_at) as {{ trace_type('timestamp_tz') }}) as last_seen_at
from {{ ref('fct_outcomes') }}
group by agent_name, agent_version
