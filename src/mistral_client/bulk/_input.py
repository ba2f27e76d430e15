"""The runner's input: a JSONL file, or an iterable, of ``{"custom_id": ..., "body": {...}}``.

A file is read twice, line by line: once to check every line (so that each bad one is reported,
with its number, before anything is sent) and once to send.  Neither pass holds more than one
line; what grows with the input is the set of ids, for the duplicate check.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from .._exceptions import InvalidRequestError
from .._wire.batch import BatchRequest, parse_request_line

__all__ = ["BadInputError", "Problem", "RequestSource", "check_request"]

SHOWN_PROBLEMS = 20  # the rest are counted, not listed


@dataclass(frozen=True)
class Problem:
    line: int  # 1-based: the line number an editor shows (the item's position for an iterable)
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class BadInputError(InvalidRequestError):
    """Lines of the input are not requests; ``.problems`` lists each, with its line number.  Nothing was sent."""

    def __init__(self, source: str, problems: list[Problem], count: int | None = None) -> None:
        self.source = source
        self.problems = problems
        total = len(problems) if count is None else count
        shown = "\n".join(f"  {problem}" for problem in problems[:SHOWN_PROBLEMS])
        more = f"\n  ... and {total - SHOWN_PROBLEMS} more" if total > SHOWN_PROBLEMS else ""
        super().__init__(f"{source}: {total} bad line{'s' if total != 1 else ''}, nothing was sent:\n{shown}{more}")


def check_request(request: BatchRequest) -> str | None:
    """What the runner cannot send about a well-formed line (None: nothing)."""
    if request.body.get("stream") is True:
        return '"stream": true: the runner writes whole answers; remove it'
    return None


class RequestSource:
    """Where the requests come from: ``check()`` reads it all once, ``__iter__`` yields ``(number, request)``."""

    def __init__(self, requests: str | os.PathLike[str] | Iterable[Mapping[str, Any]]) -> None:
        self.path: Path | None = None
        self._items: Iterable[Mapping[str, Any]] | None = None
        if isinstance(requests, (str, os.PathLike)):
            self.path = Path(requests)
            if not self.path.is_file():
                raise InvalidRequestError(f"{self.path}: no such file (the requests, one JSON object a line)")
        elif isinstance(requests, Iterable) and not isinstance(requests, (bytes, Mapping)):
            self._items = requests
        else:
            raise InvalidRequestError(
                "requests must be a JSONL file's path or an iterable of {'custom_id': ..., 'body': {...}}, "
                f"got {type(requests).__name__}"
            )
        self.total: int | None = None

    @property
    def name(self) -> str:
        return str(self.path) if self.path is not None else "requests"

    def check(self) -> None:
        """Read a file once and raise ``BadInputError`` listing every bad line; sets ``total``.

        An iterable is not read ahead (it may be a generator): its items are checked as they are
        taken, and a bad one stops the run there with the same error.
        """
        if self.path is None or self.total is not None:
            return  # an iterable, or a file already checked
        seen: dict[str, int] = {}
        problems: list[Problem] = []
        count = 0
        for number, parsed in self._lines():
            if isinstance(parsed, str):
                problems.append(Problem(number, parsed))
                continue
            problem = check_request(parsed)
            first = seen.setdefault(parsed.custom_id, number)
            if first != number:
                problem = f"custom_id {parsed.custom_id!r} again (first on line {first})"
            if problem is not None:
                problems.append(Problem(number, problem))
            count += 1
        if problems:
            raise BadInputError(self.name, problems)
        self.total = count

    def __iter__(self) -> Iterator[tuple[int, BatchRequest]]:
        if self.path is not None:
            for number, parsed in self._lines():
                assert not isinstance(parsed, str)  # check() ran first
                yield number, parsed
            return
        assert self._items is not None
        seen: set[str] = set()
        for number, item in enumerate(self._items, 1):
            parsed = _from_item(item)
            if isinstance(parsed, BatchRequest):
                problem = check_request(parsed)
                if parsed.custom_id in seen:
                    problem = f"custom_id {parsed.custom_id!r} again"
                seen.add(parsed.custom_id)
                if problem is None:
                    yield number, parsed
                    continue
                parsed = problem
            raise BadInputError(self.name, [Problem(number, parsed)])

    def _lines(self) -> Iterator[tuple[int, BatchRequest | str]]:
        assert self.path is not None
        with open(self.path, "rb") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue  # a blank line (a trailing one, most often) is no request
                yield number, parse_request_line(line)


_encode = msgspec.json.encode


def _from_item(item: object) -> BatchRequest | str:
    if not isinstance(item, Mapping):
        return f"not a mapping like {{'custom_id': ..., 'body': {{...}}}}: got {type(item).__name__}"
    try:
        return parse_request_line(_encode(item))
    except (TypeError, msgspec.EncodeError) as exc:
        return f"not JSON-encodable: {exc}"
