"""The clients under test, each behind the same small interface.

``open(headers)`` sends one streaming chat request and returns a ``Handle``: ``items`` iterates what
the client hands its caller (typed chunks, dicts, or raw event bytes for the floor), ``close()`` is
the client's own way to stop a stream early, and ``text(item)`` reads the item's text delta, as a
caller relaying tokens would.  Async clients have the same with ``aclose()`` and async iteration.

- ``ours`` / ``ours-async``: ``mistral_client``, as its README uses it.
- ``httpx2``: the floor, plain httpx2 reading the raw bytes and splitting events on blank lines.
- ``httpx2+json``: the floor plus ``json.loads`` of each event, the least a client can do.
- ``openai`` / ``mistralai``: the official SDKs (extra ``bench``), skipped when not installed.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx2

from bench.wire import MODEL, request_body

MESSAGES = [{"role": "user", "content": "bench"}]
POOL = httpx2.Limits(max_connections=1000, max_keepalive_connections=1000)
SDKS = ("openai", "mistralai")


def installed(name: str) -> bool:
    return name not in SDKS or importlib.util.find_spec(name) is not None


@dataclass
class Handle:
    items: Any  # Iterator or AsyncIterator
    close: Callable[[], Any]


def split_events(reads: Iterable[bytes]) -> Iterator[bytes]:
    """Event bytes from reads of any size: the least work that finds where events end."""
    tail = b""
    for data in reads:
        events = (tail + data if tail else data).split(b"\n\n")
        tail = events.pop()
        yield from events


async def asplit_events(reads: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    tail = b""
    async for data in reads:
        events = (tail + data if tail else data).split(b"\n\n")
        tail = events.pop()
        for event in events:
            yield event


def _json_events(events: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    loads = json.loads
    for event in events:
        if event != b"data: [DONE]":
            yield loads(event[6:])


async def _ajson_events(events: AsyncIterator[bytes]) -> AsyncIterator[dict[str, Any]]:
    loads = json.loads
    async for event in events:
        if event != b"data: [DONE]":
            yield loads(event[6:])


def _dict_text(item: dict[str, Any]) -> str | None:
    choices = item["choices"]
    return choices[0]["delta"].get("content") if choices else None


def _content(chunk: Any) -> Any:
    return chunk.content


def _id(chunk: Any) -> Any:
    return chunk.id


def _nothing(event: bytes) -> None:
    return None


def _dict_id(item: dict[str, Any]) -> Any:
    return item["id"]


def _openai_text(chunk: Any) -> Any:
    return chunk.choices[0].delta.content if chunk.choices else None


def _mistralai_text(event: Any) -> Any:
    return event.data.choices[0].delta.content if event.data.choices else None


def _mistralai_id(event: Any) -> Any:
    return event.data.id


def _id_of_event(event: bytes) -> str:
    start = event.index(b'"id":"') + 6
    return event[start : event.index(b'"', start)].decode()


# --- sync ---


class Ours:
    name = "ours"

    def __init__(self, base: str, http: httpx2.Client | None = None, **options: Any) -> None:
        from mistral_client import Mistral

        self.client = Mistral(api_key="bench", base_url=base, max_retries=0, http_client=http, **options)

    def open(self, headers: dict[str, str]) -> Handle:
        stream = self.client.chat.stream(model=MODEL, messages=MESSAGES, extra_headers=headers)
        stream.__enter__()
        return Handle(iter(stream), stream.close)

    text = staticmethod(_content)
    chunk_id = staticmethod(_id)

    def close(self) -> None:
        self.client.close()


class Httpx2Floor:
    name = "httpx2"
    url_path = "/v1/chat/completions"

    def __init__(self, base: str, http: httpx2.Client | None = None) -> None:
        self.url = base + self.url_path
        self.http = http or httpx2.Client()
        self.body = request_body()

    def _response(self, headers: dict[str, str]) -> httpx2.Response:
        request = self.http.build_request(
            "POST", self.url, content=self.body, headers={"content-type": "application/json", **headers}
        )
        return self.http.send(request, stream=True)

    def open(self, headers: dict[str, str]) -> Handle:
        response = self._response(headers)
        return Handle(split_events(response.iter_raw()), response.close)

    text = staticmethod(_nothing)
    chunk_id = staticmethod(_id_of_event)

    def close(self) -> None:
        self.http.close()


class Httpx2Json(Httpx2Floor):
    name = "httpx2+json"

    def open(self, headers: dict[str, str]) -> Handle:
        response = self._response(headers)
        return Handle(_json_events(split_events(response.iter_raw())), response.close)

    text = staticmethod(_dict_text)
    chunk_id = staticmethod(_dict_id)


class OpenAI:
    name = "openai"

    def __init__(self, base: str, http: httpx2.Client | None = None) -> None:
        import openai

        self.client = openai.OpenAI(api_key="bench", base_url=base + "/v1", max_retries=0, http_client=http)

    def open(self, headers: dict[str, str]) -> Handle:
        stream = self.client.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,
            stream=True,
            extra_headers=headers,  # type: ignore[arg-type]
        )
        return Handle(iter(stream), stream.close)

    text = staticmethod(_openai_text)
    chunk_id = staticmethod(_id)

    def close(self) -> None:
        self.client.close()


class MistralAI:
    name = "mistralai"

    def __init__(self, base: str, http: httpx2.Client | None = None) -> None:
        from mistralai.client import Mistral

        self.client = Mistral(api_key="bench", server_url=base, client=http)

    def open(self, headers: dict[str, str]) -> Handle:
        events = self.client.chat.stream(model=MODEL, messages=MESSAGES, http_headers=headers)  # type: ignore[arg-type]
        return Handle(iter(events), events.close)

    text = staticmethod(_mistralai_text)
    chunk_id = staticmethod(_mistralai_id)

    def close(self) -> None:
        http = self.client.sdk_configuration.client
        if http is not None:
            http.close()


# --- async ---


class AsyncOurs:
    name = "ours-async"
    keep_chunks = True

    def __init__(self, base: str, http: httpx2.AsyncClient | None = None, **options: Any) -> None:
        from mistral_client import AsyncMistral

        self.client = AsyncMistral(api_key="bench", base_url=base, max_retries=0, http_client=http, **options)

    async def open(self, headers: dict[str, str]) -> Handle:
        stream = self.client.chat.stream(
            model=MODEL, messages=MESSAGES, extra_headers=headers, keep_chunks=self.keep_chunks
        )
        await stream.__aenter__()
        return Handle(stream.__aiter__(), stream.aclose)

    text = staticmethod(_content)
    chunk_id = staticmethod(_id)

    async def close(self) -> None:
        await self.client.close()


class AsyncOursRelay(AsyncOurs):
    """What a relay runs: ``keep_chunks=False``, so ``stream.result`` keeps the text but not every chunk."""

    name = "ours-async-relay"
    keep_chunks = False


class AsyncHttpx2Floor:
    name = "httpx2-async"

    def __init__(self, base: str, http: httpx2.AsyncClient | None = None) -> None:
        self.url = base + Httpx2Floor.url_path
        self.http = http or httpx2.AsyncClient()
        self.body = request_body()

    async def _response(self, headers: dict[str, str]) -> httpx2.Response:
        request = self.http.build_request(
            "POST", self.url, content=self.body, headers={"content-type": "application/json", **headers}
        )
        return await self.http.send(request, stream=True)

    async def open(self, headers: dict[str, str]) -> Handle:
        response = await self._response(headers)
        return Handle(asplit_events(response.aiter_raw()), response.aclose)

    text = staticmethod(_nothing)
    chunk_id = staticmethod(_id_of_event)

    async def close(self) -> None:
        await self.http.aclose()


class AsyncHttpx2Json(AsyncHttpx2Floor):
    name = "httpx2+json-async"

    async def open(self, headers: dict[str, str]) -> Handle:
        response = await self._response(headers)
        return Handle(_ajson_events(asplit_events(response.aiter_raw())), response.aclose)

    text = staticmethod(_dict_text)
    chunk_id = staticmethod(_dict_id)


class AsyncOpenAI:
    name = "openai-async"

    def __init__(self, base: str, http: httpx2.AsyncClient | None = None) -> None:
        import openai

        self.client = openai.AsyncOpenAI(api_key="bench", base_url=base + "/v1", max_retries=0, http_client=http)

    async def open(self, headers: dict[str, str]) -> Handle:
        stream = await self.client.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,
            stream=True,
            extra_headers=headers,  # type: ignore[arg-type]
        )
        return Handle(stream.__aiter__(), stream.close)

    text = staticmethod(_openai_text)
    chunk_id = staticmethod(_id)

    async def close(self) -> None:
        await self.client.close()


class AsyncMistralAI:
    name = "mistralai-async"

    def __init__(self, base: str, http: httpx2.AsyncClient | None = None) -> None:
        from mistralai.client import Mistral

        self.client = Mistral(api_key="bench", server_url=base, async_client=http)

    async def open(self, headers: dict[str, str]) -> Handle:
        events = await self.client.chat.stream_async(model=MODEL, messages=MESSAGES, http_headers=headers)  # type: ignore[arg-type]
        return Handle(events.__aiter__(), events.close)

    text = staticmethod(_mistralai_text)
    chunk_id = staticmethod(_mistralai_id)

    async def close(self) -> None:
        http = self.client.sdk_configuration.async_client
        if http is not None:
            await http.aclose()


SYNC = {cls.name: cls for cls in (Ours, Httpx2Floor, Httpx2Json, OpenAI, MistralAI)}
ASYNC = {
    cls.name: cls for cls in (AsyncOurs, AsyncOursRelay, AsyncHttpx2Floor, AsyncHttpx2Json, AsyncOpenAI, AsyncMistralAI)
}
SDK_OF = {"openai": "openai", "openai-async": "openai", "mistralai": "mistralai", "mistralai-async": "mistralai"}


def available(names: Iterable[str]) -> list[str]:
    """The clients among ``names`` whose library is installed."""
    return [name for name in names if installed(SDK_OF.get(name, ""))]
