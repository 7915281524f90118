import os

os.environ.setdefault("DAGSTER_TELEMETRY_DISABLED", "true")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
