-- Run by the loader inside the publish transaction, after publish_partition.sql, when the
-- partition has or had OTLP files. Needs otlp_type_rank (otlp_macros.sql).
-- OTLP traces are sequenced by time, then lifecycle order, then event_id, over every event of the
-- trace loaded so far, whichever delivery day holds it (spans of one trace may arrive over several
-- days). Renumbers the traces this publish touched whose events all come from OTLP.
UPDATE raw.trace_events AS e
SET sequence = r.new_sequence
FROM (
    SELECT delivery_date, event_id,
           row_number() OVER (PARTITION BY trace_id ORDER BY event_timestamp, otlp_type_rank(event_type), event_id) - 1
               AS new_sequence,
           sequence
    FROM raw.trace_events
    WHERE trace_id IN (
        SELECT t.trace_id
        FROM raw.trace_events AS t
        WHERE t.trace_id IN (SELECT trace_id FROM raw.trace_change_log
                             WHERE change_seq = (SELECT max(change_seq) FROM raw.trace_change_log))
        GROUP BY t.trace_id
        HAVING bool_and(t.source_format = 'otlp')
    )
) AS r
WHERE e.delivery_date = r.delivery_date AND e.event_id = r.event_id AND e.sequence <> r.new_sequence;
