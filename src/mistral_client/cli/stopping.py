"""Ctrl-C on ``serve``: the open streams are cancelled at once and end cleanly, and one line says so.

uvicorn alone waits for open streams, then cancels them, and logs each cancellation as "Exception in
ASGI application" with a traceback.  Here the server cancels them itself before it shuts down, and the
app's wrapper ends each cancelled answer the way HTTP allows: a 503 when nothing was sent yet, else
the end of the (chunked) body, so uvicorn has nothing to complain about.  Imported by ``serve`` only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from typing import Any

import uvicorn

__all__ = ["StoppableServer"]

_Scope = dict[str, Any]
_SHUTTING_DOWN = json.dumps(
    {"object": "error", "message": "the server is shutting down", "type": "service_unavailable", "code": "3000"}
).encode()


class _EndOnStop:
    """The app, with each request's task known, and a cancelled request ended instead of raised."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.stopping = False
        self.open: set[asyncio.Task[Any]] = set()

    async def __call__(self, scope: _Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        task = asyncio.current_task()
        assert task is not None
        started = ended = False

        async def tracked(message: dict[str, Any]) -> None:
            nonlocal started, ended
            started = started or message["type"] == "http.response.start"
            ended = ended or (message["type"] == "http.response.body" and not message.get("more_body", False))
            await send(message)

        self.open.add(task)
        try:
            await self.app(scope, receive, tracked)
        except asyncio.CancelledError:
            if not self.stopping:
                raise
            if not started:
                headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
                await send({"type": "http.response.start", "status": 503, "headers": headers})
                await send({"type": "http.response.body", "body": _SHUTTING_DOWN})
            elif not ended:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.open.discard(task)


class StoppableServer(uvicorn.Server):
    """uvicorn's server; on Ctrl-C it cancels the open requests at once, and counts them in ``cancelled``."""

    def __init__(self, config: uvicorn.Config) -> None:
        self.wrapper = _EndOnStop(config.app)
        config.app = self.wrapper
        super().__init__(config)
        self.cancelled = 0
        # Its start and stop lines would repeat ours: serve prints its own, and keeps the access log.
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.wrapper.stopping = True
        tasks = [task for task in self.wrapper.open if not task.done()]
        self.cancelled = len(tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self.config.timeout_graceful_shutdown)
        await super().shutdown(sockets)
