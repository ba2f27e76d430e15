"""What a request must look like before the server reads it: a Host it answers to, and no cross-site writes.

A page on any site the user visits can make the browser send requests to a server on loopback. It
can send a POST whose Content-Type is ``text/plain``, a form type or none without asking first
(no CORS preflight); and after a DNS rebinding (its own name pointed at 127.0.0.1) the browser
treats the server as the page's own origin, so the page can read the answers too. The guard shuts
both: only Host names the server answers to (Starlette's ``TrustedHostMiddleware``); a POST must
be JSON (which a browser only sends cross-site after a preflight the server does not grant), or a
form on an upload path that no browser marks as cross-site (``_UPLOAD_PATHS``); a write whose
``Origin`` is not the server's own is refused. ``Access-Control-Allow-*`` headers go
only to the origins the operator names (``cors_origins``, Starlette's ``CORSMiddleware``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._errors import error_response

__all__ = ["LOOPBACK_HOSTS", "Guard"]

# The names a browser on this machine uses for loopback (a Host header's port is not compared).
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What a page from a named --cors-origin may read of an answer besides the basic headers.
_EXPOSED = (
    "mistral-correlation-id",
    "retry-after",
    "x-ratelimit-limit-req-minute",
    "x-ratelimit-remaining-req-minute",
    "x-ratelimit-limit-tokens-minute",
    "x-ratelimit-remaining-tokens-minute",
)


class Guard:
    """The checks before anything else runs; each refusal is in the API's error envelope.

    ``allowed_hosts``: the Host names to answer besides the loopback ones. ``cors_origins``: the
    origins whose pages may call the server (preflights answered, ``Access-Control-Allow-Origin``
    sent); every other origin gets none of those headers, even from an upstream or a recording.
    """

    def __init__(self, app: ASGIApp, *, allowed_hosts: Sequence[str] = (), cors_origins: Sequence[str] = ()) -> None:
        origins = frozenset(origin.lower() for origin in cors_origins)
        inner: ASGIApp = _Writes(_NoForeignCORS(app), cors_origins=origins)
        if origins:
            inner = _answered_in_json(
                lambda marked: CORSMiddleware(
                    marked,
                    allow_origins=sorted(origins),
                    allow_methods=["GET", "POST"],
                    allow_headers=["*"],
                    expose_headers=_EXPOSED,
                ),
                inner,
            )
        hosts = [*LOOPBACK_HOSTS, *(host.lower() for host in allowed_hosts)]
        self.app = _answered_in_json(
            lambda marked: TrustedHostMiddleware(marked, allowed_hosts=hosts, www_redirect=False),
            inner,
            lambda text: f"{text}: not a name this server answers to (serve --allowed-host NAME adds one)",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class _Writes:
    """A POST must be JSON; any write must come from no browser, the server's own page or a named origin."""

    def __init__(self, app: ASGIApp, *, cors_origins: frozenset[str]) -> None:
        self.app = app
        self.cors_origins = cors_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = None
        origin = headers.get("origin")
        if origin is not None and not self._trusted(origin.lower(), headers.get("host", "").lower()):
            message = f"Cross-origin request refused: Origin {origin!r} is not this server's own"
            refusal = error_response(403, message, "invalid_request_error", "3001")
        elif scope["method"] == "POST" and not _bodiless(headers) and not _json_or_upload(scope, headers):
            # text/plain, the form types and no type at all are what a page sends without a preflight.
            message = f"Content-Type must be application/json, got {headers.get('content-type') or 'none'}"
            if scope["path"] in _UPLOAD_PATHS:
                message += " (or a form, multipart/form-data, from a program or this server's own page)"
            refusal = error_response(415, message, "invalid_request_error", "3001")
        if refusal is not None:
            await refusal(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _trusted(self, origin: str, host: str) -> bool:
        # The Host was checked already, so an Origin naming it is this server's own page (TLS or not).
        return origin in self.cors_origins or (bool(host) and origin in (f"http://{host}", f"https://{host}"))


# The paths that take a form (a file upload). A form is what a page can send cross-site without a
# preflight, but every current browser marks such a POST with its Origin, which the check above
# refuses when it is foreign. So a form is taken from a program (no Origin, no Sec-Fetch-Site), the
# server's own or a named origin's page, or with an Authorization header (which a page can only
# add cross-site after the preflight the server does not grant).
_UPLOAD_PATHS = frozenset({"/v1/audio/transcriptions", "/v1/files"})
_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


def _json_or_upload(scope: Scope, headers: Headers) -> bool:
    media_type = _media_type(headers.get("content-type"))
    if media_type == "application/json":
        return True
    if media_type not in _FORMS or scope["path"] not in _UPLOAD_PATHS:
        return False
    if "authorization" in headers or "origin" in headers:
        return True
    return headers.get("sec-fetch-site", "none") in ("none", "same-origin")


class _NoForeignCORS:
    """Drops Access-Control-* headers from answers (a recorded or upstream answer's): only the guard grants."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_without(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(n, v) for n, v in message.get("headers", []) if not n.lower().startswith(b"access-control-")]
                message = {**message, "headers": kept}
            await send(message)

        await self.app(scope, receive, send_without if scope["type"] == "http" else send)


def _answered_in_json(make: Callable[[ASGIApp], ASGIApp], app: ASGIApp, explain: Callable[[str], str] = str) -> ASGIApp:
    """``make(app)``, a Starlette middleware, with the refusals it answers itself in the API's error shape.

    Starlette answers them in plain text. The inner app marks the scope as the request passes; an
    answer that starts without the mark is the middleware's own, and an error status turns its text
    (through ``explain``) into the message of a JSON error with the same status.
    """
    passed = f"mistral_client.guard.passed.{id(app)}"

    async def mark(scope: Scope, receive: Receive, send: Send) -> None:
        scope[passed] = True
        await app(scope, receive, send)

    middleware = make(mark)

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await middleware(scope, receive, send)
            return
        status = 0
        vary: list[tuple[bytes, bytes]] = []
        text = b""

        async def send_json(message: Message) -> None:
            nonlocal status, vary, text
            if scope.get(passed):
                await send(message)
            elif message["type"] == "http.response.start":
                status = message["status"]
                vary = [(n, v) for n, v in message.get("headers", []) if n.lower() == b"vary"]
                if status < 400:  # a preflight's "OK" goes out as the middleware wrote it
                    await send(message)
            elif status < 400:
                await send(message)
            else:
                text += message.get("body", b"")
                if not message.get("more_body", False):
                    refusal = error_response(
                        status, explain(text.decode("utf-8", "replace")), "invalid_request_error", "3001"
                    )
                    refusal.raw_headers.extend(vary)
                    await refusal(scope, receive, send)

        await middleware(scope, receive, send_json)

    return answer


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _bodiless(headers: Headers) -> bool:
    """A POST with nothing to parse (a batch job's cancel: the official SDK sends no Content-Type)."""
    no_length = headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers
    return no_length and "content-type" not in headers
