"""Driving the sync and the async client the same way, so one test body covers both."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from mistral_client import AsyncMistral, ChatCompletion, ChatCompletionChunk, Mistral, StreamResult, user

MODEL = "mistral-small-latest"
HI = [user("Say hello")]


class Runner:
    """Runs one call through the sync or the async client and returns plain results."""

    def __init__(self, kind: str, base_url: str) -> None:
        self.kind = kind
        self.base_url = base_url

    def stream(
        self, client_kw: dict[str, Any] | None = None, request: Any = None, **kw: Any
    ) -> tuple[list[ChatCompletionChunk], StreamResult]:
        """Read a whole stream; ``request`` is passed positionally (a ``ChatCompletionRequest``)."""
        args = (request,) if request is not None else ()
        if request is None:
            kw.setdefault("model", MODEL)
            kw.setdefault("messages", HI)
        client_kw = {"base_url": self.base_url, **(client_kw or {})}
        if self.kind == "sync":
            with Mistral(**client_kw) as client, client.chat.stream(*args, **kw) as stream:
                chunks = list(stream)
            return chunks, stream.result

        async def main() -> tuple[list[ChatCompletionChunk], StreamResult]:
            async with AsyncMistral(**client_kw) as client, client.chat.stream(*args, **kw) as stream:
                chunks = [chunk async for chunk in stream]
            return chunks, stream.result

        return asyncio.run(main())

    def collect(
        self, on_chunk: Callable[[ChatCompletionChunk], Any] | None, client_kw: dict[str, Any] | None = None, **kw: Any
    ) -> StreamResult:
        kw.setdefault("model", MODEL)
        kw.setdefault("messages", HI)
        client_kw = {"base_url": self.base_url, **(client_kw or {})}
        if self.kind == "sync":
            with Mistral(**client_kw) as client:
                return client.chat.stream_collect(on_chunk=on_chunk, **kw)

        async def main() -> StreamResult:
            async with AsyncMistral(**client_kw) as client:
                return await client.chat.stream_collect(on_chunk=on_chunk, **kw)

        return asyncio.run(main())

    def complete(self, client_kw: dict[str, Any] | None = None, **kw: Any) -> ChatCompletion:
        kw.setdefault("model", MODEL)
        kw.setdefault("messages", HI)
        client_kw = {"base_url": self.base_url, **(client_kw or {})}
        if self.kind == "sync":
            with Mistral(**client_kw) as client:
                return client.chat.complete(**kw)

        async def main() -> ChatCompletion:
            async with AsyncMistral(**client_kw) as client:
                return await client.chat.complete(**kw)

        return asyncio.run(main())


def call(kind: str, client_kw: dict[str, Any], method: str, **kw: Any) -> Any:
    """One call by its dotted name (``"embeddings.create"``, ``"fim.stream"``...) on the sync or the
    async client. A stream is read to its end: its chunks, its result and its request id."""
    api, name = method.split(".")
    if kind == "sync":
        with Mistral(**client_kw) as client:
            target = getattr(getattr(client, api), name)
            if name != "stream":
                return target(**kw)
            with target(**kw) as stream:
                return list(stream), stream.result, stream.request_id

    async def main() -> Any:
        async with AsyncMistral(**client_kw) as client:
            target = getattr(getattr(client, api), name)
            if name != "stream":
                return await target(**kw)
            async with target(**kw) as stream:
                return [chunk async for chunk in stream], stream.result, stream.request_id

    return asyncio.run(main())
