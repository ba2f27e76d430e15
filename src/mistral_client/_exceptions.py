"""Every exception the client raises.

MistralError                  anything this library raises on purpose
├── InvalidRequestError       the call's arguments are wrong; raised before anything is sent
├── ToolArgumentsError        a tool call's arguments are not a JSON object (``.arguments`` keeps them)
├── StructuredOutputError     the answer does not decode into the ``response_format`` type (``.content``)
├── SyncClientInAsyncError    a blocking ``Mistral`` call inside a running event loop; nothing is sent
├── ToolLoopError             the tool loop reached ``max_rounds``; ``.partial`` is what it did (a ``RunResult``)
├── StreamConsumedError       a stream iterated again after it ended or was closed (in ``_lifecycle``)
├── APIError                  a call to the API failed
│   ├── APIStatusError        the API answered with a non-2xx status
│   │   ├── BadRequestError           400
│   │   ├── AuthenticationError       401
│   │   ├── PermissionDeniedError     403
│   │   ├── NotFoundError             404
│   │   ├── UnprocessableEntityError  422 (with ``.detail``)
│   │   ├── RateLimitError            429 (with ``.retry_after``)
│   │   └── InternalServerError       >= 500
│   ├── APIConnectionError    no usable answer: connect, send or read failed
│   │   └── APITimeoutError   a connect, read or total deadline passed
│   └── StreamError           a stream broke after it started; ``.partial`` keeps what arrived
│       └── StreamTimeoutError  the stream went silent or passed its deadline (also an APITimeoutError)

Every ``APIError`` raised while a stream is open carries ``.partial``: the result of what had been
delivered before the failure (a ``StreamResult`` for chat, FIM and agent completions; the stream's
own result for the others: ``ConversationResult``, ``Transcription``, ``Speech``).  Messages never contain the API key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx2

    from ._pipeline.accumulating import StreamResult
    from ._wire.answers import ToolCall

__all__ = [
    "MistralError",
    "InvalidRequestError",
    "ToolArgumentsError",
    "StructuredOutputError",
    "SyncClientInAsyncError",
    "ToolLoopError",
    "APIError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "UnprocessableEntityError",
    "RateLimitError",
    "InternalServerError",
    "APIConnectionError",
    "APITimeoutError",
    "StreamError",
    "StreamTimeoutError",
]


class MistralError(Exception):
    """Base class of every error this library raises on purpose (including bad arguments)."""


class InvalidRequestError(MistralError, ValueError):
    """The call's arguments are wrong (a bad value, a malformed message); nothing was sent."""


class ToolArgumentsError(MistralError, ValueError):
    """A tool call's arguments are not a JSON object; ``.arguments`` is the raw string, ``.tool_call`` the call."""

    def __init__(self, tool_call: ToolCall, problem: str) -> None:
        arguments = tool_call.function.arguments
        self.tool_call = tool_call
        self.arguments = arguments if isinstance(arguments, str) else str(arguments)
        shown = self.arguments if len(self.arguments) <= 200 else self.arguments[:197] + "..."
        super().__init__(f"the arguments of tool call {tool_call.function.name!r} {problem}: {shown!r}")


class StructuredOutputError(MistralError, ValueError):
    """The answer's content does not decode into the ``response_format`` type; ``.content`` is the raw text."""

    def __init__(self, message: str, *, content: str, output_type: Any) -> None:
        super().__init__(message)
        self.content = content
        self.output_type = output_type


class SyncClientInAsyncError(MistralError, RuntimeError):
    """A blocking ``Mistral`` call was made inside a running asyncio event loop; nothing was sent.

    It would stall every other task of the loop for the whole call.  Use ``AsyncMistral``, or run
    the call in a worker thread (``await asyncio.to_thread(...)``).
    """


class ToolLoopError(MistralError):
    """The tool loop ran ``max_rounds`` rounds of function calls and the model still asked for more.

    ``.partial`` is the ``RunResult`` so far: every call, every result sent back, the conversation id.
    """

    def __init__(self, message: str, *, partial: Any) -> None:
        super().__init__(message)
        self.partial = partial


class APIError(MistralError):
    """A call to the API failed; ``.request`` is the HTTP request, ``.partial`` what a stream delivered."""

    def __init__(
        self,
        message: str,
        *,
        request: httpx2.Request | None = None,
        body: object = None,
        partial: StreamResult | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.request = redact(request)  # the request kept here must not carry the API key
        self.body = body
        self.partial = partial

    def __str__(self) -> str:
        return self.message


class APIStatusError(APIError):
    """The API answered with a non-2xx status: ``.status_code .type .code .param .request_id``."""

    def __init__(
        self,
        message: str,
        *,
        response: httpx2.Response,
        body: object = None,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message, request=response.request, body=body)
        self.response = response
        self.status_code = response.status_code
        self.type = type
        self.code = code
        self.param = param
        self.request_id: str | None = response.headers.get("mistral-correlation-id")

    def __str__(self) -> str:
        parts = [f"{self.status_code} {self.message}"]
        if self.type:
            parts.append(f"type={self.type}")
        if self.code:
            parts.append(f"code={self.code}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " ".join(parts)


class BadRequestError(APIStatusError):
    """400: the API refused the request (invalid model, message order, ...)."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or wrong."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this model or endpoint."""


class NotFoundError(APIStatusError):
    """404: unknown model or endpoint."""


class UnprocessableEntityError(APIStatusError):
    """422: the request failed schema validation; ``.detail`` lists each field error."""

    def __init__(self, message: str, *, detail: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.detail: list[Any] = detail or []


class RateLimitError(APIStatusError):
    """429: too many requests; ``.retry_after`` is the server's advised wait in seconds, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class InternalServerError(APIStatusError):
    """5xx: the service failed."""


class APIConnectionError(APIError):
    """The request got no usable answer: connect, send or read failed."""


class APITimeoutError(APIConnectionError):
    """A connect, read or total deadline passed."""


class StreamError(APIError):
    """A stream broke after it started; ``.partial`` holds everything delivered before the break."""

    partial: StreamResult

    def __init__(
        self,
        message: str,
        *,
        partial: StreamResult,
        type: str | None = None,
        code: str | int | None = None,
        request_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, partial=partial, **kwargs)
        self.type = type
        self.code = None if code is None else str(code)
        self.request_id = request_id


class StreamTimeoutError(StreamError, APITimeoutError):
    """A stream went silent longer than the read timeout or passed its total deadline."""


def redact(request: httpx2.Request | None) -> httpx2.Request | None:
    """A copy of the request without the API key, safe to keep on an exception."""
    if request is None or "authorization" not in request.headers:
        return request
    import httpx2  # loaded already by the client that made the request

    headers = httpx2.Headers(request.headers)
    headers["authorization"] = "[redacted]"
    return httpx2.Request(request.method, request.url, headers=headers, extensions=request.extensions)
