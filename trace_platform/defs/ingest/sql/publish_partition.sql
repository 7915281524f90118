-- Replaces one partition's rows in the raw zone. Run inside one transaction by the loader, so
-- readers never see a half-loaded partition. Parameters: $partition, $load_id, $ingested_at.

-- Log the traces this publish touches: those of the rows it replaces, of the rows it inserts, and
-- of the copies in other partitions it demotes. dbt rebuilds exactly these traces.
INSERT INTO raw.trace_change_log
WITH this_publish AS (
    SELECT coalesce(max(change_seq), 0) + 1 AS change_seq FROM raw.trace_change_log
),
touched AS (
    SELECT trace_id, delivery_date FROM raw.trace_events WHERE delivery_date = $partition::DATE
    UNION
    SELECT trace_id, $partition::DATE FROM ingest_work.lines WHERE line_status = 'valid'
    UNION
    SELECT e.trace_id, e.delivery_date
    FROM raw.trace_events AS e
    JOIN ingest_losers AS lo
      ON NOT lo.is_new AND e.delivery_date = lo.delivery_date
     AND e.source_file = lo.source_file AND e.line_number = lo.line_number AND e.event_id = lo.event_id
)
SELECT this_publish.change_seq, touched.trace_id, touched.delivery_date, $load_id, $ingested_at::TIMESTAMPTZ
FROM touched, this_publish;

DELETE FROM raw.trace_events WHERE delivery_date = $partition::DATE;
DELETE FROM raw.quarantine WHERE delivery_date = $partition::DATE;
DELETE FROM raw.ingest_files WHERE delivery_date = $partition::DATE;
DELETE FROM raw.otlp_ingest_files WHERE delivery_date = $partition::DATE;

INSERT INTO raw.trace_events
SELECT
    l.event_id, l.event_type, l.schema_version, l.event_timestamp, l.trace_id, l.span_id,
    l.parent_span_id, l.sequence, l.session_id, l.tenant_id, l.user_id, l.agent_name,
    l.agent_version, l.payload, l.attributes, l.extra_fields, l.source_format, l.source_file,
    l.line_number, l.line_hash, $partition::DATE, $ingested_at::TIMESTAMPTZ
FROM ingest_work.lines AS l
ANTI JOIN (SELECT source_file, line_number, unit_index FROM ingest_losers WHERE is_new) AS lost
    ON lost.source_file = l.source_file AND lost.line_number = l.line_number AND lost.unit_index = l.unit_index
WHERE l.line_status = 'valid';

INSERT INTO raw.quarantine
SELECT $partition::DATE, source_file, line_number, reason, event_id, raw_line, raw_line_bytes,
       $ingested_at::TIMESTAMPTZ
FROM ingest_work.lines
WHERE line_status = 'quarantined'
UNION ALL
SELECT $partition::DATE, lo.source_file, lo.line_number, 'conflict', lo.event_id, cl.raw_line,
       cl.raw_line_bytes, $ingested_at::TIMESTAMPTZ
FROM ingest_losers AS lo
LEFT JOIN ingest_conflict_lines AS cl USING (source_file, line_number, unit_index, event_id)
WHERE lo.is_new AND lo.outcome = 'conflict'
UNION ALL
SELECT $partition::DATE, source_file, NULL, file_error, NULL, file_error_detail, NULL,
       $ingested_at::TIMESTAMPTZ
FROM ingest_file_list
WHERE file_error IS NOT NULL;

INSERT INTO raw.ingest_files
WITH line_counts AS (
    SELECT
        source_file,
        count(*) AS lines_read,
        count(*) FILTER (line_status = 'blank') AS blank_lines,
        count(*) FILTER (line_status = 'valid') AS valid_lines,
        count(*) FILTER (line_status = 'quarantined') AS invalid_lines
    FROM ingest_work.lines
    GROUP BY source_file
),
loser_counts AS (
    SELECT
        source_file,
        count(*) FILTER (outcome = 'duplicate') AS duplicates,
        count(*) FILTER (outcome = 'conflict') AS conflicts
    FROM ingest_losers
    WHERE is_new
    GROUP BY source_file
)
SELECT
    $partition::DATE,
    f.source_file,
    f.file_bytes,
    f.content_sha256,
    coalesce(lc.lines_read, 0),
    coalesce(lc.blank_lines, 0),
    coalesce(lc.valid_lines, 0) - coalesce(lo.duplicates, 0) - coalesce(lo.conflicts, 0),
    coalesce(lo.duplicates, 0),
    coalesce(lc.invalid_lines, 0) + coalesce(lo.conflicts, 0),
    CASE WHEN f.file_error IS NULL THEN 'loaded' ELSE 'quarantined' END,
    $load_id,
    $ingested_at::TIMESTAMPTZ
FROM ingest_file_list AS f
LEFT JOIN line_counts AS lc USING (source_file)
LEFT JOIN loser_counts AS lo USING (source_file);

-- Copies loaded earlier from a LATER delivery day now lose to this partition's copy: move
-- them from loaded to duplicate / conflict in their own partition's accounting.
INSERT INTO raw.quarantine
SELECT lo.delivery_date, lo.source_file, lo.line_number, 'conflict', lo.event_id, cl.raw_line,
       cl.raw_line_bytes, $ingested_at::TIMESTAMPTZ
FROM ingest_losers AS lo
LEFT JOIN ingest_conflict_lines AS cl USING (source_file, line_number, unit_index, event_id)
WHERE NOT lo.is_new AND lo.outcome = 'conflict';

UPDATE raw.ingest_files AS f
SET events_loaded = f.events_loaded - d.demoted,
    duplicates_dropped = f.duplicates_dropped + d.duplicates,
    lines_quarantined = f.lines_quarantined + d.conflicts
FROM (
    SELECT delivery_date, source_file, count(*) AS demoted,
           count(*) FILTER (outcome = 'duplicate') AS duplicates,
           count(*) FILTER (outcome = 'conflict') AS conflicts
    FROM ingest_losers
    WHERE NOT is_new
    GROUP BY ALL
) AS d
WHERE f.delivery_date = d.delivery_date AND f.source_file = d.source_file;

DELETE FROM raw.trace_events AS e
USING ingest_losers AS lo
WHERE NOT lo.is_new AND e.delivery_date = lo.delivery_date
  AND e.source_file = lo.source_file AND e.line_number = lo.line_number AND e.event_id = lo.event_id;

-- OTLP files: the request structure behind their accounting (one row per OTLP file, see
-- docs/otlp.md). The loader creates ingest_work.otlp_file_stats (empty without OTLP files).
INSERT INTO raw.otlp_ingest_files
SELECT $partition::DATE, s.source_file, s.physical_lines, s.requests, s.spans, s.spans_quarantined,
       s.log_records, s.log_records_quarantined, s.records_mapped, $load_id, $ingested_at::TIMESTAMPTZ
FROM ingest_work.otlp_file_stats AS s;

