{{ config(materialized='incremental', incremental_strategy='append', full_refresh=false) }}

-- One row per build that rebuilt every trace-scoped model (they are all upstream of this model,
-- so dbt skips it when one of them, or one of their error tests, failed). int_rebuild_scope reads
-- the last row to decide which traces the next build rebuilds; the scope models read it as the
-- source build_state.completed_builds, since a ref() would close a loop. full_refresh is off: a
-- full refresh rebuilds every trace anyway, and this log must outlive it.
--
-- depends_on: {{ ref('int_trace_facts') }}, {{ ref('int_tool_call_chains') }}, {{ ref('int_confirmations') }}
-- depends_on: {{ ref('int_tool_call_lifecycle') }}, {{ ref('int_trace_eval_features') }}
-- depends_on: {{ ref('fct_tool_calls') }}, {{ ref('fct_permission_checks') }}, {{ ref('fct_confirmations') }}
-- depends_on: {{ ref('fct_side_effects') }}, {{ ref('fct_model_calls') }}, {{ ref('fct_outcomes') }}
-- depends_on: {{ ref('audit_violations') }}, {{ ref('eval_trace_labels') }}
{#- A build of a selection that leaves one of them out (dbt build -s ...) rebuilt only part of the
    warehouse: it records nothing. -#}
{%- set left_out = model.depends_on.nodes | reject('in', selected_resources) | list if execute else [] %}

select
    cast(max(changes_logged_through) as bigint) as changes_built_through,
    {{ dbt.current_timestamp() }} as completed_at,
    '{{ invocation_id }}' as invocation_id
from {{ ref('int_trace_changes') }}
{%- if left_out %}
having false  -- not selected: {{ left_out | join(', ') }}
{%- endif %}
