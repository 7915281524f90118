-- R9 for one partition: per landing file, lines read = blank + loaded + duplicates + quarantined,
-- and the accounting agrees with the rows actually present. Parameter: $partition.
WITH loaded AS (
    SELECT source_file, count(*) AS n FROM raw.trace_events
    WHERE delivery_date = $partition::DATE GROUP BY source_file
),
quarantined AS (
    SELECT source_file, count(*) AS n FROM raw.quarantine
    WHERE delivery_date = $partition::DATE AND line_number IS NOT NULL GROUP BY source_file
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
        AND f.lines_quarantined = coalesce(q.n, 0) AS balanced
FROM raw.ingest_files AS f
LEFT JOIN loaded AS l USING (source_file)
LEFT JOIN quarantined AS q USING (source_file)
WHERE f.delivery_date = $partition::DATE
ORDER BY f.source_file;
