{{ config(
    tags=['trace_scoped'],
    pre_hook=before_begin("{{ delete_rebuilt_traces('delivery_date', only_calls_changed=true) }}"),
) }}

-- The traces this build rebuilds, and the delivery days they touch (a full build reads all):
-- depends_on: {{ ref('int_rebuild_scope') }}, {{ ref('int_rebuild_days') }}

-- One row per confirmation: the request joined to the user's response, and whether the
-- arguments the user was shown equal the arguments of the call that ran (compared unredacted;
-- prompt, arguments shown and responder leave redacted: docs/security.md).
select
    cast(confirmations.confirmation_id as {{ trace_type('string') }}) as confirmation_id,
    cast(confirmations.trace_id as {{ trace_type('string') }}) as trace_id,
    cast(confirmations.tool_call_id as {{ trace_type('string') }}) as tool_call_id,
    cast(confirmations.tenant_id as {{ trace_type('string') }}) as tenant_id,
    cast({{ redact_text('confirmations.agent_name') }} as {{ trace_type('string') }}) as agent_name,
    cast({{ redact_text('confirmations.agent_version') }} as {{ trace_type('string') }}) as agent_version,
    cast({{ redact_text('calls.tool_name') }} as {{ trace_type('string') }}) as tool_name,
    cast({{ redact_text('confirmations.prompt') }} as {{ trace_type('string') }}) as prompt,
    cast({{ redact_json('confirmations.arguments_shown') }} as {{ trace_type('json') }}) as arguments_shown,
    cast(confirmations.decision as {{ trace_type('string') }}) as decision,
    cast({{ redact_text('confirmations.responder') }} as {{ trace_type('string') }}) as responder,
    cast(confirmations.requested_at as {{ trace_type('timestamp_tz') }}) as requested_at,
    cast(confirmations.responded_at as {{ trace_type('timestamp_tz') }}) as responded_at,
    cast(confirmations.seconds_to_respond as double) as seconds_to_respond,
    cast(coalesce(calls.executed, false) as boolean) as call_executed,
    cast(case when confirmations.arguments_shown is not null and calls.tool_call_id is not null
              then coalesce({{ json_equal('confirmations.arguments_shown', 'calls.arguments') }}, false)
         end as boolean) as arguments_match,
    cast(confirmations.request_event_id as {{ trace_type('string') }}) as request_event_id,
    cast(confirmations.response_event_id as {{ trace_type('string') }}) as response_event_id,
    cast(confirmations.delivery_date as date) as delivery_date
from {{ ref('int_confirmations') }} as confirmations
left join (
    select * from {{ ref('int_tool_call_lifecycle') }}
    {%- if is_incremental() %}
    where trace_id in (select trace_id from {{ ref('int_rebuild_scope') }} where calls_changed)
      and request_delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
) as calls
    on calls.tenant_id = confirmations.tenant_id and calls.trace_id = confirmations.trace_id
   and calls.tool_call_id = confirmations.tool_call_id
{%- if is_incremental() %}
where confirmations.trace_id in (select trace_id from {{ ref('int_rebuild_scope') }} where calls_changed)
  and confirmations.delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
{%- endif %}
