{{ config(materialized='table') }}

-- One row per tool: the access class observed in its calls, and any disagreement about it.
select
    tool_name::varchar as tool_name,
    mode(access)::varchar as observed_access,
    list_sort(list_distinct(list(access) filter (where access is not null)))::varchar[] as access_classes_seen,
    (count(distinct access) > 1)::boolean as access_disagreement,
    list_sort(list_distinct(list(tool_version) filter (where tool_version is not null)))::varchar[] as versions_seen,
    count(*)::bigint as call_count,
    count(*) filter (where executed)::bigint as executed_count,
    count(*) filter (where result_status in ('error', 'timeout'))::bigint as error_count,
    min(requested_at)::timestamptz as first_seen_at,
    max(requested_at)::timestamptz as last_seen_at
from {{ ref('fct_tool_calls') }}
where tool_name is not null
group by tool_name
