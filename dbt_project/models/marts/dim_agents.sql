{{ config(materialized='table') }}

-- One row per agent build (name and version).
select
    md5(agent_name || '@' || agent_version)::varchar as agent_key,
    agent_name::varchar as agent_name,
    agent_version::varchar as agent_version,
    count(*)::bigint as trace_count,
    count(distinct tenant_id)::bigint as tenant_count,
    min(started_at)::timestamptz as first_seen_at,
    max(started_at)::timestamptz as last_seen_at
from {{ ref('fct_outcomes') }}
group by agent_name, agent_version
