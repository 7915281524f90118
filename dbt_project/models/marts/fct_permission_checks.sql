{{ config(materialized='incremental', tags=['trace_scoped'], incremental_strategy='trace_scoped',
          trace_scope='calls') }}

-- One row per policy check, with the call it guarded and whether it came before that call ran.
-- principal and reason leave redacted (docs/security.md).
select
    checks.event_id::varchar as event_id,
    checks.check_id::varchar as check_id,
    checks.trace_id::varchar as trace_id,
    checks.tool_call_id::varchar as tool_call_id,
    checks.tenant_id::varchar as tenant_id,
    redact_text(checks.agent_name)::varchar as agent_name,
    redact_text(checks.agent_version)::varchar as agent_version,
    redact_text(calls.tool_name)::varchar as tool_name,
    calls.access::varchar as access,
    redact_text(checks.policy)::varchar as policy,
    redact_text(checks.permission)::varchar as permission,
    redact_text(checks.principal)::varchar as principal,
    checks.decision::varchar as decision,
    redact_text(checks.reason)::varchar as reason,
    checks.sequence::bigint as sequence,
    checks.event_timestamp::timestamptz as checked_at,
    coalesce(calls.executed, false)::boolean as call_executed,
    (calls.executed and checks.sequence < calls.execution_sequence)::boolean as before_execution,
    checks.delivery_date::date as delivery_date
from {{ ref('stg_trace__policy_checks') }} as checks
left join (
    select * from {{ ref('int_tool_call_lifecycle') }}
    where true {{ pending_traces_only() }}
) as calls
    on calls.tenant_id = checks.tenant_id and calls.trace_id = checks.trace_id
   and calls.tool_call_id = checks.tool_call_id
where true {{ pending_trace_events_only('checks.trace_id', 'checks.delivery_date') }}
