{{ config(materialized='table') }}

-- One row per model identity seen in model calls (provider, model, version).
select
    md5(concat_ws('|', coalesce(provider, ''), coalesce(model, ''), coalesce(model_version, '')))::varchar as model_key,
    provider::varchar as provider,
    model::varchar as model,
    model_version::varchar as model_version,
    count(*)::bigint as call_count,
    count(*) filter (where status = 'error')::bigint as error_count,
    sum(total_tokens)::bigint as total_tokens,
    min(called_at)::timestamptz as first_seen_at,
    max(called_at)::timestamptz as last_seen_at
from {{ ref('fct_model_calls') }}
group by provider, model, model_version
