{{ config(
    tags=['trace_scoped'],
    pre_hook=before_begin("{{ delete_rebuilt_traces('request_delivery_date', only_calls_changed=true) }}"),
) }}

-- The traces this build rebuilds, and the delivery days they touch (a full build reads all):
-- depends_on: {{ ref('int_rebuild_scope') }}, {{ ref('int_rebuild_days') }}

-- The lifecycle of each tool call, one row per (tenant_id, trace_id, tool_call_id): the request, its policy
-- checks, confirmations, result, side effects and rollbacks, plus the audit facts derived from
-- the spec's definitions:
--   executed: mode `execute` and a tool_result with status ok/error/timeout, or any side_effect;
--   execution point: the call's (first) tool_result, or its first side_effect where it has none;
--   "sequenced before": a lower `sequence` in the same trace;
--   coverage: a call is covered by its own checks/confirmations or by its chain's first attempt's.
-- The rules' predicates are in audit/audit_violations.sql, one CTE per rule (r2_authorised_write, ...),
-- each naming the facts it reads; a comment "R<n>" here marks a fact a rule reads.
with calls as (
    {% call first_row_per('tenant_id, trace_id, tool_call_id', 'sequence, event_id') -%}
    select *, count(*) over (partition by tenant_id, trace_id, tool_call_id) as tool_call_event_count
    from {{ ref('stg_trace__tool_calls') }}
    where tool_call_id is not null
    {%- if is_incremental() %}
      and trace_id in (select trace_id from {{ ref('int_rebuild_scope') }} where calls_changed)
      and delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
    {%- endcall %}
),

chains as (
    select * from {{ ref('int_tool_call_chains') }}
    {%- if is_incremental() %}
    where trace_id in (select trace_id from {{ ref('int_rebuild_scope') }} where calls_changed)
      and delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
),

checks as (
    select
        tenant_id, trace_id, tool_call_id,
        count(*) as check_count,
        bool_or(decision = 'deny') as has_deny,
        bool_or(decision = 'require_confirmation') as has_require_confirmation,
        bool_or(decision = 'allow') as has_allow,
        min(sequence) filter (where decision in ('allow', 'require_confirmation')) as first_authorising_sequence
    from {{ ref('stg_trace__policy_checks') }}
    where tool_call_id is not null
    {%- if is_incremental() %}
      and trace_id in (select trace_id from {{ ref('int_rebuild_scope') }} where calls_changed)
      and delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
    group by tenant_id, trace_id, tool_call_id
),

results as (
    select
        tenant_id, trace_id, tool_call_id,
        count(*) as result_count,
        count(*) filter (where status in ('ok', 'error', 'timeout')) as executing_result_count,
        bool_or(status = 'ok') as has_ok_result,
        min(sequence) as first_result_sequence,
        {{ arg_min('status', 'sequence') }} as result_status,
        {{ arg_min('error_type', 'sequence') }} as error_type,
        {{ arg_min('latency_ms', 'sequence') }} as latency_ms,
        min(event_timestamp) as first_result_at
    from {{ ref('stg_trace__tool_results') }}
    where tool_call_id is not null
    {%- if is_incremental() %}
      and trace_id in (select trace_id from {{ ref('int_rebuild_scope') }} where calls_changed)
      and delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
    group by tenant_id, trace_id, tool_call_id
),

side_effects as (
    select
        tenant_id, trace_id, tool_call_id,
        count(*) as side_effect_count,
        count(*) filter (where reversible) as reversible_side_effect_count,
        min(sequence) as first_side_effect_sequence,
        max(event_timestamp) as last_side_effect_at
    from {{ ref('stg_trace__side_effects') }}
    where tool_call_id is not null
    {%- if is_incremental() %}
      and trace_id in (select trace_id from {{ ref('int_rebuild_scope') }} where calls_changed)
      and delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
    group by tenant_id, trace_id, tool_call_id
),

rollbacks as (
    select tenant_id, trace_id, tool_call_id,
           count(*) filter (where status = 'ok') as successful_rollback_count,
           max(event_timestamp) filter (where status = 'ok') as rolled_back_at
    from {{ ref('stg_trace__rollbacks') }}
    where tool_call_id is not null
    {%- if is_incremental() %}
      and trace_id in (select trace_id from {{ ref('int_rebuild_scope') }} where calls_changed)
      and delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
    group by tenant_id, trace_id, tool_call_id
),

responses as (
    select tenant_id, trace_id, tool_call_id,
           count(*) as confirmation_response_count,
           min(sequence) filter (where decision = 'approved') as first_approval_sequence,
           {{ arg_max('decision', 'sequence') }} as last_confirmation_decision
    from {{ ref('stg_trace__confirmation_responses') }}
    where tool_call_id is not null
    {%- if is_incremental() %}
      and trace_id in (select trace_id from {{ ref('int_rebuild_scope') }} where calls_changed)
      and delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
    group by tenant_id, trace_id, tool_call_id
),

requests as (
    select tenant_id, trace_id, tool_call_id, count(*) as confirmation_request_count
    from {{ ref('stg_trace__confirmation_requests') }}
    where tool_call_id is not null
    {%- if is_incremental() %}
      and trace_id in (select trace_id from {{ ref('int_rebuild_scope') }} where calls_changed)
      and delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
    group by tenant_id, trace_id, tool_call_id
),

-- The chain's first attempt where it is another call (NULL for a first attempt), as a plain
-- column so every join below is an equi-join (an inequality in a LEFT JOIN's condition makes
-- DuckDB fall back to a nested loop: measured 66 s -> see docs/performance.md).
calls_with_chain as (
    select
        calls.*,
        coalesce(chains.chain_root_tool_call_id, calls.tool_call_id) as chain_root_tool_call_id,
        coalesce(chains.chain_position, 0) as chain_position,
        nullif(chains.chain_root_tool_call_id, calls.tool_call_id) as earlier_root_tool_call_id
    from calls
    left join chains using (tenant_id, trace_id, tool_call_id)
),

lifecycle as (
    select
        calls.trace_id,
        calls.tool_call_id,
        calls.event_id as request_event_id,
        calls.span_id,
        calls.sequence as request_sequence,
        calls.event_timestamp as requested_at,
        calls.delivery_date as request_delivery_date,
        calls.tenant_id, calls.user_id, calls.session_id, calls.agent_name, calls.agent_version,
        calls.tool_name, calls.tool_version, calls.arguments, calls.access, calls.mode,
        calls.attempt, calls.retry_of, calls.requires_confirmation, calls.tool_call_event_count,
        calls.chain_root_tool_call_id,
        calls.chain_position,

        coalesce(own_checks.check_count, 0) as own_check_count,
        coalesce(root_checks.check_count, 0) as root_check_count,
        coalesce(own_checks.has_deny, false) or coalesce(root_checks.has_deny, false) as covered_by_deny,  -- R5
        coalesce(own_checks.has_require_confirmation, false)
            or coalesce(root_checks.has_require_confirmation, false) as covered_by_require_confirmation,
        coalesce(own_checks.has_allow, false) or coalesce(root_checks.has_allow, false) as covered_by_allow,
        least(own_checks.first_authorising_sequence, root_checks.first_authorising_sequence)
            as first_authorising_sequence,
        least(own_responses.first_approval_sequence, root_responses.first_approval_sequence)
            as first_approval_sequence,
        coalesce(own_requests.confirmation_request_count, 0) as confirmation_request_count,
        coalesce(own_responses.confirmation_response_count, 0) as confirmation_response_count,
        coalesce(own_responses.last_confirmation_decision, root_responses.last_confirmation_decision)
            as confirmation_decision,

        coalesce(results.result_count, 0) as result_count,  -- R4
        coalesce(results.executing_result_count, 0) as executing_result_count,
        coalesce(results.has_ok_result, false) as has_ok_result,  -- R5
        results.first_result_sequence,
        results.result_status,
        results.error_type,
        results.latency_ms,
        results.first_result_at,
        coalesce(side_effects.side_effect_count, 0) as side_effect_count,  -- R5
        coalesce(side_effects.reversible_side_effect_count, 0) as reversible_side_effect_count,
        side_effects.first_side_effect_sequence,
        side_effects.last_side_effect_at,
        coalesce(rollbacks.successful_rollback_count, 0) > 0 as rolled_back,
        rollbacks.rolled_back_at
    from calls_with_chain as calls
    left join checks as own_checks
        on own_checks.tenant_id = calls.tenant_id and own_checks.trace_id = calls.trace_id
       and own_checks.tool_call_id = calls.tool_call_id
    left join checks as root_checks
        on root_checks.tenant_id = calls.tenant_id and root_checks.trace_id = calls.trace_id
       and root_checks.tool_call_id = calls.earlier_root_tool_call_id
    left join responses as own_responses
        on own_responses.tenant_id = calls.tenant_id and own_responses.trace_id = calls.trace_id
       and own_responses.tool_call_id = calls.tool_call_id
    left join responses as root_responses
        on root_responses.tenant_id = calls.tenant_id and root_responses.trace_id = calls.trace_id
       and root_responses.tool_call_id = calls.earlier_root_tool_call_id
    left join requests as own_requests
        on own_requests.tenant_id = calls.tenant_id and own_requests.trace_id = calls.trace_id
       and own_requests.tool_call_id = calls.tool_call_id
    left join results
        on results.tenant_id = calls.tenant_id and results.trace_id = calls.trace_id
       and results.tool_call_id = calls.tool_call_id
    left join side_effects
        on side_effects.tenant_id = calls.tenant_id and side_effects.trace_id = calls.trace_id
       and side_effects.tool_call_id = calls.tool_call_id
    left join rollbacks
        on rollbacks.tenant_id = calls.tenant_id and rollbacks.trace_id = calls.trace_id
       and rollbacks.tool_call_id = calls.tool_call_id
),

with_execution as (
    select
        *,
        -- R2, R3, R6, R6U, R10 judge executed calls only
        mode = 'execute' and (executing_result_count > 0 or side_effect_count > 0) as executed,
        coalesce(first_result_sequence, first_side_effect_sequence) as execution_sequence
    from lifecycle
),

-- The calls whose execution a confirmation can cover: its own, and its chain's first attempt's
-- (two equi-join keys rather than an IN-list join, which DuckDB would run as a nested loop).
coverage as (
    select tenant_id, trace_id, tool_call_id, tool_call_id as covering_tool_call_id, execution_sequence, arguments
    from with_execution where executed
    union all
    select tenant_id, trace_id, tool_call_id, chain_root_tool_call_id, execution_sequence, arguments
    from with_execution where executed and chain_root_tool_call_id <> tool_call_id
),

-- R10: the arguments shown in each approved confirmation that covers the execution.
approved_arguments as (
    select
        coverage.tenant_id,
        coverage.trace_id,
        coverage.tool_call_id,
        count(*) as approved_confirmations_with_arguments,
        bool_and(coalesce({{ json_equal('confirmations.arguments_shown', 'coverage.arguments') }}, false))
            as approved_arguments_match
    from coverage
    join {{ ref('int_confirmations') }} as confirmations
        on confirmations.tenant_id = coverage.tenant_id
       and confirmations.trace_id = coverage.trace_id
       and confirmations.tool_call_id = coverage.covering_tool_call_id
       and confirmations.decision = 'approved'
       and confirmations.response_sequence < coverage.execution_sequence
       and confirmations.arguments_shown is not null
    {%- if is_incremental() %}
    where confirmations.trace_id in (select trace_id from {{ ref('int_rebuild_scope') }} where calls_changed)
      and confirmations.delivery_date in (select delivery_date from {{ ref('int_rebuild_days') }})
    {%- endif %}
    group by coverage.tenant_id, coverage.trace_id, coverage.tool_call_id
)

select
    with_execution.*,
    -- R2: an allow/require_confirmation check (own or chain root's) sequenced before the execution point
    coalesce(first_authorising_sequence < execution_sequence, false) as authorised_before_execution,
    -- R3: requires_confirmation true, or a covering check decided require_confirmation
    coalesce(requires_confirmation, false) or covered_by_require_confirmation as confirmation_required,
    -- R3: an approved response (own or chain root's) sequenced before the execution point
    coalesce(first_approval_sequence < execution_sequence, false) as approved_before_execution,
    -- R10: false when a covering approval before execution showed other arguments; null when none showed any
    approved_arguments.approved_confirmations_with_arguments,
    approved_arguments.approved_arguments_match,
    case when executed then coalesce(first_result_at, last_side_effect_at) end as finished_at,
    (select max(changes_logged_through) from {{ ref('int_trace_changes') }}) as model_build_seq
from with_execution
left join approved_arguments using (tenant_id, trace_id, tool_call_id)
