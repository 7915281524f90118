-- Deduplicates the partition's valid events by event_id, against each other and against the
-- copies already loaded from other partitions. The first delivery wins (earliest delivery day,
-- then file name, then line number), whatever order partitions are run in.
-- Parameter: $partition. Produces temp table ingest_losers: every delivery that does not win,
-- with outcome 'duplicate' (same JSON value) or 'conflict' (different content).
-- A delivery of this partition is keyed by (source_file, line_number, unit_index): an OTLP request
-- line holds many events (unit_index numbers them; 0 for native lines). One already loaded from
-- another partition is keyed by (delivery_date, source_file, line_number, event_id). The sequence
-- of an OTLP event is derived, not delivered, so it is not part of its content.
CREATE OR REPLACE TEMP TABLE ingest_contested AS
WITH deliveries AS (
    SELECT event_id, $partition::DATE AS delivery_date, source_file, line_number, unit_index, line_hash, true AS is_new
    FROM ingest_work.lines
    WHERE line_status = 'valid'
    UNION ALL
    SELECT e.event_id, e.delivery_date, e.source_file, e.line_number, 0::BIGINT AS unit_index, e.line_hash, false AS is_new
    FROM raw.trace_events AS e
    WHERE e.delivery_date <> $partition::DATE
      AND e.event_id IN (SELECT event_id FROM ingest_work.lines WHERE line_status = 'valid')
),
delivered_more_than_once AS (
    SELECT event_id FROM deliveries GROUP BY event_id HAVING count(*) > 1
)
SELECT
    d.*,
    row_number() OVER w AS delivery_rank,
    first_value(line_hash) OVER w AS winner_line_hash
FROM deliveries AS d
WHERE d.event_id IN (SELECT event_id FROM delivered_more_than_once)
WINDOW w AS (PARTITION BY d.event_id ORDER BY d.delivery_date, d.source_file, d.line_number, d.unit_index);

-- Content is only rebuilt and compared where the delivered lines differ byte for byte.
CREATE OR REPLACE TEMP TABLE ingest_contents AS
WITH needs_content AS (
    SELECT * FROM ingest_contested
    WHERE event_id IN (SELECT event_id FROM ingest_contested WHERE line_hash <> winner_line_hash)
)
SELECT n.event_id, n.delivery_rank,
       event_content(l.schema_version, l.event_type, l.event_timestamp, l.trace_id, l.span_id,
                     l.parent_span_id, CASE WHEN l.source_format = 'otlp' THEN NULL ELSE l.sequence END, l.session_id, l.tenant_id, l.user_id,
                     l.agent_name, l.agent_version, l.payload, l.attributes, l.extra_fields) AS content
FROM needs_content AS n
JOIN ingest_work.lines AS l ON n.is_new AND l.source_file = n.source_file AND l.line_number = n.line_number
    AND l.unit_index = n.unit_index
UNION ALL
SELECT n.event_id, n.delivery_rank,
       event_content(e.schema_version, e.event_type, e.event_timestamp, e.trace_id, e.span_id,
                     e.parent_span_id, CASE WHEN e.source_format = 'otlp' THEN NULL ELSE e.sequence END, e.session_id, e.tenant_id, e.user_id,
                     e.agent_name, e.agent_version, e.payload, e.attributes, e.extra_fields) AS content
FROM needs_content AS n
JOIN raw.trace_events AS e
  ON NOT n.is_new AND e.delivery_date = n.delivery_date AND e.source_file = n.source_file
 AND e.line_number = n.line_number AND e.event_id = n.event_id;

CREATE OR REPLACE TEMP TABLE ingest_losers AS
SELECT
    c.event_id, c.delivery_date, c.source_file, c.line_number, c.unit_index, c.is_new,
    CASE
        WHEN c.line_hash = c.winner_line_hash THEN 'duplicate'
        WHEN mine.content = winner.content THEN 'duplicate'
        ELSE 'conflict'
    END AS outcome
FROM ingest_contested AS c
LEFT JOIN ingest_contents AS mine ON mine.event_id = c.event_id AND mine.delivery_rank = c.delivery_rank
LEFT JOIN ingest_contents AS winner ON winner.event_id = c.event_id AND winner.delivery_rank = 1
WHERE c.delivery_rank > 1;
