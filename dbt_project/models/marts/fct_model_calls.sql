{{ config(materialized='incremental', tags=['trace_scoped'], incremental_strategy='trace_scoped',
          trace_scope='calls') }}

-- One row per model call. Free-text fields leave redacted (docs/security.md).
select
    event_id::varchar as event_id,
    trace_id::varchar as trace_id,
    tenant_id::varchar as tenant_id,
    redact_text(agent_name)::varchar as agent_name,
    redact_text(agent_version)::varchar as agent_version,
    redact_text(provider)::varchar as provider,
    redact_text(model)::varchar as model,
    redact_text(model_version)::varchar as model_version,
    purpose::varchar as purpose,
    input_tokens::bigint as input_tokens,
    output_tokens::bigint as output_tokens,
    (coalesce(input_tokens, 0) + coalesce(output_tokens, 0))::bigint as total_tokens,
    latency_ms::double as latency_ms,
    redact_text(finish_reason)::varchar as finish_reason,
    status::varchar as status,
    redact_text(error_type)::varchar as error_type,
    event_timestamp::timestamptz as called_at,
    delivery_date::date as delivery_date
from {{ ref('stg_trace__model_calls') }}
where true {{ pending_trace_events_only() }}
