{{ config(materialized='table') }}

-- One row per model identity seen in model calls (provider, model, version).
select
    cast(md5(concat_ws('|', coalesce(provider, ''), coalesce(model, ''), coalesce(model_version, ''))) as {{ trace_type('string') }}) as model_key,
    cast(provider as {{ trace_type('string') }}) as provider,
    cast(model as {{ trace_type('string') }}) as model,
    cast(model_version as {{ trace_type('string') }}) as model_version,
    cast(count(*) as bigint) as call_count,
    cast(count(*) filter (where status = 'error') as bigint) as error_count,
    cast(sum(total_tokens) as bigint) as total_tokens,
    cast(min(called_at) as {{ trace_type('timestamp_tz') }}) as first_seen_at,
    cast(max(called_at) as {{ trace_type('timestamp_tz') }}) as last_seen_at
from {{ ref('fct_model_calls') }}
group by provider, model, model_version
