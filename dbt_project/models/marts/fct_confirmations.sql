{{ config(materialized='incremental', tags=['trace_scoped'], incremental_strategy='trace_scoped',
          trace_scope='calls') }}

-- One row per confirmation: the request joined to the user's response, and whether the
-- arguments the user was shown equal the arguments of the call that ran (compared unredacted;
-- prompt, arguments shown and responder leave redacted: docs/security.md).
select
    confirmations.confirmation_id::varchar as confirmation_id,
    confirmations.trace_id::varchar as trace_id,
    confirmations.tool_call_id::varchar as tool_call_id,
    confirmations.tenant_id::varchar as tenant_id,
    redact_text(confirmations.agent_name)::varchar as agent_name,
    redact_text(confirmations.agent_version)::varchar as agent_version,
    redact_text(calls.tool_name)::varchar as tool_name,
    redact_text(confirmations.prompt)::varchar as prompt,
    redact_json(confirmations.arguments_shown)::json as arguments_shown,
    confirmations.decision::varchar as decision,
    redact_text(confirmations.responder)::varchar as responder,
    confirmations.requested_at::timestamptz as requested_at,
    confirmations.responded_at::timestamptz as responded_at,
    confirmations.seconds_to_respond::double as seconds_to_respond,
    coalesce(calls.executed, false)::boolean as call_executed,
    (case when confirmations.arguments_shown is not null and calls.tool_call_id is not null
          then coalesce({{ json_equal('confirmations.arguments_shown', 'calls.arguments') }}, false)
     end)::boolean as arguments_match,
    confirmations.request_event_id::varchar as request_event_id,
    confirmations.response_event_id::varchar as response_event_id,
    confirmations.delivery_date::date as delivery_date
from {{ ref('int_confirmations') }} as confirmations
left join (
    select * from {{ ref('int_tool_call_lifecycle') }}
    where true {{ pending_traces_only() }}
) as calls
    on calls.tenant_id = confirmations.tenant_id and calls.trace_id = confirmations.trace_id
   and calls.tool_call_id = confirmations.tool_call_id
where true {{ pending_traces_only('confirmations.trace_id') }}
