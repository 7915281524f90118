"""Confined, read-only connections: to one DuckDB file, reading only the files it is allowed to, and to
the verified reader version a reader path points at."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import duckdb

from trace_platform.snapshots.digests import verify_reader
from trace_platform.snapshots.errors import SnapshotError
from trace_platform.snapshots.sql import quote_identifier, quote_literal

_RESERVED_CATALOGS = frozenset({"memory", "system", "temp", "main"})


def connect_confined(
    database: str | os.PathLike, *, alias: str | None = None, allowed_paths: Iterable[str | os.PathLike] = ()
) -> duckdb.DuckDBPyConnection:
    """A read-only connection to one DuckDB file that can read `allowed_paths` and no other file.

    The file is attached READ_ONLY to a private in-memory instance (so two such connections in one
    process never share, and fight over, one locked configuration), the in-memory catalog detached;
    then external access and extension autoloading are switched off and the configuration locked.
    What this does not stop: `COPY … TO` one of `allowed_paths` (DuckDB does not tell reading from
    writing there) — `read_only_statements` refuses every COPY, and the digests detect the rest.
    """
    path = Path(database)
    alias = alias or path.name.removesuffix(".duckdb") or "db"
    if alias.lower() in _RESERVED_CATALOGS:
        alias += "_db"
    # Spilling goes where DuckDB puts it for that file (`<file>.tmp`), not into `.tmp` under the working
    # directory (an in-memory instance's default). DuckDB itself allows the attached file, its WAL and
    # that folder: reading them shows nothing the connection cannot query anyway.
    con = duckdb.connect(":memory:", config={"temp_directory": f"{path}.tmp"})
    try:
        con.execute(f"ATTACH {quote_literal(str(path))} AS {quote_identifier(alias)} (READ_ONLY)")
        con.execute(f"USE {quote_identifier(alias)}")
        con.execute("DETACH memory")
        allowed = [str(p) for p in allowed_paths]
        if allowed:
            con.execute("SET allowed_paths = ?", [allowed])
        con.execute("SET enable_external_access = false")
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def connect_reader(
    reader: str | os.PathLike, *, harden: bool = True, verify: str | None = None
) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the reader version `reader` points at, verified (`verify_reader`; SnapshotError
    if a file was modified after publishing); hardened: it can read that version's files and nothing else."""
    checked = verify_reader(reader, verify)
    alias = Path(reader).name.removesuffix(".duckdb")
    if harden:
        con = connect_confined(checked.file, alias=alias, allowed_paths=checked.files)
    else:
        con = duckdb.connect(str(checked.file), read_only=True)
    try:
        found = con.execute("SELECT version FROM snapshot_info").fetchone()
    except duckdb.Error:
        found = None
    if found is None or found[0] != checked.version:
        con.close()
        raise SnapshotError(f"reader snapshot file {checked.file} does not hold version {checked.version}")
    return con
