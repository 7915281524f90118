import os

os.environ.setdefault("DAGSTER_TELEMETRY_DISABLED", "true")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


import pytest  # noqa: E402


def pytest_itemcollected(item):
    """An `integration` or `spark` test is `slow` too: `make test-fast` (-m "not slow") leaves it out."""
    slow_kinds = ("integration", "spark")
    if any(item.get_closest_marker(k) for k in slow_kinds) and item.get_closest_marker("slow") is None:
        item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def audit_warehouse(tmp_path_factory):
    """The warehouse built from the hand-written audit-rule cases (tests/test_audit_rules.py)."""
    from test_audit_rules import build_rule_cases_warehouse

    return build_rule_cases_warehouse(tmp_path_factory.mktemp("audit_rules"))


@pytest.fixture(scope="session")
def spark_lake(tmp_path_factory):
    """One local SparkSession for the whole test session (it takes seconds to start), over a lake
    folder (tables, raw zone, Derby catalog) under a temporary directory."""
    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    from trace_platform.lib import spark

    lake = tmp_path_factory.mktemp("spark_lake")
    session = spark.get_session(lake)
    yield lake, session
    session.stop()
