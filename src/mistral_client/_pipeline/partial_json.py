"""The best-effort value of a JSON text that is still arriving, for progressive UIs.

``{"title": "Rivers", "tags": ["wa`` reads as ``{"title": "Rivers", "tags": ["wa"]}``.  The rule,
for any prefix of a JSON text:

- Open objects and arrays are closed, and shown as soon as their ``{`` or ``[`` arrives.
- A key is shown once its value has begun to show; a key cut in half, or a key whose value has not
  started (``{"a"``, ``{"a":``), is left out.
- An open string value is shown as far as its complete characters go (``"Riv`` is ``"Riv"``): a
  cut escape (``\\``, ``\\u00``) is left out until it is whole, and so is a ``\\uD83D`` escape (the
  high half of a surrogate pair) until the low half arrives or something else follows it.
- A number is shown as what arrived so far, less a trailing sign, point or exponent mark: ``2.``
  and ``2e+`` show as ``2``, ``-`` and nothing else is left out.  ``12`` shows as ``12`` even if
  ``123`` is coming.
- A literal (``true``, ``false``, ``null``) is shown once it is whole; ``tr`` is left out.
- Before any value, the value is ``None``.  From text that is not JSON on, the value stays what it
  was before that text.

Where this differs from ``jiter.from_json(text, partial_mode="trailing-strings")``: jiter leaves out
a number cut after its point or exponent mark (``2.``, ``1e``, ``1.5e+``), where this shows the
digits so far (a number that is already shown does not vanish for a chunk and come back).

The text is parsed once, as it arrives: the finished parts of the value are built once and kept,
and ``value()`` copies only the open containers (one shallow copy each) and decodes only the open
tail, so asking after every chunk costs time in the new text, not in the text so far.  Successive
values share their finished parts: read them, don't change them (``copy.deepcopy`` to edit one).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["PartialJSON"]

_WHITESPACE = re.compile(r"[ \t\n\r]*")
# Inside a string, everything up to the next quote or backslash is taken in one step.
_PLAIN = re.compile(r'[^"\\]*')
# Loose on purpose: it takes every character a number can still grow by; _NUMBER checks the result.
_NUMBER_CHARS = re.compile(r"-?[0-9]*(?:\.[0-9]*)?(?:[eE][+-]?[0-9]*)?")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
# What may follow a \uD800-\uDBFF escape and still turn out to be the low half of the pair.
_LOW_HALF_SO_FAR = re.compile(r"(?:\\(?:u(?:[dD](?:[c-fC-F][0-9a-fA-F]?)?)?)?)?")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_LITERALS = {"t": ("true", True), "f": ("false", False), "n": ("null", None)}

# What the parser expects next.
_VALUE = 0  # a value (or, in an array, its end)
_KEY = 1  # a key (or the object's end)
_COLON = 2
_AFTER = 3  # a comma or the container's end
_DONE = 4  # the whole value arrived
_BROKEN = 5  # the text is not JSON: nothing more is read

_MISSING: Any = object()


def _number(text: str) -> Any:
    match = _NUMBER.fullmatch(text)
    if match is None:
        return _MISSING
    return float(text) if match.group(1) or match.group(2) else int(text)


class PartialJSON:
    """Feed it text as it arrives; ``value()`` is the JSON so far, completed; ``None`` before any."""

    def __init__(self) -> None:
        self._pieces: list[str] = []
        self._length = 0
        self._tail = ""  # text read but not used yet: a cut number, literal or escape
        self._expect = _VALUE
        # The open containers, outermost first, and for an object the key whose value comes next.
        self._containers: list[dict[str, Any] | list[Any]] = []
        self._keys: list[str | None] = []
        self._string: list[str] | None = None  # the open string's characters so far
        self._string_is_key = False
        self._root: Any = None  # the whole value, once it arrived; what it stays at if text breaks it
        self._cached: tuple[int, Any] = (0, None)

    @property
    def text(self) -> str:
        """Everything fed so far."""
        if len(self._pieces) > 1:
            self._pieces[:] = ["".join(self._pieces)]
        return self._pieces[0] if self._pieces else ""

    @property
    def length(self) -> int:
        """How many characters were fed (``len(text)``, without joining them)."""
        return self._length

    def feed(self, text: str) -> None:
        if not text:
            return
        self._pieces.append(text)
        self._length += len(text)
        if self._expect != _BROKEN:
            text, self._tail = self._tail + text, ""
            self._tail = self._read(text)

    def value(self) -> Any:
        if self._cached[0] == self._length:
            return self._cached[1]
        value = self._complete()
        self._cached = (self._length, value)
        return value

    def _complete(self) -> Any:
        if self._expect >= _DONE:
            return self._root
        tail = _MISSING
        if self._string is not None:
            if not self._string_is_key:
                tail = self._string_so_far()
        elif self._tail and self._tail[0] in "-0123456789":  # a number still arriving
            tail = _number(self._tail.rstrip("+-.eE"))
        keys = self._keys
        for depth in range(len(self._containers) - 1, -1, -1):
            container = self._containers[depth]
            if type(container) is dict:
                copy: Any = container.copy()
                key = keys[depth]
                if tail is not _MISSING and key is not None:
                    copy[key] = tail
            else:
                copy = container.copy()
                if tail is not _MISSING:
                    copy.append(tail)
            tail = copy
        return None if tail is _MISSING else tail

    def _string_so_far(self) -> str:
        parts = self._string
        assert parts is not None
        if len(parts) > 1:
            parts[:] = ["".join(parts)]
        return parts[0] if parts else ""

    def _read(self, text: str) -> str:
        """Read as much of ``text`` as can be read; return the rest, to read with the next text."""
        i, end = 0, len(text)
        while i < end:
            if self._string is not None:
                i = self._read_string(text, i, end)
                if i < 0:  # the string is still open: what is left waits for more text
                    return text[-i - 1 :] if -i - 1 < end else ""
                continue
            char = text[i]
            if char in " \t\n\r":
                i = _WHITESPACE.match(text, i).end()  # type: ignore[union-attr]
                continue
            expect = self._expect
            if expect == _VALUE:
                if char == '"':
                    self._string, self._string_is_key = [], False
                    i += 1
                elif char == "{":
                    self._containers.append({})
                    self._keys.append(None)
                    self._expect = _KEY
                    i += 1
                elif char == "[":
                    self._containers.append([])
                    self._keys.append(None)
                    i += 1
                elif char in "-0123456789":
                    stop = _NUMBER_CHARS.match(text, i).end()  # type: ignore[union-attr]
                    if stop == end:
                        return text[i:]  # the number may go on
                    number = _number(text[i:stop])
                    if number is _MISSING:
                        return self._break()
                    self._put(number)
                    i = stop
                elif char in "tfn":
                    word, literal = _LITERALS[char]
                    if text.startswith(word, i):
                        self._put(literal)
                        i += len(word)
                    elif word.startswith(text[i:]):
                        return text[i:]
                    else:
                        return self._break()
                elif char == "]" and self._containers and type(self._containers[-1]) is list:
                    self._close()
                    i += 1
                else:
                    return self._break()
            elif expect == _AFTER:
                if char == ",":
                    self._expect = _KEY if type(self._containers[-1]) is dict else _VALUE
                elif char == ("}" if type(self._containers[-1]) is dict else "]"):
                    self._close()
                else:
                    return self._break()
                i += 1
            elif expect == _KEY:
                if char == '"':
                    self._string, self._string_is_key = [], True
                elif char == "}":
                    self._close()
                else:
                    return self._break()
                i += 1
            elif expect == _COLON and char == ":":
                self._expect = _VALUE
                i += 1
            else:
                return self._break()
        return ""

    def _read_string(self, text: str, i: int, end: int) -> int:
        """Read the open string from ``i``: the index after it, or ``-1 - index`` of a cut escape."""
        parts = self._string
        assert parts is not None
        while True:
            stop = _PLAIN.match(text, i).end()  # type: ignore[union-attr]
            if stop > i:
                parts.append(text[i:stop])
                i = stop
            if i == end:
                return -1 - end
            if text[i] == '"':
                self._string = None
                string = "".join(parts)
                if self._string_is_key:
                    self._keys[-1] = string
                    self._expect = _COLON
                else:
                    self._put(string)
                return i + 1
            # A backslash: the escape is used once it is whole.
            if i + 1 == end:
                return -1 - i
            kind = text[i + 1]
            if kind != "u":
                char = _ESCAPES.get(kind)
                if char is None:
                    self._break()
                    return end
                parts.append(char)
                i += 2
                continue
            if i + 6 > end:
                return -1 - i
            try:
                code = int(text[i + 2 : i + 6], 16)
            except ValueError:
                self._break()
                return end
            if 0xD800 <= code < 0xDC00:
                after = text[i + 6 : i + 12]
                if len(after) < 6 and _LOW_HALF_SO_FAR.fullmatch(after):
                    return -1 - i  # the low half may be coming
                if after[:2] == "\\u":
                    try:
                        low = int(after[2:], 16)
                    except ValueError:
                        low = 0
                    if 0xDC00 <= low < 0xE000:
                        parts.append(chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)))
                        i += 12
                        continue
            parts.append(chr(code))  # a lone half stays as it is, as json.loads keeps it
            i += 6

    def _put(self, value: Any) -> None:
        """A whole value arrived: it joins its container, or is the whole."""
        if not self._containers:
            self._root = value
            self._expect = _DONE
            return
        container = self._containers[-1]
        if type(container) is dict:
            container[self._keys[-1]] = value  # type: ignore[index]
            self._keys[-1] = None
        else:
            container.append(value)  # type: ignore[union-attr]
        self._expect = _AFTER

    def _close(self) -> None:
        if self._keys[-1] is not None:  # {"a": } or {"a"}
            self._break()
            return
        self._keys.pop()
        self._put(self._containers.pop())

    def _break(self) -> str:
        self._root = self._complete()  # what the text before the break gave, for good
        self._expect = _BROKEN
        self._string = None
        return ""
