"""``PartialJSON``: the best-effort value of JSON that is still arriving."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mistral_client._pipeline.partial_json import PartialJSON


def value_of(text: str) -> Any:
    parser = PartialJSON()
    parser.feed(text)
    return parser.value()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("   ", None),
        ("{", {}),
        ('{"ti', {}),  # half a key is left out
        ('{"title"', {}),
        ('{"title":', {}),
        ('{"title": "Riv', {"title": "Riv"}),  # an open string value is shown as far as it goes
        ('{"title": "Rivers", "tags": ["wa', {"title": "Rivers", "tags": ["wa"]}),
        ('{"a": [1, 2', {"a": [1, 2]}),
        ('{"a": [1, 2.', {"a": [1, 2]}),  # a number cut after its point
        ('{"a": -', {}),
        ('{"a": tr', {}),  # half a literal is left out
        ('{"a": true, "b": nu', {"a": True}),
        ('{"a": "x\\', {"a": "x"}),  # a lone backslash: the escape is not complete yet
        ('{"a": "x\\u00', {"a": "x"}),
        ('{"a": "x\\u00e9', {"a": "xé"}),
        ('{"a": "say \\"hi\\"", "b', {"a": 'say "hi"'}),
        ('[{"a": {"b": [', [{"a": {"b": []}}]),
        ('"top', "top"),
        ("12", 12),
        ('{"a": {}, "b": [], "c": "}"', {"a": {}, "b": [], "c": "}"}),
    ],
)
def test_vectors(text: str, expected: Any) -> None:
    assert value_of(text) == expected


def test_feeding_in_pieces_equals_feeding_at_once() -> None:
    text = '{"title": "Rivers \\"big\\"", "tags": ["wa", {"x": [1, 2.5e3, true, null]}], "n": -1}'
    parser = PartialJSON()
    for char in text:
        parser.feed(char)
    assert parser.value() == json.loads(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(value=json_values, data=st.data())
def test_every_prefix_gives_valid_json_and_the_whole_text_its_value(value: Any, data: st.DataObject) -> None:
    text = json.dumps(value, ensure_ascii=data.draw(st.booleans()))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6)))
    parser = PartialJSON()
    fed = 0
    for cut in cuts:
        parser.feed(text[fed:cut])
        fed = cut
        partial = parser.value()
        # Whatever it gives is a JSON value (it round-trips), of the same kind as the whole.
        assert partial is None or json.loads(json.dumps(partial)) == partial
        if partial is not None and isinstance(value, (dict, list)):
            assert type(partial) is type(value)
    parser.feed(text[fed:])
    assert parser.value() == value
