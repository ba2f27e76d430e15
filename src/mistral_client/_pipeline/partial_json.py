"""The best-effort value of a JSON text that is still arriving, for progressive UIs.

``{"title": "Rivers", "tags": ["wa`` reads as ``{"title": "Rivers", "tags": ["wa"]}``: open strings,
arrays and objects are closed, and a key or a literal that is cut in half is left out.  The text is
scanned once, as it grows, so asking after every chunk costs time in the new text only.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

__all__ = ["PartialJSON"]

# Inside a string, everything up to the next quote or backslash can be skipped in one step.
_STRING_BODY = re.compile(r'[^"\\]*')
_CLOSERS = {"{": "}", "[": "]"}


class PartialJSON:
    """Feed it text as it arrives; ``value()`` is the JSON so far, completed; ``None`` before any."""

    def __init__(self) -> None:
        self._text = ""
        self._scanned = 0
        self._stack: list[str] = []  # the closers of the open containers
        self._expect_key = False  # inside an object, before a key
        self._in_string = False
        self._string_is_key = False
        self._escape = False
        # The longest prefix known to end where closing the open containers gives valid JSON.
        self._safe = 0
        self._safe_closers = ""
        self._cached: tuple[int, Any] = (0, None)

    @property
    def text(self) -> str:
        return self._text

    def feed(self, text: str) -> None:
        self._text += text
        self._scan()

    def value(self) -> Any:
        length = len(self._text)
        if self._cached[0] == length:
            return self._cached[1]
        value = self._complete()
        self._cached = (length, value)
        return value

    def _complete(self) -> Any:
        text = self._text
        closers = "".join(reversed(self._stack))
        candidates = []
        if self._in_string and not self._string_is_key:
            body = text[:-1] if self._escape else re.sub(r"\\u[0-9a-fA-F]{0,3}$", "", text)
            candidates.append(body + '"' + closers)
        elif not self._in_string:
            candidates.append(text + closers)
            number = text.rstrip("+-.eE")  # a number cut after its sign, point or exponent mark
            if number != text and number[-1:].isdigit():
                candidates.append(number + closers)
        if self._safe:
            candidates.append(text[: self._safe] + self._safe_closers)
        for candidate in candidates:
            try:
                return msgspec.json.decode(candidate)
            except msgspec.DecodeError:
                continue
        return None

    def _scan(self) -> None:
        text, i, end = self._text, self._scanned, len(self._text)
        stack = self._stack
        while i < end:
            if self._in_string:
                if self._escape:
                    self._escape = False
                    i += 1
                    continue
                match = _STRING_BODY.match(text, i)
                i = match.end() if match is not None else i
                if i >= end:
                    break
                if text[i] == "\\":
                    self._escape = True
                else:  # the closing quote
                    self._in_string = False
                    if not self._string_is_key:
                        self._mark(i + 1)
                i += 1
                continue
            char = text[i]
            if char == '"':
                self._in_string = True
                self._string_is_key = bool(stack) and stack[-1] == "}" and self._expect_key
            elif char in "{[":
                stack.append(_CLOSERS[char])
                self._expect_key = char == "{"
                self._mark(i + 1)
            elif char in "}]":
                if stack:
                    stack.pop()
                self._expect_key = False
                self._mark(i + 1)
            elif char == ",":
                self._mark(i)  # cut before the comma: the value before it is complete
                self._expect_key = bool(stack) and stack[-1] == "}"
            elif char == ":":
                self._expect_key = False
            i += 1
        self._scanned = i

    def _mark(self, position: int) -> None:
        self._safe = position
        self._safe_closers = "".join(reversed(self._stack))
