"""``client.fim``: fill in the middle (codestral), on the chat machinery: same answer, same chunks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..._config import TimeoutLike
from ..._pipeline.accumulating import StreamResult
from ..._wire.answers import ChatCompletion
from ..._wire.requests import build_fim_body
from ..stream import AsyncChatStream
from ._base import AsyncOnChunk, AsyncResource, Headers, check_on_chunk, collect, decode_completion

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..._wire.requests import FIMParams

__all__ = ["AsyncFim"]

_PATH = "/fim/completions"


class AsyncFim(AsyncResource):
    async def complete(
        self,
        *,
        model: str | None = None,
        prompt: str | None = None,
        timeout: TimeoutLike = None,
        extra_headers: Headers = None,
        **params: Unpack[FIMParams],
    ) -> ChatCompletion:
        """The code between ``prompt`` and ``suffix``, as a ``ChatCompletion`` (``.content``)."""
        body = build_fim_body(model, prompt, params, stream=False, method="fim.complete")
        data, sent = await self.post_json(_PATH, body, timeout, extra_headers, operation="text_completion")
        return decode_completion(data, sent)

    def stream(
        self,
        *,
        model: str | None = None,
        prompt: str | None = None,
        timeout: TimeoutLike = None,
        extra_headers: Headers = None,
        keep_chunks: bool = True,
        **params: Unpack[FIMParams],
    ) -> AsyncChatStream:
        """Stream the completion; the same stream as ``chat.stream`` gives."""
        body = build_fim_body(model, prompt, params, stream=True, method="fim.stream")
        return self.open_stream(_PATH, body, timeout, extra_headers, keep_chunks, operation="text_completion")

    async def stream_collect(
        self,
        *,
        on_chunk: AsyncOnChunk | None = None,
        model: str | None = None,
        prompt: str | None = None,
        timeout: TimeoutLike = None,
        extra_headers: Headers = None,
        **params: Unpack[FIMParams],
    ) -> StreamResult:
        check_on_chunk(on_chunk)
        async with self.stream(
            model=model, prompt=prompt, timeout=timeout, extra_headers=extra_headers, **params
        ) as stream:
            await collect(stream, on_chunk)
        return stream.result
