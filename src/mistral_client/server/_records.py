"""What the server saw, kept so tests in another thread can inspect it and wait for it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_RECORDED_BODY", "DisconnectRecord", "Recorder", "RequestRecord", "ResponseRecord"]

MAX_RECORDED_BODY = 256 << 10  # bytes kept of each answer: a benchmark stream can be gigabytes


@dataclass(frozen=True)
class RequestRecord:
    index: int  # counts requests since the server started; clear() does not reset it
    method: str
    path: str
    headers: dict[str, str]  # lower-case names; the Authorization value is "[redacted]"
    body: Any  # the parsed JSON body, None when empty or not JSON
    client: tuple[str, int] | None  # (host, port): one port per TCP connection
    correlation_id: str
    at: float  # time.monotonic()


@dataclass(frozen=True)
class DisconnectRecord:
    """A client went away before a stream was complete."""

    request_index: int
    correlation_id: str
    chunks_sent: int  # content chunks handed to the server before the client left
    at: float  # time.monotonic()


@dataclass
class ResponseRecord:
    """What the server sent for one request: status, headers and the body's bytes."""

    request_index: int
    correlation_id: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""  # the first MAX_RECORDED_BODY bytes as they went out
    truncated: bool = False  # more was sent than ``body`` holds
    complete: bool = False  # the body's last part went out


class Recorder:
    """What the server saw, shared between the server's thread and the tests' thread."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._requests: list[RequestRecord] = []
        self._disconnects: list[DisconnectRecord] = []
        self._responses: list[ResponseRecord] = []
        self._body_parts: dict[int, tuple[list[bytes], list[int]]] = {}  # request index: (parts, [size])
        self._disconnects_taken = 0
        self._count = 0

    def add_request(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: Any,
        client: tuple[str, int] | None,
        correlation_id: str,
    ) -> RequestRecord:
        with self._changed:
            record = RequestRecord(self._count, method, path, headers, body, client, correlation_id, time.monotonic())
            self._count += 1
            self._requests.append(record)
            return record

    def add_response(self, request: RequestRecord, status: int, headers: list[tuple[str, str]]) -> ResponseRecord:
        with self._changed:
            record = ResponseRecord(request.index, request.correlation_id, status, headers)
            self._responses.append(record)
            self._body_parts[request.index] = ([], [0])
            return record

    def add_body(self, response: ResponseRecord, data: bytes, *, more: bool) -> None:
        with self._changed:
            pending = self._body_parts.get(response.request_index)
            if pending is None:
                return
            parts, size = pending
            if data:
                room = MAX_RECORDED_BODY - size[0]
                if room > 0:
                    parts.append(data[:room])
                    size[0] += min(room, len(data))
                response.truncated = response.truncated or len(data) > room
            if not more:
                response.body = b"".join(parts)
                response.complete = True
                self._body_parts.pop(response.request_index, None)
                self._changed.notify_all()

    def add_disconnect(self, request: RequestRecord, chunks_sent: int) -> None:
        with self._changed:
            self._disconnects.append(
                DisconnectRecord(request.index, request.correlation_id, chunks_sent, time.monotonic())
            )
            self._changed.notify_all()

    @property
    def requests(self) -> list[RequestRecord]:
        with self._changed:
            return list(self._requests)

    @property
    def disconnects(self) -> list[DisconnectRecord]:
        with self._changed:
            return list(self._disconnects)

    @property
    def responses(self) -> list[ResponseRecord]:
        """Answers in the order they started; ``body`` is filled in once the answer is complete."""
        with self._changed:
            for response in self._responses:
                pending = self._body_parts.get(response.request_index)
                if pending is not None:
                    response.body = b"".join(pending[0])
            return list(self._responses)

    def exchanges(self, path: str | None = None) -> list[tuple[RequestRecord, int | None]]:
        """Each request (to ``path``, when given) and the status it was answered with (None: not yet)."""
        with self._changed:
            statuses = {response.request_index: response.status for response in self._responses}
            return [(r, statuses.get(r.index)) for r in self._requests if path is None or r.path == path]

    @property
    def connections(self) -> list[tuple[str, int]]:
        """Distinct client addresses in order of first use: fewer than requests means reuse."""
        with self._changed:
            return list(dict.fromkeys(r.client for r in self._requests if r.client is not None))

    def wait_for_disconnect(self, timeout: float) -> DisconnectRecord:
        """The oldest disconnect not yet returned by this method, waiting up to ``timeout`` for one."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._disconnects) > self._disconnects_taken, timeout):
                raise TimeoutError(f"no client disconnect recorded within {timeout} s")
            record = self._disconnects[self._disconnects_taken]
            self._disconnects_taken += 1
            return record

    def clear(self) -> None:
        with self._changed:
            self._requests.clear()
            self._disconnects.clear()
            self._responses.clear()
            self._disconnects_taken = 0
