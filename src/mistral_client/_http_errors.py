"""Turning what went wrong on the wire into the typed exceptions of ``_exceptions``."""

from __future__ import annotations

import re
from typing import Any

import httpx2
import msgspec

from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from ._retry import retry_after

__all__ = ["check_event_stream", "status_error", "transport_error"]

_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error(response: httpx2.Response) -> APIStatusError:
    """The exception for a non-2xx answer whose body has been read."""
    status = response.status_code
    body: Any
    try:
        body = msgspec.json.decode(response.content) if response.content else None
    except msgspec.DecodeError:
        body = response.text[:500] or None
    message, fields, detail = describe_error_body(body)
    if 300 <= status < 400:
        # Redirects are not followed: the API never sends one, and following it would send the
        # request (and its key) somewhere the caller did not choose.
        location = response.headers.get("location", "nowhere")
        message = f"the server redirected to {location}; redirects are not followed: check base_url"
    elif not message:
        message = response.reason_phrase or "error"
    cls = _BY_STATUS.get(status, InternalServerError if status >= 500 else APIStatusError)
    kwargs: dict[str, Any] = {"response": response, "body": body, **fields}
    if cls is RateLimitError:
        kwargs["retry_after"] = retry_after(response.headers)
    if cls is UnprocessableEntityError:
        kwargs["detail"] = detail
    return cls(message, **kwargs)


def describe_error_body(body: Any) -> tuple[str, dict[str, Any], list[Any]]:
    """The message, the type/code/param fields and the 422 field errors of an error body."""
    if isinstance(body, str):
        return body.strip(), {}, []
    if not isinstance(body, dict):
        return "", {}, []
    info = body["error"] if isinstance(body.get("error"), dict) else body
    fields = {
        "type": _str(info.get("type")),
        "code": _str(info.get("code")),
        "param": _str(info.get("param")),
    }
    detail = _detail_list(info)
    if detail is not None:  # 422: one entry per invalid field
        messages = [_field_error(item) for item in detail if isinstance(item, dict)]
        return "; ".join(messages) or "invalid request", fields, detail
    message = info.get("message") or info.get("detail")
    if message is None:
        return "", fields, []
    # An object where a string belongs is shown as the JSON it came as, not as a Python repr.
    return (message if isinstance(message, str) else msgspec.json.encode(message).decode()), fields, []


def _detail_list(info: dict[str, Any]) -> list[Any] | None:
    """The list of field errors: ``detail`` at the top, or inside ``message`` (the error envelope
    around a validation error; some proxies send that object again as a JSON string)."""
    detail = info.get("detail")
    if isinstance(detail, list):
        return detail
    message = info.get("message")
    if isinstance(message, str) and message.startswith("{"):
        try:
            message = msgspec.json.decode(message)
        except msgspec.DecodeError:
            return None
    nested = message.get("detail") if isinstance(message, dict) else None
    return nested if isinstance(nested, list) else None


def _field_error(item: dict[str, Any]) -> str:
    loc = item.get("loc")
    path = ".".join(str(part) for part in loc if part != "body") if isinstance(loc, list) else ""
    msg = str(item.get("msg") or item.get("type") or "invalid")
    return f"{path}: {msg}" if path else msg


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def check_event_stream(response: httpx2.Response) -> APIError | None:
    """A 200 that is not an event stream (a proxy's HTML page) is an error, not a parse failure."""
    content_type = response.headers.get("content-type", "")
    if content_type.partition(";")[0].strip().lower() == "text/event-stream":
        return None
    shown = content_type or "no content type"
    return APIError(
        f"expected a text/event-stream answer, got {shown} (status {response.status_code}); "
        "a proxy or gateway may have answered instead of the API",
        request=response.request,
    )


def transport_error(exc: Exception, request: httpx2.Request | None) -> APIConnectionError:
    """The exception for an httpx2 transport failure before any response arrived."""
    if isinstance(exc, httpx2.TimeoutException):
        kind = {
            httpx2.ConnectTimeout: "connecting",
            httpx2.ReadTimeout: "waiting for the response",
            httpx2.WriteTimeout: "sending the request",
            httpx2.PoolTimeout: "waiting for a free connection",
        }.get(type(exc), "waiting")
        return APITimeoutError(f"timed out {kind}: {exc or type(exc).__name__}", request=request)
    if isinstance(exc, httpx2.LocalProtocolError):
        # h11 quotes the offending header in full ("Illegal header value b'Bearer sk-...'"): one set on
        # the caller's own http_client can be a credential, so nothing from the first quote on is shown.
        reason = re.split(r"\s*b?['\"]", str(exc), maxsplit=1)[0] or type(exc).__name__
        return APIConnectionError(
            f"the request could not be sent: {reason} (not shown: it may be a credential)", request=request
        )
    return APIConnectionError(f"connection failed: {exc or type(exc).__name__}", request=request)
