{{ config(materialized='incremental', tags=['trace_scoped'], incremental_strategy='trace_scoped') }}

-- One row per breach of the audit rules R1–R8 and R10 (R9 is enforced at ingestion), and per
-- finding R6U (an executed tool call of unknown access class, docs/otlp.md).
-- Keys: R1/R7 by trace, R2–R6/R6U/R10 by tool call (R6: the side effect's tool_call_id), R8 by the
-- model call's event_id, R7T by trace, one row per tenant. A trace is (tenant_id, trace_id): every
-- breach carries its tenant. Exact semantics: see int_tool_call_lifecycle and docs/trace-format.md.
with traces as (
    select * from {{ ref('int_trace_facts') }}
    where true {{ pending_traces_only() }}
),

calls as (
    select * from {{ ref('int_tool_call_lifecycle') }}
    -- a 'calls' model: a trace whose calls did not change keeps the rows of an earlier build
    where true {{ pending_trace_events_only('trace_id', 'request_delivery_date') }}
),

breaches as (
    select 'R1' as rule_id, tenant_id, trace_id, null as tool_call_id, null as event_id, started_at as occurred_at,
           format('expected exactly one user_request and one final_result, found {} and {}',
                  user_request_count, final_result_count) as detail
    from traces
    where user_request_count <> 1 or final_result_count <> 1

    union all
    select 'R2', tenant_id, trace_id, tool_call_id, request_event_id, finished_at,
           format('executed state_changing call to {} without an allow/require_confirmation policy check before execution (checks: own {}, chain first attempt {})',
                  coalesce(tool_name, '?'), own_check_count, root_check_count)
    from calls
    where executed and access = 'state_changing' and not authorised_before_execution

    union all
    select 'R3', tenant_id, trace_id, tool_call_id, request_event_id, finished_at,
           format('executed call to {} required confirmation ({}) but had no approved confirmation before execution (last decision: {})',
                  coalesce(tool_name, '?'),
                  case when requires_confirmation then 'requires_confirmation=true' else 'policy decision require_confirmation' end,
                  coalesce(confirmation_decision, 'none'))
    from calls
    where executed and confirmation_required and not approved_before_execution

    union all
    select 'R4', tenant_id, trace_id, tool_call_id, request_event_id, requested_at,
           format('{} call to {} has {} tool_result(s); expected {}',
                  mode, coalesce(tool_name, '?'), result_count, case when mode = 'execute' then 'exactly 1' else 'none' end)
    from calls
    where (mode = 'execute' and result_count <> 1) or (mode = 'suggest' and result_count > 0)

    union all
    select 'R5', tenant_id, trace_id, tool_call_id, request_event_id, finished_at,
           format('call to {} was denied by policy but produced {}',
                  coalesce(tool_name, '?'),
                  concat_ws(' and ', case when has_ok_result then 'an ok tool_result' end,
                            case when side_effect_count > 0 then side_effect_count || ' side effect(s)' end))
    from calls
    where covered_by_deny and (has_ok_result or side_effect_count > 0)

    union all
    select 'R6', side_effects.tenant_id, side_effects.trace_id, side_effects.tool_call_id,
           min(side_effects.event_id), min(side_effects.event_timestamp),
           format('{} side effect(s) ({}) attributed to {}',
                  count(*), string_agg(distinct side_effects.operation || ' ' || coalesce(side_effects.resource_type, '?'), ', '),
                  case when any_value(calls.tool_call_id) is null then 'no tool_call in this trace'
                       when not any_value(calls.executed) then 'a tool call that did not execute (mode ' || coalesce(any_value(calls.mode), '?') || ')'
                       else 'a ' || coalesce(any_value(calls.access), 'unknown-access') || ' tool call' end)
    from {{ ref('stg_trace__side_effects') }} as side_effects
    left join calls
        on calls.tenant_id = side_effects.tenant_id and calls.trace_id = side_effects.trace_id
       and calls.tool_call_id = side_effects.tool_call_id
    where not coalesce(calls.executed and calls.access = 'state_changing', false)
        {{ pending_trace_events_only('side_effects.trace_id', 'side_effects.delivery_date') }}
    group by side_effects.tenant_id, side_effects.trace_id, side_effects.tool_call_id,
             -- a side effect without any tool_call_id is its own breach
             case when side_effects.tool_call_id is null then side_effects.event_id end

    union all
    -- R6U: an executed call whose access class nothing in the trail tells (access `unknown`, as OTLP
    -- tool spans without trace_platform.tool.access or MCP annotations load; or missing). R2 and R6
    -- cannot judge it, so it is a finding of its own kind rather than a guess (docs/otlp.md).
    select 'R6U', tenant_id, trace_id, tool_call_id, request_event_id, finished_at,
           format('executed call to {} has no known access class (access {}): R2 and R6 cannot judge whether it changed state',
                  coalesce(tool_name, '?'), coalesce(access, 'missing'))
    from calls
    where executed and coalesce(access, 'unknown') not in ('read_only', 'state_changing')

    union all
    select 'R7', tenant_id, trace_id, null, first_orphan_event_id, started_at,
           concat_ws('; ',
                case when not sequence_is_contiguous then format('sequence not contiguous from 0: {} events, {} distinct sequences, range {}..{}',
                     event_count, distinct_sequence_count, min_sequence, max_sequence) end,
                case when orphan_parent_count > 0 then format('{} event(s) name a parent_span_id that is not a span of this trace', orphan_parent_count) end)
    from traces
    where not sequence_is_contiguous or orphan_parent_count > 0

    union all
    -- R7T: events of more than one tenant carry this trace_id. Each tenant's events stay a trace of
    -- their own (never combined, so one tenant's approval cannot cover another's call); the shared
    -- id is itself a completeness finding, one row per tenant, naming no other tenant.
    select 'R7T', tenant_id, trace_id, null, null, started_at,
           format('trace_id is also used by {} other tenant(s); their events are kept apart as separate traces',
                  claiming_tenant_count - 1)
    from traces
    where claiming_tenant_count > 1

    union all
    select 'R8', tenant_id, trace_id, null, event_id, event_timestamp,
           format('model_call is missing {}',
                  concat_ws(' and ', case when nullif(trim(model), '') is null then 'model' end,
                            case when nullif(trim(model_version), '') is null then 'model_version' end))
    from {{ ref('stg_trace__model_calls') }}
    where (nullif(trim(model), '') is null or nullif(trim(model_version), '') is null)
        {{ pending_trace_events_only() }}

    union all
    select 'R10', tenant_id, trace_id, tool_call_id, request_event_id, finished_at,
           format('call to {} ran with arguments that differ from those shown in {} approved confirmation(s)',
                  coalesce(tool_name, '?'), approved_confirmations_with_arguments)
    from calls
    where executed and approved_arguments_match = false
)

select
    md5(concat_ws('|', breaches.rule_id, breaches.tenant_id, breaches.trace_id, breaches.tool_call_id, breaches.event_id))
        as violation_id,
    breaches.rule_id,
    rules.rule_name,
    rules.category,
    rules.severity,
    breaches.trace_id,
    breaches.tool_call_id,
    breaches.event_id,
    breaches.tenant_id,
    redact_text(traces.agent_name) as agent_name,
    redact_text(traces.agent_version) as agent_version,
    -- names and statuses an agent logged could carry a secret: redacted like every analyst text
    redact_text(breaches.detail) as detail,
    breaches.occurred_at,
    -- the latest delivery day of the trace's events: where the evidence became complete
    traces.last_delivery_date as detected_in_partition
from breaches
join traces using (tenant_id, trace_id)
join {{ ref('audit_rules') }} as rules using (rule_id)
