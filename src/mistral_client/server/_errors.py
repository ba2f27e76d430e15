"""Error answers in the live service's shapes: the ``{"object": "error"}`` envelope, FastAPI's 401,
the JSON 404/405/500 the app gives for unknown paths and its own bugs, and injected faults
(``x-mock-status``, the proxy's HTML page).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ._engine import EngineBusy
from ._knobs import Knobs

__all__ = [
    "PROXY_ERROR_PAGE",
    "engine_busy",
    "error_response",
    "injected_failure",
    "routing_error",
    "server_error",
    "too_large",
    "unauthorized",
]


def error_response(
    status: int, message: str, kind: str, code: str, *, headers: Mapping[str, str] | None = None
) -> Response:
    """The live service's error envelope."""
    body = {"object": "error", "message": message, "type": kind, "param": None, "code": code}
    return JSONResponse(body, status_code=status, headers=headers)


def unauthorized() -> Response:
    return JSONResponse({"detail": "Unauthorized"}, status_code=401)


def too_large(size: str, limit: int) -> Response:
    message = f"Request body too large: {size}; this server takes at most {limit} (serve --max-body-size)"
    return error_response(413, message, "invalid_request_error", "3001")


def engine_busy(busy: EngineBusy) -> Response:
    # The model's queue is full: the live service's rate-limit status, type and code (so clients
    # retry it as one), with when to come back, and a message that says it is not a quota.
    retry_after = str(max(1, math.ceil(busy.retry_after)))
    message = "server busy: model queue full"
    return error_response(429, message, "rate_limited", "1300", headers={"retry-after": retry_after})


def injected_failure(knobs: Knobs, failures_by_id: dict[str, int]) -> Response | None:
    """The failure ``x-mock-status`` asks for; None once ``x-mock-fail-times`` are spent (per ``x-mock-id``)."""
    if knobs.status is None:
        return None
    if knobs.fail_times is not None:
        seen = failures_by_id[knobs.mock_id] = failures_by_id.get(knobs.mock_id, 0) + 1
        if seen > knobs.fail_times:
            return None
    headers = {"retry-after": knobs.retry_after} if knobs.retry_after is not None else None
    if knobs.status == 401:
        return JSONResponse({"detail": "Unauthorized"}, status_code=401, headers=headers)
    if knobs.status == 422:
        detail = [{"type": "value_error", "loc": ["body"], "msg": "Injected by x-mock-status", "input": None}]
        return JSONResponse({"detail": detail}, status_code=422, headers=headers)
    kind, message, code = _ERRORS.get(knobs.status) or (
        ("internal_error" if knobs.status >= 500 else "invalid_request_error"),
        _phrase(knobs.status),
        str(knobs.status),
    )
    return error_response(knobs.status, message, kind, code, headers=headers)


async def routing_error(request: Request, exc: Exception) -> Response:
    """An unknown path (404) or method (405, with ``Allow``) in the API's JSON error envelope."""
    assert isinstance(exc, HTTPException)
    what = f"{request.method} {request.url.path}"
    if exc.status_code == 404:
        return error_response(404, f"Not found: {what}", "not_found", "3004", headers=exc.headers)
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"Method not allowed: {what} (allowed: {allowed})"
        return error_response(405, message, "invalid_request_error", "3001", headers=exc.headers)
    kind = "internal_error" if exc.status_code >= 500 else "invalid_request_error"
    return error_response(exc.status_code, exc.detail, kind, str(exc.status_code), headers=exc.headers)


async def server_error(request: Request, exc: Exception) -> Response:
    # A bug in a route: still the API's JSON envelope (the traceback goes to uvicorn's log).
    return error_response(500, "Internal server error", "internal_error", "3000")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # 599, say: a status no standard names
        return "Error"


_ERRORS = {
    400: ("invalid_request_error", "Invalid request", "3001"),
    404: ("not_found", "Not found", "3004"),
    429: ("rate_limited", "Rate limit exceeded", "1300"),
    500: ("internal_error", "Internal server error", "3000"),
    502: ("internal_error", "Bad gateway", "3000"),
    503: ("service_unavailable", "Service unavailable", "3000"),
    504: ("internal_error", "Gateway timeout", "3000"),
}

# A proxy's error page, which x-mock-html answers with status 200: a body that is not JSON at all.
PROXY_ERROR_PAGE = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
