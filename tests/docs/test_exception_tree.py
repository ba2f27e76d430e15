"""The tree in ``_exceptions``' docstring is the real class hierarchy, so it cannot drift.

Every exception class of ``mistral_client._exceptions``, and every exception the package exports
(``StreamConsumedError`` lives in ``_pipeline.lifecycle``), appears in the tree exactly once, under a parent
that is one of its real bases; a second base that is also in the tree is named on its line
("also an APITimeoutError"); and the status codes drawn beside the status errors are the ones
``_http_errors`` maps to them.
"""

from __future__ import annotations

import re

import mistral_client
from mistral_client import _exceptions
from mistral_client import _http_errors as _errors

# "│   ├── Name   text": the name's column says how deep it is (4 columns a level).
LINE = re.compile(r"^(?P<lead>[│├└─ ]*)(?P<name>[A-Z][A-Za-z]+Error)\b(?P<text>.*)$")


def tree() -> dict[str, tuple[str | None, str]]:
    """Each class named in the docstring's tree: (its parent in the tree, the rest of its line)."""
    doc = _exceptions.__doc__ or ""
    out: dict[str, tuple[str | None, str]] = {}
    stack: list[str] = []
    for line in doc.splitlines():
        match = LINE.match(line)
        if match is None:
            continue
        depth, rest = divmod(len(match["lead"]), 4)
        assert rest == 0, f"misaligned tree line: {line!r}"
        name = match["name"]
        assert name not in out, f"{name} appears twice in the tree"
        assert depth <= len(stack), f"{name} skips a level: {line!r}"
        del stack[depth:]
        out[name] = (stack[-1] if stack else None, match["text"])
        stack.append(name)
    return out


def exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module, names in ((_exceptions, vars(_exceptions)), (mistral_client, mistral_client.__all__)):
        for name in names:
            value = getattr(module, name)
            if isinstance(value, type) and issubclass(value, BaseException):
                found[name] = value
    return found


def test_the_tree_lists_every_exception_once() -> None:
    drawn = tree()
    classes = exception_classes()
    assert set(drawn) == set(classes), (
        f"missing from the tree: {sorted(set(classes) - set(drawn))}; not a class: {sorted(set(drawn) - set(classes))}"
    )


def test_each_class_hangs_under_a_real_base() -> None:
    classes = exception_classes()
    for name, (parent, text) in tree().items():
        cls = classes[name]
        if parent is None:
            assert cls is mistral_client.MistralError, f"{name} is drawn as a root"
            continue
        assert classes[parent] in cls.__bases__, f"{name} is drawn under {parent}, its bases are {cls.__bases__}"
        for base in cls.__bases__:
            if base.__name__ in classes and base.__name__ != parent:
                assert f"also an {base.__name__}" in text or f"also a {base.__name__}" in text, (
                    f"{name} is also a {base.__name__}: say so on its line"
                )


def test_status_codes_in_the_tree_are_the_mapped_ones() -> None:
    drawn = tree()
    for status, cls in _errors._BY_STATUS.items():
        assert re.match(rf"\s*{status}\b", drawn[cls.__name__][1]), (cls.__name__, status)
    assert drawn["InternalServerError"][1].strip().startswith(">= 500")
