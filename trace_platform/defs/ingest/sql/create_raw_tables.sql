-- Raw zone: what ingestion writes. Analysts query the modeled schemas, not this one.
CREATE SCHEMA IF NOT EXISTS raw;

-- One row per valid, first-delivered event (deduplicated by event_id across partitions).
CREATE TABLE IF NOT EXISTS raw.trace_events (
    event_id         VARCHAR NOT NULL,
    event_type       VARCHAR NOT NULL,
    schema_version   VARCHAR NOT NULL,
    event_timestamp  TIMESTAMPTZ NOT NULL,   -- parsed RFC 3339 timestamp (session TimeZone is UTC)
    trace_id         VARCHAR NOT NULL,
    span_id          VARCHAR NOT NULL,
    parent_span_id   VARCHAR,
    sequence         BIGINT NOT NULL,
    session_id       VARCHAR,
    tenant_id        VARCHAR NOT NULL,
    user_id          VARCHAR,
    agent_name       VARCHAR NOT NULL,
    agent_version    VARCHAR NOT NULL,
    payload          JSON NOT NULL,
    attributes       JSON,                  -- NULL when the event had none
    extra_fields     JSON,                  -- unknown top-level fields, kept verbatim; NULL when none
    source_format    VARCHAR NOT NULL,      -- 'native' (v1 JSONL); other sources map into the same shape
    source_file      VARCHAR NOT NULL,      -- path relative to the landing folder
    line_number      BIGINT NOT NULL,       -- 1-based line in the (decompressed) file
    line_hash        UBIGINT NOT NULL,      -- hash of the delivered line: fast identical-redelivery test
    delivery_date    DATE NOT NULL,         -- ingestion partition
    ingested_at      TIMESTAMPTZ NOT NULL
);

-- One row per line (or whole file) that could not be loaded, with the reason.
CREATE TABLE IF NOT EXISTS raw.quarantine (
    delivery_date    DATE NOT NULL,
    source_file      VARCHAR NOT NULL,
    line_number      BIGINT,                -- NULL for a file-level reason (e.g. corrupt_gzip)
    reason           VARCHAR NOT NULL,
    event_id         VARCHAR,               -- when the line carried one
    raw_line         VARCHAR,               -- truncated when huge; invalid UTF-8 shown escaped
    raw_line_bytes   BIGINT,                -- original length of the line in bytes
    ingested_at      TIMESTAMPTZ NOT NULL
);

-- Line accounting: one row per landing file, from its latest load. R9 holds on every row:
-- lines_read = blank_lines + events_loaded + duplicates_dropped + lines_quarantined.
CREATE TABLE IF NOT EXISTS raw.ingest_files (
    delivery_date      DATE NOT NULL,
    source_file        VARCHAR NOT NULL,
    file_bytes         BIGINT NOT NULL,
    content_sha256     VARCHAR NOT NULL,
    lines_read         BIGINT NOT NULL,
    blank_lines        BIGINT NOT NULL,
    events_loaded      BIGINT NOT NULL,
    duplicates_dropped BIGINT NOT NULL,
    lines_quarantined  BIGINT NOT NULL,
    file_status        VARCHAR NOT NULL,    -- 'loaded' or 'quarantined' (file-level failure)
    load_id            VARCHAR NOT NULL,
    loaded_at          TIMESTAMPTZ NOT NULL
);

-- Which traces each publish changed, so the warehouse models rebuild only those traces instead of
-- fingerprinting all of history (see dbt_project/models/intermediate/int_trace_changes.sql).
-- delivery_date is the partition whose rows of that trace were inserted or deleted.
CREATE TABLE IF NOT EXISTS raw.trace_change_log (
    change_seq       BIGINT NOT NULL,       -- one value per publish, increasing
    trace_id         VARCHAR NOT NULL,
    delivery_date    DATE NOT NULL,
    load_id          VARCHAR NOT NULL,
    logged_at        TIMESTAMPTZ NOT NULL
);

-- OTLP files (<landing>/otlp/<day>/): the request structure behind their raw.ingest_files row. There
-- the accounting unit is an item (docs/otlp.md): a blank line or empty request, a quarantined line or
-- unit, or one event a span / log record maps to. This row ties the items to the spans and log
-- records of the file: spans + log_records = records_mapped + spans_quarantined +
-- log_records_quarantined (checked by R9 with the quarantine rows).
CREATE TABLE IF NOT EXISTS raw.otlp_ingest_files (
    delivery_date            DATE NOT NULL,
    source_file              VARCHAR NOT NULL,
    physical_lines           BIGINT NOT NULL,   -- lines of the (decompressed) file, blank ones included
    requests                 BIGINT NOT NULL,   -- well-formed export requests (traces or logs)
    spans                    BIGINT NOT NULL,   -- spans found in well-formed resources and scopes
    spans_quarantined        BIGINT NOT NULL,
    log_records              BIGINT NOT NULL,
    log_records_quarantined  BIGINT NOT NULL,
    records_mapped           BIGINT NOT NULL,   -- spans and log records that became at least one event
    load_id                  VARCHAR NOT NULL,
    loaded_at                TIMESTAMPTZ NOT NULL
);
