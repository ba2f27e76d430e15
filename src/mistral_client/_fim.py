"""``client.fim``: fill in the middle (codestral), on the chat machinery: same answer, same chunks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._chat import (
    AsyncOnChunk,
    Headers,
    OnChunk,
    acollect,
    acomplete_request,
    aopen_stream,
    check_on_chunk,
    collect,
    complete_request,
    decode_completion,
    open_stream,
)
from ._config import TimeoutLike
from ._models import ChatCompletion
from ._request import build_fim_body
from ._result import StreamResult
from ._streaming import AsyncChatStream, ChatStream

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._client import AsyncMistral, Mistral
    from ._request import FIMParams

__all__ = ["AsyncFim", "Fim"]

_PATH = "/fim/completions"


class Fim:
    def __init__(self, client: Mistral) -> None:
        self._client = client

    def complete(
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
        data, sent = complete_request(self._client, _PATH, body, timeout, extra_headers)
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
    ) -> ChatStream:
        """Stream the completion; the same ``ChatStream`` as ``chat.stream`` gives."""
        body = build_fim_body(model, prompt, params, stream=True, method="fim.stream")
        return open_stream(self._client, _PATH, body, timeout, extra_headers, keep_chunks)

    def stream_collect(
        self,
        *,
        on_chunk: OnChunk | None = None,
        model: str | None = None,
        prompt: str | None = None,
        timeout: TimeoutLike = None,
        extra_headers: Headers = None,
        **params: Unpack[FIMParams],
    ) -> StreamResult:
        check_on_chunk(on_chunk)
        with self.stream(model=model, prompt=prompt, timeout=timeout, extra_headers=extra_headers, **params) as stream:
            collect(stream, on_chunk)
        return stream.result


class AsyncFim:
    def __init__(self, client: AsyncMistral) -> None:
        self._client = client

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
        data, sent = await acomplete_request(self._client, _PATH, body, timeout, extra_headers)
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
        body = build_fim_body(model, prompt, params, stream=True, method="fim.stream")
        return aopen_stream(self._client, _PATH, body, timeout, extra_headers, keep_chunks)

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
            await acollect(stream, on_chunk)
        return stream.result
