-- The lines of one OTLP file (the file_lines placeholder: the loader's line reader for it) into
-- ingest_work.otlp_physical, blank and marker lines flagged. Parameter: $marker.
INSERT INTO ingest_work.otlp_physical
WITH raw_lines AS (
    SELECT source_file, line_number,
           CASE WHEN ends_with(line, chr(13)) THEN left(line, -1) ELSE line END AS line
    FROM (
        -- a byte-order mark at the start of the file is dropped (some editors and Windows tools write one)
        SELECT source_file, line_number,
               CASE WHEN line_number = 1 AND starts_with(line, chr(65279)) THEN substr(line, 2) ELSE line END AS line
        FROM ({file_lines})
    )
)
SELECT
    source_file, line_number, line,
    CASE WHEN strlen(line) = 0 THEN true
         WHEN contains(' ' || chr(9) || chr(11) || chr(12) || chr(13), line[1])
             THEN trim(line, ' ' || chr(9) || chr(11) || chr(12) || chr(13)) = ''
         ELSE false END AS is_blank,
    starts_with(line, $marker) AS is_marker
FROM raw_lines;

