-- An event rebuilt from its typed columns, as compared between deliveries of one event_id.
-- Timestamps compare as instants; unknown top-level fields are part of the content.
-- canonical_json is a Python function (lib/duckdb_functions.py) registered by the loader.
CREATE OR REPLACE TEMP MACRO event_content(schema_version, event_type, event_timestamp, trace_id, span_id,
        parent_span_id, sequence, session_id, tenant_id, user_id, agent_name, agent_version,
        payload, attributes, extra_fields) AS
    canonical_json(json_object(
        'schema_version', schema_version, 'event_type', event_type,
        'timestamp_us', epoch_us(event_timestamp), 'trace_id', trace_id, 'span_id', span_id,
        'parent_span_id', parent_span_id, 'sequence', sequence, 'session_id', session_id,
        'tenant_id', tenant_id, 'user_id', user_id,
        'agent', json_object('name', agent_name, 'version', agent_version),
        'payload', payload, 'attributes', attributes, 'extra', extra_fields)::VARCHAR);

-- Unknown top-level fields of an event line, kept verbatim as a JSON object (NULL when none).
CREATE OR REPLACE TEMP MACRO extra_keys_of(line) AS list_filter(json_keys(line), key -> NOT list_contains([
    'schema_version', 'event_id', 'event_type', 'timestamp', 'trace_id', 'span_id',
    'parent_span_id', 'sequence', 'session_id', 'tenant_id', 'user_id', 'agent',
    'payload', 'attributes'], key));

CREATE OR REPLACE TEMP MACRO extra_fields_of(line) AS CASE WHEN len(extra_keys_of(line)) > 0 THEN
    to_json(map_from_entries(list_transform(extra_keys_of(line), key -> struct_pack(k := key,
        v := json_extract(line, '/' || replace(replace(key, '~', '~0'), '/', '~1'))))))::JSON
END;
