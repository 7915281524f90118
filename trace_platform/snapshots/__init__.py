"""The reader snapshot: an immutable, read-only copy of the analyst schemas, published after each run.

DuckDB allows one writer process, and while it writes no other process can open the file, not even
read-only. Analysts therefore never open the warehouse: they open the *reader*, a small DuckDB file
of views over Parquet files, published at the end of every successful nightly run and swapped in
atomically. A reader always sees the last completely published state, never takes the warehouse's
lock, and never sees the raw zone.

Layout (for the warehouse `data/warehouse.duckdb`)::

    data/warehouse.reader.duckdb  -> warehouse.reader/readers/v00000012.duckdb   symlink, swapped by rename
    data/warehouse.reader/readers/v00000012.duckdb     views over exactly the Parquet files of version 12
    data/warehouse.reader/manifests/v00000012.json     what version 12 holds: per table, bucket -> files
    data/warehouse.reader/tables/<schema>.<table>/v00000012/__bucket=<day>/part_0.parquet

Every file is written once and never modified. A table is split into *buckets* (one per delivery
day, or one bucket for small tables) and a publish writes only the buckets that changed; the others
are carried over from the previous version by reference. So the cost of a publish follows what the
run changed, not the length of history:

* **tracked** tables (the trace-scoped dbt models, which rebuild exactly the traces whose events
  changed): the changed buckets are the delivery days logged in `raw.trace_change_log` since the
  previous publish, plus every day spanned by those traces (`intermediate.int_trace_changes`). No
  scan of unchanged history.
* **fingerprinted** tables (everything else: dimensions, summaries, eval labels, check results):
  per bucket, a row count and a sum of row hashes; buckets whose fingerprint changed are rewritten.

A tracked table is published in full when its columns changed or it was recreated (a `dbt build
--full-refresh`): each published tracked table carries a marker in its table comment, which a
recreated table lacks. After writing, every table's row count is reconciled with the warehouse; a
mismatch republishes that table in full.

Integrity: readers are read-only in fact, and every published file is verified. The manifest records
a sha256 digest (and a stat signature: inode, size, mtime, ctime) of every Parquet file of the version
and of the version's reader file. A publish reuses a previous version's file only after its digest
matched (TRACE_PLATFORM_SNAPSHOT_VERIFY=sha256, the default; `stat`: re-hash only files whose stat
signature changed); a file that does not match, is missing, or has no recorded digest is never reused:
its bucket is rewritten from the warehouse. `connect_reader` hashes the version's reader file and
checks every Parquet file's stat signature (re-hashing any file whose signature changed: a write, a
copy or a restore changes the ctime, which no user-level call can set back) and refuses a version that
does not match. It then confines the connection: only that version's files may be read
(`allowed_paths`), external access and extension autoloading are off, the configuration is locked.
`read_only_statements` is what `trace-platform query` runs first: SELECT-style statements only, and
none of the functions that change the session or write files (DuckDB lets a confined connection
`COPY` into a file it may read).

Old versions stay on disk for a grace period (TRACE_PLATFORM_SNAPSHOT_GRACE_SECONDS, default one
day) after they were superseded, so a reader that opened an older version keeps working; then their
files are garbage-collected. A crashed publish leaves only files that no committed version
references, removed by the next publish.

Modules (what is not exported here is internal to the package):

* `errors` — SnapshotError, ReadOnlyQueryError;
* `layout` — paths of the reader, versions, manifests and Parquet files; the committed version;
* `sql` — strict quoting of identifiers, literals, dates and column types;
* `digests` — file digests and stat signatures; verifying files before reuse and readers before use;
* `confined` — confined read-only connections (`connect_confined`, `connect_reader`);
* `statements` — the read-only statement check `trace-platform query` runs first;
* `planning` — which tables and buckets a publish writes (tracked vs fingerprinted);
* `writing` — Parquet buckets, the reader file, the manifest, the atomic swap;
* `versions` — old versions' grace period and garbage collection;
* `publish` — `publish_snapshot` and `publish_warehouse`.
"""

from trace_platform.snapshots.confined import connect_confined, connect_reader
from trace_platform.snapshots.digests import (
    VERIFY_MODES,
    ReaderVersion,
    file_sha256,
    verify_files,
    verify_reader,
)
from trace_platform.snapshots.errors import ReadOnlyQueryError, SnapshotError
from trace_platform.snapshots.layout import SnapshotPaths, current_version, snapshot_paths
from trace_platform.snapshots.planning import NEVER_PUBLISHED, READER_SCHEMAS
from trace_platform.snapshots.publish import (
    MARKER_PREFIX,
    PublishReport,
    publish_snapshot,
    publish_warehouse,
    trace_scoped_tables,
)
from trace_platform.snapshots.sql import quote_identifier, quote_literal
from trace_platform.snapshots.statements import DENIED_FUNCTIONS, READ_ONLY_FORMS, read_only_statements
from trace_platform.snapshots.versions import collect_garbage

__all__ = [
    "DENIED_FUNCTIONS",
    "MARKER_PREFIX",
    "NEVER_PUBLISHED",
    "READER_SCHEMAS",
    "READ_ONLY_FORMS",
    "VERIFY_MODES",
    "PublishReport",
    "ReadOnlyQueryError",
    "ReaderVersion",
    "SnapshotError",
    "SnapshotPaths",
    "collect_garbage",
    "connect_confined",
    "connect_reader",
    "current_version",
    "file_sha256",
    "publish_snapshot",
    "publish_warehouse",
    "quote_identifier",
    "quote_literal",
    "read_only_statements",
    "snapshot_paths",
    "trace_scoped_tables",
    "verify_files",
    "verify_reader",
]
