{{ config(
    tags=['trace_scoped'],
    pre_hook=before_begin("{{ delete_rebuilt_traces('delivery_date', only_calls_changed=true) }}"),
) }}

-- The traces this build rebuilds, and the delivery days they touch (a full build reads all):
-- depends_on: {{ ref('int_rebuild_scope') }}, {{ ref('int_rebuild_days') }}

-- One row per policy check, with the call it guarded and whether it came before that call ran.
-- principal and reason leave redacted (docs/security.md).
select
    cast(checks.event_id as {{ trace_type('string') }}) as event_id,
    cast(checks.check_id as {{ trace_type('string') }}) as check_id,
    cast(checks.trace_id as {{ trace_type('string') }}) as trace_id,
    cast(checks.tool_call_id as {{ trace_type('string') }}) as tool_call_id,
    cast(checks.tenant_id as {{ trace_type('string') }}) as tenant_id,
    cast({{ redact_text('checks.agent_name') }} as {{ trace_type('string') }}) as agent_name,
    cast({{ redact_text('checks.agent_version') }} as {{ trace_type('string') }}) as agent_version,
    cast({{ redact_text('calls.tool_name') }} as {{ trace_type('string') }}) as tool_name,
    cast(calls.access as {{ trace_type('string') }}) as access,
    cast({{ redact_text('checks.policy') }} as {{ trace_type('string') }}) as policy,
    cast({{ redact_text('checks.permission') }} as {{ trace_type('string') }}) as permission,
    cast({{ redact_text('checks.principal') }} as {{ trace_type('string') }}) as principal,
    cast(checks.decision as {{ trace_type('string') }}) as decision,
    cast({{ redact_text('checks.reason') }} as {{ trace_type('string') }}) as reason,
    cast(checks.sequence as bigint) as sequence,
    cast(checks.event_timestamp as {{ trace_type('timestamp_tz') }}) as checked_at,
    cast(coalesce(calls.executed, false) as boolean) as call_executed,
    cast((calls.executed and checks.sequence < calls.execution_sequence) as boolean) as before_execution,
    cast(checks.delivery_date as date) as delivery_date
from {{ ref('stg_trace__policy_checks') }} as checks
left join (
    select * from {{ ref('int_tool_call_lifecycle') }}
    {%- if is_incremental() %}
    where trace_id in (select trace_id from {{ ref('int_rebuild_scope') }} where calls_changed)
      and request_delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
) as calls
    on calls.tenant_id = checks.tenant_id and calls.trace_id = checks.trace_id
   and calls.tool_call_id = checks.tool_call_id
{%- if is_incremental() %}
where checks.trace_id in (select trace_id from {{ ref('int_rebuild_scope') }} where calls_changed)
  and checks.delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
{%- endif %}
