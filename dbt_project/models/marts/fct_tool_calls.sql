{{ config(
    tags=['trace_scoped'],
    pre_hook=before_begin("{{ delete_rebuilt_traces('delivery_date', only_calls_changed=true) }}"),
) }}

-- The traces this build rebuilds, and the delivery days they touch (a full build reads all):
-- depends_on: {{ ref('int_rebuild_scope') }}, {{ ref('int_rebuild_days') }}

-- One row per tool call: what was asked, whether it was authorised and confirmed, what ran.
-- Free text and JSON leave redacted (redact_text / redact_json: docs/security.md); every comparison
-- that needs the real values (R10's approved_arguments_match) is computed upstream on them.
select
    cast(tool_call_id as {{ trace_type('string') }}) as tool_call_id,
    cast(trace_id as {{ trace_type('string') }}) as trace_id,
    cast({{ redact_text('session_id') }} as {{ trace_type('string') }}) as session_id,
    cast(tenant_id as {{ trace_type('string') }}) as tenant_id,
    cast({{ redact_text('user_id') }} as {{ trace_type('string') }}) as user_id,
    cast({{ redact_text('agent_name') }} as {{ trace_type('string') }}) as agent_name,
    cast({{ redact_text('agent_version') }} as {{ trace_type('string') }}) as agent_version,
    cast({{ redact_text('tool_name') }} as {{ trace_type('string') }}) as tool_name,
    cast({{ redact_text('tool_version') }} as {{ trace_type('string') }}) as tool_version,
    cast(access as {{ trace_type('string') }}) as access,
    cast(mode as {{ trace_type('string') }}) as mode,
    cast({{ redact_json('arguments') }} as {{ trace_type('json') }}) as arguments,
    cast(attempt as bigint) as attempt,
    cast(retry_of as {{ trace_type('string') }}) as retry_of,
    cast(chain_root_tool_call_id as {{ trace_type('string') }}) as chain_root_tool_call_id,
    cast(chain_position as bigint) as chain_position,
    cast((chain_position > 0 or coalesce(attempt, 1) > 1) as boolean) as is_retry,
    cast(case when covered_by_deny then 'deny'
              when covered_by_require_confirmation then 'require_confirmation'
              when covered_by_allow then 'allow'
              else 'none' end as {{ trace_type('string') }}) as policy_decision,
    cast(own_check_count as bigint) as policy_check_count,
    cast((own_check_count = 0 and root_check_count > 0) as boolean) as policy_inherited_from_chain,
    cast(authorised_before_execution as boolean) as authorised_before_execution,
    cast(coalesce(requires_confirmation, false) as boolean) as requires_confirmation,
    cast(confirmation_required as boolean) as confirmation_required,
    cast(case when confirmation_decision is not null then confirmation_decision
              when confirmation_request_count > 0 then 'no_response'
              else 'not_requested' end as {{ trace_type('string') }}) as confirmation_status,
    cast(approved_before_execution as boolean) as approved_before_execution,
    cast(approved_arguments_match as boolean) as approved_arguments_match,
    cast(coalesce(result_status, 'no_result') as {{ trace_type('string') }}) as result_status,
    cast(result_count as bigint) as result_count,
    cast(executed as boolean) as executed,
    cast(latency_ms as double) as latency_ms,
    cast({{ redact_text('error_type') }} as {{ trace_type('string') }}) as error_type,
    cast(side_effect_count as bigint) as side_effect_count,
    cast(reversible_side_effect_count as bigint) as reversible_side_effect_count,
    cast(rolled_back as boolean) as rolled_back,
    cast(requested_at as {{ trace_type('timestamp_tz') }}) as requested_at,
    -- weekly trend questions group by this stored key: truncating 30 days of timestamps per query
    -- cost most of such a query's time
    cast({{ dbt.date_trunc('week', 'requested_at') }} as date) as requested_week,
    cast(finished_at as {{ trace_type('timestamp_tz') }}) as finished_at,
    cast(request_event_id as {{ trace_type('string') }}) as request_event_id,
    cast(request_delivery_date as date) as delivery_date
from {{ ref('int_tool_call_lifecycle') }}
{%- if is_incremental() %}
where trace_id in (select trace_id from {{ ref('int_rebuild_scope') }} where calls_changed)
  and request_delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
{%- endif %}
