import os

os.environ.setdefault("DAGSTER_TELEMETRY_DISABLED", "true")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


import pytest  # noqa: E402


def pytest_itemcollected(item):
    """An `integration` test is `slow` too: `make test-fast` (-m "not slow") leaves it out."""
    if item.get_closest_marker("integration") is not None and item.get_closest_marker("slow") is None:
        item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def audit_warehouse(tmp_path_factory):
    """The warehouse built from the hand-written audit-rule cases (tests/test_audit_rules.py)."""
    from test_audit_rules import build_rule_cases_warehouse

    return build_rule_cases_warehouse(tmp_path_factory.mktemp("audit_rules"))
