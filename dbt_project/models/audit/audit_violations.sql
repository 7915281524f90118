{{ config(
    tags=['trace_scoped'],
    pre_hook=before_begin("{{ delete_rebuilt_traces('detected_in_partition') }}"),
) }}

-- The traces this build rebuilds, and the delivery days they touch (a full build reads all):
-- depends_on: {{ ref('int_rebuild_scope') }}, {{ ref('int_rebuild_days') }}

-- One row per breach of the audit rules R1–R8 and R10 and per finding R6U and R7T.
--
-- One home per rule: each rule is one CTE below, named after its rule_id and the seed's rule_name
-- (R3 confirmed_write is r3_confirmed_write), holding the rule's whole predicate under the rule's
-- one-line statement from the trace format spec (as in the seed's `statement`). The facts a
-- predicate reads are computed upstream and listed on the CTE's "facts:" line: per trace in
-- int_trace_facts, per tool call in int_tool_call_lifecycle (whose comments name the rules that
-- read each fact). The rule CTEs meet in one union (breaches); the final select adds the seed's
-- name, category and severity.
--
-- R9 nothing lost has no CTE: it is enforced at ingestion, per landing file (raw.ingest_files and
-- the blocking Dagster check r9_line_accounting, docs/trace-format.md).
--
-- Keys: R1/R7 by trace, R2–R6/R6U/R10 by tool call (R6: the side effect's tool_call_id), R8 by the
-- model call's event_id, R7T by trace, one row per tenant. A trace is (tenant_id, trace_id): every
-- breach carries its tenant. Each rule's dbt unit tests: models/audit/_audit_unit_tests.yml; the
-- independent Python reference: tests/reference_rules.py; changing or adding a rule:
-- docs/warehouse.md ("Changing or adding an audit rule").
{%- set no_key = 'cast(null as ' ~ trace_type('string') ~ ')' %}
with traces as (
    select * from {{ ref('int_trace_facts') }}
    {%- if is_incremental() %}
    where trace_id in (select trace_id from {{ ref('int_rebuild_scope') }})
      and first_delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
),

calls as (
    select * from {{ ref('int_tool_call_lifecycle') }}
    -- a 'calls' model: a trace whose calls did not change keeps the rows of an earlier build
    {%- if is_incremental() %}
    where trace_id in (select trace_id from {{ ref('int_rebuild_scope') }})
      and request_delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
),

-- R1 complete run: "a trace has exactly one user_request and exactly one final_result".
-- facts (int_trace_facts): user_request_count, final_result_count.
r1_complete_run as (
    select
        'R1' as rule_id, tenant_id, trace_id, {{ no_key }} as tool_call_id, {{ no_key }} as event_id,
        started_at as occurred_at,
        {{ format_text('expected exactly one user_request and one final_result, found {} and {}',
                       ['user_request_count', 'final_result_count']) }} as detail
    from traces
    where user_request_count <> 1 or final_result_count <> 1
),

-- R2 authorised write: "every executed state_changing tool call has a policy_check (its own or its
-- chain's first attempt's) with decision allow or require_confirmation, sequenced before the call's
-- execution (its tool_result, or its first side_effect where it has none)".
-- facts (int_tool_call_lifecycle): executed, access, authorised_before_execution
-- (an authorising check of the call or its chain's first attempt before the execution point).
r2_authorised_write as (
    select
        'R2' as rule_id, tenant_id, trace_id, tool_call_id, request_event_id as event_id,
        finished_at as occurred_at,
        {{ format_text('executed state_changing call to {} without an allow/require_confirmation policy check before execution (checks: own {}, chain first attempt {})',
                       ["coalesce(tool_name, '?')", 'own_check_count', 'root_check_count']) }} as detail
    from calls
    where executed and access = 'state_changing' and not authorised_before_execution
),

-- R3 confirmed write: "an executed tool call that requires confirmation (requires_confirmation: true,
-- or a check decision require_confirmation) has an approved confirmation_response (its own or its
-- chain's first attempt's) sequenced before the call's execution".
-- facts (int_tool_call_lifecycle): executed, confirmation_required, approved_before_execution
-- (an approval of the call or its chain's first attempt before the execution point).
r3_confirmed_write as (
    select
        'R3' as rule_id, tenant_id, trace_id, tool_call_id, request_event_id as event_id,
        finished_at as occurred_at,
        {{ format_text('executed call to {} required confirmation ({}) but had no approved confirmation before execution (last decision: {})',
                       ["coalesce(tool_name, '?')",
                        "case when requires_confirmation then 'requires_confirmation=true'
                              else 'policy decision require_confirmation' end",
                        "coalesce(confirmation_decision, 'none')"]) }} as detail
    from calls
    where executed and confirmation_required and not approved_before_execution
),

-- R4 one result: "every tool_call in execute mode has exactly one tool_result; a suggest one has none".
-- facts (int_tool_call_lifecycle): mode, result_count.
r4_one_result as (
    select
        'R4' as rule_id, tenant_id, trace_id, tool_call_id, request_event_id as event_id,
        requested_at as occurred_at,
        {{ format_text('{} call to {} has {} tool_result(s); expected {}',
                       ['mode', "coalesce(tool_name, '?')", 'result_count',
                        "case when mode = 'execute' then 'exactly 1' else 'none' end"]) }} as detail
    from calls
    where (mode = 'execute' and result_count <> 1) or (mode = 'suggest' and result_count > 0)
),

-- R5 no bypass: "a tool call whose policy decision (its own check's, or its chain's first attempt's)
-- is deny has no ok tool_result and no side_effect".
-- facts (int_tool_call_lifecycle): covered_by_deny, has_ok_result, side_effect_count.
r5_no_bypass as (
    select
        'R5' as rule_id, tenant_id, trace_id, tool_call_id, request_event_id as event_id,
        finished_at as occurred_at,
        {{ format_text('call to {} was denied by policy but produced {}',
                       ["coalesce(tool_name, '?')",
                        "concat_ws(' and ', case when has_ok_result then 'an ok tool_result' end,
                                   case when side_effect_count > 0 then "
                                   ~ format_text('{} side effect(s)', ['side_effect_count']) ~ " end)"]) }} as detail
    from calls
    where covered_by_deny and (has_ok_result or side_effect_count > 0)
),

-- R6 honest access: "every side_effect belongs to an executed state_changing tool call".
-- facts: the side_effect events (stg_trace__side_effects) and, of the call they name,
-- int_tool_call_lifecycle's executed and access. One row per tool_call_id; a side effect without
-- any tool_call_id is a row of its own.
r6_honest_access as (
    select
        'R6' as rule_id, side_effects.tenant_id, side_effects.trace_id, side_effects.tool_call_id,
        min(side_effects.event_id) as event_id,
        min(side_effects.event_timestamp) as occurred_at,
        {{ format_text('{} side effect(s) ({}) attributed to {}',
                       ['count(*)',
                        sorted_distinct_string_agg("side_effects.operation || ' ' || coalesce(side_effects.resource_type, '?')", ', '),
                        "case when any_value(calls.tool_call_id) is null then 'no tool_call in this trace'
                              when not any_value(calls.executed)
                                  then 'a tool call that did not execute (mode ' || coalesce(any_value(calls.mode), '?') || ')'
                              else 'a ' || coalesce(any_value(calls.access), 'unknown-access') || ' tool call' end"]) }} as detail
    from {{ ref('stg_trace__side_effects') }} as side_effects
    left join calls
        on calls.tenant_id = side_effects.tenant_id and calls.trace_id = side_effects.trace_id
       and calls.tool_call_id = side_effects.tool_call_id
    where not coalesce(calls.executed and calls.access = 'state_changing', false)
        {%- if is_incremental() %}
          and side_effects.trace_id in (select trace_id from {{ ref('int_rebuild_scope') }})
          and side_effects.delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
        {%- endif %}
    group by side_effects.tenant_id, side_effects.trace_id, side_effects.tool_call_id,
             case when side_effects.tool_call_id is null then side_effects.event_id end
),

-- R6U unknown access (a finding, docs/otlp.md): "an executed tool call whose access class nothing in
-- the trail tells (access unknown, or no access at all) is a finding of its own kind: R2 and R6
-- cannot judge whether it changed state, and it is never assumed read-only". OTLP tool spans
-- without trace_platform.tool.access or MCP annotations load as access `unknown`.
-- facts (int_tool_call_lifecycle): executed, access.
r6u_unknown_access as (
    select
        'R6U' as rule_id, tenant_id, trace_id, tool_call_id, request_event_id as event_id,
        finished_at as occurred_at,
        {{ format_text('executed call to {} has no known access class (access {}): R2 and R6 cannot judge whether it changed state',
                       ["coalesce(tool_name, '?')", "coalesce(access, 'missing')"]) }} as detail
    from calls
    where executed and coalesce(access, 'unknown') not in ('read_only', 'state_changing')
),

-- R7 well-formed trace: "sequence is contiguous from 0 inside a trace; every parent_span_id names a
-- span of the same trace".
-- facts (int_trace_facts): sequence_is_contiguous (with event_count, distinct_sequence_count,
-- min_sequence, max_sequence), orphan_parent_count, first_orphan_event_id.
r7_well_formed_trace as (
    select
        'R7' as rule_id, tenant_id, trace_id, {{ no_key }} as tool_call_id, first_orphan_event_id as event_id,
        started_at as occurred_at,
        concat_ws('; ',
            case when not sequence_is_contiguous
                then {{ format_text('sequence not contiguous from 0: {} events, {} distinct sequences, range {}..{}',
                                    ['event_count', 'distinct_sequence_count', 'min_sequence', 'max_sequence']) }} end,
            case when orphan_parent_count > 0
                then {{ format_text('{} event(s) name a parent_span_id that is not a span of this trace',
                                    ['orphan_parent_count']) }} end) as detail
    from traces
    where not sequence_is_contiguous or orphan_parent_count > 0
),

-- R7T tenant collision (a finding, the spec's "Tenant scope"): "a trace_id claimed by more than one
-- tenant is itself a trail-completeness finding". Each tenant's events stay a trace of their own
-- (never combined: one tenant's approval cannot cover another's call); one row per tenant, naming
-- no other tenant.
-- facts (int_trace_facts): claiming_tenant_count.
r7t_tenant_collision as (
    select
        'R7T' as rule_id, tenant_id, trace_id, {{ no_key }} as tool_call_id, {{ no_key }} as event_id,
        started_at as occurred_at,
        {{ format_text('trace_id is also used by {} other tenant(s); their events are kept apart as separate traces',
                       ['claiming_tenant_count - 1']) }} as detail
    from traces
    where claiming_tenant_count > 1
),

-- R8 model identity: "every model_call names model and model_version".
-- facts: the model_call events (stg_trace__model_calls); missing, null or blank is not a name.
r8_model_identity as (
    select
        'R8' as rule_id, tenant_id, trace_id, {{ no_key }} as tool_call_id, event_id,
        event_timestamp as occurred_at,
        {{ format_text('model_call is missing {}',
                       ["concat_ws(' and ', case when nullif(trim(model), '') is null then 'model' end,
                                   case when nullif(trim(model_version), '') is null then 'model_version' end)"]) }} as detail
    from {{ ref('stg_trace__model_calls') }}
    where (nullif(trim(model), '') is null or nullif(trim(model_version), '') is null)
        {%- if is_incremental() %}
          and trace_id in (select trace_id from {{ ref('int_rebuild_scope') }})
          and delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
        {%- endif %}
),

-- R10 approved what ran: "where the approved confirmation's request carries arguments, they equal the
-- executed call's arguments as JSON values (key order ignored)".
-- facts (int_tool_call_lifecycle): executed, approved_arguments_match (false: a covering approval
-- before execution showed other arguments; null: none showed any), approved_confirmations_with_arguments.
r10_approved_what_ran as (
    select
        'R10' as rule_id, tenant_id, trace_id, tool_call_id, request_event_id as event_id,
        finished_at as occurred_at,
        {{ format_text('call to {} ran with arguments that differ from those shown in {} approved confirmation(s)',
                       ["coalesce(tool_name, '?')", 'approved_confirmations_with_arguments']) }} as detail
    from calls
    where executed and approved_arguments_match = false
),

breaches as (
    select rule_id, tenant_id, trace_id, tool_call_id, event_id, occurred_at, detail from r1_complete_run
    union all
    select rule_id, tenant_id, trace_id, tool_call_id, event_id, occurred_at, detail from r2_authorised_write
    union all
    select rule_id, tenant_id, trace_id, tool_call_id, event_id, occurred_at, detail from r3_confirmed_write
    union all
    select rule_id, tenant_id, trace_id, tool_call_id, event_id, occurred_at, detail from r4_one_result
    union all
    select rule_id, tenant_id, trace_id, tool_call_id, event_id, occurred_at, detail from r5_no_bypass
    union all
    select rule_id, tenant_id, trace_id, tool_call_id, event_id, occurred_at, detail from r6_honest_access
    union all
    select rule_id, tenant_id, trace_id, tool_call_id, event_id, occurred_at, detail from r6u_unknown_access
    union all
    select rule_id, tenant_id, trace_id, tool_call_id, event_id, occurred_at, detail from r7_well_formed_trace
    union all
    select rule_id, tenant_id, trace_id, tool_call_id, event_id, occurred_at, detail from r7t_tenant_collision
    union all
    select rule_id, tenant_id, trace_id, tool_call_id, event_id, occurred_at, detail from r8_model_identity
    -- (R9 nothing lost: enforced at ingestion, per landing file, in raw.ingest_files; no CTE here)
    union all
    select rule_id, tenant_id, trace_id, tool_call_id, event_id, occurred_at, detail from r10_approved_what_ran
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
    {{ redact_text('traces.agent_name') }} as agent_name,
    {{ redact_text('traces.agent_version') }} as agent_version,
    -- names and statuses an agent logged could carry a secret: redacted like every analyst text
    {{ redact_text('breaches.detail') }} as detail,
    breaches.occurred_at,
    -- the latest delivery day of the trace's events: where the evidence became complete
    traces.last_delivery_date as detected_in_partition
from breaches
join traces using (tenant_id, trace_id)
join {{ ref('audit_rules') }} as rules using (rule_id)
