"""``PartialJSON`` follows its documented rule on every prefix of random JSON texts, and differs from
jiter's partial mode only where the rule says (a number cut after its point or exponent mark).

The expected value of a prefix is not computed by a second parser: each random document is written
here piece by piece, and each piece knows what it shows when the text stops ``k`` characters into it
(the rule of ``mistral_client._pipeline.partial_json``, stated once per kind of piece below).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jiter
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mistral_client._pipeline.partial_json import PartialJSON

MISSING: Any = object()  # the piece shows nothing yet (it is left out of its container)
SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
SPACES = ["", "", " ", "\n  ", "\t", "\r\n"]


@dataclass
class Piece:
    text: str
    value: Any
    shows: Callable[[int], Any]  # what the piece shows when the text stops k characters into it


def hex4(code: int, rng: random.Random) -> str:
    digits = f"{code:04x}"
    return "\\u" + (digits.upper() if rng.random() < 0.5 else digits)


def encode_char(char: str, rng: random.Random) -> str:
    """One character as JSON writes it, picking among the ways it may be written."""
    code = ord(char)
    if char in SHORT_ESCAPES:
        return SHORT_ESCAPES[char] if rng.random() < 0.7 else hex4(code, rng)
    if code < 0x20:
        return hex4(code, rng)
    if char == "/" and rng.random() < 0.5:
        return "\\/"
    if rng.random() < 0.5:
        return char
    if code > 0xFFFF:  # a surrogate pair: one character, twelve characters of text
        code -= 0x10000
        return hex4(0xD800 + (code >> 10), rng) + hex4(0xDC00 + (code & 0x3FF), rng)
    return hex4(code, rng)


def string_piece(string: str, rng: random.Random) -> Piece:
    encoded = [encode_char(char, rng) for char in string]
    text = '"' + "".join(encoded) + '"'
    ends = [1]  # where each character's text ends
    for part in encoded:
        ends.append(ends[-1] + len(part))

    def shows(k: int) -> Any:
        # An open string shows every character whose text is whole (a pair's two halves are one).
        if k <= 0:
            return MISSING
        if k >= len(text):
            return string
        return string[: sum(1 for end in ends[1:] if end <= k)]

    return Piece(text, string, shows)


def number_piece(text: str) -> Piece:
    value = json.loads(text)

    def shows(k: int) -> Any:
        # The digits so far, less a trailing sign, point or exponent mark; a lone "-" shows nothing.
        if k <= 0:
            return MISSING
        if k >= len(text):
            return value
        digits = text[:k].rstrip("+-.eE")
        return json.loads(digits) if digits else MISSING

    return Piece(text, value, shows)


def literal_piece(text: str) -> Piece:
    value = json.loads(text)
    return Piece(text, value, lambda k: value if k >= len(text) > 0 else MISSING)


def container_piece(items: list[tuple[str | None, Piece]], is_object: bool, rng: random.Random) -> Piece:
    """An array (keys are None) or an object: what has begun of its members, in order."""
    opening, closing = ("{", "}") if is_object else ("[", "]")
    text = opening + rng.choice(SPACES)
    starts = []
    for index, (key, piece) in enumerate(items):
        if index:
            text += rng.choice(SPACES) + "," + rng.choice(SPACES)
        if key is not None:
            text += string_piece(key, rng).text + rng.choice(SPACES) + ":" + rng.choice(SPACES)
        starts.append(len(text))
        text += piece.text
    text += rng.choice(SPACES) + closing
    value: Any = {key: piece.value for key, piece in items} if is_object else [piece.value for _, piece in items]

    def shows(k: int) -> Any:
        # Shown from its opening bracket; a member (with its key) once its value shows something.
        if k <= 0:
            return MISSING
        if k >= len(text):
            return value
        members = []
        for start, (key, piece) in zip(starts, items, strict=True):
            member = piece.shows(k - start) if k > start else MISSING
            if member is MISSING:
                break
            members.append((key, member))
        return dict(members) if is_object else [member for _, member in members]

    return Piece(text, value, shows)


characters = st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from(
    ['"', "\\", "/", "\n", "\t", "\x00", "\x1f", "\u00e9", "\u2028", "\U0001f600", "\U0010ffff"]
)
numbers = st.builds(
    lambda sign, whole, fraction, exponent: sign + whole + fraction + exponent,
    st.sampled_from(["", "-"]),
    st.sampled_from(["0"]) | st.from_regex(r"[1-9][0-9]{0,5}", fullmatch=True),
    st.sampled_from([""]) | st.from_regex(r"\.[0-9]{1,4}", fullmatch=True),
    st.sampled_from([""]) | st.from_regex(r"[eE][+-]?[0-9]{1,2}", fullmatch=True),
)
keys = st.text(characters, max_size=4)

# A document is drawn as a tree of ("string" | "number" | "literal", text) and ("array" | "object", members).
leaves = (
    st.tuples(st.just("string"), st.text(characters, max_size=8))
    | st.tuples(st.just("number"), numbers)
    | st.tuples(st.just("literal"), st.sampled_from(["true", "false", "null"]))
)
trees = st.recursive(
    leaves,
    lambda children: (
        st.tuples(st.just("array"), st.lists(children, max_size=4))
        | st.tuples(st.just("object"), st.dictionaries(keys, children, max_size=4).map(lambda d: list(d.items())))
    ),
    max_leaves=10,
)


def build(tree: tuple[str, Any], rng: random.Random) -> Piece:
    kind, content = tree
    if kind == "string":
        return string_piece(content, rng)
    if kind == "number":
        return number_piece(content)
    if kind == "literal":
        return literal_piece(content)
    if kind == "array":
        return container_piece([(None, build(child, rng)) for child in content], False, rng)
    return container_piece([(key, build(child, rng)) for key, child in content], True, rng)


def document(tree: tuple[str, Any], rng: random.Random) -> tuple[str, Callable[[int], Any]]:
    """The text, with space around it, and the value its first ``k`` characters show (None: nothing)."""
    piece = build(tree, rng)
    before, after = rng.choice(SPACES), rng.choice(SPACES)
    text = before + piece.text + after
    assert json.loads(text) == piece.value  # the writer above writes JSON

    def expected(k: int) -> Any:
        shown = piece.shows(k - len(before))
        return None if shown is MISSING else shown

    return text, expected


def grows(before: Any, after: Any) -> bool:
    """Nothing shown went away: members were added, the open string grew, a number gained digits."""
    if before is None:
        return True
    if isinstance(before, dict):
        return isinstance(after, dict) and all(key in after and grows(before[key], after[key]) for key in before)
    if isinstance(before, list):
        return (
            isinstance(after, list)
            and len(before) <= len(after)
            and all(grows(a, b) for a, b in zip(before, after, strict=False))
        )
    if isinstance(before, str):
        return isinstance(after, str) and after.startswith(before)
    if isinstance(before, (int, float)) and not isinstance(before, bool):
        return isinstance(after, (int, float)) and not isinstance(after, bool)
    return bool(before == after)


def jiters(prefix: str) -> Any:
    try:
        return jiter.from_json(prefix.encode(), partial_mode="trailing-strings")
    except ValueError:
        return None  # jiter raises where nothing can be shown yet ("", "-", "tr")


# Where jiter's value differs, and may: a number cut after its point or exponent mark (jiter leaves
# the number out; the rule shows its digits so far).
NUMBER_CUT_AFTER_MARK = re.compile(r"-?[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?)?\Z")


@settings(max_examples=300, deadline=None)
@given(tree=trees, rng=st.randoms(use_true_random=False))
def test_every_prefix_shows_what_the_rule_says(tree: tuple[str, Any], rng: random.Random) -> None:
    text, expected = document(tree, rng)
    parser = PartialJSON()
    value = parser.value()
    assert value is None
    for k in range(1, len(text) + 1):
        parser.feed(text[k - 1])
        value, before = parser.value(), value
        assert value == expected(k), f"prefix {text[:k]!r}"
        assert grows(before, value), f"prefix {text[:k]!r}: {before!r} then {value!r}"
        if value != jiters(text[:k]):
            assert NUMBER_CUT_AFTER_MARK.search(text[:k]) and text[k - 1] in ".eE+-", f"prefix {text[:k]!r}"
    assert parser.value() == json.loads(text)


@settings(max_examples=200, deadline=None)
@given(tree=trees, rng=st.randoms(use_true_random=False), data=st.data())
def test_any_chunks_show_what_the_whole_prefix_shows(
    tree: tuple[str, Any], rng: random.Random, data: st.DataObject
) -> None:
    text, expected = document(tree, rng)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=8)))
    parser = PartialJSON()
    fed = 0
    for cut in [*cuts, len(text)]:
        parser.feed(text[fed:cut])
        fed = cut
        assert parser.value() == expected(cut)
        assert parser.length == cut and parser.text == text[:cut]


@pytest.mark.parametrize(
    ("prefix", "ours", "theirs"),
    [
        ('{"a": [1, 2.', {"a": [1, 2]}, {"a": [1]}),
        ('{"a": 1e', {"a": 1}, {}),
        ('{"a": 1.5e+', {"a": 1.5}, {}),
        ('{"a": -2E-', {"a": -2}, {}),
    ],
)
def test_where_jiter_differs(prefix: str, ours: Any, theirs: Any) -> None:
    parser = PartialJSON()
    parser.feed(prefix)
    assert parser.value() == ours and jiters(prefix) == theirs


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        (['{"a": "x\\ud83d'], {"a": "x"}),  # the low half may follow
        (['{"a": "x\\ud83d\\', "ude00"], {"a": "x\U0001f600"}),
        (['{"a": "x\\ud83d', "z"], {"a": "x\ud83dz"}),  # a lone half stays, as json.loads keeps it
        (["[12", "x"], [12]),  # not JSON from "x" on: the value stays what came before
        (["[1, 2] ", "3"], [1, 2]),
        (['{"a": 1, "a": "b'], {"a": "b"}),  # the last of two equal keys, as json.loads
    ],
)
def test_edges(chunks: list[str], expected: Any) -> None:
    parser = PartialJSON()
    for chunk in chunks:
        parser.feed(chunk)
    assert parser.value() == expected


def test_values_share_their_finished_parts_and_do_not_change() -> None:
    parser = PartialJSON()
    parser.feed('{"done": [1, 2], "open": ["a"')
    first = parser.value()
    parser.feed(', "b"], "more": 3}')
    second = parser.value()
    assert first == {"done": [1, 2], "open": ["a"]}  # the earlier value did not grow
    assert second == {"done": [1, 2], "open": ["a", "b"], "more": 3}
    assert first["done"] is second["done"]  # built once, not decoded again
