-- Helpers for decoding OTLP/JSON (docs/otlp.md), registered per connection by the loader before
-- otlp_parse.sql and otlp_map.sql run. Everything here is a pure SQL macro: the decoding stays
-- set-based in DuckDB.

-- A JSON value, with JSON null treated as absent (OTLP producers write omitted fields either way).
CREATE OR REPLACE TEMP MACRO otlp_present(v) AS CASE WHEN v IS NULL OR json_type(v) = 'NULL' THEN NULL ELSE v END;

-- A field under its OTLP/JSON name (lowerCamelCase) or its protobuf name (snake_case).
CREATE OR REPLACE TEMP MACRO otlp_field(obj, camel, snake) AS
    coalesce(otlp_present(json_extract(obj, '$.' || camel)), otlp_present(json_extract(obj, '$.' || snake)));

-- From a list of fields extracted in one parse ([camelCase, snake_case, ...]): the pair at position i.
CREATE OR REPLACE TEMP MACRO otlp_pick(f, i) AS coalesce(otlp_present(f[i]), otlp_present(f[i + 1]));

-- The text of a JSON string field (NULL for any other JSON type).
CREATE OR REPLACE TEMP MACRO otlp_string(v) AS CASE WHEN json_type(v) = 'VARCHAR' THEN v ->> '$' END;

-- Trace and span ids: hex in either case, or (protobuf JSON mapping) base64, standard or URL-safe,
-- padded or not. Normalised to lowercase hex. NULL when absent or empty; 'invalid' otherwise when
-- it is neither, or all zeros (an invalid id in OpenTelemetry).
CREATE OR REPLACE TEMP MACRO otlp_b64(t) AS
    try(from_base64(translate(t, '-_', '+/') || repeat('=', (4 - length(t) % 4) % 4)));
CREATE OR REPLACE TEMP MACRO otlp_id(v, hex_chars) AS CASE
    WHEN v IS NULL THEN NULL
    WHEN json_type(v) <> 'VARCHAR' THEN 'invalid'
    WHEN trim(v ->> '$') = '' THEN NULL
    WHEN length(trim(v ->> '$')) = hex_chars AND regexp_full_match(trim(v ->> '$'), '[0-9a-fA-F]+') THEN
        CASE WHEN regexp_full_match(trim(v ->> '$'), '0+') THEN 'invalid' ELSE lower(trim(v ->> '$')) END
    WHEN regexp_full_match(trim(v ->> '$'), '[A-Za-z0-9+/_-]+={0,2}')
         AND octet_length(otlp_b64(rtrim(trim(v ->> '$'), '='))) * 2 = hex_chars THEN
        CASE WHEN regexp_full_match(hex(otlp_b64(rtrim(trim(v ->> '$'), '='))), '0+') THEN 'invalid'
             ELSE lower(hex(otlp_b64(rtrim(trim(v ->> '$'), '=')))) END
    ELSE 'invalid'
END;

-- Unix nanoseconds as a JSON number or a string of digits (an RFC 3339 string, and the JavaScript
-- exporters' {"low", "high"} 32-bit halves are tolerated).
-- NULL when absent or 0 (unset); -1 when present but unreadable.
CREATE OR REPLACE TEMP MACRO otlp_nanos(v) AS CASE
    WHEN v IS NULL THEN NULL
    WHEN json_type(v) = 'OBJECT' AND json_type(v, '$.low') IN ('BIGINT', 'UBIGINT') AND json_type(v, '$.high') IN ('BIGINT', 'UBIGINT') THEN
        coalesce(nullif(try_cast(json_extract_string(v, '$.high')::HUGEINT * 4294967296
                                 + (json_extract_string(v, '$.low')::HUGEINT + 4294967296) % 4294967296 AS BIGINT), 0), NULL)
    WHEN json_type(v) IN ('BIGINT', 'UBIGINT') THEN coalesce(nullif(try_cast(v::VARCHAR AS BIGINT), 0), CASE WHEN v::VARCHAR = '0' THEN NULL ELSE -1 END)
    WHEN json_type(v) = 'DOUBLE' THEN coalesce(nullif(try_cast(v::VARCHAR::DOUBLE AS BIGINT), 0), CASE WHEN v::VARCHAR::DOUBLE = 0 THEN NULL ELSE -1 END)
    WHEN json_type(v) = 'VARCHAR' AND regexp_full_match(trim(v ->> '$'), '[0-9]+') THEN
        CASE WHEN try_cast(trim(v ->> '$') AS BIGINT) = 0 THEN NULL ELSE coalesce(try_cast(trim(v ->> '$') AS BIGINT), -1) END
    WHEN json_type(v) = 'VARCHAR' AND trim(v ->> '$') = '' THEN NULL
    WHEN json_type(v) = 'VARCHAR' THEN coalesce(epoch_ns(try_cast(upper(trim(v ->> '$')) AS TIMESTAMPTZ)), -1)
    ELSE -1
END;
-- Nanoseconds to the warehouse's microsecond instant (years 1970..2261 only).
CREATE OR REPLACE TEMP MACRO otlp_ts(ns) AS CASE WHEN ns > 0 THEN make_timestamp(ns // 1000)::TIMESTAMPTZ END;

-- Enums: the integer (number or digit string) or the enum name, with or without its prefix, any case.
CREATE OR REPLACE TEMP MACRO otlp_enum_key(v, prefix) AS
    upper(regexp_replace(trim(coalesce(v ->> '$', '')), '(?i)^' || prefix, ''));
CREATE OR REPLACE TEMP MACRO otlp_span_kind(v) AS CASE
    WHEN v IS NULL THEN 'UNSPECIFIED'
    WHEN otlp_enum_key(v, 'SPAN_KIND_') IN ('0', 'UNSPECIFIED') THEN 'UNSPECIFIED'
    WHEN otlp_enum_key(v, 'SPAN_KIND_') IN ('1', 'INTERNAL') THEN 'INTERNAL'
    WHEN otlp_enum_key(v, 'SPAN_KIND_') IN ('2', 'SERVER') THEN 'SERVER'
    WHEN otlp_enum_key(v, 'SPAN_KIND_') IN ('3', 'CLIENT') THEN 'CLIENT'
    WHEN otlp_enum_key(v, 'SPAN_KIND_') IN ('4', 'PRODUCER') THEN 'PRODUCER'
    WHEN otlp_enum_key(v, 'SPAN_KIND_') IN ('5', 'CONSUMER') THEN 'CONSUMER'
END;
CREATE OR REPLACE TEMP MACRO otlp_status_code(v) AS CASE
    WHEN v IS NULL THEN 'UNSET'
    WHEN otlp_enum_key(v, 'STATUS_CODE_') IN ('0', 'UNSET') THEN 'UNSET'
    WHEN otlp_enum_key(v, 'STATUS_CODE_') IN ('1', 'OK') THEN 'OK'
    WHEN otlp_enum_key(v, 'STATUS_CODE_') IN ('2', 'ERROR') THEN 'ERROR'
END;

-- AnyValue -> JSON. One key of stringValue, boolValue, intValue (string or number), doubleValue,
-- bytesValue (kept as its base64 text), arrayValue, kvlistValue, in camelCase or snake_case; {}
-- is null. otlp_av_scalar returns NULL for a malformed value; otlp_av_bad says why.
CREATE OR REPLACE TEMP MACRO otlp_av_key(v) AS CASE
    WHEN json_type(v) <> 'OBJECT' THEN NULL
    WHEN json_exists(v, '$.stringValue') OR json_exists(v, '$.string_value') THEN 'string'
    WHEN json_exists(v, '$.boolValue') OR json_exists(v, '$.bool_value') THEN 'bool'
    WHEN json_exists(v, '$.intValue') OR json_exists(v, '$.int_value') THEN 'int'
    WHEN json_exists(v, '$.doubleValue') OR json_exists(v, '$.double_value') THEN 'double'
    WHEN json_exists(v, '$.bytesValue') OR json_exists(v, '$.bytes_value') THEN 'bytes'
    WHEN json_exists(v, '$.arrayValue') OR json_exists(v, '$.array_value') THEN 'array'
    WHEN json_exists(v, '$.kvlistValue') OR json_exists(v, '$.kvlist_value') THEN 'kvlist'
    WHEN v::VARCHAR = '{}' THEN 'empty'
    ELSE 'unknown'
END;
CREATE OR REPLACE TEMP MACRO otlp_av_raw(v, camel, snake) AS coalesce(json_extract(v, '$.' || camel), json_extract(v, '$.' || snake));
CREATE OR REPLACE TEMP MACRO otlp_av_int(x) AS CASE
    WHEN json_type(x) IN ('BIGINT', 'UBIGINT') THEN try_cast(x::VARCHAR AS BIGINT)
    WHEN json_type(x) = 'VARCHAR' AND regexp_full_match(trim(x ->> '$'), '[+-]?[0-9]+') THEN try_cast(trim(x ->> '$') AS BIGINT)
END;
CREATE OR REPLACE TEMP MACRO otlp_av_double(x) AS CASE
    WHEN json_type(x) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN try_cast(x::VARCHAR AS DOUBLE)
    WHEN json_type(x) = 'VARCHAR' THEN try_cast(trim(x ->> '$') AS DOUBLE)
END;
CREATE OR REPLACE TEMP MACRO otlp_av_bad(v) AS CASE coalesce(otlp_av_key(v), 'none')
    WHEN 'none' THEN 'not_an_anyvalue'
    WHEN 'unknown' THEN 'unknown_value_type'
    WHEN 'string' THEN CASE WHEN json_type(otlp_av_raw(v, 'stringValue', 'string_value')) <> 'VARCHAR' THEN 'bad_string_value' END
    WHEN 'bool' THEN CASE WHEN json_type(otlp_av_raw(v, 'boolValue', 'bool_value')) <> 'BOOLEAN'
                           AND lower(coalesce(otlp_av_raw(v, 'boolValue', 'bool_value') ->> '$', '')) NOT IN ('true', 'false')
                          THEN 'bad_bool_value' END
    WHEN 'int' THEN CASE WHEN otlp_av_int(otlp_av_raw(v, 'intValue', 'int_value')) IS NULL THEN 'bad_int_value' END
    WHEN 'double' THEN CASE WHEN otlp_av_double(otlp_av_raw(v, 'doubleValue', 'double_value')) IS NULL THEN 'bad_double_value' END
    WHEN 'bytes' THEN CASE WHEN json_type(otlp_av_raw(v, 'bytesValue', 'bytes_value')) <> 'VARCHAR' THEN 'bad_bytes_value' END
    WHEN 'array' THEN CASE WHEN json_type(otlp_av_raw(v, 'arrayValue', 'array_value')) <> 'OBJECT' THEN 'bad_array_value' END
    WHEN 'kvlist' THEN CASE WHEN json_type(otlp_av_raw(v, 'kvlistValue', 'kvlist_value')) <> 'OBJECT' THEN 'bad_kvlist_value' END
END;
-- NaN and infinities are not JSON numbers: they stay strings.
CREATE OR REPLACE TEMP MACRO otlp_av_scalar(v) AS CASE otlp_av_key(v)
    WHEN 'string' THEN CASE WHEN json_type(otlp_av_raw(v, 'stringValue', 'string_value')) = 'VARCHAR' THEN otlp_av_raw(v, 'stringValue', 'string_value') END
    WHEN 'bool' THEN CASE WHEN json_type(otlp_av_raw(v, 'boolValue', 'bool_value')) = 'BOOLEAN' THEN otlp_av_raw(v, 'boolValue', 'bool_value')
                          WHEN lower(otlp_av_raw(v, 'boolValue', 'bool_value') ->> '$') = 'true' THEN 'true'::JSON
                          WHEN lower(otlp_av_raw(v, 'boolValue', 'bool_value') ->> '$') = 'false' THEN 'false'::JSON END
    WHEN 'int' THEN to_json(otlp_av_int(otlp_av_raw(v, 'intValue', 'int_value')))
    WHEN 'double' THEN CASE WHEN isfinite(otlp_av_double(otlp_av_raw(v, 'doubleValue', 'double_value')))
                            THEN to_json(otlp_av_double(otlp_av_raw(v, 'doubleValue', 'double_value')))
                            ELSE to_json(otlp_av_double(otlp_av_raw(v, 'doubleValue', 'double_value'))::VARCHAR) END
    WHEN 'bytes' THEN CASE WHEN json_type(otlp_av_raw(v, 'bytesValue', 'bytes_value')) = 'VARCHAR' THEN otlp_av_raw(v, 'bytesValue', 'bytes_value') END
    WHEN 'empty' THEN 'null'::JSON
    -- nested deeper than the layers below: kept in its OTLP form, undecoded but not lost
    WHEN 'array' THEN v
    WHEN 'kvlist' THEN v
END;

-- Arrays and key-value lists, decoded layer by layer (SQL macros cannot recurse): five levels of
-- nesting, enough for the GenAI event bodies (choice > message > tool_calls > call > function).
-- A kvlist keeps the first of repeated keys; entries without a string key are left out. Lambda
-- parameters are named per level: macro arguments are substituted as text, so a shared name would
-- be captured by an inner lambda.
CREATE OR REPLACE TEMP MACRO otlp_av_items(v) AS coalesce(json_extract(
    coalesce(json_extract(v, '$.arrayValue'), json_extract(v, '$.array_value')), '$.values[*]'), []::JSON[]);
CREATE OR REPLACE TEMP MACRO otlp_kv_items(v) AS list_filter(coalesce(json_extract(
    coalesce(json_extract(v, '$.kvlistValue'), json_extract(v, '$.kvlist_value')), '$.values[*]'), []::JSON[]),
    lambda ki_x: json_type(ki_x, '$.key') = 'VARCHAR');
CREATE OR REPLACE TEMP MACRO otlp_kv_first(items) AS list_filter(items, lambda kf_x, kf_i:
    list_position(list_transform(items, lambda kf_y: json_extract_string(kf_y, '$.key')), json_extract_string(kf_x, '$.key')) = kf_i);
CREATE OR REPLACE TEMP MACRO otlp_av1(v) AS CASE otlp_av_key(v)
    WHEN 'array' THEN to_json(list_transform(otlp_av_items(v), lambda e1: otlp_av_scalar(e1)))
    WHEN 'kvlist' THEN coalesce(to_json(map_from_entries(list_transform(otlp_kv_first(otlp_kv_items(v)),
        lambda e1: struct_pack(k := json_extract_string(e1, '$.key'), v := otlp_av_scalar(json_extract(e1, '$.value')))))), '{}'::JSON)
    ELSE otlp_av_scalar(v) END;
CREATE OR REPLACE TEMP MACRO otlp_av2(v) AS CASE otlp_av_key(v)
    WHEN 'array' THEN to_json(list_transform(otlp_av_items(v), lambda e2: otlp_av1(e2)))
    WHEN 'kvlist' THEN coalesce(to_json(map_from_entries(list_transform(otlp_kv_first(otlp_kv_items(v)),
        lambda e2: struct_pack(k := json_extract_string(e2, '$.key'), v := otlp_av1(json_extract(e2, '$.value')))))), '{}'::JSON)
    ELSE otlp_av_scalar(v) END;
CREATE OR REPLACE TEMP MACRO otlp_av3(v) AS CASE otlp_av_key(v)
    WHEN 'array' THEN to_json(list_transform(otlp_av_items(v), lambda e3: otlp_av2(e3)))
    WHEN 'kvlist' THEN coalesce(to_json(map_from_entries(list_transform(otlp_kv_first(otlp_kv_items(v)),
        lambda e3: struct_pack(k := json_extract_string(e3, '$.key'), v := otlp_av2(json_extract(e3, '$.value')))))), '{}'::JSON)
    ELSE otlp_av_scalar(v) END;
CREATE OR REPLACE TEMP MACRO otlp_av4(v) AS CASE otlp_av_key(v)
    WHEN 'array' THEN to_json(list_transform(otlp_av_items(v), lambda e4: otlp_av3(e4)))
    WHEN 'kvlist' THEN coalesce(to_json(map_from_entries(list_transform(otlp_kv_first(otlp_kv_items(v)),
        lambda e4: struct_pack(k := json_extract_string(e4, '$.key'), v := otlp_av3(json_extract(e4, '$.value')))))), '{}'::JSON)
    ELSE otlp_av_scalar(v) END;
CREATE OR REPLACE TEMP MACRO otlp_anyvalue(v) AS CASE otlp_av_key(v)
    WHEN 'array' THEN to_json(list_transform(otlp_av_items(v), lambda e5: otlp_av4(e5)))
    WHEN 'kvlist' THEN coalesce(to_json(map_from_entries(list_transform(otlp_kv_first(otlp_kv_items(v)),
        lambda e5: struct_pack(k := json_extract_string(e5, '$.key'), v := otlp_av4(json_extract(e5, '$.value')))))), '{}'::JSON)
    ELSE otlp_av_scalar(v) END;

-- Reading decoded attribute values (JSON) from an attribute map MAP(VARCHAR, JSON).
-- Text: a string as is, any other scalar as its JSON text; NULL for null, objects and arrays.
CREATE OR REPLACE TEMP MACRO otlp_text(v) AS CASE
    WHEN v IS NULL THEN NULL
    WHEN json_type(v) = 'VARCHAR' THEN nullif(v ->> '$', '')
    WHEN json_type(v) IN ('BIGINT', 'UBIGINT', 'DOUBLE', 'BOOLEAN') THEN v::VARCHAR
END;
CREATE OR REPLACE TEMP MACRO otlp_bigint(v) AS CASE
    WHEN json_type(v) IN ('BIGINT', 'UBIGINT') THEN try_cast(v::VARCHAR AS BIGINT)
    WHEN json_type(v) = 'DOUBLE' THEN try_cast(round(v::VARCHAR::DOUBLE) AS BIGINT)
    WHEN json_type(v) = 'VARCHAR' THEN try_cast(trim(v ->> '$') AS BIGINT)
END;
CREATE OR REPLACE TEMP MACRO otlp_bool(v) AS CASE
    WHEN json_type(v) = 'BOOLEAN' THEN v::VARCHAR = 'true'
    WHEN json_type(v) = 'VARCHAR' AND lower(trim(v ->> '$')) IN ('true', 'false') THEN lower(trim(v ->> '$')) = 'true'
END;
-- A value that may carry JSON text (most SDKs write structured values as JSON strings): parsed
-- when the text is a JSON object or array, else the value itself.
CREATE OR REPLACE TEMP MACRO otlp_parsed(v) AS CASE
    WHEN json_type(v) = 'VARCHAR' AND left(ltrim(v ->> '$'), 1) IN ('{', '[') AND json_valid(v ->> '$')
        THEN (v ->> '$')::JSON
    ELSE v
END;
-- Tool arguments are a JSON object in the native format: an object stays one, anything else is
-- wrapped as {"value": ...}.
CREATE OR REPLACE TEMP MACRO otlp_as_object(v) AS CASE
    WHEN v IS NULL OR json_type(v) = 'NULL' THEN NULL
    WHEN json_type(otlp_parsed(v)) = 'OBJECT' THEN otlp_parsed(v)
    ELSE json_object('value', otlp_parsed(v))
END;
-- User-visible text: a string as is, any other value as its JSON text.
CREATE OR REPLACE TEMP MACRO otlp_as_text(v) AS CASE
    WHEN v IS NULL OR json_type(v) = 'NULL' THEN NULL
    WHEN json_type(v) = 'VARCHAR' THEN v ->> '$'
    ELSE v::VARCHAR
END;

-- Order of events of one span that share a timestamp (the lifecycle order of docs/trace-format.md).
CREATE OR REPLACE TEMP MACRO otlp_type_rank(event_type) AS CASE event_type
    WHEN 'user_request' THEN 0 WHEN 'plan' THEN 1 WHEN 'model_call' THEN 2 WHEN 'tool_selection' THEN 3
    WHEN 'tool_call' THEN 4 WHEN 'policy_check' THEN 5 WHEN 'confirmation_request' THEN 6
    WHEN 'confirmation_response' THEN 7 WHEN 'tool_result' THEN 8 WHEN 'side_effect' THEN 9
    WHEN 'rollback' THEN 10 WHEN 'error' THEN 11 WHEN 'final_result' THEN 12 WHEN 'feedback' THEN 13
    ELSE 14 END;

-- A text that is itself a JSON string literal (OpenLLMetry serialises a function's return value
-- with json.dumps: "\"Refunded.\""): the string it holds.
CREATE OR REPLACE TEMP MACRO otlp_unquote(t) AS CASE
    WHEN left(t, 1) = '"' AND json_valid(t) AND json_type(t::JSON) = 'VARCHAR' THEN t::JSON ->> '$'
    ELSE t END;
-- The text of a message value: content blocks [{"text": ...}, ...] (Strands, Bedrock) joined by
-- new lines; else the value as text.
CREATE OR REPLACE TEMP MACRO otlp_message_text(v) AS CASE
    WHEN json_type(otlp_parsed(v)) = 'ARRAY'
         AND len(list_filter(json_extract_string(otlp_parsed(v), '$[*].text'), lambda mt_x: mt_x IS NOT NULL)) > 0
        THEN array_to_string(list_filter(json_extract_string(otlp_parsed(v), '$[*].text'), lambda mt_x: mt_x IS NOT NULL), chr(10))
    ELSE otlp_unquote(otlp_as_text(v)) END;
-- OpenLLMetry records a Python function's input as {"args": [...], "kwargs": {...}}: with no
-- positional arguments, the keyword arguments are the call's arguments.
CREATE OR REPLACE TEMP MACRO otlp_unwrap_kwargs(v) AS CASE
    WHEN json_type(v) = 'OBJECT' AND list_sort(json_keys(v)) = ['args', 'kwargs'] AND json_type(v, '$.kwargs') = 'OBJECT'
         AND json_type(v, '$.args') = 'ARRAY' AND json_array_length(v, '$.args') = 0 THEN json_extract(v, '$.kwargs')
    ELSE v END;
-- The first user message of a message list (Pydantic AI's pydantic_ai.all_messages /
-- all_messages_events on the agent run span): {"role": "user", "content": "..."} or with
-- "parts": [{"type": "text", "content": "..."}]. NULL when there is none.
CREATE OR REPLACE TEMP MACRO otlp_first_user_msg(v) AS CASE WHEN json_type(otlp_parsed(v)) = 'ARRAY' THEN
    list_filter(json_extract(otlp_parsed(v), '$[*]'), lambda um_x: json_extract_string(um_x, '$.role') = 'user')[1] END;
CREATE OR REPLACE TEMP MACRO otlp_user_text(v) AS coalesce(
    CASE WHEN json_type(otlp_first_user_msg(v), '$.content') = 'VARCHAR' THEN json_extract_string(otlp_first_user_msg(v), '$.content') END,
    nullif(array_to_string(list_filter(json_extract_string(otlp_first_user_msg(v), '$.parts[*].content'), lambda ut_x: ut_x IS NOT NULL), chr(10)), ''));
-- The Vercel AI SDK's ai.prompt, {"prompt": "..."} (or {"system", "messages"}): the prompt's text when it is one.
CREATE OR REPLACE TEMP MACRO otlp_ai_prompt_text(v) AS CASE
    WHEN json_type(otlp_parsed(v), '$.prompt') = 'VARCHAR' THEN json_extract_string(otlp_parsed(v), '$.prompt') END;
