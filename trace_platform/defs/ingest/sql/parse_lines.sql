-- Validates every line of one file against the v1 envelope, set-based, and appends the result
-- to ingest_work.lines. The file_lines placeholder is the loader's line reader for the file
-- (source_file, line_number, line). Parameters: the reader's, $marker, $quarantine_chars.
INSERT INTO ingest_work.lines
WITH raw_lines AS (
    SELECT source_file, line_number,
           -- a "\r\n" ending is accepted
           CASE WHEN ends_with(line, chr(13)) THEN left(line, -1) ELSE line END AS line
    FROM ({file_lines})
),
shaped AS (
    SELECT
        source_file,
        line_number,
        line,
        -- white space only; the full trim runs only for lines starting with white space
        CASE WHEN strlen(line) = 0 THEN true
             WHEN contains(' ' || chr(9) || chr(11) || chr(12) || chr(13), line[1])
                 THEN trim(line, ' ' || chr(9) || chr(11) || chr(12) || chr(13)) = ''
             ELSE false END AS is_blank,
        starts_with(line, $marker) AS is_marker
    FROM raw_lines
),
fielded AS (
    SELECT
        *,
        -- One parse per line: try() yields NULL for text that is not JSON at all.
        -- The closed payload fields (17-21) are read in the same parse: status, mode, decision,
        -- operation, rating (docs/trace-format.md, "Closed payload fields"). Measured: +0.3 s per
        -- 700k lines on one thread for the five paths (json_extract alone: 1.2 s -> 1.5 s).
        CASE WHEN NOT is_blank AND NOT is_marker THEN try(json_extract(line, [
            '$.schema_version', '$.event_id', '$.event_type', '$.timestamp', '$.trace_id',
            '$.span_id', '$.parent_span_id', '$.sequence', '$.session_id', '$.tenant_id',
            '$.user_id', '$.agent', '$.payload', '$.attributes', '$.agent.name', '$.agent.version',
            '$.payload.status', '$.payload.mode', '$.payload.decision', '$.payload.operation',
            '$.payload.rating']))
        END AS f
    FROM shaped
),
typed AS (
    SELECT
        *,
        -- DuckDB tolerates trailing commas; strict JSON does not. Only suspicious lines go
        -- through the strict parser.
        CASE WHEN f IS NULL THEN false
             WHEN regexp_matches(line, ',\s*[}\]]') THEN strict_json_valid(line)
             ELSE true END AS is_json,
        -- The JSON type of each extracted value from its first character (no re-parse):
        -- '"' string, '{' object, '[' array, 'n' null, 't'/'f' boolean, otherwise a number.
        list_transform(f, v -> left(v, 1)) AS t,
        -- the scalar envelope fields as text (payload, attributes and agent are never copied)
        CASE WHEN f IS NOT NULL THEN json_extract_string(line, [
            '$.schema_version', '$.event_id', '$.event_type', '$.timestamp', '$.trace_id',
            '$.span_id', '$.parent_span_id', '$.sequence', '$.session_id', '$.tenant_id',
            '$.user_id', '$.agent.name', '$.agent.version']) END AS s
    FROM fielded
),
reasoned AS (
    SELECT
        *,
        CASE
            WHEN is_blank THEN NULL
            WHEN is_marker THEN split_part(line, chr(31), 2)
            WHEN NOT is_json THEN 'invalid_json'
            -- an array or a scalar has none of the fields: only then ask for its type
            WHEN list_count(f) = 0 AND json_type(line) <> 'OBJECT' THEN 'not_an_object'
            -- required fields, in the envelope's order
            WHEN t[1] IS NULL THEN 'missing_field:schema_version'
            WHEN t[2] IS NULL THEN 'missing_field:event_id'
            WHEN t[3] IS NULL THEN 'missing_field:event_type'
            WHEN t[4] IS NULL THEN 'missing_field:timestamp'
            WHEN t[5] IS NULL THEN 'missing_field:trace_id'
            WHEN t[6] IS NULL THEN 'missing_field:span_id'
            WHEN t[8] IS NULL THEN 'missing_field:sequence'
            WHEN t[10] IS NULL THEN 'missing_field:tenant_id'
            WHEN t[12] IS NULL THEN 'missing_field:agent'
            WHEN t[13] IS NULL THEN 'missing_field:payload'
            -- types and value ranges, in the envelope's order
            WHEN t[1] <> '"' THEN 'bad_type:schema_version'
            WHEN t[2] <> '"' THEN 'bad_type:event_id'
            WHEN length(s[2]) NOT BETWEEN 1 AND 128 THEN 'bad_value:event_id'
            WHEN t[3] <> '"' THEN 'bad_type:event_type'
            WHEN t[4] <> '"' THEN 'bad_type:timestamp'
            WHEN t[5] <> '"' THEN 'bad_type:trace_id'
            WHEN t[6] <> '"' THEN 'bad_type:span_id'
            WHEN t[7] NOT IN ('"', 'n') THEN 'bad_type:parent_span_id'
            WHEN NOT regexp_full_match(f[8], '-?[0-9]+') THEN 'bad_type:sequence'
            WHEN try_cast(s[8] AS BIGINT) IS NULL OR try_cast(s[8] AS BIGINT) < 0 THEN 'bad_value:sequence'
            WHEN t[9] NOT IN ('"', 'n') THEN 'bad_type:session_id'
            WHEN t[10] <> '"' THEN 'bad_type:tenant_id'
            WHEN t[11] NOT IN ('"', 'n') THEN 'bad_type:user_id'
            WHEN t[12] <> '{' THEN 'bad_type:agent'
            WHEN t[15] IS NULL THEN 'missing_field:agent.name'
            WHEN t[15] <> '"' THEN 'bad_type:agent.name'
            WHEN t[16] IS NULL THEN 'missing_field:agent.version'
            WHEN t[16] <> '"' THEN 'bad_type:agent.version'
            WHEN t[13] <> '{' THEN 'bad_type:payload'
            WHEN t[14] NOT IN ('{', 'n') THEN 'bad_type:attributes'
            -- values
            WHEN s[1] <> '1' THEN 'unsupported_schema_version'
            WHEN s[3] NOT IN ('user_request', 'plan', 'model_call', 'tool_selection', 'tool_call',
                              'tool_result', 'policy_check', 'confirmation_request',
                              'confirmation_response', 'side_effect', 'rollback', 'error',
                              'final_result', 'feedback') THEN 'unknown_event_type'
            WHEN NOT regexp_full_match(s[4], '\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})')
                 OR try_cast(upper(s[4]) AS TIMESTAMPTZ) IS NULL THEN 'bad_timestamp'
            -- the closed payload fields of the event's type: absent or JSON null is allowed (the
            -- audit rules report what is missing); any other value must be one of the documented
            -- ones exactly. f holds each value as minified JSON text (escapes decoded, so
            -- "exec\u0075te" reads '"execute"'): a string compares with its quoted form; the rating is
            -- a number equal to -1, 0 or 1. model_call.purpose and tool_call.access are not checked
            -- here: staging maps their unknown values to 'other' / 'unknown'.
            WHEN s[3] = 'tool_result' AND f[17] <> 'null'
                 AND f[17] NOT IN ('"ok"', '"error"', '"timeout"', '"denied"', '"cancelled"')
                 THEN 'bad_value:tool_result.status'
            WHEN s[3] = 'final_result' AND f[17] <> 'null'
                 AND f[17] NOT IN ('"success"', '"partial"', '"failure"', '"abandoned"')
                 THEN 'bad_value:final_result.status'
            WHEN s[3] = 'model_call' AND f[17] <> 'null' AND f[17] NOT IN ('"ok"', '"error"')
                 THEN 'bad_value:model_call.status'
            WHEN s[3] = 'rollback' AND f[17] <> 'null' AND f[17] NOT IN ('"ok"', '"error"')
                 THEN 'bad_value:rollback.status'
            WHEN s[3] = 'tool_call' AND f[18] <> 'null' AND f[18] NOT IN ('"suggest"', '"execute"')
                 THEN 'bad_value:tool_call.mode'
            WHEN s[3] = 'policy_check' AND f[19] <> 'null'
                 AND f[19] NOT IN ('"allow"', '"deny"', '"require_confirmation"')
                 THEN 'bad_value:policy_check.decision'
            WHEN s[3] = 'confirmation_response' AND f[19] <> 'null'
                 AND f[19] NOT IN ('"approved"', '"rejected"', '"expired"')
                 THEN 'bad_value:confirmation_response.decision'
            WHEN s[3] = 'side_effect' AND f[20] <> 'null'
                 AND f[20] NOT IN ('"create"', '"update"', '"delete"', '"send"', '"execute"')
                 THEN 'bad_value:side_effect.operation'
            WHEN s[3] = 'feedback' AND f[21] <> 'null'
                 AND coalesce(try_cast(f[21]::VARCHAR AS DOUBLE) NOT IN (-1, 0, 1), true)
                 THEN 'bad_value:feedback.rating'
        END AS reason
    FROM typed
)
SELECT
    source_file,
    line_number,
    CASE WHEN is_blank THEN 'blank' WHEN reason IS NULL THEN 'valid' ELSE 'quarantined' END AS line_status,
    reason,
    -- the raw text is kept only for quarantined lines, truncated when huge
    CASE WHEN reason IS NOT NULL THEN
        CASE WHEN is_marker THEN split_part(line, chr(31), 4) ELSE left(line, $quarantine_chars) END
    END AS raw_line,
    CASE WHEN is_marker THEN try_cast(split_part(line, chr(31), 3) AS BIGINT) ELSE strlen(line) END AS raw_line_bytes,
    CASE WHEN t[2] = '"' THEN s[2] END AS event_id,
    CASE WHEN reason IS NULL AND NOT is_blank THEN hash(line) END AS line_hash,
    CASE WHEN reason IS NULL AND NOT is_blank THEN s[1] END AS schema_version,
    CASE WHEN reason IS NULL AND NOT is_blank THEN s[3] END AS event_type,
    CASE WHEN reason IS NULL AND NOT is_blank THEN try_cast(upper(s[4]) AS TIMESTAMPTZ) END AS event_timestamp,
    CASE WHEN reason IS NULL AND NOT is_blank THEN s[5] END AS trace_id,
    CASE WHEN reason IS NULL AND NOT is_blank THEN s[6] END AS span_id,
    CASE WHEN reason IS NULL AND NOT is_blank THEN s[7] END AS parent_span_id,
    CASE WHEN reason IS NULL AND NOT is_blank THEN s[8]::BIGINT END AS sequence,
    CASE WHEN reason IS NULL AND NOT is_blank THEN s[9] END AS session_id,
    CASE WHEN reason IS NULL AND NOT is_blank THEN s[10] END AS tenant_id,
    CASE WHEN reason IS NULL AND NOT is_blank THEN s[11] END AS user_id,
    CASE WHEN reason IS NULL AND NOT is_blank THEN s[12] END AS agent_name,
    CASE WHEN reason IS NULL AND NOT is_blank THEN s[13] END AS agent_version,
    CASE WHEN reason IS NULL AND NOT is_blank THEN f[13] END AS payload,
    CASE WHEN reason IS NULL AND NOT is_blank AND t[14] = '{' THEN f[14] END AS attributes,
    CASE WHEN reason IS NULL AND NOT is_blank
              -- only a line with more keys than the known ones present has extra fields
              AND len(json_keys(line)) > list_count(f[1:14]) THEN extra_fields_of(line) END AS extra_fields,
    -- one row per line for native files (OTLP rows number the units of a request line)
    0::BIGINT AS unit_index,
    'native' AS source_format
FROM reasoned;
