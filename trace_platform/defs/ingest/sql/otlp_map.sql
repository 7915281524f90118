-- OTLP/JSON, step 2 of 2: units (otlp_parse.sql) into native-shaped events (docs/otlp.md), and
-- everything into ingest_work.lines, where the native pipeline (dedupe, publish, R9) takes over.
-- Parameter: $quarantine_chars.

-- Attributes per owner (resource, span, span event, log record) as MAP(VARCHAR, JSON); the first
-- of repeated keys wins. MCP tool annotations are looked up under any prefix.
CREATE OR REPLACE TABLE ingest_work.otlp_attr_maps AS
WITH firsts AS (
    SELECT owner_uid, key, arg_min(value, attr_index) AS value, min(attr_index) AS attr_index
    FROM ingest_work.otlp_attrs
    WHERE bad_field IS NULL
    GROUP BY owner_uid, key
)
SELECT
    owner_uid,
    map_from_entries(list(struct_pack(k := key, v := value) ORDER BY attr_index)) AS attrs,
    bool_or(otlp_bool(value)) FILTER (WHERE regexp_matches(key, '(^|\.)(readOnlyHint|read_only_hint)$')) AS mcp_read_only,
    bool_or(otlp_bool(value) IS NOT NULL) FILTER (WHERE regexp_matches(key, '(^|\.)(destructiveHint|destructive_hint)$')) AS mcp_destructive_present
FROM firsts
GROUP BY owner_uid;

-- One row per well-formed span or log record: what it is, and the envelope its events get.
CREATE OR REPLACE TABLE ingest_work.otlp_ctx AS
WITH recs AS (
    SELECT
        r.*,
        coalesce(m.attrs, MAP {}::MAP(VARCHAR, JSON)) AS a,
        coalesce(rm.attrs, MAP {}::MAP(VARCHAR, JSON)) AS ra,
        m.mcp_read_only, m.mcp_destructive_present
    FROM ingest_work.otlp_records AS r
    LEFT JOIN ingest_work.otlp_attr_maps AS m ON m.owner_uid = r.uid
    LEFT JOIN ingest_work.otlp_attr_maps AS rm ON rm.owner_uid = r.res_uid
    WHERE r.bad_field IS NULL
),
kinds AS (
    SELECT
        *,
        lower(otlp_text(a['gen_ai.operation.name'])) AS op,
        upper(otlp_text(a['openinference.span.kind'])) AS oi_kind,
        lower(otlp_text(a['traceloop.span.kind'])) AS tl_kind
    FROM recs
),
classified AS (
    SELECT
        *,
        signal = 'traces' AND parent_span_id IS NULL AS is_root,
        CASE
            WHEN signal = 'logs' THEN 'log'
            WHEN op IN ('chat', 'generate_content', 'text_completion', 'completion') OR oi_kind = 'LLM'
                 OR tl_kind = 'llm' OR (tl_kind IS NULL AND lower(otlp_text(a['llm.request.type'])) IN ('chat', 'completion'))
                 OR (op IS NULL AND oi_kind IS NULL AND tl_kind IS NULL
                     AND coalesce(a['gen_ai.request.model'], a['gen_ai.response.model']) IS NOT NULL
                     AND a['gen_ai.tool.name'] IS NULL)
                THEN 'model'
            -- Google ADK's "execute_tool (merged)" span only bundles parallel calls that have spans of their own
            WHEN otlp_text(a['gen_ai.tool.name']) = '(merged tools)' OR name = 'execute_tool (merged)' THEN 'step'
            WHEN op = 'execute_tool' OR oi_kind = 'TOOL' OR tl_kind = 'tool' OR a['ai.toolCall.name'] IS NOT NULL
                 OR (op IS NULL AND oi_kind IS NULL AND a['gen_ai.tool.name'] IS NOT NULL)
                THEN 'tool'
            WHEN oi_kind = 'GUARDRAIL' THEN 'guardrail'
            WHEN op IN ('invoke_agent', 'create_agent') OR oi_kind = 'AGENT' OR tl_kind IN ('agent', 'workflow') THEN 'agent'
            ELSE 'step'
        END AS role,
        -- identity as the record states it
        coalesce(otlp_text(a['trace_platform.tenant.id']), otlp_text(ra['trace_platform.tenant.id'])) AS own_tenant,
        CASE WHEN otlp_text(a['trace_platform.tenant.id']) IS NOT NULL THEN 'attribute'
             WHEN otlp_text(ra['trace_platform.tenant.id']) IS NOT NULL THEN 'resource' END AS own_tenant_source,
        coalesce(otlp_text(a['gen_ai.conversation.id']), otlp_text(a['session.id']), otlp_text(a['trace_platform.session.id']),
                 otlp_text(a['traceloop.association.properties.session_id']), otlp_text(ra['session.id'])) AS own_session,
        coalesce(otlp_text(a['user.id']), otlp_text(a['enduser.id']), otlp_text(a['trace_platform.user.id']),
                 otlp_text(a['traceloop.association.properties.user_id']), otlp_text(ra['user.id'])) AS own_user,
        coalesce(otlp_text(a['trace_platform.agent.name']), otlp_text(a['gen_ai.agent.name']), otlp_text(a['agent.name']),
                 otlp_text(a['agent_name'])) AS own_agent_name,
        coalesce(otlp_text(ra['trace_platform.agent.name']), otlp_text(ra['service.name'])) AS res_agent_name,
        coalesce(otlp_text(ra['trace_platform.agent.version']), otlp_text(ra['service.version'])) AS res_agent_version,
        coalesce(otlp_text(a['trace_platform.agent.version']), otlp_text(a['gen_ai.agent.version'])) AS own_agent_version
    FROM kinds
),
-- Trace-level identity within the partition: the root span's, else the earliest record's.
per_trace AS (
    SELECT
        trace_id,
        arg_min(own_tenant, [CASE WHEN is_root THEN 0 ELSE 1 END, start_ns]) FILTER (WHERE own_tenant IS NOT NULL) AS tenant,
        arg_min(own_session, [CASE WHEN is_root THEN 0 ELSE 1 END, start_ns]) FILTER (WHERE own_session IS NOT NULL) AS session,
        arg_min(own_user, [CASE WHEN is_root THEN 0 ELSE 1 END, start_ns]) FILTER (WHERE own_user IS NOT NULL) AS user_id,
        arg_min(own_agent_name, [CASE WHEN is_root THEN 0 ELSE 1 END, start_ns]) FILTER (WHERE own_agent_name IS NOT NULL) AS agent_name,
        arg_min(own_agent_version, [CASE WHEN is_root THEN 0 ELSE 1 END, start_ns]) FILTER (WHERE own_agent_version IS NOT NULL) AS agent_version,
        -- a record delivered without a resource (e.g. a log record) takes the trace's service
        arg_min(res_agent_name, [CASE WHEN is_root THEN 0 ELSE 1 END, start_ns]) FILTER (WHERE res_agent_name IS NOT NULL) AS res_agent_name,
        arg_min(res_agent_version, [CASE WHEN is_root THEN 0 ELSE 1 END, start_ns]) FILTER (WHERE res_agent_version IS NOT NULL) AS res_agent_version
    FROM classified
    GROUP BY trace_id
),
exceptions AS (
    SELECT e.span_uid,
           arg_min(otlp_text(m.attrs['exception.type']), e.event_index) AS exception_type,
           arg_min(otlp_text(m.attrs['exception.message']), e.event_index) AS exception_message,
           count(*) AS exception_count
    FROM ingest_work.otlp_sevents AS e
    LEFT JOIN ingest_work.otlp_attr_maps AS m ON m.owner_uid = e.uid
    WHERE e.bad_field IS NULL AND e.name = 'exception'
    GROUP BY e.span_uid
),
-- GenAI events recorded as span events (Strands): the user's message, the model's (or tool's) choice,
-- the tool's input message
genai_events AS (
    SELECT e.span_uid,
           arg_min(m.attrs['content'], e.event_index) FILTER (WHERE e.name = 'gen_ai.user.message' AND m.attrs['content'] IS NOT NULL) AS user_message,
           arg_min(m.attrs['content'], e.event_index) FILTER (WHERE e.name = 'gen_ai.tool.message' AND m.attrs['content'] IS NOT NULL) AS tool_message,
           arg_max(m.attrs['message'], e.event_index) FILTER (WHERE e.name = 'gen_ai.choice' AND m.attrs['message'] IS NOT NULL) AS choice_message,
           arg_max(m.attrs['finish_reason'], e.event_index) FILTER (WHERE e.name = 'gen_ai.choice' AND m.attrs['finish_reason'] IS NOT NULL) AS choice_finish_reason
    FROM ingest_work.otlp_sevents AS e
    JOIN ingest_work.otlp_attr_maps AS m ON m.owner_uid = e.uid
    WHERE e.bad_field IS NULL AND e.name IN ('gen_ai.user.message', 'gen_ai.tool.message', 'gen_ai.choice')
    GROUP BY e.span_uid
),
span_events AS (
    SELECT e.span_uid,
           to_json(list(json_object('name', e.name, 'time_unix_nano', e.time_ns, 'attributes', to_json(m.attrs))
                        ORDER BY e.event_index)) AS events_json
    FROM ingest_work.otlp_sevents AS e
    LEFT JOIN ingest_work.otlp_attr_maps AS m ON m.owner_uid = e.uid
    WHERE e.bad_field IS NULL
    GROUP BY e.span_uid
)
SELECT
    c.uid, c.source_file, c.line_number, c.path, c.signal, c.role, c.is_root,
    c.trace_id, c.span_id, c.parent_span_id, c.start_ns, c.end_ns, c.name, c.span_kind,
    c.status_code, c.status_message, c.a, c.ra,
    CASE WHEN cardinality(c.a) > 0 THEN to_json(c.a) END AS attributes_json,
    -- envelope
    coalesce(c.own_tenant, t.tenant, 'unassigned') AS tenant_id,
    CASE WHEN c.own_tenant IS NOT NULL THEN c.own_tenant_source WHEN t.tenant IS NOT NULL THEN 'trace' ELSE 'default' END AS tenant_source,
    coalesce(c.own_session, t.session) AS session_id,
    coalesce(c.own_user, t.user_id) AS user_id,
    coalesce(otlp_text(c.ra['trace_platform.agent.name']), t.agent_name, otlp_text(c.ra['service.name']), t.res_agent_name, 'unknown') AS agent_name,
    coalesce(otlp_text(c.ra['trace_platform.agent.version']), t.agent_version, otlp_text(c.ra['service.version']), t.res_agent_version, 'unknown') AS agent_version,
    -- errors
    x.exception_type, x.exception_message, coalesce(x.exception_count, 0) AS exception_count,
    coalesce(otlp_text(c.a['error.type']), x.exception_type, otlp_text(c.a['exception.type'])) AS error_type,
    coalesce(c.status_message, x.exception_message, otlp_text(c.a['exception.message'])) AS error_message,
    -- tool execution, as the span states it
    coalesce(otlp_text(c.a['gen_ai.tool.call.id']), otlp_text(c.a['tool_call.id']), otlp_text(c.a['tool.id']),
             otlp_text(c.a['ai.toolCall.id']), otlp_text(c.a['trace_platform.tool.call_id'])) AS own_tool_call_id,
    coalesce(otlp_text(c.a['gen_ai.tool.name']), otlp_text(c.a['tool.name']), otlp_text(c.a['ai.toolCall.name']),
             otlp_text(c.a['tool_call.function.name']),
             CASE WHEN c.tl_kind = 'tool' THEN otlp_text(c.a['traceloop.entity.name']) END,
             nullif(regexp_extract(c.name, '^execute_tool (.+)$', 1), '')) AS own_tool_name,
    coalesce(c.a['gen_ai.tool.call.arguments'], c.a['tool_call.function.arguments'], c.a['ai.toolCall.args'],
             c.a['ai.toolCall.input'], c.a['gcp.vertex.agent.tool_call_args'], c.a['tool_arguments'], c.a['input.value'],
             CASE WHEN c.tl_kind = 'tool' THEN c.a['traceloop.entity.input'] END, c.a['tool.parameters'],
             g.tool_message) AS own_arguments,
    coalesce(c.a['gen_ai.tool.call.result'], c.a['ai.toolCall.result'], c.a['ai.toolCall.output'],
             c.a['gcp.vertex.agent.tool_response'], c.a['tool_response'], c.a['output.value'],
             CASE WHEN c.tl_kind = 'tool' THEN c.a['traceloop.entity.output'] END, g.choice_message) AS tool_output,
    g.user_message AS event_user_message, g.choice_message AS event_choice_message,
    g.choice_finish_reason AS event_finish_reason,
    -- the access class: our attribute, else MCP annotations, else unknown (never guessed)
    CASE
        WHEN otlp_text(c.a['trace_platform.tool.access']) IN ('read_only', 'state_changing', 'unknown') THEN otlp_text(c.a['trace_platform.tool.access'])
        WHEN otlp_text(c.a['trace_platform.tool.access']) IS NOT NULL THEN 'unknown'
        WHEN c.mcp_read_only IS NOT NULL THEN CASE WHEN c.mcp_read_only THEN 'read_only' ELSE 'state_changing' END
        WHEN c.mcp_destructive_present THEN 'state_changing'
        ELSE 'unknown'
    END AS access,
    CASE
        WHEN otlp_text(c.a['trace_platform.tool.access']) IS NOT NULL THEN 'trace_platform.tool.access'
        WHEN c.mcp_read_only IS NOT NULL THEN 'mcp.readOnlyHint'
        WHEN c.mcp_destructive_present THEN 'mcp.destructiveHint'
        ELSE 'none'
    END AS access_source,
    CASE WHEN otlp_text(c.a['trace_platform.tool.mode']) IN ('suggest', 'execute') THEN otlp_text(c.a['trace_platform.tool.mode'])
         ELSE 'execute' END AS mode,
    -- provenance, kept with the events (extra_fields.otlp)
    json_object('signal', c.signal, 'name', c.name, 'kind', c.span_kind,
                'status', json_object('code', c.status_code, 'message', c.status_message),
                'scope', json_object('name', c.scope_name, 'version', c.scope_version),
                'resource', CASE WHEN cardinality(c.ra) > 0 THEN to_json(c.ra) END,
                'start_time_unix_nano', c.start_ns, 'end_time_unix_nano', c.end_ns,
                'severity_number', c.severity_number_int, 'severity_text', c.severity_text,
                'event_name', coalesce(otlp_string(c.event_name_field), otlp_text(c.a['event.name'])),
                'body', c.body_json) AS provenance,
    se.events_json,
    coalesce(otlp_string(c.event_name_field), otlp_text(c.a['event.name'])) AS event_name,
    c.body_json,
    c.severity_number_int, c.severity_text
FROM classified AS c
LEFT JOIN per_trace AS t USING (trace_id)
LEFT JOIN exceptions AS x ON x.span_uid = c.uid
LEFT JOIN span_events AS se ON se.span_uid = c.uid
LEFT JOIN genai_events AS g ON g.span_uid = c.uid;

-- Tool calls a model requested, from its span (OpenInference and OpenLLMetry flattened attributes,
-- gen_ai.output.messages, the Vercel AI SDK's ai.response.toolCalls) or from a GenAI log record.
CREATE OR REPLACE TABLE ingest_work.otlp_requested AS
WITH flattened AS (
    SELECT owner_uid, 1 AS source_rank, m::BIGINT AS msg_index, n::BIGINT AS call_index,
           arg_min(value, attr_index) FILTER (WHERE f IN ('id', 'tool_call.id')) AS id,
           arg_min(value, attr_index) FILTER (WHERE f IN ('function.name', 'name', 'tool_call.function.name')) AS name,
           arg_min(value, attr_index) FILTER (WHERE f IN ('function.arguments', 'arguments', 'tool_call.function.arguments')) AS args
    FROM (
        SELECT a.owner_uid, a.attr_index, a.value, p.m, p.n, p.f
        FROM ingest_work.otlp_attrs AS a,
             LATERAL (SELECT regexp_extract(a.key,
                 '^llm\.output_messages\.(\d+)\.message\.tool_calls\.(\d+)\.tool_call\.(.+)$', ['m', 'n', 'f']) AS g) AS x,
             LATERAL (SELECT x.g.m AS m, x.g.n AS n, x.g.f AS f) AS p
        WHERE a.bad_field IS NULL AND a.key LIKE 'llm.output_messages.%' AND p.m <> ''
        UNION ALL
        SELECT a.owner_uid, a.attr_index, a.value, p.m, p.n, p.f
        FROM ingest_work.otlp_attrs AS a,
             LATERAL (SELECT regexp_extract(a.key,
                 '^gen_ai\.completion\.(\d+)\.tool_calls\.(\d+)\.(.+)$', ['m', 'n', 'f']) AS g) AS x,
             LATERAL (SELECT x.g.m AS m, x.g.n AS n, x.g.f AS f) AS p
        WHERE a.bad_field IS NULL AND a.key LIKE 'gen_ai.completion.%' AND p.m <> ''
    )
    GROUP BY owner_uid, m, n
),
-- The model's output messages, from every place frameworks put them. A message is
-- {"role", "parts": [{"type": "tool_call", ...}]} (semantic conventions), OpenAI style
-- {"role", "tool_calls": [{"id", "function": {...}}]}, Bedrock / Anthropic style
-- {"content": [{"toolUse": {...}} | {"type": "tool_use", ...}]} or Gemini style
-- {"parts": [{"function_call": {...}}]}. Numbered per record over all its sources.
message_items AS (
    SELECT c.uid AS owner_uid, 0 AS list_rank, e.key::BIGINT AS item_index, e.value::JSON AS msg
    FROM ingest_work.otlp_ctx AS c, json_each(otlp_parsed(c.a['gen_ai.output.messages'])) AS e
    WHERE c.a['gen_ai.output.messages'] IS NOT NULL AND json_type(otlp_parsed(c.a['gen_ai.output.messages'])) = 'ARRAY'
    UNION ALL
    -- log record bodies: gen_ai.choice {"message": {...}}, gen_ai.assistant.message {...}
    SELECT uid, 1, 0, coalesce(otlp_present(json_extract(body_json, '$.message')), body_json)
    FROM ingest_work.otlp_ctx
    WHERE signal = 'logs' AND event_name IN ('gen_ai.choice', 'gen_ai.assistant.message') AND json_type(body_json) = 'OBJECT'
    UNION ALL
    -- gen_ai.choice span events on a model span (Strands: `message` holds the content blocks as JSON);
    -- the span's other message events are its input (the history), not what it asked for
    SELECT c.uid, 2, e.event_index,
           CASE WHEN json_type(otlp_parsed(m.attrs['message'])) = 'ARRAY'
                THEN json_object('role', 'assistant', 'content', otlp_parsed(m.attrs['message']))
                ELSE otlp_parsed(m.attrs['message']) END
    FROM ingest_work.otlp_sevents AS e
    JOIN ingest_work.otlp_ctx AS c ON c.uid = e.span_uid AND c.role = 'model'
    JOIN ingest_work.otlp_attr_maps AS m ON m.owner_uid = e.uid
    WHERE e.bad_field IS NULL AND e.name = 'gen_ai.choice'
      AND json_type(otlp_parsed(m.attrs['message'])) IN ('ARRAY', 'OBJECT')
    UNION ALL
    -- Pydantic AI (instrumentation version 1): the GenAI events as a JSON `events` attribute
    SELECT c.uid, 3, e.key::BIGINT, coalesce(otlp_present(json_extract(e.value, '$.message')), e.value::JSON)
    FROM ingest_work.otlp_ctx AS c, json_each(otlp_parsed(c.a['events'])) AS e
    WHERE c.role = 'model' AND json_type(otlp_parsed(c.a['events'])) = 'ARRAY'
      AND json_extract_string(e.value, '$."event.name"') = 'gen_ai.choice'
    UNION ALL
    -- Google ADK: the Gemini response of call_llm, {"content": {"role": "model", "parts": [...]}}
    SELECT uid, 4, 0, json_extract(otlp_parsed(a['gcp.vertex.agent.llm_response']), '$.content')
    FROM ingest_work.otlp_ctx
    WHERE role = 'model' AND json_type(otlp_parsed(a['gcp.vertex.agent.llm_response']), '$.content') = 'OBJECT'
),
messages AS (
    SELECT owner_uid, row_number() OVER (PARTITION BY owner_uid ORDER BY list_rank, item_index) - 1 AS msg_index, msg
    FROM message_items
    WHERE json_type(msg) = 'OBJECT'
),
structured AS (
    SELECT m.owner_uid, 2 AS source_rank, m.msg_index, p.key::BIGINT AS call_index,
           json_extract(p.value, '$.id') AS id, json_extract(p.value, '$.name') AS name,
           json_extract(p.value, '$.arguments') AS args
    FROM messages AS m, json_each(json_extract(m.msg, '$.parts')) AS p
    WHERE json_type(m.msg, '$.parts') = 'ARRAY' AND json_extract_string(p.value, '$.type') = 'tool_call'
    UNION ALL
    SELECT m.owner_uid, 3, m.msg_index, p.key::BIGINT,
           json_extract(p.value, '$.id'),
           coalesce(otlp_present(json_extract(p.value, '$.function.name')), json_extract(p.value, '$.name')),
           coalesce(otlp_present(json_extract(p.value, '$.function.arguments')), json_extract(p.value, '$.arguments'))
    FROM messages AS m, json_each(json_extract(m.msg, '$.tool_calls')) AS p
    WHERE json_type(m.msg, '$.tool_calls') = 'ARRAY'
    UNION ALL
    SELECT m.owner_uid, 5, m.msg_index, p.key::BIGINT,
           coalesce(otlp_present(json_extract(p.value, '$.toolUse.toolUseId')), json_extract(p.value, '$.id')),
           coalesce(otlp_present(json_extract(p.value, '$.toolUse.name')), json_extract(p.value, '$.name')),
           coalesce(otlp_present(json_extract(p.value, '$.toolUse.input')), json_extract(p.value, '$.input'))
    FROM messages AS m, json_each(json_extract(m.msg, '$.content')) AS p
    WHERE json_type(m.msg, '$.content') = 'ARRAY'
      AND (json_type(p.value, '$.toolUse') = 'OBJECT' OR json_extract_string(p.value, '$.type') = 'tool_use')
    UNION ALL
    SELECT m.owner_uid, 6, m.msg_index, p.key::BIGINT,
           coalesce(otlp_present(json_extract(p.value, '$.function_call.id')), json_extract(p.value, '$.functionCall.id')),
           coalesce(otlp_present(json_extract(p.value, '$.function_call.name')), json_extract(p.value, '$.functionCall.name')),
           coalesce(otlp_present(json_extract(p.value, '$.function_call.args')), json_extract(p.value, '$.functionCall.args'))
    FROM messages AS m, json_each(json_extract(m.msg, '$.parts')) AS p
    WHERE json_type(m.msg, '$.parts') = 'ARRAY'
      AND (json_type(p.value, '$.function_call') = 'OBJECT' OR json_type(p.value, '$.functionCall') = 'OBJECT')
    UNION ALL
    SELECT c.uid, 4, 0, p.key::BIGINT, json_extract(p.value, '$.toolCallId'), json_extract(p.value, '$.toolName'),
           coalesce(otlp_present(json_extract(p.value, '$.args')), json_extract(p.value, '$.input'))
    FROM ingest_work.otlp_ctx AS c, json_each(otlp_parsed(c.a['ai.response.toolCalls'])) AS p
    WHERE json_type(otlp_parsed(c.a['ai.response.toolCalls'])) = 'ARRAY'
),
calls AS (
    SELECT * FROM flattened
    UNION ALL
    SELECT * FROM structured
)
SELECT * EXCLUDE (signal) FROM (
    SELECT
        c.uid, ctx.source_file, ctx.line_number, ctx.path, ctx.trace_id, ctx.span_id, ctx.end_ns AS ts_ns, ctx.signal,
        c.source_rank, c.msg_index, c.call_index,
        otlp_text(c.id) AS call_id, otlp_text(c.name) AS tool_name, otlp_as_object(c.args) AS arguments,
        json_object('source', CASE c.source_rank WHEN 1 THEN 'flattened_attributes' WHEN 2 THEN 'message_parts'
                                                 WHEN 3 THEN 'message_tool_calls' WHEN 4 THEN 'ai.response.toolCalls'
                                                 WHEN 5 THEN 'message_tool_use' ELSE 'message_function_call' END,
                    'message_index', c.msg_index, 'call_index', c.call_index, 'id', c.id, 'name', c.name,
                    'arguments', c.args) AS requested_json
    FROM (SELECT owner_uid AS uid, * EXCLUDE (owner_uid) FROM calls) AS c
    JOIN ingest_work.otlp_ctx AS ctx ON ctx.uid = c.uid
    WHERE otlp_text(c.name) IS NOT NULL OR otlp_text(c.id) IS NOT NULL
    -- a call reported twice on one record (e.g. flattened and as messages) counts once
    QUALIFY row_number() OVER (PARTITION BY c.uid, coalesce(otlp_text(c.id), c.msg_index || '.' || c.call_index)
                               ORDER BY c.source_rank, c.msg_index, c.call_index) = 1
)
-- and a call id reported by several records of the trace (the model span and its gen_ai.choice log
-- record, Pydantic AI's two event modes) is one request: the span's, else the earliest
QUALIFY call_id IS NULL
     OR row_number() OVER (PARTITION BY trace_id, call_id ORDER BY signal = 'logs', ts_ns, uid, msg_index, call_index) = 1;

-- Tool executions (tool spans), linked to the requested calls they ran: by tool call id, else by
-- tool name and order inside the trace. Requested calls that no span ran stay "requested".
CREATE OR REPLACE TABLE ingest_work.otlp_exec AS
WITH execs AS (
    SELECT * FROM ingest_work.otlp_ctx WHERE role = 'tool'
),
by_id AS (
    SELECT e.uid AS exec_uid, r.uid AS req_uid, r.msg_index, r.call_index
    FROM execs AS e
    JOIN ingest_work.otlp_requested AS r ON r.trace_id = e.trace_id AND r.call_id = e.own_tool_call_id
    QUALIFY row_number() OVER (PARTITION BY e.uid ORDER BY r.ts_ns, r.uid, r.msg_index, r.call_index) = 1
),
req_open AS (
    SELECT r.*, row_number() OVER (PARTITION BY r.trace_id, r.tool_name ORDER BY r.ts_ns, r.uid, r.msg_index, r.call_index) AS k
    FROM ingest_work.otlp_requested AS r
    WHERE r.tool_name IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM execs AS e WHERE e.trace_id = r.trace_id AND e.own_tool_call_id = r.call_id)
),
exec_open AS (
    SELECT e.*, row_number() OVER (PARTITION BY e.trace_id, e.own_tool_name ORDER BY e.start_ns, e.span_id) AS k
    FROM execs AS e
    WHERE e.own_tool_call_id IS NULL AND e.own_tool_name IS NOT NULL
),
by_name AS (
    SELECT e.uid AS exec_uid, r.uid AS req_uid, r.msg_index, r.call_index
    FROM exec_open AS e
    JOIN req_open AS r ON r.trace_id = e.trace_id AND r.tool_name = e.own_tool_name AND r.k = e.k
),
links AS (
    SELECT * FROM by_id
    UNION ALL
    SELECT * FROM by_name
)
SELECT
    e.uid, e.trace_id, e.span_id,
    l.req_uid, l.msg_index, l.call_index,
    coalesce(e.own_tool_call_id, r.call_id, e.span_id) AS tool_call_id,
    coalesce(e.own_tool_name, r.tool_name) AS tool_name,
    coalesce(otlp_unwrap_kwargs(otlp_as_object(e.own_arguments)), r.arguments, '{}'::JSON) AS arguments
FROM execs AS e
LEFT JOIN links AS l ON l.exec_uid = e.uid
LEFT JOIN ingest_work.otlp_requested AS r ON r.uid = l.req_uid AND r.msg_index = l.msg_index AND r.call_index = l.call_index;

-- Sources of our convention's facts (docs/otlp.md): the attributes of a span, its span events and
-- log records named trace_platform.*; the tool call they concern defaults to their span's.
CREATE OR REPLACE TABLE ingest_work.otlp_conv AS
SELECT c.uid AS record_uid, c.uid AS source_uid, 'attribute' AS kind, NULL::BIGINT AS event_index, NULL AS event_name,
       c.start_ns, c.end_ns, c.a AS m, c.role, x.tool_call_id AS span_tool_call_id
FROM ingest_work.otlp_ctx AS c
LEFT JOIN ingest_work.otlp_exec AS x ON x.uid = c.uid
WHERE c.signal = 'traces'
UNION ALL
SELECT c.uid, e.uid, 'span_event', e.event_index, e.name, coalesce(e.time_ns, c.end_ns), coalesce(e.time_ns, c.end_ns),
       coalesce(m.attrs, MAP {}::MAP(VARCHAR, JSON)), c.role, x.tool_call_id
FROM ingest_work.otlp_sevents AS e
JOIN ingest_work.otlp_ctx AS c ON c.uid = e.span_uid
LEFT JOIN ingest_work.otlp_attr_maps AS m ON m.owner_uid = e.uid
LEFT JOIN ingest_work.otlp_exec AS x ON x.uid = c.uid
WHERE e.bad_field IS NULL AND e.name LIKE 'trace_platform.%'
UNION ALL
SELECT c.uid, c.uid, 'log_record', NULL, c.event_name, c.start_ns, c.start_ns, c.a, c.role, x.tool_call_id
FROM ingest_work.otlp_ctx AS c
-- the tool span the log record belongs to, when it is in the partition
LEFT JOIN ingest_work.otlp_exec AS x ON x.trace_id = c.trace_id AND x.span_id = c.span_id
WHERE c.signal = 'logs' AND c.event_name LIKE 'trace_platform.%';

-- Every event, with a role key that makes its event_id deterministic.
CREATE OR REPLACE TABLE ingest_work.otlp_events AS
WITH conv AS (
    SELECT v.*, coalesce(otlp_text(v.m['trace_platform.tool.call_id']), otlp_text(v.m['gen_ai.tool.call.id']), v.span_tool_call_id) AS tool_call_id,
           CASE v.kind WHEN 'attribute' THEN '' WHEN 'span_event' THEN 'e' || v.event_index || '-' ELSE '' END AS key_prefix
    FROM ingest_work.otlp_conv AS v
),
events AS (
    -- agent run boundaries: the root span's input and output
    SELECT uid, 'user_request' AS event_type, 'user_request' AS role_key, start_ns AS ts_ns, 'agent_run' AS mapping, true AS primary_event,
           json_object('text', coalesce(otlp_unquote(otlp_as_text(coalesce(a['trace_platform.request.text'], a['input.value'],
                                                      a['traceloop.entity.input'], to_json(otlp_ai_prompt_text(a['ai.prompt'])),
                                                      a['ai.prompt'], a['gen_ai.prompt'],
                                                      a['gen_ai.input.messages'], a['prompt']))),
                                        otlp_message_text(event_user_message),
                                        otlp_user_text(a['pydantic_ai.all_messages']), otlp_user_text(a['all_messages_events'])),
                       'intent', otlp_text(a['trace_platform.request.intent']),
                       'channel', otlp_text(a['trace_platform.request.channel'])) AS payload,
           NULL::JSON AS extra, attributes_json AS attrs
    FROM ingest_work.otlp_ctx WHERE is_root
    UNION ALL
    SELECT uid, 'final_result', 'final_result', end_ns, 'agent_run', false,
           json_object('status', CASE WHEN otlp_text(a['trace_platform.outcome.status']) IN ('success', 'partial', 'failure', 'abandoned')
                                          THEN otlp_text(a['trace_platform.outcome.status'])
                                      WHEN status_code = 'ERROR' THEN 'failure' ELSE 'success' END,
                       'output', coalesce(otlp_unquote(otlp_as_text(coalesce(a['trace_platform.outcome.output'], a['output.value'],
                                                        a['traceloop.entity.output'], a['ai.response.text'], a['gen_ai.completion'],
                                                        a['gen_ai.output.messages'], a['final_result']))),
                                          otlp_message_text(event_choice_message))),
           NULL, attributes_json
    FROM ingest_work.otlp_ctx WHERE is_root

    -- model calls
    UNION ALL
    SELECT c.uid, 'model_call', 'model_call', c.start_ns, 'model_call', NOT c.is_root,
           json_object(
               'provider', coalesce(otlp_text(a['gen_ai.provider.name']), otlp_text(a['gen_ai.system']), otlp_text(a['llm.provider']),
                                    otlp_text(a['llm.system']), otlp_text(a['ai.model.provider'])),
               'model', coalesce(otlp_text(a['gen_ai.request.model']), otlp_text(a['llm.request.model_name']), otlp_text(a['llm.model_name']),
                                 otlp_text(a['ai.model.id']), otlp_text(a['gen_ai.response.model'])),
               'model_version', coalesce(otlp_text(a['trace_platform.model.version']), otlp_text(a['gen_ai.response.model']),
                                         otlp_text(a['llm.response.model_name']), otlp_text(a['ai.response.model']), otlp_text(a['llm.model_name'])),
               'purpose', CASE WHEN otlp_text(a['trace_platform.model.purpose']) IN ('planning', 'tool_selection', 'response', 'other')
                                   THEN otlp_text(a['trace_platform.model.purpose'])
                               -- stated, but none of them: `other`, as for a native event (the value
                               -- itself stays in the raw zone, in `attributes`)
                               WHEN otlp_text(a['trace_platform.model.purpose']) IS NOT NULL THEN 'other'
                               WHEN EXISTS (SELECT 1 FROM ingest_work.otlp_requested AS r WHERE r.uid = c.uid) THEN 'tool_selection'
                               ELSE 'other' END,
               'input_tokens', coalesce(otlp_bigint(a['gen_ai.usage.input_tokens']), otlp_bigint(a['gen_ai.usage.prompt_tokens']),
                                        otlp_bigint(a['llm.token_count.prompt']), otlp_bigint(a['llm.usage.prompt_tokens']),
                                        otlp_bigint(a['ai.usage.promptTokens']), otlp_bigint(a['ai.usage.inputTokens'])),
               'output_tokens', coalesce(otlp_bigint(a['gen_ai.usage.output_tokens']), otlp_bigint(a['gen_ai.usage.completion_tokens']),
                                         otlp_bigint(a['llm.token_count.completion']), otlp_bigint(a['llm.usage.completion_tokens']),
                                         otlp_bigint(a['ai.usage.completionTokens']), otlp_bigint(a['ai.usage.outputTokens'])),
               'latency_ms', CASE WHEN c.end_ns >= c.start_ns THEN (c.end_ns - c.start_ns) / 1e6 END,
               'finish_reason', coalesce(
                   CASE WHEN json_type(otlp_parsed(a['gen_ai.response.finish_reasons'])) = 'ARRAY'
                        THEN json_extract_string(otlp_parsed(a['gen_ai.response.finish_reasons']), '$[0]')
                        ELSE otlp_text(a['gen_ai.response.finish_reasons']) END,
                   otlp_text(a['llm.finish_reason']), otlp_text(a['gen_ai.completion.0.finish_reason']),
                   otlp_text(a['llm.output_messages.0.message.finish_reason']), otlp_text(a['ai.response.finishReason']),
                   otlp_text(c.event_finish_reason)),
               'status', CASE WHEN c.status_code = 'ERROR' THEN 'error' ELSE 'ok' END,
               'error', CASE WHEN c.status_code = 'ERROR' THEN json_object('type', coalesce(c.error_type, 'error'), 'message', c.error_message) END),
           NULL, c.attributes_json
    FROM ingest_work.otlp_ctx AS c WHERE c.role = 'model'

    -- tool executions: the request, and its result (an execute-mode call)
    UNION ALL
    SELECT c.uid, 'tool_call', 'tool_call', c.start_ns, 'tool_execution', NOT c.is_root,
           json_object('tool_call_id', x.tool_call_id, 'tool_name', x.tool_name,
                       'tool_version', otlp_text(a['trace_platform.tool.version']),
                       'arguments', x.arguments, 'access', c.access, 'mode', c.mode,
                       'attempt', coalesce(otlp_bigint(a['trace_platform.tool.attempt']), 1),
                       'retry_of', otlp_text(a['trace_platform.tool.retry_of']),
                       'requires_confirmation', coalesce(otlp_bool(a['trace_platform.tool.requires_confirmation']), false)),
           json_object('access_source', c.access_source, 'linked_request',
                       CASE WHEN x.req_uid IS NOT NULL THEN json_object('message_index', x.msg_index, 'call_index', x.call_index) END),
           c.attributes_json
    FROM ingest_work.otlp_ctx AS c JOIN ingest_work.otlp_exec AS x USING (uid)
    UNION ALL
    SELECT c.uid, 'tool_result', 'tool_result', c.end_ns, 'tool_execution', false,
           json_object('tool_call_id', x.tool_call_id,
                       'status', s.status,
                       'output', otlp_parsed(c.tool_output),
                       'error', CASE WHEN s.status <> 'ok' THEN json_object('type', coalesce(c.error_type, s.status), 'message', c.error_message) END,
                       'latency_ms', CASE WHEN c.end_ns >= c.start_ns THEN (c.end_ns - c.start_ns) / 1e6 END),
           NULL, c.attributes_json
    FROM ingest_work.otlp_ctx AS c JOIN ingest_work.otlp_exec AS x USING (uid),
         LATERAL (SELECT CASE WHEN otlp_text(c.a['trace_platform.tool.result_status']) IN ('ok', 'error', 'timeout', 'denied', 'cancelled')
                                  THEN otlp_text(c.a['trace_platform.tool.result_status'])
                              WHEN c.status_code = 'ERROR' OR lower(otlp_text(c.a['tool.status'])) = 'error' THEN 'error'
                              ELSE 'ok' END AS status) AS s
    WHERE c.mode = 'execute'

    -- calls a model requested: the selection, and a suggest-mode call when no span ran it
    UNION ALL
    SELECT r.uid, 'tool_selection', 'tc' || r.msg_index || '.' || r.call_index || '-tool_selection', r.ts_ns, 'requested_tool_call', false,
           json_object('tool_call_id', coalesce(x.tool_call_id, r.call_id, r.span_id || '.' || r.msg_index || '.' || r.call_index),
                       'tool_name', coalesce(r.tool_name, x.tool_name), 'candidates', coalesce(cand.names, '[]'::JSON)),
           json_object('requested_call', r.requested_json), NULL::JSON
    FROM ingest_work.otlp_requested AS r
    LEFT JOIN ingest_work.otlp_exec AS x ON x.req_uid = r.uid AND x.msg_index = r.msg_index AND x.call_index = r.call_index
    LEFT JOIN (
        SELECT owner_uid, to_json(list_sort(list(DISTINCT CASE
                   WHEN ends_with(key, '.json_schema') THEN coalesce(json_extract_string(otlp_parsed(value), '$.function.name'),
                                                                     json_extract_string(otlp_parsed(value), '$.name'))
                   ELSE otlp_text(value) END))) AS names
        FROM ingest_work.otlp_attrs
        WHERE bad_field IS NULL AND (regexp_matches(key, '^llm\.tools\.\d+\.tool\.(name|json_schema)$')
                                     OR regexp_matches(key, '^llm\.request\.functions\.\d+\.name$'))
        GROUP BY owner_uid
    ) AS cand ON cand.owner_uid = r.uid
    UNION ALL
    SELECT r.uid, 'tool_call', 'tc' || r.msg_index || '.' || r.call_index || '-tool_call', r.ts_ns, 'requested_tool_call', false,
           json_object('tool_call_id', coalesce(r.call_id, r.span_id || '.' || r.msg_index || '.' || r.call_index),
                       'tool_name', r.tool_name, 'tool_version', NULL, 'arguments', coalesce(r.arguments, '{}'::JSON),
                       'access', 'unknown', 'mode', 'suggest', 'attempt', 1, 'retry_of', NULL, 'requires_confirmation', false),
           json_object('access_source', 'none', 'requested_call', r.requested_json,
                       'note', 'requested by the model; no span in the trace shows it ran'), NULL::JSON
    FROM ingest_work.otlp_requested AS r
    WHERE NOT EXISTS (SELECT 1 FROM ingest_work.otlp_exec AS x
                      WHERE x.req_uid = r.uid AND x.msg_index = r.msg_index AND x.call_index = r.call_index)

    -- guardrails
    UNION ALL
    SELECT c.uid, 'policy_check', 'guardrail', c.start_ns, 'guardrail', NOT c.is_root,
           json_object('check_id', coalesce(otlp_text(a['trace_platform.policy.check_id']), c.span_id),
                       'tool_call_id', otlp_text(a['trace_platform.tool.call_id']),
                       'policy', coalesce(otlp_text(a['trace_platform.policy.name']), c.name),
                       'permission', otlp_text(a['trace_platform.policy.permission']),
                       'principal', coalesce(otlp_text(a['trace_platform.policy.principal']), c.user_id),
                       'decision', CASE WHEN otlp_text(a['trace_platform.policy.decision']) IN ('allow', 'deny', 'require_confirmation')
                                            THEN otlp_text(a['trace_platform.policy.decision'])
                                        WHEN c.status_code = 'ERROR' OR coalesce(otlp_bool(a['guardrail.triggered']), false) THEN 'deny'
                                        ELSE 'allow' END,
                       'reason', coalesce(otlp_text(a['trace_platform.policy.reason']), c.status_message)),
           NULL, c.attributes_json
    FROM ingest_work.otlp_ctx AS c WHERE c.role = 'guardrail'

    -- every other span is a step of the run (sub-agents, chains, HTTP calls ...)
    UNION ALL
    SELECT uid, 'plan', 'step', start_ns, 'step', NOT is_root,
           json_object('steps', json_array(coalesce(name, '')), 'reasoning', NULL), NULL, attributes_json
    FROM ingest_work.otlp_ctx WHERE role IN ('agent', 'step') AND NOT is_root

    -- errors: each exception span event, or the span's ERROR status when it recorded none
    UNION ALL
    SELECT c.uid, 'error', 'e' || e.event_index || '-error', coalesce(e.time_ns, c.end_ns), 'exception_event', false,
           json_object('error_type', coalesce(otlp_text(m.attrs['exception.type']), 'exception'),
                       'message', coalesce(otlp_text(m.attrs['exception.message']), ''),
                       'recoverable', coalesce(otlp_bool(m.attrs['trace_platform.error.recoverable']),
                                               CASE WHEN c.status_code <> 'ERROR' THEN true END),
                       'tool_call_id', x.tool_call_id),
           NULL, CASE WHEN cardinality(m.attrs) > 0 THEN to_json(m.attrs) END
    FROM ingest_work.otlp_sevents AS e
    JOIN ingest_work.otlp_ctx AS c ON c.uid = e.span_uid
    LEFT JOIN ingest_work.otlp_attr_maps AS m ON m.owner_uid = e.uid
    LEFT JOIN ingest_work.otlp_exec AS x ON x.uid = c.uid
    WHERE e.bad_field IS NULL AND e.name = 'exception'
    UNION ALL
    SELECT c.uid, 'error', 'error', c.end_ns, 'span_status_error', false,
           json_object('error_type', coalesce(c.error_type, 'error'), 'message', coalesce(c.error_message, ''),
                       'recoverable', otlp_bool(c.a['trace_platform.error.recoverable']), 'tool_call_id', x.tool_call_id),
           NULL, c.attributes_json
    FROM ingest_work.otlp_ctx AS c
    LEFT JOIN ingest_work.otlp_exec AS x ON x.uid = c.uid
    WHERE c.signal = 'traces' AND c.status_code = 'ERROR' AND c.exception_count = 0

    -- log records that are errors (an exception event, or severity ERROR and above)
    UNION ALL
    SELECT c.uid, 'error', 'error', c.start_ns, 'log_error', true,
           json_object('error_type', coalesce(otlp_text(a['exception.type']), otlp_text(a['error.type']), c.severity_text, 'error'),
                       'message', coalesce(otlp_text(a['exception.message']), otlp_as_text(c.body_json), ''),
                       'recoverable', otlp_bool(a['trace_platform.error.recoverable']), 'tool_call_id', x.tool_call_id),
           NULL, c.attributes_json
    FROM ingest_work.otlp_ctx AS c
    LEFT JOIN ingest_work.otlp_exec AS x ON x.trace_id = c.trace_id AND x.span_id = c.span_id
    WHERE c.signal = 'logs' AND coalesce(c.event_name, '') NOT LIKE 'trace_platform.%'
      AND (c.event_name = 'exception' OR a['exception.type'] IS NOT NULL OR c.severity_number_int >= 17)
    -- any other log record is a note of the run (GenAI message events, plain logs in a trace)
    UNION ALL
    SELECT c.uid, 'plan', 'note', c.start_ns, 'note', true,
           json_object('steps', json_array(coalesce(c.event_name, 'log')), 'reasoning', otlp_as_text(c.body_json)), NULL,
           c.attributes_json
    FROM ingest_work.otlp_ctx AS c
    WHERE c.signal = 'logs' AND coalesce(c.event_name, '') NOT LIKE 'trace_platform.%'
      AND NOT (coalesce(c.event_name = 'exception', false) OR a['exception.type'] IS NOT NULL OR coalesce(c.severity_number_int >= 17, false))
      AND NOT EXISTS (SELECT 1 FROM ingest_work.otlp_requested AS r WHERE r.uid = c.uid)

    -- our convention: policy checks, confirmations, side effects, rollbacks, feedback
    UNION ALL
    SELECT record_uid, 'policy_check', key_prefix || 'policy_check', start_ns, 'convention_' || kind, kind = 'log_record',
           json_object('check_id', coalesce(otlp_text(m['trace_platform.policy.check_id']),
                                            (SELECT span_id FROM ingest_work.otlp_ctx WHERE uid = record_uid) || '-' || key_prefix || 'policy'),
                       'tool_call_id', tool_call_id,
                       'policy', otlp_text(m['trace_platform.policy.name']),
                       'permission', otlp_text(m['trace_platform.policy.permission']),
                       'principal', otlp_text(m['trace_platform.policy.principal']),
                       'decision', otlp_text(m['trace_platform.policy.decision']),
                       'reason', otlp_text(m['trace_platform.policy.reason'])),
           NULL, CASE WHEN cardinality(m) > 0 THEN to_json(m) END
    FROM conv
    WHERE (kind = 'attribute' AND role <> 'guardrail' AND m['trace_platform.policy.decision'] IS NOT NULL)
       OR (kind <> 'attribute' AND event_name = 'trace_platform.policy_check')
    UNION ALL
    SELECT record_uid, 'confirmation_request', key_prefix || 'confirmation_request', start_ns, 'convention_' || kind, kind = 'log_record',
           json_object('confirmation_id', coalesce(otlp_text(m['trace_platform.confirmation.id']),
                                                   (SELECT span_id FROM ingest_work.otlp_ctx WHERE uid = record_uid) || '-' || key_prefix || 'confirmation'),
                       'tool_call_id', tool_call_id,
                       'prompt', otlp_text(m['trace_platform.confirmation.prompt']),
                       'arguments', CASE WHEN m['trace_platform.confirmation.arguments'] IS NOT NULL
                                         THEN otlp_as_object(m['trace_platform.confirmation.arguments']) END),
           NULL, CASE WHEN cardinality(m) > 0 THEN to_json(m) END
    FROM conv
    WHERE (kind = 'attribute' AND (m['trace_platform.confirmation.prompt'] IS NOT NULL OR m['trace_platform.confirmation.id'] IS NOT NULL
                                   OR m['trace_platform.confirmation.decision'] IS NOT NULL))
       OR (kind <> 'attribute' AND event_name = 'trace_platform.confirmation_request')
    UNION ALL
    SELECT record_uid, 'confirmation_response', key_prefix || 'confirmation_response', start_ns, 'convention_' || kind, kind = 'log_record',
           json_object('confirmation_id', coalesce(otlp_text(m['trace_platform.confirmation.id']),
                                                   (SELECT span_id FROM ingest_work.otlp_ctx WHERE uid = record_uid) || '-' || key_prefix || 'confirmation'),
                       'tool_call_id', tool_call_id,
                       'decision', otlp_text(m['trace_platform.confirmation.decision']),
                       'responder', otlp_text(m['trace_platform.confirmation.responder'])),
           NULL, CASE WHEN cardinality(m) > 0 THEN to_json(m) END
    FROM conv
    WHERE (kind = 'attribute' AND m['trace_platform.confirmation.decision'] IS NOT NULL)
       OR (kind <> 'attribute' AND event_name = 'trace_platform.confirmation_response')
    UNION ALL
    SELECT record_uid, 'side_effect', key_prefix || 'side_effect', end_ns, 'convention_' || kind, kind = 'log_record',
           json_object('tool_call_id', tool_call_id,
                       'resource_type', otlp_text(m['trace_platform.side_effect.resource_type']),
                       'resource_id', otlp_text(m['trace_platform.side_effect.resource_id']),
                       'operation', otlp_text(m['trace_platform.side_effect.operation']),
                       'reversible', otlp_bool(m['trace_platform.side_effect.reversible']),
                       'rollback_ref', otlp_text(m['trace_platform.side_effect.rollback_ref'])),
           NULL, CASE WHEN cardinality(m) > 0 THEN to_json(m) END
    FROM conv
    WHERE (kind = 'attribute' AND (m['trace_platform.side_effect.operation'] IS NOT NULL
                                   OR m['trace_platform.side_effect.resource_type'] IS NOT NULL))
       OR (kind <> 'attribute' AND event_name = 'trace_platform.side_effect')
    UNION ALL
    SELECT record_uid, 'rollback', key_prefix || 'rollback', end_ns, 'convention_' || kind, kind = 'log_record',
           json_object('tool_call_id', tool_call_id,
                       'resource_type', otlp_text(m['trace_platform.rollback.resource_type']),
                       'resource_id', otlp_text(m['trace_platform.rollback.resource_id']),
                       'status', otlp_text(m['trace_platform.rollback.status']),
                       'reason', otlp_text(m['trace_platform.rollback.reason'])),
           NULL, CASE WHEN cardinality(m) > 0 THEN to_json(m) END
    FROM conv
    WHERE (kind = 'attribute' AND m['trace_platform.rollback.status'] IS NOT NULL)
       OR (kind <> 'attribute' AND event_name = 'trace_platform.rollback')
    UNION ALL
    SELECT record_uid, 'feedback', key_prefix || 'feedback', start_ns, 'convention_' || kind, kind = 'log_record',
           json_object('rating', otlp_bigint(m['trace_platform.feedback.rating']),
                       'comment', otlp_text(m['trace_platform.feedback.comment'])),
           NULL, CASE WHEN cardinality(m) > 0 THEN to_json(m) END
    FROM conv
    WHERE (kind = 'attribute' AND m['trace_platform.feedback.rating'] IS NOT NULL)
       OR (kind <> 'attribute' AND event_name = 'trace_platform.feedback')
    -- a log record of our convention whose name we do not know is a note, never lost
    UNION ALL
    SELECT record_uid, 'plan', 'note', start_ns, 'note', true,
           json_object('steps', json_array(event_name), 'reasoning', NULL), NULL,
           CASE WHEN cardinality(m) > 0 THEN to_json(m) END
    FROM conv
    WHERE kind = 'log_record' AND event_name NOT IN ('trace_platform.policy_check', 'trace_platform.confirmation_request',
        'trace_platform.confirmation_response', 'trace_platform.side_effect', 'trace_platform.rollback', 'trace_platform.feedback')
)
SELECT
    c.uid AS record_uid, c.source_file, c.line_number, c.path, ev.role_key,
    'otlp-' || c.trace_id || '-' || CASE WHEN c.signal = 'logs'
        THEN coalesce(c.span_id, 'nospan') || '-log' || md5(concat_ws(chr(31), c.start_ns, c.event_name,
             c.body_json::VARCHAR, c.attributes_json::VARCHAR))[1:16]
        ELSE c.span_id END || '-' || ev.role_key AS event_id,
    ev.event_type,
    otlp_ts(ev.ts_ns) AS event_timestamp,
    c.trace_id,
    coalesce(c.span_id, 'log-' || md5(concat_ws(chr(31), c.start_ns, c.event_name, c.body_json::VARCHAR,
                                                c.attributes_json::VARCHAR))[1:16]) AS span_id,
    c.parent_span_id,
    c.session_id, c.tenant_id, c.user_id, c.agent_name, c.agent_version,
    ev.payload,
    ev.attrs AS attributes,
    json_object('otlp', json_merge_patch(c.provenance, json_object(
        'mapping', ev.mapping,
        'tenant_source', c.tenant_source,
        'events', CASE WHEN ev.primary_event THEN c.events_json END,
        'detail', ev.extra))) AS extra_fields,
    otlp_type_rank(ev.event_type) AS type_rank
FROM events AS ev
JOIN ingest_work.otlp_ctx AS c ON c.uid = ev.uid
WHERE ev.ts_ns IS NOT NULL;

-- Into the partition's line table. Every outcome is one row; unit_index numbers the rows of one
-- request line (the dedupe tie-break after the line number). The sequence is provisional: the
-- publish renumbers each OTLP trace over all its loaded events (otlp_resequence.sql).
INSERT INTO ingest_work.lines BY NAME
WITH rows AS (
    SELECT
        source_file, line_number, path, role_key AS sub,
        'valid' AS line_status, NULL AS reason, NULL AS raw_line, NULL::BIGINT AS raw_line_bytes,
        event_id,
        hash(concat_ws(chr(31), event_type, trace_id, span_id, coalesce(parent_span_id, ''), epoch_us(event_timestamp),
                       coalesce(session_id, ''), tenant_id, coalesce(user_id, ''), agent_name, agent_version,
                       payload::VARCHAR, coalesce(attributes::VARCHAR, ''), coalesce(extra_fields::VARCHAR, ''))) AS line_hash,
        '1' AS schema_version, event_type, event_timestamp, trace_id, span_id, parent_span_id,
        row_number() OVER (PARTITION BY trace_id ORDER BY event_timestamp, type_rank, event_id) - 1 AS sequence,
        session_id, tenant_id, user_id, agent_name, agent_version, payload, attributes, extra_fields
    FROM ingest_work.otlp_events
    UNION ALL BY NAME
    SELECT source_file, line_number, path, '' AS sub, outcome AS line_status, reason,
           left(raw_line, $quarantine_chars) AS raw_line, raw_line_bytes
    FROM ingest_work.otlp_outcomes
    UNION ALL BY NAME
    -- a request that holds nothing to load ({} or empty resources and scopes) is a blank item
    SELECT l.source_file, l.line_number, '' AS path, '' AS sub, 'blank' AS line_status, strlen(l.line) AS raw_line_bytes
    FROM ingest_work.otlp_lines AS l
    WHERE l.is_json
      AND NOT EXISTS (SELECT 1 FROM ingest_work.otlp_events AS e WHERE e.source_file = l.source_file AND e.line_number = l.line_number)
      AND NOT EXISTS (SELECT 1 FROM ingest_work.otlp_outcomes AS o WHERE o.source_file = l.source_file AND o.line_number = l.line_number)
)
SELECT
    * EXCLUDE (path, sub),
    row_number() OVER (PARTITION BY source_file, line_number ORDER BY path, sub, event_id) - 1 AS unit_index,
    'otlp' AS source_format
FROM rows;

-- Per file: the request structure behind the accounting (raw.otlp_ingest_files, checked by R9).
CREATE OR REPLACE TABLE ingest_work.otlp_file_stats AS
WITH physical AS (
    SELECT source_file, count(*) AS physical_lines FROM ingest_work.otlp_physical GROUP BY source_file
),
requests AS (
    SELECT source_file, count(*) AS requests FROM ingest_work.otlp_requests WHERE reason IS NULL GROUP BY source_file
),
records AS (
    SELECT source_file,
           count(*) FILTER (WHERE signal = 'traces') AS spans,
           count(*) FILTER (WHERE signal = 'traces' AND bad_field IS NOT NULL) AS spans_quarantined,
           count(*) FILTER (WHERE signal = 'logs') AS log_records,
           count(*) FILTER (WHERE signal = 'logs' AND bad_field IS NOT NULL) AS log_records_quarantined
    FROM ingest_work.otlp_records GROUP BY source_file
),
mapped AS (
    SELECT c.source_file, count(DISTINCT c.uid) AS records_mapped
    FROM ingest_work.otlp_ctx AS c SEMI JOIN ingest_work.otlp_events AS e ON e.record_uid = c.uid
    GROUP BY c.source_file
)
SELECT physical.source_file, physical_lines, coalesce(requests, 0) AS requests,
       coalesce(spans, 0) AS spans, coalesce(spans_quarantined, 0) AS spans_quarantined,
       coalesce(log_records, 0) AS log_records, coalesce(log_records_quarantined, 0) AS log_records_quarantined,
       coalesce(records_mapped, 0) AS records_mapped
FROM physical
LEFT JOIN requests USING (source_file)
LEFT JOIN records USING (source_file)
LEFT JOIN mapped USING (source_file);
