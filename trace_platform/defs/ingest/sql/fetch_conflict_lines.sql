-- Re-reads the raw text of conflicting re-deliveries (rare) for their quarantine rows, both this
-- partition's and those of later partitions that lose to this one.
-- The file_lines placeholder: line readers over the files holding conflicts. Parameter: $quarantine_chars.
CREATE OR REPLACE TEMP TABLE ingest_conflict_lines AS
SELECT s.source_file, s.line_number, left(s.line, $quarantine_chars) AS raw_line, strlen(s.line) AS raw_line_bytes
FROM ({file_lines}) AS s
SEMI JOIN (SELECT source_file, line_number FROM ingest_losers WHERE outcome = 'conflict') AS c
    ON c.source_file = s.source_file AND c.line_number = s.line_number;
