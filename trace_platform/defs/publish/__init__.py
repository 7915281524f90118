"""Publishing the reader snapshot analysts query (see trace_platform/snapshots/)."""
