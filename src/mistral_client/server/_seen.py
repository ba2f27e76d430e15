"""``GET /mock/requests``: what the server saw, for tests that run it in another process.

In-process tests read the ``Recorder`` (``LocalServer.requests``); a test against ``mistral-client
serve`` asks this route instead: every request (to ``?path=``, from index ``?since=``), its parsed
JSON body and the status it was answered with. That is how a test proves, from the server's side,
that each id of a bulk run was answered once and how often a refused request came back. It needs
the server's key like the API does; it is not part of Mistral's API.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._errors import error_response
from ._state import shared_of

__all__ = ["SEEN_ROUTES"]


async def seen_requests(request: Request) -> Response:
    since = request.query_params.get("since", "0")
    if not (since.isascii() and since.isdigit()):
        return error_response(
            400, f"since must be a request index >= 0, got {since!r}", "invalid_request_error", "3001"
        )
    path = request.query_params.get("path")
    exchanges = shared_of(request).recorder.exchanges(path)
    data = [
        {
            "index": seen.index,
            "method": seen.method,
            "path": seen.path,
            "status": status,
            "body": seen.body,
            "at": seen.at,
        }
        for seen, status in exchanges
        if seen.index >= int(since) and seen.path != _PATH
    ]
    return JSONResponse({"object": "list", "data": data, "total": len(data)})


_PATH = "/mock/requests"
SEEN_ROUTES = [Route(_PATH, seen_requests, methods=["GET"])]
