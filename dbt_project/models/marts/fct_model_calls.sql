{{ config(
    tags=['trace_scoped'],
    pre_hook=before_begin("{{ delete_rebuilt_traces('delivery_date', only_calls_changed=true) }}"),
) }}

-- The traces this build rebuilds, and the delivery days they touch (a full build reads all):
-- depends_on: {{ ref('int_rebuild_scope') }}, {{ ref('int_rebuild_days') }}

-- One row per model call. Free-text fields leave redacted (docs/security.md).
select
    cast(event_id as {{ trace_type('string') }}) as event_id,
    cast(trace_id as {{ trace_type('string') }}) as trace_id,
    cast(tenant_id as {{ trace_type('string') }}) as tenant_id,
    cast({{ redact_text('agent_name') }} as {{ trace_type('string') }}) as agent_name,
    cast({{ redact_text('agent_version') }} as {{ trace_type('string') }}) as agent_version,
    cast({{ redact_text('provider') }} as {{ trace_type('string') }}) as provider,
    cast({{ redact_text('model') }} as {{ trace_type('string') }}) as model,
    cast({{ redact_text('model_version') }} as {{ trace_type('string') }}) as model_version,
    cast(purpose as {{ trace_type('string') }}) as purpose,
    cast(input_tokens as bigint) as input_tokens,
    cast(output_tokens as bigint) as output_tokens,
    cast((coalesce(input_tokens, 0) + coalesce(output_tokens, 0)) as bigint) as total_tokens,
    cast(latency_ms as double) as latency_ms,
    cast({{ redact_text('finish_reason') }} as {{ trace_type('string') }}) as finish_reason,
    cast(status as {{ trace_type('string') }}) as status,
    cast({{ redact_text('error_type') }} as {{ trace_type('string') }}) as error_type,
    cast(event_timestamp as {{ trace_type('timestamp_tz') }}) as called_at,
    cast(delivery_date as date) as delivery_date
from {{ ref('stg_trace__model_calls') }}
{%- if is_incremental() %}
where trace_id in (select trace_id from {{ ref('int_rebuild_scope') }} where calls_changed)
  and delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
{%- endif %}
