"""Warehouse maintenance that stays off the nightly job's path (see compaction.py)."""
