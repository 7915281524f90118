-- Re-reads the raw text of conflicting re-deliveries (rare) for their quarantine rows, both this
-- partition's and those of later partitions that lose to this one.
-- The file_lines placeholder: line readers over the native files holding conflicts. An OTLP request
-- line holds many events, so an OTLP conflict keeps the event as mapped instead (as JSON).
-- Parameter: $quarantine_chars.
CREATE OR REPLACE TEMP TABLE ingest_conflict_lines AS
SELECT c.source_file, c.line_number, c.unit_index, c.event_id,
       left(s.line, $quarantine_chars) AS raw_line, strlen(s.line) AS raw_line_bytes
FROM ({file_lines}) AS s
JOIN (SELECT DISTINCT source_file, line_number, unit_index, event_id FROM ingest_losers
      WHERE outcome = 'conflict' AND NOT starts_with(source_file, 'otlp/')) AS c
    ON c.source_file = s.source_file AND c.line_number = s.line_number
UNION ALL
SELECT source_file, line_number, unit_index, event_id, left(event_json, $quarantine_chars), strlen(event_json)
FROM (
    SELECT lo.source_file, lo.line_number, lo.unit_index, lo.event_id,
           json_object('event_id', l.event_id, 'event_type', l.event_type, 'timestamp', l.event_timestamp,
                       'trace_id', l.trace_id, 'span_id', l.span_id, 'parent_span_id', l.parent_span_id,
                       'session_id', l.session_id, 'tenant_id', l.tenant_id, 'user_id', l.user_id,
                       'agent', json_object('name', l.agent_name, 'version', l.agent_version),
                       'payload', l.payload, 'attributes', l.attributes, 'extra_fields', l.extra_fields)::VARCHAR AS event_json
    FROM ingest_losers AS lo
    JOIN ingest_work.lines AS l
      ON lo.is_new AND l.source_file = lo.source_file AND l.line_number = lo.line_number AND l.unit_index = lo.unit_index
    WHERE lo.outcome = 'conflict' AND starts_with(lo.source_file, 'otlp/')
    UNION ALL
    SELECT lo.source_file, lo.line_number, lo.unit_index, lo.event_id,
           json_object('event_id', e.event_id, 'event_type', e.event_type, 'timestamp', e.event_timestamp,
                       'trace_id', e.trace_id, 'span_id', e.span_id, 'parent_span_id', e.parent_span_id,
                       'session_id', e.session_id, 'tenant_id', e.tenant_id, 'user_id', e.user_id,
                       'agent', json_object('name', e.agent_name, 'version', e.agent_version),
                       'payload', e.payload, 'attributes', e.attributes, 'extra_fields', e.extra_fields)::VARCHAR
    FROM ingest_losers AS lo
    JOIN raw.trace_events AS e
      ON NOT lo.is_new AND e.delivery_date = lo.delivery_date AND e.source_file = lo.source_file
     AND e.line_number = lo.line_number AND e.event_id = lo.event_id
    WHERE lo.outcome = 'conflict' AND starts_with(lo.source_file, 'otlp/')
);
