"""The chat page (``serve --ui``): static files under /ui/ and the relay endpoint the page posts to.

The relay streams from this same server's /v1 API through the client, over loopback, exactly as
an app would relay Mistral's API (``mistral_client.web``): so the page exercises the whole path,
and a Stop in the browser shows up as a disconnect in this server's records.

With an API key, /ui/models and /ui/chat need it like the API does (the server's middleware checks
it; the page asks for it once). Without one, the page answers this machine only: the relay runs the
server's model for whoever can reach the page, so a page open to the network must have a key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib.resources import files
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .._config import is_loopback
from ._errors import error_response
from ._net import base_url

if TYPE_CHECKING:
    from mistral_client import AsyncMistral

    from ._config import ServerConfig

__all__ = ["UI_API_PATHS", "ui_routes"]

UI_API_PATHS = ("/ui/models", "/ui/chat")  # what the page calls: they need the key when there is one

_FILES = {
    "index.html": "text/html; charset=utf-8",
    "chat.js": "text/javascript; charset=utf-8",
    "chat.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
# Defence in depth behind the page's own escaping: no inline script, no foreign origin, no framing.
_PAGE_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "cache-control": "no-cache",
}
_ROLES = ("system", "user", "assistant")
_MAX_MESSAGES = 200
# A long conversation is well under this (a 128k-token context is about 0.5 MB of text); more is abuse.
_MAX_BODY = 2 * 1024 * 1024


def ui_routes(config: ServerConfig) -> list[Route]:
    """The page's routes; the relay calls the server it runs on with ``config.api_key``."""
    assets = {name: files("mistral_client.server").joinpath("ui").joinpath(name).read_bytes() for name in _FILES}
    chat_models = [model for model in config.models if "embed" not in model]
    clients: dict[str, AsyncMistral] = {}

    async def asset(request: Request) -> Response:
        name = request.path_params.get("name") or "index.html"
        if name not in assets:
            return JSONResponse({"message": f"no such file: {name}"}, status_code=404)
        return Response(assets[name], media_type=_FILES[name], headers=_PAGE_HEADERS)

    async def models(request: Request) -> Response:
        return JSONResponse({"models": chat_models})

    async def chat(request: Request) -> Response:
        from mistral_client import AsyncMistral
        from mistral_client.web import EventStreamResponse

        body = await _capped_body(request)
        if body is None:
            message = f"the request body is larger than {_MAX_BODY // (1024 * 1024)} MB: start a new chat"
            return JSONResponse({"message": message}, status_code=413)
        try:
            model, messages = _chat_request(body, chat_models)
        except ValueError as exc:
            return JSONResponse({"message": str(exc)}, status_code=400)
        # The request's x-mock-* headers go on to the API, so a page (or a test) can ask for faults.
        faults = {name: value for name, value in request.headers.items() if name.startswith("x-mock-")}
        base_url = _own_base_url(request)
        client = clients.get(base_url)
        if client is None:
            # One client per address, kept for the server's life: making one costs tens of milliseconds
            # (its TLS context), which every answer's time to first token would otherwise pay.
            client = clients[base_url] = AsyncMistral(base_url=base_url, api_key=config.api_key or "", max_retries=0)
        stream = client.chat.stream(model=model, messages=messages, extra_headers=faults, keep_chunks=False)
        return EventStreamResponse(stream)

    async def to_page(request: Request) -> Response:
        return RedirectResponse("/ui/")

    def guarded(endpoint: Endpoint) -> Endpoint:
        return endpoint if config.api_key else _this_machine_only(endpoint)

    return [
        Route("/", guarded(to_page), methods=["GET"]),
        Route("/ui", guarded(to_page), methods=["GET"]),
        Route("/ui/", guarded(asset), methods=["GET"]),
        Route("/ui/models", guarded(models), methods=["GET"]),
        Route("/ui/chat", guarded(chat), methods=["POST"]),
        Route("/ui/{name}", guarded(asset), methods=["GET"]),
    ]


Endpoint = Callable[[Request], Awaitable[Response]]


def _this_machine_only(endpoint: Endpoint) -> Endpoint:
    async def answer(request: Request) -> Response:
        if request.client is None or not is_loopback(request.client.host):
            message = (
                "The chat page of a server without --api-key answers this machine only: "
                "start serve with --api-key KEY to share it"
            )
            return error_response(403, message, "invalid_request_error", "3001")
        return await endpoint(request)

    return answer


async def _capped_body(request: Request) -> bytes | None:
    """The body, or None when it is over ``_MAX_BODY`` (read no further than that, however it is sent)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > _MAX_BODY:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_BODY:
            return None
    return bytes(body)


def _chat_request(body: bytes, models: list[str]) -> tuple[str, list[dict[str, str]]]:
    """``{"model": ..., "messages": [{"role": ..., "content": ...}]}``; ValueError says what is wrong."""
    try:
        data: Any = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise ValueError("the body must be JSON: {model, messages}") from None
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object: {model, messages}")
    model = data.get("model")
    if model not in models:
        raise ValueError(f"model must be one of {', '.join(models)}; got {model!r}")
    messages = data.get("messages")
    if not isinstance(messages, list) or not 0 < len(messages) <= _MAX_MESSAGES:
        raise ValueError(f"messages must be a list of 1 to {_MAX_MESSAGES} messages")
    for number, message in enumerate(messages):
        if not (
            isinstance(message, dict)
            and set(message) == {"role", "content"}
            and message["role"] in _ROLES
            and isinstance(message["content"], str)
        ):
            raise ValueError(f"messages[{number}] must be {{role: system|user|assistant, content: text}}")
    if messages[-1]["role"] != "user":
        raise ValueError("the last message must be the user's")
    return model, messages


def _own_base_url(request: Request) -> str:
    # The address this connection reached, so the relay works whatever --host and --port were.
    server = request.scope.get("server")
    if not server:
        raise RuntimeError("the ASGI server did not say where it listens")
    host, port = server
    return base_url(host, port)
