"""A Mistral-compatible chat API for tests and demos: routes, light validation, injected faults.

Shapes follow ``shared/PROTOCOL.md`` (what the live service sends). One server serves a whole
test matrix because faults are chosen per request with headers, all optional:

``x-mock-status: CODE``               answer CODE with Mistral's error body instead of a completion
``x-mock-retry-after: SECONDS``       with x-mock-status: add ``Retry-After`` (sent as given)
``x-mock-fail-times: K``              with x-mock-status: fail only the first K requests that share
``x-mock-id: ID``                     ... this id (requests without x-mock-id share one counter)
``x-mock-tokens: N``                  answer with N content chunks when nothing cuts it short
``x-mock-first-token-delay: S``       seconds before the first event (overrides the config)
``x-mock-token-delay: S``             seconds between content chunks (overrides the config)
``x-mock-stall-after: N``             after N content chunks pause ``x-mock-stall-seconds`` (default 1)
``x-mock-disconnect-after: N``        after N content chunks close the connection mid-body
``x-mock-error-event-after: N``       after N content chunks send an ``{"object":"error"}`` event, end
``x-mock-finish-error-after: N``      after N content chunks finish with ``finish_reason: "error"``
``x-mock-malformed-after: N``         after N content chunks send an event that is not JSON, go on
``x-mock-usage-chunk: separate``      usage in its own ``choices: []`` chunk (or ``inline``)
``x-mock-no-done: 1``                 end the body without ``data: [DONE]``
``x-mock-html: 1``                    answer 200 with a proxy's HTML error page
``x-mock-crlf: 1``                    end lines with CRLF
``x-mock-keepalive: 1``               send a ``: keep-alive`` comment before every event
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from itertools import chain
from typing import Any, Literal

import msgspec
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._engine import Engine, Finish, Prompt, TemplateEngine
from ._records import Recorder
from ._stream import ChatStream, ClosingStreamingResponse, StreamFaults, hide_injected_disconnects, stream_body, usage
from ._ui import ui_routes as _ui_routes

__all__ = ["CHAT_COMPLETION_FIELDS", "KNOWN_MODELS", "ServerConfig", "create_app"]

KNOWN_MODELS = (
    "mistral-large-latest",
    "mistral-medium-latest",
    "mistral-small-latest",
    "ministral-3b-latest",
    "ministral-8b-latest",
    "ministral-14b-latest",
    "codestral-latest",
    "mistral-embed",
    "codestral-embed",
)

# The properties of ChatCompletionRequest in the official spec; anything else is rejected like the
# live service does (tests/test_server.py checks this list against the spec).
CHAT_COMPLETION_FIELDS = frozenset(
    {
        "model",
        "messages",
        "temperature",
        "top_p",
        "max_tokens",
        "stream",
        "stop",
        "random_seed",
        "metadata",
        "response_format",
        "tools",
        "tool_choice",
        "presence_penalty",
        "frequency_penalty",
        "n",
        "prediction",
        "parallel_tool_calls",
        "reasoning_effort",
        "prompt_mode",
        "safe_prompt",
        "guardrails",
        "prompt_cache_key",
        "service_tier",
    }
)


@dataclass
class ServerConfig:
    api_key: str | None = None  # when set, requests need ``Authorization: Bearer <api_key>``
    first_token_delay: float = 0.0
    token_delay: float = 0.0
    default_tokens: int = 30
    usage_chunk: Literal["inline", "separate"] = "inline"
    models: tuple[str, ...] = KNOWN_MODELS
    engine: Engine = field(default_factory=TemplateEngine)
    # Only shape the x-ratelimit-* headers; nothing is refused (x-mock-status: 429 does that).
    requests_per_minute: int = 600
    tokens_per_minute: int = 2_000_000
    ui: bool = False  # also serve the chat page at /ui/ (server/_ui.py)

    def __post_init__(self) -> None:
        if self.usage_chunk not in ("inline", "separate"):
            raise ValueError(f"usage_chunk must be 'inline' or 'separate', not {self.usage_chunk!r}")


# --- App -----------------------------------------------------------------------------------------


class _RateWindow:
    """x-ratelimit-* headers that move over a one-minute window like the live ones."""

    def __init__(self, requests_per_minute: int, tokens_per_minute: int) -> None:
        self._limits = (requests_per_minute, tokens_per_minute)
        self._spent: deque[tuple[float, int, int]] = deque()  # (monotonic time, requests, tokens)

    def spend(self, *, requests: int = 0, tokens: int = 0) -> None:
        self._spent.append((time.monotonic(), requests, tokens))

    def headers(self) -> list[tuple[bytes, bytes]]:
        while self._spent and self._spent[0][0] < time.monotonic() - 60:
            self._spent.popleft()
        request_limit, token_limit = self._limits
        requests = sum(spent[1] for spent in self._spent)
        tokens = sum(spent[2] for spent in self._spent)
        return [
            (b"x-ratelimit-limit-req-minute", b"%d" % request_limit),
            (b"x-ratelimit-remaining-req-minute", b"%d" % max(0, request_limit - requests)),
            (b"x-ratelimit-limit-tokens-minute", b"%d" % token_limit),
            (b"x-ratelimit-remaining-tokens-minute", b"%d" % max(0, token_limit - tokens)),
        ]


@dataclass
class _Shared:
    """State the routes share; lives on ``app.state.shared``."""

    config: ServerConfig
    recorder: Recorder
    window: _RateWindow
    failures_by_id: dict[str, int] = field(default_factory=dict)


def create_app(config: ServerConfig | None = None, *, recorder: Recorder | None = None) -> Starlette:
    config = config or ServerConfig()
    shared = _Shared(config, recorder or Recorder(), _RateWindow(config.requests_per_minute, config.tokens_per_minute))
    logging.getLogger("uvicorn.error").addFilter(hide_injected_disconnects)
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/v1/models/{model_id:path}", retrieve_model, methods=["GET"]),
            *(_ui_routes(config) if config.ui else []),
        ],
        middleware=[Middleware(_observed, shared=shared)],
    )
    app.state.shared = shared
    return app


def _observed(app: ASGIApp, shared: _Shared) -> ASGIApp:
    """Records every request and gives every answer the headers of the live API."""

    async def observed_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        # The body is read here, once, so the record holds it even when a route rejects the request.
        body = await _read_body(receive)
        headers = {
            name.decode("latin-1"): "[redacted]" if name == b"authorization" else value.decode("latin-1")
            for name, value in scope["headers"]
        }
        client = scope.get("client")
        correlation_id = uuid.uuid4().hex
        shared.window.spend(requests=1)
        scope.setdefault("state", {})["record"] = shared.recorder.add_request(
            scope["method"],
            scope["path"],
            headers,
            _json_or_none(body),
            (client[0], client[1]) if client else None,
            correlation_id,
        )
        body_pending = True

        async def replaying_receive() -> Message:
            nonlocal body_pending
            if body_pending:
                body_pending = False
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"mistral-correlation-id", correlation_id.encode()), *shared.window.headers()]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await app(scope, replaying_receive, send_with_headers)

    return observed_app


async def _read_body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


def _json_or_none(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body) if body else None
    except msgspec.DecodeError:
        return None


def _shared(request: Request) -> _Shared:
    shared: _Shared = request.app.state.shared
    return shared


# --- Routes --------------------------------------------------------------------------------------


async def chat_completions(request: Request) -> Response:
    shared = _shared(request)
    config = shared.config
    if (denied := _auth_failure(request, config)) is not None:
        return denied
    try:
        knobs = _Knobs.from_headers(request.headers)
    except ValueError as exc:
        return _error(400, str(exc), "invalid_request_error", "3001")
    if (injected := _injected_failure(knobs, shared)) is not None:
        return injected
    if knobs.html:
        return HTMLResponse(_PROXY_ERROR_PAGE)

    try:
        body = msgspec.json.decode(await request.body())
    except msgspec.DecodeError as exc:
        return _validation_error(
            [
                {
                    "type": "json_invalid",
                    "loc": ["body", 0],
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": str(exc)},
                }
            ]
        )
    problems = _request_problems(body)
    if problems:
        return _validation_error(problems)
    model = body["model"]
    if model not in config.models:
        return _error(400, f"Invalid model: {model}", "invalid_model", "1500")

    stop = body.get("stop")
    prompt = Prompt(
        model=model,
        messages=body["messages"],
        max_tokens=body.get("max_tokens"),
        stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
        random_seed=body.get("random_seed"),
        target_tokens=config.default_tokens if knobs.tokens is None else knobs.tokens,
    )
    prompt_tokens = config.engine.count_prompt_tokens(prompt)
    shared.window.spend(tokens=prompt_tokens)
    first_token_delay = _first_not_none(knobs.first_token_delay, config.first_token_delay)
    if not body.get("stream"):
        if first_token_delay > 0:
            await asyncio.sleep(first_token_delay)
        return _completion(prompt, config.engine, prompt_tokens)

    stream = ChatStream(
        items=chain(config.engine.generate(prompt), [Finish("stop")]),
        chunk_base={
            "id": uuid.uuid4().hex,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        },
        prompt_tokens=prompt_tokens,
        faults=knobs.stream,
        first_token_delay=first_token_delay,
        token_delay=_first_not_none(knobs.token_delay, config.token_delay),
        separate_usage=(knobs.usage_chunk or config.usage_chunk) == "separate",
        record=request.state.record,
        recorder=shared.recorder,
    )
    return ClosingStreamingResponse(stream_body(stream))


async def list_models(request: Request) -> Response:
    config = _shared(request).config
    if (denied := _auth_failure(request, config)) is not None:
        return denied
    return JSONResponse({"object": "list", "data": [_model_card(model) for model in config.models]})


async def retrieve_model(request: Request) -> Response:
    config = _shared(request).config
    model_id = request.path_params["model_id"]
    if (denied := _auth_failure(request, config)) is not None:
        return denied
    if model_id not in config.models:
        return _error(404, f"Model not found: {model_id}", "not_found", "1501")
    return JSONResponse(_model_card(model_id))


# --- Checks and errors ---------------------------------------------------------------------------


def _auth_failure(request: Request, config: ServerConfig) -> Response | None:
    if config.api_key is None or request.headers.get("authorization") == f"Bearer {config.api_key}":
        return None
    return JSONResponse({"detail": "Unauthorized"}, status_code=401)


def _injected_failure(knobs: _Knobs, shared: _Shared) -> Response | None:
    if knobs.status is None:
        return None
    if knobs.fail_times is not None:
        seen = shared.failures_by_id[knobs.mock_id] = shared.failures_by_id.get(knobs.mock_id, 0) + 1
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
        HTTPStatus(knobs.status).phrase,
        str(knobs.status),
    )
    return _error(knobs.status, message, kind, code, headers)


_ERRORS = {
    400: ("invalid_request_error", "Invalid request", "3001"),
    404: ("not_found", "Not found", "3004"),
    429: ("rate_limited", "Rate limit exceeded", "1300"),
    500: ("internal_error", "Internal server error", "3000"),
    502: ("internal_error", "Bad gateway", "3000"),
    503: ("service_unavailable", "Service unavailable", "3000"),
    504: ("internal_error", "Gateway timeout", "3000"),
}


def _error(status: int, message: str, kind: str, code: str, headers: Mapping[str, str] | None = None) -> Response:
    body = {"object": "error", "message": message, "type": kind, "param": None, "code": code}
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_error(detail: list[dict[str, Any]]) -> Response:
    return JSONResponse({"detail": detail}, status_code=422)


def _request_problems(body: Any) -> list[dict[str, Any]]:
    """Pydantic-style errors for what the engine relies on; a later issue validates the full schema."""
    if not isinstance(body, dict):
        return [
            {
                "type": "model_attributes_type",
                "loc": ["body"],
                "input": body,
                "msg": "Input should be a valid dictionary or object to extract fields from",
            }
        ]
    problems = [
        {"type": "missing", "loc": ["body", name], "msg": "Field required", "input": body}
        for name in ("model", "messages")
        if name not in body
    ]
    for name, value in body.items():
        if name not in CHAT_COMPLETION_FIELDS:
            problems.append(
                {
                    "type": "extra_forbidden",
                    "loc": ["body", name],
                    "msg": "Extra inputs are not permitted",
                    "input": value,
                }
            )
        elif name in _FIELD_TYPES and not _FIELD_TYPES[name][0](value):
            kind, msg = _FIELD_TYPES[name][1:]
            problems.append({"type": kind, "loc": ["body", name], "msg": msg, "input": value})
    return problems


def _is_count(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)


_FIELD_TYPES: dict[str, tuple[Callable[[Any], bool], str, str]] = {
    "model": (lambda v: isinstance(v, str), "string_type", "Input should be a valid string"),
    "messages": (lambda v: isinstance(v, list), "list_type", "Input should be a valid list"),
    "stream": (lambda v: v is None or isinstance(v, bool), "bool_type", "Input should be a valid boolean"),
    "max_tokens": (_is_count, "int_type", "Input should be a valid integer, greater than or equal to 0"),
    "random_seed": (_is_count, "int_type", "Input should be a valid integer, greater than or equal to 0"),
    "stop": (
        lambda v: v is None or isinstance(v, str) or (isinstance(v, list) and all(isinstance(s, str) for s in v)),
        "string_type",
        "Input should be a valid string or list of strings",
    ),
}

_PROXY_ERROR_PAGE = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


# --- Knobs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Knobs:
    """The x-mock-* headers of one request."""

    status: int | None = None
    retry_after: str | None = None
    fail_times: int | None = None
    mock_id: str = ""
    tokens: int | None = None
    first_token_delay: float | None = None
    token_delay: float | None = None
    usage_chunk: str | None = None  # "inline" or "separate"
    html: bool = False
    stream: StreamFaults = field(default_factory=StreamFaults)

    @classmethod
    def from_headers(cls, headers: Headers) -> _Knobs:
        """Raises ValueError naming the header when a value does not parse."""

        def count(name: str) -> int | None:
            value = headers.get(name)
            if value is None:
                return None
            if not (value.strip().isascii() and value.strip().isdigit()):
                raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
            return int(value)

        def seconds(name: str) -> float | None:
            value = headers.get(name)
            if value is None:
                return None
            try:
                number = float(value)
            except ValueError:
                number = -1.0
            if not number >= 0:  # also catches nan
                raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
            return number

        def flag(name: str) -> bool:
            return headers.get(name, "").strip().lower() in ("1", "true", "yes", "on")

        status = count("x-mock-status")
        if status is not None and not 400 <= status <= 599:
            raise ValueError(f"x-mock-status must be an error status (400-599), got {status}")
        usage_chunk = headers.get("x-mock-usage-chunk")
        if usage_chunk not in (None, "inline", "separate"):
            raise ValueError(f"x-mock-usage-chunk must be 'inline' or 'separate', got {usage_chunk!r}")
        return cls(
            status=status,
            retry_after=headers.get("x-mock-retry-after"),
            fail_times=count("x-mock-fail-times"),
            mock_id=headers.get("x-mock-id", ""),
            tokens=count("x-mock-tokens"),
            first_token_delay=seconds("x-mock-first-token-delay"),
            token_delay=seconds("x-mock-token-delay"),
            usage_chunk=usage_chunk,
            html=flag("x-mock-html"),
            stream=StreamFaults(
                stall_after=count("x-mock-stall-after"),
                stall_seconds=_first_not_none(seconds("x-mock-stall-seconds"), 1.0),
                disconnect_after=count("x-mock-disconnect-after"),
                error_event_after=count("x-mock-error-event-after"),
                finish_error_after=count("x-mock-finish-error-after"),
                malformed_after=count("x-mock-malformed-after"),
                no_done=flag("x-mock-no-done"),
                crlf=flag("x-mock-crlf"),
                keepalive=flag("x-mock-keepalive"),
            ),
        )


def _first_not_none(value: float | None, default: float) -> float:
    return default if value is None else value


# --- Answers -------------------------------------------------------------------------------------


def _completion(prompt: Prompt, engine: Engine, prompt_tokens: int) -> Response:
    pieces: list[str] = []
    finish = "stop"
    for item in engine.generate(prompt):
        if isinstance(item, Finish):
            finish = item.reason
            break
        pieces.append(item)
    return JSONResponse(
        {
            "id": uuid.uuid4().hex,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": prompt.model,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": finish,
                    "message": {"role": "assistant", "content": "".join(pieces), "tool_calls": None},
                }
            ],
            "usage": usage(prompt_tokens, len(pieces)),
        }
    )


def _model_card(model: str) -> dict[str, Any]:
    embeds = model.endswith("-embed")
    return {
        "id": model,
        "object": "model",
        "created": 1_767_225_600,
        "owned_by": "mistralai",
        "capabilities": {
            "completion_chat": not embeds,
            "function_calling": not embeds,
            "completion_fim": model.startswith("codestral") and not embeds,
            "fine_tuning": False,
            "vision": model.startswith(("mistral-large", "mistral-medium", "mistral-small")),
            "classification": False,
        },
        "name": model,
        "description": f"Local stand-in for {model}",
        "max_context_length": 8192 if embeds else 131072,
        "aliases": [],
        "deprecation": None,
        "default_model_temperature": None if embeds else 0.3,
        "type": "base",
    }
