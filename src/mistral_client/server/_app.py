"""A Mistral-compatible API for tests and demos: routes, validation, authentication, rate limits, faults.

Shapes follow what the live service sends and the official OpenAPI description. One server serves
a whole test matrix because every behaviour knob can be chosen per request with an ``x-mock-*``
header (the list is ``KNOBS`` in ``_knobs``); ``ServerConfig`` (``_config``) holds the defaults,
which the ``serve`` command's flags set.

Endpoints: ``POST /v1/chat/completions``, ``POST /v1/fim/completions``, ``POST /v1/embeddings``,
``GET /v1/models``, ``GET /v1/models/{id}``. This module wires the app, from the outside in:
``_guard`` (Host and CORS checks), ``_middleware`` (body cap, records, key, knobs, rate limits),
then ``_routes`` (the endpoints; bodies checked by ``_requests``), with ``_errors`` answering
unknown paths and bugs in the API's error envelope.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._batch import BATCH_ROUTES, BatchJobs
from ._config import ServerConfig
from ._errors import routing_error, server_error
from ._files import FILE_ROUTES, FileStore
from ._guard import Guard
from ._limits import RateWindow
from ._middleware import Observed
from ._net import host_name, is_wildcard
from ._records import Recorder
from ._replay import Recording, Replaying
from ._routes import ROUTES
from ._seen import SEEN_ROUTES
from ._state import Shared
from ._stream import hide_injected_disconnects
from ._ui import ui_routes

__all__ = ["create_app"]


def create_app(
    config: ServerConfig | None = None, *, recorder: Recorder | None = None, host: str | None = None
) -> Starlette:
    """The server as an ASGI app; ``host``: the address it listens on, a Host name it answers to."""
    config = config or ServerConfig()
    limit = config.requests_per_minute if config.rate_limit is None else config.rate_limit
    shared = Shared(config, recorder or Recorder(), RateWindow(limit, config.tokens_per_minute))
    logging.getLogger("uvicorn.error").addFilter(hide_injected_disconnects)
    routes, passthrough = [*ROUTES, *(ui_routes(config) if config.ui else [])], False
    routes += FILE_ROUTES  # /v1/files (_files)
    routes += BATCH_ROUTES  # /v1/batch/jobs (_batch)
    routes += SEEN_ROUTES  # /mock/requests: what the server saw, for tests in another process (_seen)
    if config.replay_dir is not None:
        routes, passthrough = [_anything(Replaying(Path(config.replay_dir), config.replay_pace).answer)], True
    elif config.record_dir is not None and config.upstream is not None:
        routes, passthrough = [_anything(Recording(Path(config.record_dir), config.upstream).answer)], True
    app = Starlette(routes=routes, exception_handlers={HTTPException: routing_error, Exception: server_error})
    app.state.shared = shared
    app.state.files = FileStore(config.files_dir)  # /v1/files and the batch jobs' output (_files)
    app.state.file_content = app.state.files.content  # how a route that takes a file_id reads it
    app.state.batch_jobs = BatchJobs()  # /v1/batch/jobs (_batch)
    # Outside the routes, so that every answer (a 404 for an unknown path too) gets the live API's headers.
    app.add_middleware(Observed, shared=shared, passthrough=passthrough)
    # Outermost: a request from the wrong Host or a foreign page is refused before its body is read.
    listening = [host_name(host)] if host and not is_wildcard(host) else []
    app.add_middleware(
        Guard,
        allowed_hosts=[*listening, *map(host_name, config.allowed_hosts)],
        cors_origins=config.cors_origins,
    )
    return app


def _anything(endpoint: Callable[[Request], Awaitable[Response]]) -> Route:
    return Route("/{path:path}", endpoint, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
