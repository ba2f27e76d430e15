"""A Mistral-compatible API for tests and demos: routes, validation, authentication, rate limits, faults.

Shapes follow ``shared/PROTOCOL.md`` (what the live service sends) and the official OpenAPI
description. One server serves a whole test matrix because every behaviour knob can be chosen
per request with an ``x-mock-*`` header (the list is ``KNOBS`` in ``_knobs``); ``ServerConfig``
holds the defaults, which the ``serve`` command's flags set.

Endpoints: ``POST /v1/chat/completions``, ``POST /v1/fim/completions``, ``POST /v1/embeddings``,
``GET /v1/models``, ``GET /v1/models/{id}``. Which model ids it answers to, and what each may do,
is ``_catalog``'s; what a chat answer holds (text, tool calls, JSON, reasoning, ``n`` choices) is
decided in ``_answers``; how it streams, in ``_stream``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal

import msgspec
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._answers import Item, ToolCallStyle, answer_items, assemble, called_tools
from ._catalog import KNOWN_MODELS, Capability, accepts, can, embedding_dimension, model_card
from ._embeddings import embedding
from ._engine import Engine, EngineBusy, Prompt, TemplateEngine
from ._guard import Guard, host_name
from ._knobs import Knobs, parse_knobs
from ._limits import DEFAULT_MAX_BODY_SIZE, RateWindow
from ._records import Recorder
from ._replay import Recording, Replaying
from ._requests import (
    CHAT_COMPLETION_FIELDS,
    ChatCompletionRequest,
    EmbeddingRequest,
    FIMCompletionRequest,
    chat_rule_violation,
    schema_problems,
)
from ._stream import ChatStream, ClosingStreamingResponse, hide_injected_disconnects, stream_body, usage
from ._ui import UI_API_PATHS
from ._ui import ui_routes as _ui_routes

__all__ = ["CHAT_COMPLETION_FIELDS", "KNOWN_MODELS", "ServerConfig", "create_app"]


@dataclass
class ServerConfig:
    api_key: str | None = None  # when set, requests need ``Authorization: Bearer <api_key>``
    first_token_delay: float = 0.0
    token_delay: float = 0.0
    default_tokens: int = 30
    usage_chunk: Literal["inline", "separate"] = "inline"
    # The model ids /v1/models lists; the server also answers to their dated releases
    # (mistral-small-2506 for mistral-small-latest). ``any_model``: it answers to every id.
    models: tuple[str, ...] = KNOWN_MODELS
    any_model: bool = False
    max_body_size: int = DEFAULT_MAX_BODY_SIZE  # bytes; a larger request body gets 413
    engine: Engine = field(default_factory=TemplateEngine)
    # How tool calls stream: "whole" (Mistral: one delta per call) or "fragmented" (OpenAI/vLLM).
    tool_call_style: ToolCallStyle = "whole"
    # The limits the x-ratelimit-* headers show; only ``rate_limit`` refuses anything.
    requests_per_minute: int = 600
    tokens_per_minute: int = 2_000_000
    rate_limit: int | None = None  # more requests than this in a minute get 429 with Retry-After
    # Defaults for the x-mock-* knobs ({"x-mock-token-delay": "0.02"}); a request's own headers win.
    mock_headers: Mapping[str, str] = field(default_factory=dict)
    ui: bool = False  # also serve the chat page at /ui/ (server/_ui.py)
    # Record/replay (see _replay): forward to ``upstream`` and write exchanges to ``record_dir``, or
    # answer from ``replay_dir`` at the recorded pace ("recorded") or at once ("fast").
    record_dir: str | Path | None = None
    upstream: str | None = None
    replay_dir: str | Path | None = None
    replay_pace: Literal["recorded", "fast"] = "recorded"
    # Who may talk to the server (see _guard): Host names answered besides localhost, 127.0.0.1, [::1]
    # and the address it listens on; origins whose web pages may call it (CORS).
    allowed_hosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.usage_chunk not in ("inline", "separate"):
            raise ValueError(f"usage_chunk must be 'inline' or 'separate', not {self.usage_chunk!r}")
        if self.tool_call_style not in ("whole", "fragmented"):
            raise ValueError(f"tool_call_style must be 'whole' or 'fragmented', not {self.tool_call_style!r}")
        if (self.record_dir is None) != (self.upstream is None):
            raise ValueError("record_dir and upstream go together: recording forwards to the upstream server")
        if self.record_dir is not None and self.replay_dir is not None:
            raise ValueError("record or replay, not both")
        if self.replay_dir is not None and not Path(self.replay_dir).is_dir():
            raise ValueError(f"replay_dir {str(self.replay_dir)!r} is not a directory of recordings")
        if self.replay_pace not in ("recorded", "fast"):
            raise ValueError(f"replay_pace must be 'recorded' or 'fast', not {self.replay_pace!r}")
        if self.upstream is not None and not self.upstream.startswith(("http://", "https://")):
            raise ValueError(f"upstream must be an http:// or https:// URL, not {self.upstream!r}")
        if isinstance(self.max_body_size, bool) or not isinstance(self.max_body_size, int) or self.max_body_size < 1:
            raise ValueError(f"max_body_size must be a number of bytes >= 1, not {self.max_body_size!r}")
        self.models = tuple(self.models)
        if not self.models or not all(isinstance(model, str) and model.strip() for model in self.models):
            raise ValueError(f"models must be one or more model ids, not {self.models!r}")
        self.mock_headers = {name.lower(): value for name, value in self.mock_headers.items()}
        parse_knobs(self.mock_headers, {})  # a bad default fails here, not on every request
        self.allowed_hosts = tuple(self.allowed_hosts)
        self.cors_origins = tuple(self.cors_origins)
        for name in self.allowed_hosts:
            if not _HOST_NAME.fullmatch(name):
                raise ValueError(
                    f"allowed_hosts (--allowed-host): {name!r} is not a host name or address (no scheme, path or *)"
                )
        for origin in self.cors_origins:
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"cors_origins (--cors-origin): {origin!r} is not an origin: scheme://host[:port], no path or *"
                )


_HOST_NAME = re.compile(r"[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")
_ORIGIN = re.compile(r"https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?")


# --- App -----------------------------------------------------------------------------------------


@dataclass
class _Shared:
    """State the routes share; lives on ``app.state.shared``."""

    config: ServerConfig
    recorder: Recorder
    window: RateWindow
    failures_by_id: dict[str, int] = field(default_factory=dict)


def create_app(
    config: ServerConfig | None = None, *, recorder: Recorder | None = None, host: str | None = None
) -> Starlette:
    """The server as an ASGI app; ``host``: the address it listens on, a Host name it answers to."""
    config = config or ServerConfig()
    limit = config.requests_per_minute if config.rate_limit is None else config.rate_limit
    shared = _Shared(config, recorder or Recorder(), RateWindow(limit, config.tokens_per_minute))
    logging.getLogger("uvicorn.error").addFilter(hide_injected_disconnects)
    routes, passthrough = [*ROUTES, *(_ui_routes(config) if config.ui else [])], False
    if config.replay_dir is not None:
        routes, passthrough = [_anything(Replaying(Path(config.replay_dir), config.replay_pace).answer)], True
    elif config.record_dir is not None and config.upstream is not None:
        routes, passthrough = [_anything(Recording(Path(config.record_dir), config.upstream).answer)], True
    app = Starlette(routes=routes, exception_handlers={HTTPException: _routing_error, Exception: _server_error})
    app.state.shared = shared
    # Outside the routes, so that every answer (a 404 for an unknown path too) gets the live API's headers.
    app.add_middleware(_Observed, shared=shared, passthrough=passthrough)
    # Outermost: a request from the wrong Host or a foreign page is refused before its body is read.
    listening = [host_name(host)] if host and host not in ("0.0.0.0", "::") else []
    app.add_middleware(
        Guard,
        error=error_response,
        allowed_hosts=[*listening, *map(host_name, config.allowed_hosts)],
        cors_origins=config.cors_origins,
    )
    return app


def _anything(endpoint: Callable[[Request], Awaitable[Response]]) -> Route:
    return Route("/{path:path}", endpoint, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])


class _Observed:
    """Records every exchange, checks the key and the rate limit, and adds the live API's headers.

    ``passthrough`` (recording and replaying): only records and checks the key; the answers are
    someone else's.
    """

    def __init__(self, app: ASGIApp, shared: _Shared, passthrough: bool = False) -> None:
        self.app = app
        self.shared = shared
        self.passthrough = passthrough

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        shared = self.shared
        # The body is read here, once, so the record holds it even when a route rejects the request.
        body, oversize = await _read_body(scope, receive, shared.config.max_body_size)
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
        body_pending = True

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
        # Passthrough forwards (or replays) any path; otherwise the API and the chat page's own calls.
        guarded = self.passthrough or path.startswith("/v1/") or path in UI_API_PATHS
        keyed = not config.api_key or _bears(headers, config.api_key)
        if guarded and not keyed:
            return Knobs(), _unauthorized(), []
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
            return knobs, _unauthorized(), []
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


def _unauthorized() -> Response:
    return JSONResponse({"detail": "Unauthorized"}, status_code=401)


async def _read_body(scope: Scope, receive: Receive, limit: int) -> tuple[bytes, Response | None]:
    """The request's body, or a 413 once it is known to be larger than ``limit`` bytes.

    A declared Content-Length over the limit is refused before a byte is read; a body sent in
    chunks, as soon as it passes the limit. Either way the rest is never held: uvicorn reads and
    drops it after the answer, so the client, which sends its whole body first, gets the 413.
    """
    declared = Headers(scope=scope).get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return b"", _too_large(f"{int(declared)} bytes", limit)
    parts, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        part = message.get("body", b"")
        size += len(part)
        if size > limit:
            return b"", _too_large(f"more than {limit} bytes", limit)
        parts.append(part)
        if not message.get("more_body", False):
            break
    return b"".join(parts), None


def _too_large(size: str, limit: int) -> Response:
    message = f"Request body too large: {size}; this server takes at most {limit} (serve --max-body-size)"
    return error_response(413, message, "invalid_request_error", "3001")


def _json_or_none(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body) if body else None
    except msgspec.DecodeError:
        return None


def _shared(request: Request) -> _Shared:
    shared: _Shared = request.app.state.shared
    return shared


def _knobs(request: Request) -> Knobs:
    knobs: Knobs = request.state.knobs
    return knobs


# --- Routes --------------------------------------------------------------------------------------


async def chat_completions(request: Request) -> Response:
    begun = await _begin(request, ChatCompletionRequest, "completion_chat")
    if isinstance(begun, Response):
        return begun
    body = begun
    if (violation := chat_rule_violation(body)) is not None:
        return error_response(400, violation.message, violation.type, violation.code)
    if "prompt_mode" not in body and can(body["model"], "reasoning"):
        body = {**body, "prompt_mode": "reasoning"}  # magistral thinks unless told not to (prompt_mode: null)
    shared, knobs = _shared(request), _knobs(request)
    config = shared.config
    prompt = _prompt(body, config, knobs)
    prompt_tokens = config.engine.count_prompt_tokens(prompt)
    shared.window.spend(tokens=prompt_tokens)
    n = body.get("n") or 1
    style = knobs.tool_call_style or config.tool_call_style
    try:
        items = answer_items(prompt, config.engine, body, n=n, style=style)
    except EngineBusy as busy:
        return _engine_busy(busy)
    if not body.get("stream"):
        return await _completion(request, items, prompt_tokens)
    whole_calls = style == "whole" and bool(called_tools(body))
    return _streamed(request, items, prompt_tokens, n=n, end_on_last_piece=whole_calls, cancel=prompt.cancelled)


async def fim_completions(request: Request) -> Response:
    begun = await _begin(request, FIMCompletionRequest, "completion_fim")
    if isinstance(begun, Response):
        return begun
    body = begun
    shared, knobs = _shared(request), _knobs(request)
    config = shared.config
    # The prompt and the suffix decide the text, as two messages would.
    messages = [{"role": "user", "content": body["prompt"]}, {"role": "user", "content": body.get("suffix") or ""}]
    prompt = _prompt({**body, "messages": messages}, config, knobs)
    if body.get("min_tokens"):
        prompt = replace(prompt, target_tokens=max(prompt.target_tokens, body["min_tokens"]))
    prompt_tokens = config.engine.count_prompt_tokens(prompt)
    shared.window.spend(tokens=prompt_tokens)
    try:
        items = config.engine.generate(prompt)
    except EngineBusy as busy:
        return _engine_busy(busy)
    if not body.get("stream"):
        return await _completion(request, items, prompt_tokens)
    return _streamed(request, items, prompt_tokens, cancel=prompt.cancelled)


async def embeddings(request: Request) -> Response:
    begun = await _begin(request, EmbeddingRequest, "embeddings")
    if isinstance(begun, Response):
        return begun
    body = begun
    shared = _shared(request)
    model = body["model"]
    texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
    dimension = body.get("output_dimension") or embedding_dimension(model)
    if dimension > _MAX_DIMENSION:
        return error_response(
            400, f"output_dimension must be at most {_MAX_DIMENSION}, got {dimension}", "invalid_request_error", "3001"
        )
    # encoding_format "base64" is accepted, as the spec's request allows, but the answer stays numbers:
    # the spec's response (and the SDKs built from it) has no room for a string (docs/local-server.md).
    dtype = body.get("output_dtype", "float")
    tokens = sum(len(text.split()) for text in texts)
    shared.window.spend(tokens=tokens)
    await _first_token_delay(request)
    return JSONResponse(
        {
            "id": uuid.uuid4().hex,
            "object": "list",
            "data": [
                {"object": "embedding", "embedding": embedding(model, text, dimension, dtype), "index": i}
                for i, text in enumerate(texts)
            ],
            "model": model,
            "usage": usage(tokens, 0),
        }
    )


_MAX_DIMENSION = 8192  # far above any real model's, low enough that a typo cannot eat the memory


async def list_models(request: Request) -> Response:
    config = _shared(request).config
    return JSONResponse({"object": "list", "data": [model_card(model) for model in config.models]})


async def retrieve_model(request: Request) -> Response:
    config = _shared(request).config
    model_id = request.path_params["model_id"]
    if not accepts(model_id, config.models, any_model=config.any_model):
        return error_response(404, f"Model not found: {model_id}", "not_found", "1501")
    return JSONResponse(model_card(model_id))


ROUTES = [
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/fim/completions", fim_completions, methods=["POST"]),
    Route("/v1/embeddings", embeddings, methods=["POST"]),
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model_id:path}", retrieve_model, methods=["GET"]),
]


# --- Steps every completion takes ----------------------------------------------------------------


async def _begin(request: Request, schema: type[msgspec.Struct], capability: Capability) -> dict[str, Any] | Response:
    """The request's body once faults, the schema and the model are dealt with; else the answer."""
    shared, knobs = _shared(request), _knobs(request)
    if (injected := _injected_failure(knobs, shared)) is not None:
        return injected
    if knobs.html:
        return HTMLResponse(_PROXY_ERROR_PAGE)
    raw = await request.body()
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        detail = {"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error", "input": {}}
        return JSONResponse({"detail": [{**detail, "ctx": {"error": str(exc)}}]}, status_code=422)
    if problems := schema_problems(body, schema):
        return JSONResponse({"detail": problems}, status_code=422)
    model, config = body["model"], shared.config
    if not accepts(model, config.models, any_model=config.any_model) or not can(model, capability):
        return error_response(400, f"Invalid model: {model}", "invalid_model", "1500")
    request.state.model = model
    assert isinstance(body, dict)
    return body


def _prompt(body: Mapping[str, Any], config: ServerConfig, knobs: Knobs) -> Prompt:
    stop = body.get("stop")
    return Prompt(
        model=body["model"],
        messages=body["messages"],
        max_tokens=body.get("max_tokens"),
        stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
        random_seed=body.get("random_seed"),
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        target_tokens=config.default_tokens if knobs.tokens is None else knobs.tokens,
        tools=tuple(body.get("tools") or ()),
        response_format=body.get("response_format"),
        prompt_mode=body.get("prompt_mode"),
    )


async def _first_token_delay(request: Request) -> None:
    delay = _first_not_none(_knobs(request).first_token_delay, _shared(request).config.first_token_delay)
    if delay > 0:
        await asyncio.sleep(delay)


async def _completion(request: Request, items: Iterator[Item], prompt_tokens: int) -> Response:
    await _first_token_delay(request)
    if _blocking(_shared(request).config.engine):
        choices, completion_tokens = await asyncio.to_thread(assemble, items)
    else:
        choices, completion_tokens = assemble(items)
    return JSONResponse(
        {
            "id": uuid.uuid4().hex,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.state.model,
            "choices": choices,
            "usage": usage(prompt_tokens, completion_tokens),
        }
    )


def _streamed(
    request: Request,
    items: Iterator[Item],
    prompt_tokens: int,
    *,
    n: int = 1,
    end_on_last_piece: bool = False,
    cancel: threading.Event | None = None,
) -> Response:
    shared, knobs = _shared(request), _knobs(request)
    config = shared.config
    stream = ChatStream(
        items=items,
        chunk_base={
            "id": uuid.uuid4().hex,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": request.state.model,
        },
        prompt_tokens=prompt_tokens,
        faults=knobs.stream,
        first_token_delay=_first_not_none(knobs.first_token_delay, config.first_token_delay),
        token_delay=_first_not_none(knobs.token_delay, config.token_delay),
        separate_usage=(knobs.usage_chunk or config.usage_chunk) == "separate",
        record=request.state.record,
        recorder=shared.recorder,
        choices=n,
        end_on_last_piece=end_on_last_piece,
        blocking=_blocking(config.engine),
        cancel=cancel,
    )
    return ClosingStreamingResponse(stream_body(stream))


def _blocking(engine: Engine) -> bool:
    """A real model computes for milliseconds per token: it must run off the event loop."""
    return bool(getattr(engine, "blocking", False))


def _engine_busy(busy: EngineBusy) -> Response:
    # The model's queue is full: the live service's rate-limit answer, with when to come back.
    retry_after = str(max(1, math.ceil(busy.retry_after)))
    return error_response(429, "Rate limit exceeded", "rate_limited", "1300", headers={"retry-after": retry_after})


def _first_not_none(value: float | None, default: float) -> float:
    return default if value is None else value


# --- Errors --------------------------------------------------------------------------------------


def error_response(
    status: int, message: str, kind: str, code: str, *, headers: Mapping[str, str] | None = None
) -> Response:
    """The live service's error envelope."""
    body = {"object": "error", "message": message, "type": kind, "param": None, "code": code}
    return JSONResponse(body, status_code=status, headers=headers)


def _injected_failure(knobs: Knobs, shared: _Shared) -> Response | None:
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
        _phrase(knobs.status),
        str(knobs.status),
    )
    return error_response(knobs.status, message, kind, code, headers=headers)


async def _routing_error(request: Request, exc: Exception) -> Response:
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


async def _server_error(request: Request, exc: Exception) -> Response:
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

_PROXY_ERROR_PAGE = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
