"""The API's endpoints, and the steps every completion takes: faults, schema, model, then a whole
answer or a stream of chunks.

What a chat answer holds (text, tool calls, JSON, reasoning, ``n`` choices) is decided in
``_answers``; how it streams, in ``_stream``; which model may do what, in ``_catalog``.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ._answers import Item, answer_items, assemble, called_tools
from ._audio import AUDIO_ROUTES
from ._catalog import Capability, accepts, can, embedding_dimension, model_card
from ._config import ServerConfig
from ._embeddings import embedding
from ._engine import Engine, EngineBusy, Prompt
from ._errors import PROXY_ERROR_PAGE, engine_busy, error_response, injected_failure
from ._knobs import Knobs
from ._moderation import MODERATION_ROUTES
from ._ocr import OCR_ROUTES
from ._requests import (
    StrictChatRequest,
    StrictEmbeddingRequest,
    StrictFIMRequest,
    chat_rule_violation,
    schema_problems,
)
from ._state import knobs_of, shared_of
from ._stream import AnswerStream, ClosingStreamingResponse, stream_body, usage

__all__ = ["ROUTES", "answer_chat", "begin_request", "first_not_none", "injected_answer", "is_blocking"]


async def chat_completions(request: Request) -> Response:
    begun = await _begin(request, StrictChatRequest, "completion_chat")
    if isinstance(begun, Response):
        return begun
    return await answer_chat(request, begun)


async def answer_chat(request: Request, body: dict[str, Any]) -> Response:
    """The answer to a chat request whose body passed the schema and the model check (agents' too)."""
    if (violation := chat_rule_violation(body)) is not None:
        return error_response(400, violation.message, violation.type, violation.code)
    if "prompt_mode" not in body and can(body["model"], "reasoning"):
        body = {**body, "prompt_mode": "reasoning"}  # magistral thinks unless told not to (prompt_mode: null)
    shared, knobs = shared_of(request), knobs_of(request)
    config = shared.config
    prompt = _prompt(body, config, knobs)
    prompt_tokens = config.engine.count_prompt_tokens(prompt)
    shared.window.spend(tokens=prompt_tokens)
    n = body.get("n") or 1
    style = knobs.tool_call_style or config.tool_call_style
    try:
        items = answer_items(prompt, config.engine, body, n=n, style=style)
    except EngineBusy as busy:
        return engine_busy(busy)
    if not body.get("stream"):
        return await _completion(request, items, prompt_tokens)
    whole_calls = style == "whole" and bool(called_tools(body))
    return _streamed(request, items, prompt_tokens, n=n, end_on_last_piece=whole_calls, cancel=prompt.cancelled)


async def fim_completions(request: Request) -> Response:
    begun = await _begin(request, StrictFIMRequest, "completion_fim")
    if isinstance(begun, Response):
        return begun
    body = begun
    shared, knobs = shared_of(request), knobs_of(request)
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
        return engine_busy(busy)
    if not body.get("stream"):
        return await _completion(request, items, prompt_tokens)
    return _streamed(request, items, prompt_tokens, cancel=prompt.cancelled)


async def embeddings(request: Request) -> Response:
    begun = await _begin(request, StrictEmbeddingRequest, "embeddings")
    if isinstance(begun, Response):
        return begun
    body = begun
    shared = shared_of(request)
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
    config = shared_of(request).config
    return JSONResponse({"object": "list", "data": [model_card(model) for model in config.models]})


async def retrieve_model(request: Request) -> Response:
    config = shared_of(request).config
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
    *AUDIO_ROUTES,
    *OCR_ROUTES,
    *MODERATION_ROUTES,
]


# --- Steps every completion takes ----------------------------------------------------------------


async def _begin(request: Request, schema: type[msgspec.Struct], capability: Capability) -> dict[str, Any] | Response:
    """The request's body once faults, the schema and the model are dealt with; else the answer."""
    body = await begin_request(request, schema)
    if isinstance(body, Response):
        return body
    model, config = body["model"], shared_of(request).config
    if not accepts(model, config.models, any_model=config.any_model) or not can(model, capability):
        return error_response(400, f"Invalid model: {model}", "invalid_model", "1500")
    request.state.model = model
    assert isinstance(body, dict)
    return body


def injected_answer(request: Request) -> Response | None:
    """The failure the request's knobs ask for (``x-mock-status``, ``x-mock-html``), if any."""
    shared, knobs = shared_of(request), knobs_of(request)
    if (injected := injected_failure(knobs, shared.failures_by_id)) is not None:
        return injected
    if knobs.html:
        return HTMLResponse(PROXY_ERROR_PAGE)
    return None


async def begin_request(
    request: Request, schema: type[msgspec.Struct], prepare: Callable[[Any], Any] | None = None
) -> dict[str, Any] | Response:
    """The request's body once the injected faults and the schema are dealt with; else the answer.

    ``prepare``: what to do to the decoded body before the schema sees it (spelling out defaults).
    """
    if (injected := injected_answer(request)) is not None:
        return injected
    raw = await request.body()
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        detail = {"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error", "input": {}}
        return JSONResponse({"detail": [{**detail, "ctx": {"error": str(exc)}}]}, status_code=422)
    if prepare is not None and isinstance(body, dict):
        body = prepare(body)
    if problems := schema_problems(body, schema):
        return JSONResponse({"detail": problems}, status_code=422)
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
    delay = first_not_none(knobs_of(request).first_token_delay, shared_of(request).config.first_token_delay)
    if delay > 0:
        await asyncio.sleep(delay)


async def _completion(request: Request, items: Iterator[Item], prompt_tokens: int) -> Response:
    await _first_token_delay(request)
    if is_blocking(shared_of(request).config.engine):
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
    shared, knobs = shared_of(request), knobs_of(request)
    config = shared.config
    stream = AnswerStream(
        items=items,
        chunk_base={
            "id": uuid.uuid4().hex,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": request.state.model,
        },
        prompt_tokens=prompt_tokens,
        faults=knobs.stream,
        first_token_delay=first_not_none(knobs.first_token_delay, config.first_token_delay),
        token_delay=first_not_none(knobs.token_delay, config.token_delay),
        separate_usage=(knobs.usage_chunk or config.usage_chunk) == "separate",
        record=request.state.record,
        recorder=shared.recorder,
        choices=n,
        end_on_last_piece=end_on_last_piece,
        blocking=is_blocking(config.engine),
        cancel=cancel,
    )
    return ClosingStreamingResponse(stream_body(stream))


def is_blocking(engine: Engine) -> bool:
    """A real model computes for milliseconds per token: it must run off the event loop."""
    return bool(getattr(engine, "blocking", False))


def first_not_none(value: float | None, default: float) -> float:
    return default if value is None else value
