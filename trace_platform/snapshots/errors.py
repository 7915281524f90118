"""The errors of the snapshot store."""

from __future__ import annotations


class SnapshotError(RuntimeError):
    """A snapshot cannot be published or read as asked (the message says why and what to do)."""


class ReadOnlyQueryError(SnapshotError):
    """A statement `read_only_statements` refuses (it writes, changes the session or reaches outside)."""
