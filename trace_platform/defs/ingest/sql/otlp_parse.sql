-- OTLP/JSON, step 1 of 2: the partition's OTLP files into units (docs/otlp.md).
-- Decodes the lines of the OTLP files (ingest_work.otlp_physical, filled per file by
-- otlp_read_lines.sql) set-based, and writes:
--   ingest_work.otlp_outcomes   line- and unit-level outcomes that are not events: blank lines,
--                               empty requests, and every quarantined line, resource, scope,
--                               span, span event, log record and attribute, with its reason
--   ingest_work.otlp_units      one row per well-formed span or log record, ids and times decoded
--   ingest_work.otlp_sevents    one row per well-formed span event
--   ingest_work.otlp_attrs      every decoded attribute (resource, span, span event, log record)
-- A unit's `uid` is its file, line and path in the request.

-- A file whose first line is not JSON but whose whole text is (a pretty-printed request) is read
-- as one request, numbered with its first non-blank line.
CREATE OR REPLACE TABLE ingest_work.otlp_documents AS
WITH firsts AS (
    SELECT source_file, arg_min(line, line_number) AS first_line, min(line_number) AS first_number,
           count(*) AS lines, bool_or(is_marker) AS has_marker
    FROM ingest_work.otlp_physical
    WHERE NOT is_blank
    GROUP BY source_file
),
candidates AS (
    SELECT source_file, first_number FROM firsts
    WHERE lines > 1 AND NOT has_marker AND NOT json_valid(first_line)
),
texts AS (
    SELECT p.source_file, c.first_number, string_agg(p.line, chr(10) ORDER BY p.line_number) AS line
    FROM ingest_work.otlp_physical AS p
    JOIN candidates AS c USING (source_file)
    GROUP BY p.source_file, c.first_number
)
SELECT source_file, first_number AS line_number, line FROM texts WHERE json_valid(line);

-- Lines to decode: one request per line (or per document), or a JSON array of requests.
CREATE OR REPLACE TABLE ingest_work.otlp_lines AS
WITH candidates AS (
    SELECT p.source_file, p.line_number, p.line, p.is_marker
    FROM ingest_work.otlp_physical AS p
    ANTI JOIN ingest_work.otlp_documents AS d USING (source_file)
    WHERE NOT p.is_blank
    UNION ALL
    SELECT source_file, line_number, line, false FROM ingest_work.otlp_documents
)
SELECT
    source_file, line_number, line, is_marker,
    CASE WHEN is_marker THEN false
         WHEN NOT json_valid(line) THEN false
         -- DuckDB's reader tolerates trailing commas; strict JSON does not
         WHEN regexp_matches(line, ',\s*[}\]]') THEN strict_json_valid(line)
         ELSE true END AS is_json
FROM candidates;

CREATE OR REPLACE TABLE ingest_work.otlp_requests AS
WITH typed AS (
    SELECT source_file, line_number, line::JSON AS doc, json_type(line::JSON) AS doc_type
    FROM ingest_work.otlp_lines WHERE is_json
),
requests AS (
    SELECT source_file, line_number, 0::BIGINT AS req_index, '' AS req_path, doc AS req
    FROM typed WHERE doc_type = 'OBJECT'
    UNION ALL
    SELECT t.source_file, t.line_number, e.key::BIGINT, '[' || e.key || ']', e.value::JSON
    FROM typed AS t, json_each(t.doc) AS e
    WHERE t.doc_type = 'ARRAY'
),
-- one parse per request: every field under its camelCase and snake_case name
fields AS (
    SELECT *, CASE WHEN json_type(req) = 'OBJECT' THEN json_extract(req, [
        '$.resourceSpans', '$.resource_spans', '$.resourceLogs', '$.resource_logs',
        '$.resourceMetrics', '$.resource_metrics', '$.resourceProfiles', '$.resource_profiles']) END AS f
    FROM requests
),
picked AS (
    SELECT *, otlp_pick(f, 1) AS resource_spans, otlp_pick(f, 3) AS resource_logs,
           coalesce(otlp_pick(f, 5), otlp_pick(f, 7)) AS other_signal
    FROM fields
),
reasoned AS (
    SELECT
        *,
        CASE
            WHEN json_type(req) <> 'OBJECT' THEN 'otlp_not_a_request'
            WHEN json_type(resource_spans) <> 'ARRAY' THEN 'otlp_bad_request:resourceSpans'
            WHEN json_type(resource_logs) <> 'ARRAY' THEN 'otlp_bad_request:resourceLogs'
            WHEN resource_spans IS NULL AND resource_logs IS NULL THEN
                CASE WHEN other_signal IS NOT NULL THEN 'otlp_unsupported_signal'
                     WHEN len(list_filter(json_keys(req), lambda k: NOT list_contains(
                             ['resourceSpans', 'resource_spans', 'resourceLogs', 'resource_logs'], k))) > 0
                         THEN 'otlp_not_a_request'
                END
        END AS reason
    FROM picked
)
SELECT source_file, line_number, req_index, req_path, resource_spans, resource_logs, reason,
       CASE WHEN reason IS NOT NULL THEN req END AS req  -- kept for the quarantine row only
FROM reasoned;

-- Resources: resourceSpans[i] / resourceLogs[i] (and the pre-1.0 instrumentationLibrary* names).
CREATE OR REPLACE TABLE ingest_work.otlp_resources AS
WITH items AS (
    SELECT r.source_file, r.line_number, r.req_index, 'traces' AS signal, e.key::BIGINT AS res_index,
           r.req_path || 'resourceSpans[' || e.key || ']' AS path, e.value::JSON AS res
    FROM ingest_work.otlp_requests AS r, json_each(r.resource_spans) AS e
    WHERE r.reason IS NULL AND r.resource_spans IS NOT NULL
    UNION ALL
    SELECT r.source_file, r.line_number, r.req_index, 'logs', e.key::BIGINT,
           r.req_path || 'resourceLogs[' || e.key || ']', e.value::JSON
    FROM ingest_work.otlp_requests AS r, json_each(r.resource_logs) AS e
    WHERE r.reason IS NULL AND r.resource_logs IS NOT NULL
),
fields AS (
    SELECT *, CASE WHEN json_type(res) = 'OBJECT' THEN json_extract(res, [
        '$.resource', '$.resource.attributes',
        '$.scopeSpans', '$.scope_spans', '$.instrumentationLibrarySpans', '$.instrumentation_library_spans',
        '$.scopeLogs', '$.scope_logs', '$.instrumentationLibraryLogs', '$.instrumentation_library_logs']) END AS f
    FROM items
),
picked AS (
    SELECT *, otlp_present(f[1]) AS resource, otlp_present(f[2]) AS resource_attributes,
           CASE WHEN signal = 'traces' THEN coalesce(otlp_pick(f, 3), otlp_pick(f, 5))
                ELSE coalesce(otlp_pick(f, 7), otlp_pick(f, 9)) END AS scopes
    FROM fields
),
reasoned AS (
    SELECT
        *,
        CASE
            WHEN json_type(res) <> 'OBJECT' THEN 'otlp_bad_resource:not_an_object'
            WHEN json_type(resource) <> 'OBJECT' THEN 'otlp_bad_resource:resource'
            WHEN json_type(resource_attributes) <> 'ARRAY' THEN 'otlp_bad_resource:attributes'
            WHEN json_type(scopes) <> 'ARRAY'
                THEN CASE WHEN signal = 'traces' THEN 'otlp_bad_resource:scopeSpans' ELSE 'otlp_bad_resource:scopeLogs' END
        END AS reason
    FROM picked
)
SELECT source_file, line_number, req_index, signal, res_index, path,
       source_file || '|' || line_number || '|' || path AS uid,
       scopes, resource_attributes, reason,
       CASE WHEN reason IS NOT NULL THEN res END AS res  -- kept for the quarantine row only
FROM reasoned;

CREATE OR REPLACE TABLE ingest_work.otlp_scopes AS
WITH items AS (
    SELECT r.source_file, r.line_number, r.req_index, r.signal, r.res_index, r.uid AS res_uid,
           e.key::BIGINT AS scope_index,
           r.path || CASE WHEN r.signal = 'traces' THEN '.scopeSpans[' ELSE '.scopeLogs[' END || e.key || ']' AS path,
           e.value::JSON AS scope_item
    FROM ingest_work.otlp_resources AS r, json_each(r.scopes) AS e
    WHERE r.reason IS NULL AND json_type(r.scopes) = 'ARRAY'
),
fields AS (
    SELECT *, CASE WHEN json_type(scope_item) = 'OBJECT' THEN json_extract(scope_item, [
        '$.spans', '$.logRecords', '$.log_records', '$.scope', '$.instrumentationLibrary', '$.instrumentation_library']) END AS f
    FROM items
),
picked AS (
    SELECT *, CASE WHEN signal = 'traces' THEN otlp_present(f[1]) ELSE otlp_pick(f, 2) END AS records
    FROM fields
),
reasoned AS (
    SELECT
        *,
        coalesce(otlp_present(f[4]), otlp_pick(f, 5)) AS scope,
        CASE
            WHEN json_type(scope_item) <> 'OBJECT' THEN 'otlp_bad_scope:not_an_object'
            WHEN json_type(records) <> 'ARRAY'
                THEN CASE WHEN signal = 'traces' THEN 'otlp_bad_scope:spans' ELSE 'otlp_bad_scope:logRecords' END
        END AS reason
    FROM picked
)
SELECT source_file, line_number, req_index, signal, res_index, res_uid, scope_index, path, records,
       otlp_string(otlp_present(json_extract(scope, '$.name'))) AS scope_name,
       otlp_string(otlp_present(json_extract(scope, '$.version'))) AS scope_version,
       reason, CASE WHEN reason IS NOT NULL THEN scope_item END AS scope_item
FROM reasoned;

-- Spans and log records, with their ids and times decoded and checked.
CREATE OR REPLACE TABLE ingest_work.otlp_records AS
WITH items AS (
    SELECT s.source_file, s.line_number, s.req_index, s.signal, s.res_index, s.res_uid, s.scope_index,
           s.scope_name, s.scope_version,
           e.key::BIGINT AS record_index,
           s.path || CASE WHEN s.signal = 'traces' THEN '.spans[' ELSE '.logRecords[' END || e.key || ']' AS path,
           e.value::JSON AS rec
    FROM ingest_work.otlp_scopes AS s, json_each(s.records) AS e
    WHERE s.reason IS NULL
),
extracted AS (
    SELECT *, CASE WHEN json_type(rec) = 'OBJECT' THEN json_extract(rec, [
        '$.traceId', '$.trace_id', '$.spanId', '$.span_id', '$.parentSpanId', '$.parent_span_id',      -- 1-6
        '$.startTimeUnixNano', '$.start_time_unix_nano', '$.endTimeUnixNano', '$.end_time_unix_nano',   -- 7-10
        '$.timeUnixNano', '$.time_unix_nano', '$.observedTimeUnixNano', '$.observed_time_unix_nano',    -- 11-14
        '$.status', '$.attributes', '$.events', '$.name', '$.kind', '$.body',                          -- 15-20
        '$.eventName', '$.event_name', '$.severityNumber', '$.severity_number',                        -- 21-24
        '$.severityText', '$.severity_text']) END AS f                                                 -- 25-26
    FROM items
),
fields AS (
    SELECT
        *,
        otlp_id(otlp_pick(f, 1), 32) AS trace_id,
        otlp_id(otlp_pick(f, 3), 16) AS span_id,
        otlp_id(otlp_pick(f, 5), 16) AS parent_span_id,
        otlp_nanos(otlp_pick(f, 7)) AS start_ns0,
        otlp_nanos(otlp_pick(f, 9)) AS end_ns0,
        otlp_nanos(otlp_pick(f, 11)) AS time_ns,
        otlp_nanos(otlp_pick(f, 13)) AS observed_ns,
        otlp_present(f[15]) AS status,
        otlp_present(f[16]) AS attributes,
        otlp_present(f[17]) AS events,
        otlp_present(f[18]) AS name_value,
        otlp_present(f[19]) AS raw_kind,
        otlp_present(f[20]) AS body,
        otlp_pick(f, 21) AS event_name_field,
        otlp_pick(f, 23) AS severity_number,
        otlp_string(otlp_pick(f, 25)) AS severity_text
    FROM extracted
)
SELECT
    source_file, line_number, req_index, signal, res_index, res_uid, scope_index, scope_name, scope_version,
    record_index, path, source_file || '|' || line_number || '|' || path AS uid, rec,
    trace_id, span_id, parent_span_id,
    CASE WHEN signal = 'traces' THEN start_ns0 ELSE coalesce(time_ns, observed_ns) END AS start_ns,
    CASE WHEN signal = 'traces' THEN coalesce(end_ns0, start_ns0) ELSE coalesce(time_ns, observed_ns) END AS end_ns,
    otlp_string(name_value) AS name,
    otlp_span_kind(raw_kind) AS span_kind,
    raw_kind,
    otlp_status_code(otlp_present(json_extract(status, '$.code'))) AS status_code,
    otlp_string(otlp_present(json_extract(status, '$.message'))) AS status_message,
    event_name_field,
    otlp_bigint(severity_number) AS severity_number_int,
    severity_number,
    severity_text,
    body,
    CASE WHEN body IS NOT NULL THEN otlp_anyvalue(body) END AS body_json,
    attributes,
    events,
    CASE
        WHEN json_type(rec) <> 'OBJECT' THEN 'not_an_object'
        WHEN signal = 'traces' THEN CASE
            WHEN trace_id IS NULL OR trace_id = 'invalid' THEN 'trace_id'
            WHEN span_id IS NULL OR span_id = 'invalid' THEN 'span_id'
            WHEN parent_span_id = 'invalid' THEN 'parent_span_id'
            WHEN start_ns0 IS NULL OR start_ns0 < 0 THEN 'start_time'
            WHEN end_ns0 < 0 THEN 'end_time'
            WHEN json_type(name_value) <> 'VARCHAR' THEN 'name'
            WHEN raw_kind IS NOT NULL AND otlp_span_kind(raw_kind) IS NULL THEN 'kind'
            WHEN status IS NOT NULL AND json_type(status) <> 'OBJECT' THEN 'status'
            WHEN otlp_status_code(otlp_present(json_extract(status, '$.code'))) IS NULL THEN 'status'
            WHEN json_type(attributes) <> 'ARRAY' THEN 'attributes'
            WHEN json_type(events) <> 'ARRAY' THEN 'events'
        END
        ELSE CASE
            WHEN trace_id IS NULL THEN 'no_trace_context'
            WHEN trace_id = 'invalid' THEN 'trace_id'
            WHEN span_id = 'invalid' THEN 'span_id'
            WHEN coalesce(time_ns, observed_ns) IS NULL THEN 'time'
            WHEN time_ns < 0 OR (time_ns IS NULL AND observed_ns < 0) THEN 'time'
            WHEN json_type(attributes) <> 'ARRAY' THEN 'attributes'
        END
    END AS bad_field
FROM fields;

-- Span events (exceptions, our convention's events, GenAI events recorded on the span).
CREATE OR REPLACE TABLE ingest_work.otlp_sevents AS
WITH items AS (
    SELECT r.uid AS span_uid, r.source_file, r.line_number, e.key::BIGINT AS event_index,
           r.path || '.events[' || e.key || ']' AS path, e.value::JSON AS ev
    FROM ingest_work.otlp_records AS r, json_each(r.events) AS e
    WHERE r.bad_field IS NULL AND r.signal = 'traces' AND json_type(r.events) = 'ARRAY'
)
SELECT
    span_uid, source_file, line_number, event_index, path, source_file || '|' || line_number || '|' || path AS uid, ev,
    otlp_string(otlp_present(json_extract(ev, '$.name'))) AS name,
    otlp_nanos(otlp_field(ev, 'timeUnixNano', 'time_unix_nano')) AS time_ns,
    otlp_present(json_extract(ev, '$.attributes')) AS attributes,
    CASE
        WHEN json_type(ev) <> 'OBJECT' THEN 'not_an_object'
        WHEN json_type(otlp_present(json_extract(ev, '$.name'))) IS DISTINCT FROM 'VARCHAR' THEN 'name'
        WHEN otlp_nanos(otlp_field(ev, 'timeUnixNano', 'time_unix_nano')) < 0 THEN 'time'
        WHEN json_type(otlp_present(json_extract(ev, '$.attributes'))) NOT IN ('ARRAY') THEN 'attributes'
    END AS bad_field
FROM items;

-- Every attribute of the resources, spans, span events and log records that are well formed.
CREATE OR REPLACE TABLE ingest_work.otlp_attrs AS
WITH owners AS (
    SELECT uid AS owner_uid, source_file, line_number, path || '.resource' AS path, resource_attributes AS attributes
    FROM ingest_work.otlp_resources WHERE reason IS NULL AND json_type(resource_attributes) = 'ARRAY'
    UNION ALL
    SELECT uid, source_file, line_number, path, attributes
    FROM ingest_work.otlp_records WHERE bad_field IS NULL AND json_type(attributes) = 'ARRAY'
    UNION ALL
    SELECT uid, source_file, line_number, path, attributes
    FROM ingest_work.otlp_sevents WHERE bad_field IS NULL AND json_type(attributes) = 'ARRAY'
),
items AS (
    SELECT o.owner_uid, o.source_file, o.line_number, e.key::BIGINT AS attr_index,
           o.path || '.attributes[' || e.key || ']' AS path, e.value::JSON AS attr
    FROM owners AS o, json_each(o.attributes) AS e
)
,
decoded AS (
    SELECT
        owner_uid, source_file, line_number, attr_index, path, attr,
        otlp_string(json_extract(attr, '$.key')) AS key,
        CASE
            WHEN json_type(attr) <> 'OBJECT' THEN 'not_an_object'
            WHEN json_type(json_extract(attr, '$.key')) IS DISTINCT FROM 'VARCHAR' OR json_extract_string(attr, '$.key') = '' THEN 'key'
            WHEN otlp_present(json_extract(attr, '$.value')) IS NULL THEN NULL  -- an omitted value is an empty AnyValue
            ELSE otlp_av_bad(json_extract(attr, '$.value'))
        END AS bad_field,
        CASE WHEN otlp_present(json_extract(attr, '$.value')) IS NULL THEN 'null'::JSON
             ELSE otlp_anyvalue(json_extract(attr, '$.value')) END AS value
    FROM items
)
SELECT
    owner_uid, source_file, line_number, attr_index, path, attr, key,
    -- Our convention's attributes for the closed payload fields (docs/otlp.md): a value outside the
    -- field's set is quarantined as the attribute (bad_value:<key>), as a native line would be
    -- (bad_value:<event_type>.<field>); its record loads without it. An empty value (null) is no value.
    CASE
        WHEN bad_field IS NOT NULL OR NOT starts_with(key, 'trace_platform.') OR json_type(value) = 'NULL' THEN bad_field
        WHEN key = 'trace_platform.outcome.status'
             AND NOT coalesce(otlp_text(value) IN ('success', 'partial', 'failure', 'abandoned'), false)
             THEN 'bad_value:' || key
        WHEN key = 'trace_platform.tool.mode' AND NOT coalesce(otlp_text(value) IN ('suggest', 'execute'), false)
             THEN 'bad_value:' || key
        WHEN key = 'trace_platform.tool.result_status'
             AND NOT coalesce(otlp_text(value) IN ('ok', 'error', 'timeout', 'denied', 'cancelled'), false)
             THEN 'bad_value:' || key
        WHEN key = 'trace_platform.policy.decision'
             AND NOT coalesce(otlp_text(value) IN ('allow', 'deny', 'require_confirmation'), false)
             THEN 'bad_value:' || key
        WHEN key = 'trace_platform.confirmation.decision'
             AND NOT coalesce(otlp_text(value) IN ('approved', 'rejected', 'expired'), false)
             THEN 'bad_value:' || key
        WHEN key = 'trace_platform.side_effect.operation'
             AND NOT coalesce(otlp_text(value) IN ('create', 'update', 'delete', 'send', 'execute'), false)
             THEN 'bad_value:' || key
        WHEN key = 'trace_platform.rollback.status' AND NOT coalesce(otlp_text(value) IN ('ok', 'error'), false)
             THEN 'bad_value:' || key
        -- a number (or a string holding one, as SDKs often write) equal to -1, 0 or 1
        WHEN key = 'trace_platform.feedback.rating'
             AND NOT coalesce(try_cast(otlp_text(value) AS DOUBLE) IN (-1, 0, 1), false)
             THEN 'bad_value:' || key
    END AS bad_field,
    value
FROM decoded;

-- Outcomes that are not events, one row each. A quarantined unit keeps its JSON with its path
-- in the request: {"path": "resourceSpans[0].scopeSpans[0].spans[3]", "unit": {...}}.
CREATE OR REPLACE TABLE ingest_work.otlp_outcomes AS
WITH unit_rows AS (
    SELECT source_file, line_number, req_path AS path, 'quarantined' AS outcome, reason, req AS unit
    FROM ingest_work.otlp_requests WHERE reason IS NOT NULL
    UNION ALL
    SELECT source_file, line_number, path, 'quarantined', reason, res
    FROM ingest_work.otlp_resources WHERE reason IS NOT NULL
    UNION ALL
    SELECT source_file, line_number, path, 'quarantined', reason, scope_item
    FROM ingest_work.otlp_scopes WHERE reason IS NOT NULL
    UNION ALL
    SELECT source_file, line_number, path, 'quarantined',
           CASE signal WHEN 'traces' THEN 'otlp_bad_span:' ELSE 'otlp_bad_log_record:' END || bad_field, rec
    FROM ingest_work.otlp_records WHERE bad_field IS NOT NULL
    UNION ALL
    SELECT source_file, line_number, path, 'quarantined', 'otlp_bad_span_event:' || bad_field, ev
    FROM ingest_work.otlp_sevents WHERE bad_field IS NOT NULL
    UNION ALL
    SELECT source_file, line_number, path, 'quarantined', 'otlp_bad_attribute:' || bad_field, attr
    FROM ingest_work.otlp_attrs WHERE bad_field IS NOT NULL
)
SELECT source_file, line_number, path, outcome, reason,
       CASE WHEN unit IS NOT NULL THEN json_object('path', path, 'unit', unit)::VARCHAR END AS raw_line,
       CASE WHEN unit IS NOT NULL THEN strlen(unit::VARCHAR) END AS raw_line_bytes
FROM unit_rows
UNION ALL
-- line level: blank lines, marker lines (invalid UTF-8, too long) and lines that are not JSON
SELECT source_file, line_number, '', 'blank', NULL, NULL, strlen(line)
FROM ingest_work.otlp_physical
WHERE is_blank AND source_file NOT IN (SELECT source_file FROM ingest_work.otlp_documents)
UNION ALL
SELECT source_file, line_number, '', 'quarantined',
       CASE WHEN is_marker THEN split_part(line, chr(31), 2)
            WHEN json_valid(line) AND json_type(line) NOT IN ('OBJECT', 'ARRAY') THEN 'not_an_object'
            ELSE 'invalid_json' END,
       CASE WHEN is_marker THEN split_part(line, chr(31), 4) ELSE line END,
       CASE WHEN is_marker THEN try_cast(split_part(line, chr(31), 3) AS BIGINT) ELSE strlen(line) END
FROM ingest_work.otlp_lines
WHERE NOT is_json
UNION ALL
SELECT source_file, line_number, '', 'quarantined', 'not_an_object', line, strlen(line)
FROM ingest_work.otlp_lines
WHERE is_json AND json_type(line) NOT IN ('OBJECT', 'ARRAY');
