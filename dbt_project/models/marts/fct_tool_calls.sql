{{ config(materialized='incremental', tags=['trace_scoped'], incremental_strategy='trace_scoped',
          trace_scope='calls') }}

-- One row per tool call: what was asked, whether it was authorised and confirmed, what ran.
-- Free text and JSON leave redacted (redact_text / redact_json: docs/security.md); every comparison
-- that needs the real values (R10's approved_arguments_match) is computed upstream on them.
select
    tool_call_id::varchar as tool_call_id,
    trace_id::varchar as trace_id,
    redact_text(session_id)::varchar as session_id,
    tenant_id::varchar as tenant_id,
    redact_text(user_id)::varchar as user_id,
    redact_text(agent_name)::varchar as agent_name,
    redact_text(agent_version)::varchar as agent_version,
    redact_text(tool_name)::varchar as tool_name,
    redact_text(tool_version)::varchar as tool_version,
    access::varchar as access,
    mode::varchar as mode,
    redact_json(arguments)::json as arguments,
    attempt::bigint as attempt,
    retry_of::varchar as retry_of,
    chain_root_tool_call_id::varchar as chain_root_tool_call_id,
    chain_position::bigint as chain_position,
    (chain_position > 0 or coalesce(attempt, 1) > 1)::boolean as is_retry,
    (case when covered_by_deny then 'deny'
          when covered_by_require_confirmation then 'require_confirmation'
          when covered_by_allow then 'allow'
          else 'none' end)::varchar as policy_decision,
    own_check_count::bigint as policy_check_count,
    (own_check_count = 0 and root_check_count > 0)::boolean as policy_inherited_from_chain,
    authorised_before_execution::boolean as authorised_before_execution,
    coalesce(requires_confirmation, false)::boolean as requires_confirmation,
    confirmation_required::boolean as confirmation_required,
    (case when confirmation_decision is not null then confirmation_decision
          when confirmation_request_count > 0 then 'no_response'
          else 'not_requested' end)::varchar as confirmation_status,
    approved_before_execution::boolean as approved_before_execution,
    approved_arguments_match::boolean as approved_arguments_match,
    coalesce(result_status, 'no_result')::varchar as result_status,
    result_count::bigint as result_count,
    executed::boolean as executed,
    latency_ms::double as latency_ms,
    redact_text(error_type)::varchar as error_type,
    side_effect_count::bigint as side_effect_count,
    reversible_side_effect_count::bigint as reversible_side_effect_count,
    rolled_back::boolean as rolled_back,
    requested_at::timestamptz as requested_at,
    -- weekly trend questions group by this stored key: truncating 30 days of timestamps per query
    -- cost most of such a query's time
    date_trunc('week', requested_at)::date as requested_week,
    finished_at::timestamptz as finished_at,
    request_event_id::varchar as request_event_id,
    request_delivery_date::date as delivery_date
from {{ ref('int_tool_call_lifecycle') }}
where true {{ pending_traces_only() }}
