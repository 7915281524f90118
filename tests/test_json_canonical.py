"""Canonical JSON: equal exactly when the values are equal as JSON."""

from __future__ import annotations

import pytest

from trace_platform.lib.json_canonical import canonical_json


@pytest.mark.parametrize("left, right", [
    ('{"a":1,"b":[1,2]}', '{ "b" : [1, 2.0], "a" : 1.0 }'),
    ('{"x":"\\u0041"}', '{"x":"A"}'),
    ('{"a":{"b":null}}', '{"a":{"b":null}}'),
    ("1e2", "100"),
])
def test_equal_values(left, right):
    assert canonical_json(left) == canonical_json(right)


@pytest.mark.parametrize("left, right", [
    ('{"a":true}', '{"a":1}'),
    ('[1,2]', '[2,1]'),
    ('{"a":"1"}', '{"a":1}'),
    ('{"a.b":1,"a":{}}', '{"a":{"b":1}}'),
    # a separator character inside a string cannot forge another key
    ('{"a":"x\\u001e$.b=s:y"}', '{"a":"x","b":"y"}'),
    ('{"a":null}', '{}'),
])
def test_different_values(left, right):
    assert canonical_json(left) != canonical_json(right)


def test_not_json_is_null():
    assert canonical_json("{") is None
    assert canonical_json(None) is None
