"""The middleware inside the guard: reads the body (up to its cap), records the exchange, checks
the key, parses the x-mock-* knobs, applies the rate limits and adds the live API's headers.

It wraps the routes, so that every answer (a 404 for an unknown path too) gets the same treatment.
``_guard`` stays outside it: a request from the wrong Host is refused before its body is read.
"""

from __future__ import annotations

import hmac
import uuid
from typing import Any

import msgspec
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._errors import error_response, too_large, unauthorized
from ._files import is_streamed_upload
from ._knobs import Knobs, parse_knobs
from ._limits import RateWindow
from ._state import Shared
from ._ui import UI_API_PATHS

__all__ = ["Observed"]


class Observed:
    """Records every exchange, checks the key and the rate limit, and adds the live API's headers.

    ``passthrough`` (recording and replaying): only records and checks the key; the answers are
    someone else's.
    """

    def __init__(self, app: ASGIApp, shared: Shared, passthrough: bool = False) -> None:
        self.app = app
        self.shared = shared
        self.passthrough = passthrough

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        shared = self.shared
        # The body is read here, once, so the record holds it even when a route rejects the request.
        # An upload is left unread: its route streams it to disk (_files), past the body cap.
        streamed = is_streamed_upload(scope)
        body, oversize = (b"", None) if streamed else await _read_body(scope, receive, shared.config.max_body_size)
        headers = {
            name.decode("latin-1"): "[redacted]" if name == b"authorization" else value.decode("latin-1")
            for name, value in scope["headers"]
        }
        client = scope.get("client")
        correlation_id = uuid.uuid4().hex
        record = shared.recorder.add_request(
            scope["method"],
            scope["path"],
            headers,
            _json_or_none(body),
            (client[0], client[1]) if client else None,
            correlation_id,
        )
        refusal: Response | None
        limits: list[_Limit]
        if oversize is not None:
            # Refused before the key, the rate limits or any knob counts.
            knobs, refusal, limits = Knobs(), oversize, []
        else:
            knobs, refusal, limits = self._admit(scope)
        scope.setdefault("state", {}).update(record=record, knobs=knobs)
        body_pending = not streamed

        async def replaying_receive() -> Message:
            nonlocal body_pending
            if body_pending:
                body_pending = False
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        response_record = None

        async def send_with_headers(message: Message) -> None:
            nonlocal response_record
            if message["type"] == "http.response.start":
                if not self.passthrough:
                    extra = [
                        (b"mistral-correlation-id", correlation_id.encode()),
                        *shared.window.headers(*_tightest(shared.window, limits)),
                    ]
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
                response_record = shared.recorder.add_response(
                    record,
                    message["status"],
                    [(name.decode("latin-1"), value.decode("latin-1")) for name, value in message["headers"]],
                )
            elif message["type"] == "http.response.body" and response_record is not None:
                shared.recorder.add_body(
                    response_record, message.get("body", b""), more=message.get("more_body", False)
                )
            await send(message)

        if refusal is not None:
            await refusal(scope, replaying_receive, send_with_headers)
        else:
            await self.app(scope, replaying_receive, send_with_headers)

    def _admit(self, scope: Scope) -> tuple[Knobs, Response | None, list[_Limit]]:
        """The request's knobs, the refusal it gets (None: none), and the rate limits it counted against.

        The operator's settings are the ceiling. The key comes first: a request without it gets the
        operator's knob defaults only, whatever its x-mock-* headers say. A request's own knobs
        may only add refusals: ``x-mock-api-key`` is a second key to match, and ``x-mock-rate-limit``
        a second limit (per ``x-mock-id``) on top of ``rate_limit``.
        """
        config, window = self.shared.config, self.shared.window
        headers = Headers(scope=scope)
        path: str = scope["path"]
        # Passthrough forwards (or replays) any path; otherwise the API, what it saw (_seen) and the chat page's calls.
        guarded = self.passthrough or path.startswith(("/v1/", "/mock/")) or path in UI_API_PATHS
        keyed = not config.api_key or _bears(headers, config.api_key)
        if guarded and not keyed:
            return Knobs(), unauthorized(), []
        if self.passthrough:
            return Knobs(), None, []
        try:
            knobs = parse_knobs(config.mock_headers, headers if keyed else {})
        except ValueError as exc:
            return Knobs(), error_response(400, str(exc), "invalid_request_error", "3001"), []
        # Only the API's own paths are counted (the chat page's relay calls them); a probe elsewhere is not.
        if not path.startswith("/v1/"):
            return knobs, None, []
        if knobs.api_key is not None and not _bears(headers, knobs.api_key):
            return knobs, unauthorized(), []
        limits: list[_Limit] = []
        if config.rate_limit is not None:
            limits.append((config.rate_limit, None))
        if knobs.rate_limit is not None:
            limits.append((knobs.rate_limit, knobs.mock_id))
        for limit, mock_id in limits:
            if (wait := window.retry_after(limit, mock_id)) is not None:
                headers_429 = {"retry-after": str(wait)}
                return (
                    knobs,
                    error_response(429, "Rate limit exceeded", "rate_limited", "1300", headers=headers_429),
                    limits,
                )
        window.spend(requests=1, mock_id=knobs.mock_id if knobs.rate_limit is not None else None)
        return knobs, None, limits


_Limit = tuple[int, str | None]  # requests a minute, and the x-mock-id counted (None: every request)


def _tightest(window: RateWindow, limits: list[_Limit]) -> tuple[int | None, str | None]:
    """The limit the x-ratelimit-* headers show: the one with the fewest requests left."""
    if not limits:
        return None, None
    return min(limits, key=lambda limit: window.remaining(*limit))


def _bears(headers: Headers, key: str) -> bool:
    return hmac.compare_digest(headers.get("authorization", "").encode(), f"Bearer {key}".encode())


async def _read_body(scope: Scope, receive: Receive, limit: int) -> tuple[bytes, Response | None]:
    """The request's body, or a 413 once it is known to be larger than ``limit`` bytes.

    A declared Content-Length over the limit is refused before a byte is read; a body sent in
    chunks, as soon as it passes the limit. Either way the rest is never held: uvicorn reads and
    drops it after the answer, so the client, which sends its whole body first, gets the 413.
    """
    declared = Headers(scope=scope).get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return b"", too_large(f"{int(declared)} bytes", limit)
    parts, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        part = message.get("body", b"")
        size += len(part)
        if size > limit:
            return b"", too_large(f"more than {limit} bytes", limit)
        parts.append(part)
        if not message.get("more_body", False):
            break
    return b"".join(parts), None


def _json_or_none(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body) if body else None
    except msgspec.DecodeError:
        return None
