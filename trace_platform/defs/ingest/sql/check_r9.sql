-- R9 for one partition: per landing file, lines read = blank + loaded + duplicates + quarantined,
-- and the accounting agrees with the rows actually present. Parameter: $partition.
-- For an OTLP file the unit is an item (docs/otlp.md), and its spans and log records must add up
-- too: each one became at least one event or is quarantined, as the quarantine rows show.
WITH loaded AS (
    SELECT source_file, count(*) AS n FROM raw.trace_events
    WHERE delivery_date = $partition::DATE GROUP BY source_file
),
quarantined AS (
    SELECT source_file, count(*) AS n,
           count(*) FILTER (WHERE starts_with(reason, 'otlp_bad_span:')) AS spans,
           count(*) FILTER (WHERE starts_with(reason, 'otlp_bad_log_record:')) AS log_records
    FROM raw.quarantine
    WHERE delivery_date = $partition::DATE AND line_number IS NOT NULL GROUP BY source_file
),
otlp AS (
    SELECT * FROM raw.otlp_ingest_files WHERE delivery_date = $partition::DATE
)
SELECT
    f.source_file,
    f.file_status,
    f.lines_read,
    f.blank_lines,
    f.events_loaded,
    f.duplicates_dropped,
    f.lines_quarantined,
    coalesce(l.n, 0) AS event_rows,
    coalesce(q.n, 0) AS quarantine_rows,
    f.lines_read = f.blank_lines + f.events_loaded + f.duplicates_dropped + f.lines_quarantined
        AND f.events_loaded = coalesce(l.n, 0)
        AND f.lines_quarantined = coalesce(q.n, 0)
        AND (NOT starts_with(f.source_file, 'otlp/') OR (
            coalesce(o.spans, 0) + coalesce(o.log_records, 0)
                = coalesce(o.records_mapped, 0) + coalesce(o.spans_quarantined, 0) + coalesce(o.log_records_quarantined, 0)
            AND coalesce(o.spans_quarantined, 0) = coalesce(q.spans, 0)
            AND coalesce(o.log_records_quarantined, 0) = coalesce(q.log_records, 0))) AS balanced
FROM raw.ingest_files AS f
LEFT JOIN loaded AS l USING (source_file)
LEFT JOIN quarantined AS q USING (source_file)
LEFT JOIN otlp AS o USING (source_file)
WHERE f.delivery_date = $partition::DATE
ORDER BY f.source_file;
