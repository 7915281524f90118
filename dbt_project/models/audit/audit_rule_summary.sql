{{ config(materialized='table') }}

-- Breaches per activity day × tenant × agent build × rule, with the rate over the units the rule
-- is about (traces for R1/R7, tool calls for R2–R6/R10, model calls for R8).
with activity as (
    select activity_date, tenant_id, agent_name, agent_version,
           count(*) as trace_count,
           sum(tool_call_count) as tool_call_count,
           sum(model_call_count) as model_call_count
    from {{ ref('fct_outcomes') }}
    group by activity_date, tenant_id, agent_name, agent_version
),

breaches as (
    select outcomes.activity_date, outcomes.tenant_id, outcomes.agent_name, outcomes.agent_version,
           violations.rule_id, count(*) as breach_count
    from {{ ref('audit_violations') }} as violations
    join {{ ref('fct_outcomes') }} as outcomes using (tenant_id, trace_id)
    group by outcomes.activity_date, outcomes.tenant_id, outcomes.agent_name, outcomes.agent_version,
             violations.rule_id
),

grid as (
    select activity.*, rules.rule_id, rules.rule_name, rules.category, rules.severity, rules.key_column,
           case rules.key_column
               when 'trace_id' then activity.trace_count
               when 'tool_call_id' then activity.tool_call_count
               when 'event_id' then activity.model_call_count
           end as unit_count
    from activity
    cross join {{ ref('audit_rules') }} as rules
    where rules.rule_id <> 'R9'
)

select
    grid.activity_date,
    grid.tenant_id,
    grid.agent_name,
    grid.agent_version,
    grid.rule_id,
    grid.rule_name,
    grid.category,
    grid.severity,
    grid.key_column as unit,
    cast(grid.unit_count as bigint) as unit_count,
    cast(coalesce(breaches.breach_count, 0) as bigint) as breach_count,
    cast(case when grid.unit_count > 0 then coalesce(breaches.breach_count, 0) / grid.unit_count end as double) as breach_rate
from grid
left join breaches using (activity_date, tenant_id, agent_name, agent_version, rule_id)
