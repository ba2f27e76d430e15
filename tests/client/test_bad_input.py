"""Wrong calls: each gets an immediate error naming the problem, before anything is sent.

"Before anything is sent" is checked on the server: it recorded no request.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any

import pytest

from mistral_client import (
    AsyncMistral,
    ChatCompletionChunk,
    ChatCompletionRequest,
    InvalidRequestError,
    Mistral,
    NotFoundError,
    StreamConsumedError,
    SyncClientInAsyncError,
    Timeout,
    user,
)
from mistral_client.server import LocalServer
from tests.support.helpers import HI, MODEL, Runner, call
from tests.support.leaks import assert_no_open_sockets, pool_states

# kwargs of chat.stream / chat.complete, the exception, and words its message must contain.
WRONG_CALLS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("unknown keyword", {"temprature": 0.5}, TypeError, "unexpected keyword argument 'temprature'"),
    ("unknown keyword, a hint", {"max_token": 5}, TypeError, "did you mean 'max_tokens'"),
    ("unknown keyword, no hint", {"colour": "blue"}, TypeError, "'colour'"),
    ("no model", {"model": None}, InvalidRequestError, "needs model="),
    ("empty model", {"model": ""}, InvalidRequestError, "model"),
    ("model not a str", {"model": 5}, InvalidRequestError, "model"),
    ("no messages", {"messages": None}, InvalidRequestError, "needs messages="),
    ("messages a str", {"messages": "hello"}, InvalidRequestError, "messages"),
    ("messages one dict", {"messages": {"role": "user", "content": "hi"}}, InvalidRequestError, "messages"),
    ("messages a generator", {"messages": (m for m in HI)}, InvalidRequestError, "messages"),
    ("messages empty", {"messages": []}, InvalidRequestError, "empty"),
    ("message a str", {"messages": ["hello"]}, InvalidRequestError, "messages[0]"),
    ("message without role", {"messages": [{"content": "hi"}]}, InvalidRequestError, "role"),
    ("unknown role", {"messages": [{"role": "robot", "content": "hi"}]}, InvalidRequestError, "role"),
    ("unknown message field", {"messages": [{"role": "user", "content": "x", "nme": 1}]}, InvalidRequestError, "nme"),
    ("content a number", {"messages": [{"role": "user", "content": 5}]}, InvalidRequestError, "messages[0].content"),
    ("second message bad", {"messages": [*HI, {"role": "user"}]}, InvalidRequestError, "messages[1]"),
    ("temperature a str", {"temperature": "hot"}, InvalidRequestError, "temperature"),
    ("temperature too high", {"temperature": 3}, InvalidRequestError, "temperature"),
    ("temperature nan", {"temperature": float("nan")}, InvalidRequestError, "temperature"),
    ("top_p zero", {"top_p": 0}, InvalidRequestError, "top_p"),
    ("max_tokens negative", {"max_tokens": -1}, InvalidRequestError, "max_tokens"),
    ("max_tokens a float", {"max_tokens": 1.5}, InvalidRequestError, "max_tokens"),
    ("n zero", {"n": 0}, InvalidRequestError, "$.n"),
    ("stop a number", {"stop": 5}, InvalidRequestError, "stop"),
    ("random_seed negative", {"random_seed": -1}, InvalidRequestError, "random_seed"),
    ("tools a str", {"tools": "search"}, InvalidRequestError, "tools"),
    ("tool_choice unknown", {"tool_choice": "sometimes"}, InvalidRequestError, "tool_choice"),
    ("metadata a list", {"metadata": [1]}, InvalidRequestError, "metadata"),
    ("timeout a str", {"timeout": "slow"}, InvalidRequestError, "timeout"),
    ("timeout negative", {"timeout": -1}, InvalidRequestError, "Timeout.total"),
    ("extra_headers a str", {"extra_headers": "x-a: b"}, InvalidRequestError, "extra_headers"),
    ("extra_headers value an int", {"extra_headers": {"x-a": 1}}, InvalidRequestError, "extra_headers['x-a']"),
    # Header values are refused before h11 or an ASCII encoder sees (and quotes) them.
    ("header value, newline", {"extra_headers": {"x-a": "v\n"}}, InvalidRequestError, "['x-a']: the value"),
    ("header value, CRLF", {"extra_headers": {"x-a": "v\r\nX-Evil: 1"}}, InvalidRequestError, "a line break at"),
    ("header value, non-ASCII", {"extra_headers": {"x-a": "caf\u00e9"}}, InvalidRequestError, "a non-ASCII char"),
    ("header value, NUL", {"extra_headers": {"x-a": "a\x00b"}}, InvalidRequestError, "a control character"),
    ("header value, DEL", {"extra_headers": {"x-a": "a\x7fb"}}, InvalidRequestError, "a control character"),
    ("header value, surrogate", {"extra_headers": {"x-a": "\ud800"}}, InvalidRequestError, "a non-ASCII char"),
    ("header value, padded", {"extra_headers": {"x-a": " v"}}, InvalidRequestError, "starts or ends with a space"),
    ("header name, space", {"extra_headers": {"x a": "v"}}, InvalidRequestError, "name 'x'... has a space at"),
    ("header name, colon", {"extra_headers": {"x-a: v": ""}}, InvalidRequestError, "name 'x-a'... has ':' at"),
    ("header name, newline", {"extra_headers": {"\nx": "v"}}, InvalidRequestError, "a header name has a line"),
    ("header name, empty", {"extra_headers": {"": "v"}}, InvalidRequestError, "a header name is empty"),
    ("header name, non-ASCII", {"extra_headers": {"x-\u00e9": "v"}}, InvalidRequestError, "a non-ASCII char"),
    # Text that has no UTF-8 form (a lone surrogate) is refused naming the field, not a UnicodeEncodeError.
    ("surrogate in content", {"messages": [user("\ud800")]}, InvalidRequestError, "messages[0].content, at pos"),
    (
        "surrogate in a content part",
        {"messages": [*HI, {"role": "user", "content": [{"type": "text", "text": "ok \udfff"}]}]},
        InvalidRequestError,
        "messages[1].content[0].text, at position 3,",
    ),
    (
        "surrogate in tool arguments",
        {"messages": [*HI, {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "\ud83d"}}]}]},
        InvalidRequestError,
        "messages[1].tool_calls[0].function.arguments",
    ),
    ("surrogate in the model", {"model": "mistral\udc80"}, InvalidRequestError, "model, at position 7,"),
    ("surrogate in stop", {"stop": ["END", "\ud800"]}, InvalidRequestError, "stop[1]"),
    (
        "surrogate in a tool name",
        {"tools": [{"type": "function", "function": {"name": "f\ud800", "parameters": {}}}]},
        InvalidRequestError,
        "tools[0].function.name",
    ),
    ("surrogate in a metadata key", {"metadata": {"k\ud800": "v"}}, InvalidRequestError, "a key of metadata has"),
]


@pytest.mark.parametrize(("name", "kwargs", "exc", "words"), WRONG_CALLS, ids=[case[0] for case in WRONG_CALLS])
@pytest.mark.parametrize("method", ["stream", "complete"])
def test_wrong_call_fails_before_sending(
    run: Runner,
    server: LocalServer,
    method: str,
    name: str,
    kwargs: dict[str, Any],
    exc: type[Exception],
    words: str,
) -> None:
    with pytest.raises(exc) as info:
        run.stream(**kwargs) if method == "stream" else run.complete(**kwargs)
    assert words in str(info.value)
    assert server.requests == []


FIM_AND_EMBEDDINGS: list[tuple[str, dict[str, Any], str]] = [
    (
        "fim.complete",
        {"model": "codestral-latest", "prompt": "def f():\ud800"},
        "fim.complete(): prompt, at position 8,",
    ),
    ("fim.stream", {"model": "codestral-latest", "prompt": "x", "suffix": "\udc00"}, "fim.stream(): suffix"),
    ("embeddings.create", {"model": "mistral-embed", "input": ["ok", "\ud800"]}, "embeddings.create(): input[1]"),
    ("fim.complete", {"model": "codestral-latest", "prompt": "x", "extra_headers": {"x-a": "\n"}}, "['x-a']"),
    ("embeddings.create", {"model": "mistral-embed", "input": "x", "extra_headers": {"x-a": "\n"}}, "['x-a']"),
    ("models.retrieve", {"model_id": ""}, "model_id must be a model id such as"),
    ("models.retrieve", {"model_id": "x\ud800"}, "model_id has a character with no UTF-8 form"),
]


@pytest.mark.parametrize(
    ("method", "kwargs", "words"), FIM_AND_EMBEDDINGS, ids=[case[2] for case in FIM_AND_EMBEDDINGS]
)
def test_fim_and_embeddings_refuse_what_cannot_be_sent(
    kind: str, server: LocalServer, method: str, kwargs: dict[str, Any], words: str
) -> None:
    api, name = method.split(".")
    if kind == "sync":
        with Mistral(base_url=server.base_url) as client, pytest.raises(InvalidRequestError) as info:
            result = getattr(getattr(client, api), name)(**kwargs)
            if name == "stream":
                result.__enter__()
    else:

        async def main() -> pytest.ExceptionInfo[InvalidRequestError]:
            async with AsyncMistral(base_url=server.base_url) as client:
                with pytest.raises(InvalidRequestError) as info:
                    result = getattr(getattr(client, api), name)(**kwargs)
                    await (result.__aenter__() if name == "stream" else result)
                return info

        info = asyncio.run(main())
    assert words in str(info.value)
    assert server.requests == []


@pytest.mark.parametrize(
    ("request_", "kwargs", "words"),
    [
        ({"model": MODEL, "messages": HI}, {}, "takes a ChatCompletionRequest"),
        (ChatCompletionRequest(model=MODEL, messages=HI), {"temperature": 0.1}, "not both"),
        (ChatCompletionRequest(model=MODEL, messages=[{"role": "user"}]), {}, "messages[0]"),
    ],
)
def test_wrong_positional_request(
    run: Runner, server: LocalServer, request_: Any, kwargs: dict[str, Any], words: str
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        run.stream(request=request_, **kwargs)
    assert words in str(info.value)
    assert server.requests == []


@pytest.mark.parametrize(
    ("client_kw", "words"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"timeout": "slow"}, "timeout"),
        ({"timeout": 0}, "Timeout.total"),
        ({"base_url": "ftp://example.com"}, "base_url"),
        ({"base_url": "localhost:8000"}, "base_url"),
        ({"base_url": "http://127.0.0.1:1/\ud800"}, "base_url"),
        ({"base_url": "http://exa\ud800mple.com"}, "base_url"),
        ({"base_url": "http://127.0.0.1:1/a\x00b"}, "base_url"),
        ({"api_key": b"sk-key"}, "api_key must be a str, got bytes"),
    ],
)
def test_wrong_client_options(kind: str, client_kw: dict[str, Any], words: str) -> None:
    cls = Mistral if kind == "sync" else AsyncMistral
    with pytest.raises(InvalidRequestError) as info:
        cls(**{"base_url": "http://127.0.0.1:1", **client_kw})
    assert words in str(info.value)


@pytest.mark.parametrize("field", ["connect", "read", "total"])
@pytest.mark.parametrize("value", [0, -1, "5", True])
def test_wrong_timeout_values(field: str, value: Any) -> None:
    with pytest.raises(InvalidRequestError, match=f"Timeout.{field} must be a positive number"):
        Timeout(**{field: value})


def test_on_chunk_that_is_not_callable(run: Runner, server: LocalServer) -> None:
    with pytest.raises(InvalidRequestError, match="on_chunk must be a callable"):
        run.collect("print")  # type: ignore[arg-type]
    assert server.requests == []


# --- on_chunk raising: the same exception, and the connection closed -----------------------------------


class Boom(Exception):
    pass


@pytest.mark.parametrize("callback", ["sync client", "async client, plain", "async client, coroutine"])
def test_on_chunk_that_raises(server: LocalServer, callback: str) -> None:
    boom = Boom("from the callback")
    seen: list[ChatCompletionChunk] = []

    def plain(chunk: ChatCompletionChunk) -> None:
        seen.append(chunk)
        if len(seen) == 3:
            raise boom

    async def coroutine(chunk: ChatCompletionChunk) -> None:
        plain(chunk)

    slow = {"x-mock-tokens": "300", "x-mock-token-delay": "0.01"}
    if callback == "sync client":
        client = Mistral(base_url=server.base_url)
        with pytest.raises(Boom) as info:
            client.chat.stream_collect(on_chunk=plain, model=MODEL, messages=HI, extra_headers=slow)
        pool = pool_states(client)
        client.close()
    else:

        async def main() -> tuple[list[str], pytest.ExceptionInfo[Boom]]:
            async with AsyncMistral(base_url=server.base_url) as client:
                on_chunk = plain if callback.endswith("plain") else coroutine
                with pytest.raises(Boom) as info:
                    await client.chat.stream_collect(on_chunk=on_chunk, model=MODEL, messages=HI, extra_headers=slow)
                return pool_states(client), info

        pool, info = asyncio.run(main())
    assert info.value is boom  # unchanged: not wrapped
    assert info.value.__cause__ is None
    assert len(seen) == 3
    assert server.wait_for_disconnect(5).chunks_sent < 300  # the server saw the stream stop
    assert "active" not in pool and "idle" not in pool  # the cut connection is not reused
    assert len(server.requests) == 1
    assert_no_open_sockets(server.port, [r.client[1] for r in server.requests if r.client])


# --- streams are read once ------------------------------------------------------------------------------


def test_sync_stream_read_once(server: LocalServer) -> None:
    with Mistral(base_url=server.base_url) as client:
        stream = client.chat.stream(model=MODEL, messages=HI)
        stream.close()  # closed before it started: nothing is ever sent
        with pytest.raises(StreamConsumedError, match="read once"):
            list(stream)
        assert server.requests == []

        with client.chat.stream(model=MODEL, messages=HI) as stream:
            first = list(stream)
        assert first and stream.result.finish_reason == "stop"
        for again in (list, lambda s: list(s.text_stream)):
            with pytest.raises(StreamConsumedError, match=r"call chat\.stream\(\) again"):
                again(stream)
        assert stream.result.chunk_count == len(first)  # unchanged by the failed attempts
        # Asking for the result of a stream that ended is no second read: it is the result.
        assert stream.until_done() is stream.result and stream.get_final_completion().content == stream.result.content

        with client.chat.stream(model=MODEL, messages=HI) as stream:
            next(iter(stream))
        with pytest.raises(StreamConsumedError):  # left the with block half-read: closed
            list(stream)
    assert len(server.requests) == 2


async def test_async_stream_read_once(server: LocalServer) -> None:
    async with AsyncMistral(base_url=server.base_url) as client:
        stream = client.chat.stream(model=MODEL, messages=HI)
        await stream.aclose()
        with pytest.raises(StreamConsumedError, match="read once"):
            [chunk async for chunk in stream]
        assert server.requests == []

        async with client.chat.stream(model=MODEL, messages=HI) as stream:
            first = [chunk async for chunk in stream]
        with pytest.raises(StreamConsumedError):
            [chunk async for chunk in stream]
        assert await stream.until_done() is stream.result  # the result of an ended stream, not a second read
        assert stream.result.chunk_count == len(first)

        async with client.chat.stream(model=MODEL, messages=HI) as stream:
            await stream.__anext__()
        with pytest.raises(StreamConsumedError):
            [chunk async for chunk in stream]
    assert len(server.requests) == 2


# --- the sync client inside an event loop ---------------------------------------------------------------


async def test_sync_client_inside_a_running_loop(server: LocalServer) -> None:
    with Mistral(base_url=server.base_url) as client:
        calls = {
            "complete": lambda: client.chat.complete(model=MODEL, messages=HI),
            "stream": lambda: client.chat.stream(model=MODEL, messages=HI).__enter__(),
            "iterate": lambda: list(client.chat.stream(model=MODEL, messages=HI)),
            "stream_collect": lambda: client.chat.stream_collect(model=MODEL, messages=HI),
            "models.list": lambda: client.models.list(),
        }
        for name, call in calls.items():
            with pytest.raises(SyncClientInAsyncError) as info:
                call()
            message = str(info.value)
            assert "AsyncMistral" in message and "asyncio.to_thread" in message, name
            assert isinstance(info.value, RuntimeError)
    assert server.requests == []


async def test_sync_client_from_a_worker_thread_is_fine(server: LocalServer) -> None:
    # The usual way to call blocking code from async code: no loop runs in the worker thread.
    with Mistral(base_url=server.base_url) as client:
        answer = await asyncio.to_thread(client.chat.complete, model=MODEL, messages=HI)
        result = await asyncio.to_thread(client.chat.stream_collect, model=MODEL, messages=HI)
    assert answer.choices[0].message.content == result.content
    assert len(server.requests) == 2


def test_sync_client_in_a_thread_while_another_thread_runs_a_loop(server: LocalServer) -> None:
    loop = asyncio.new_event_loop()
    loop_running = threading.Event()
    loop.call_soon(loop_running.set)
    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    try:
        assert loop_running.wait(5)
        with Mistral(base_url=server.base_url) as client:
            assert client.chat.complete(model=MODEL, messages=[user("Hi")]).choices
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


async def test_a_notebook_kernel_may_block_its_loop(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Jupyter runs each cell inside the kernel's event loop; the sync client is what notebooks use.
    monkeypatch.setitem(sys.modules, "ipykernel", type(sys)("ipykernel"))
    with Mistral(base_url=server.base_url) as client:
        assert client.chat.complete(model=MODEL, messages=HI).choices
    assert len(server.requests) == 1


@pytest.mark.parametrize("model_id", ["a/b", "../chat/completions", "ft:open-mistral-7b:587a6b29:20240514:7e773925"])
def test_a_model_id_stays_one_segment_of_the_path(kind: str, server: LocalServer, model_id: str) -> None:
    # An id is escaped into the URL: it can name no other route ("../chat/completions" is no path).
    with pytest.raises(NotFoundError) as info:
        call(kind, {"base_url": server.base_url, "max_retries": 0}, "models.retrieve", model_id=model_id)
    assert info.value.request is not None
    escaped = model_id.replace("/", "%2F")  # a fine-tuned id's colons stay as they are
    assert info.value.request.url.raw_path == f"/v1/models/{escaped}".encode()
    assert [request.method for request in server.requests] == ["GET"]
