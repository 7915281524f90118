"""Canonical JSON: equal exactly when the values are equal as JSON."""

from __future__ import annotations

import pytest

from trace_platform.lib.json_canonical import canonical_json


@pytest.mark.parametrize(
    "left, right",
    [
        ('{"a":1,"b":[1,2]}', '{ "b" : [1, 2.0], "a" : 1.0 }'),
        ('{"x":"\\u0041"}', '{"x":"A"}'),
        ('{"a":{"b":null}}', '{"a":{"b":null}}'),
        ("1e2", "100"),
    ],
)
def test_equal_values(left, right):
    assert canonical_json(left) == canonical_json(right)


@pytest.mark.parametrize(
    "left, right",
    [
        ('{"a":true}', '{"a":1}'),
        ("[1,2]", "[2,1]"),
        ('{"a":"1"}', '{"a":1}'),
        ('{"a.b":1,"a":{}}', '{"a":{"b":1}}'),
        # a separator character inside a string cannot forge another key
        ('{"a":"x\\u001e$.b=s:y"}', '{"a":"x","b":"y"}'),
        ('{"a":null}', "{}"),
    ],
)
def test_different_values(left, right):
    assert canonical_json(left) != canonical_json(right)


def test_not_json_is_null():
    assert canonical_json("{") is None
    assert canonical_json(None) is None


# --- any nesting depth (issue 17: a 600-level argument object stopped every later night) -------

import json  # noqa: E402
import random  # noqa: E402

from trace_platform.lib.json_canonical import (  # noqa: E402
    _dumps_iterative,
    _loads_iterative,
    is_valid_json,
    loads,
)


def _nested(depth: int, key_order: str = "ab") -> str:
    """An object nested `depth` levels deep; each level has keys a and b in the given order."""
    opens, closes = [], []
    for level in reversed(range(depth)):
        if key_order == "ab":
            opens.append('{"a": ')
            closes.append(f', "b": "{level}"}}')
        else:
            opens.append(f'{{"b": "{level}", "a": ')
            closes.append("}")
    return "".join(opens) + '"leaf"' + "".join(reversed(closes))


@pytest.mark.parametrize("depth", [600, 1_000, 5_000, 20_000])
def test_deep_values_compare_as_json_at_any_depth(depth):
    left, right = _nested(depth, "ab"), _nested(depth, "ba")
    with pytest.raises(RecursionError):
        json.loads(_nested(max(depth, 1_000), "ab"))  # the fast path alone cannot
    assert canonical_json(left) is not None
    assert canonical_json(left) == canonical_json(right)
    assert canonical_json(left) != canonical_json(left.replace('"leaf"', '"other"'))


def test_deep_texts_are_validated_strictly():
    deep = "[" * 3_000 + "1" + "]" * 3_000
    assert is_valid_json(deep)
    assert not is_valid_json("[" * 3_000 + "1," + "]" * 3_000)  # a trailing comma
    assert not is_valid_json('{"a": ' * 3_000 + "1" + ",}" * 3_000)
    assert not is_valid_json("[" * 3_000 + "1" + "]" * 2_999)  # unclosed
    assert not is_valid_json("[" * 3_000 + "1" + "]" * 3_001)  # extra data


def _random_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.randint(-(10**20), 10**20)
    if kind == 3:
        return rng.choice([0.5, -1.0, 2.0, 1e300, 3.25e-7, 1e16, float(2**63)])
    if kind in (4, 5):
        return "".join(rng.choice('ab"\\/\u00e9\u2028\n\t\x01😀') for _ in range(rng.randrange(6)))
    if kind in (6, 7):
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {
        _random_value(rng, 9) if rng.random() < 0.9 else "k": _random_value(rng, depth + 1)
        for _ in range(rng.randrange(4))
    }


def test_the_iterative_path_agrees_with_the_fast_path():
    rng = random.Random(17)
    for _ in range(2_000):
        value = _random_value(rng)
        value = {str(k): v for k, v in value.items()} if isinstance(value, dict) else value
        text = json.dumps(value, indent=rng.choice([None, 1]))
        assert _loads_iterative(text) == json.loads(text)
        assert _dumps_iterative(loads(text)) == canonical_json(text)
    for text in [
        "1e2",
        "-0",
        "1.0",
        "NaN",
        "-Infinity",
        ' { "a" : [ ] , "b" : { } } ',
        '"\\ud83d\\ude00"',
        '{"a":1,"a":2}',
    ]:
        assert _dumps_iterative(_loads_iterative(text)) == canonical_json(text)
    for bad in ["", "{", "[1,]", '{"a":1,}', "[1 2]", '{"a" 1}', "{1:2}", "tru", '"\x01"', "[]]", "01"]:
        with pytest.raises(ValueError):
            _loads_iterative(bad)
        with pytest.raises(ValueError):
            json.loads(bad)
