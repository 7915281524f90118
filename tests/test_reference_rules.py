"""audit.audit_violations agrees, key by key, with an independent implementation of the rules."""

from __future__ import annotations

import pytest

from tests.reference_rules import json_equal, load_events, reference_breaches, warehouse_breaches


def test_json_equality_ignores_key_order_but_not_types():
    assert json_equal({"a": 1, "b": [1, {"c": None}]}, {"b": [1, {"c": None}], "a": 1.0})
    assert not json_equal({"a": True}, {"a": 1})
    assert not json_equal([1, 2], [2, 1])
    assert not json_equal({"a": "1"}, {"a": 1})


@pytest.mark.slow
def test_hand_written_rule_cases_match_the_reference(audit_warehouse):
    expected = reference_breaches(load_events(audit_warehouse))
    actual = warehouse_breaches(audit_warehouse)
    assert expected, "the rule cases must contain breaches"
    assert sorted(actual - expected, key=repr) == []
    assert sorted(expected - actual, key=repr) == []
