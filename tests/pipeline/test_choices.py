"""With ``n > 1``, "choice 0" is the choice whose index is 0, wherever it sits in a chunk.

The API interleaves the choices of ``n > 1``: a chunk carries any of them, in any order.  A raw
server sends three choices with index 0 never first, and every view that documents "choice 0" must
follow index 0: ``chunk.content``/``thinking``/``finish_reason``, ``text_stream``, ``buffered``, the
result, and the web relay's ``chunk_event``.  The other choices stay in ``chunk.choices`` and
``result.choices``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from mistral_client import AsyncMistral, Mistral, StreamResult
from mistral_client.web import chunk_event
from tests.support.helpers import HI, MODEL
from tests.support.rawserver import RawConnection, RawServer, sse

USAGE = {"prompt_tokens": 3, "completion_tokens": 6, "total_tokens": 9}


def _choice(index: int, content: str | None = None, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    if content is not None:
        delta["content"] = content
    return {"index": index, "delta": delta, "finish_reason": finish}


def _chunk(*choices: dict[str, Any], usage: bool = False) -> str:
    body: dict[str, Any] = {"id": "n3", "object": "chat.completion.chunk", "created": 1, "model": MODEL}
    body["choices"] = list(choices)
    if usage:
        body["usage"] = USAGE
    return json.dumps(body)


CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}, "index": 0}
CHUNKS = [
    _chunk(_choice(2, "Two")),
    _chunk(_choice(1, "One")),
    _chunk(_choice(0, "Zero")),
    _chunk(_choice(2, " C")),
    _chunk(_choice(1, " B"), _choice(0, " A")),  # index 0 second in its chunk
    _chunk(_choice(1, None, tool_calls=[CALL]), _choice(0, "!")),  # a tool call of choice 1 only
    _chunk(_choice(2, None, "stop"), _choice(1, None, "tool_calls"), _choice(0, None, "length"), usage=True),
]


def _handler(conn: RawConnection) -> None:
    conn.send_head()
    for payload in CHUNKS:
        conn.send_chunk(sse(payload))
    conn.send_chunk(sse("[DONE]"))
    conn.end_body()


def _read(kind: str, base_url: str, how: str) -> tuple[list[Any], StreamResult]:
    """``how``: "chunks", "text_stream" or "buffered"; what that view handed out, and the result."""

    def view(stream: Any) -> Any:
        if how == "chunks":
            return stream
        if how == "text_stream":
            return stream.text_stream
        return stream.buffered(min_chars=1)

    if kind == "sync":
        with Mistral(base_url=base_url) as client, client.chat.stream(model=MODEL, messages=HI, n=3) as stream:
            got = list(view(stream))
        return got, stream.result

    async def main() -> tuple[list[Any], StreamResult]:
        async with AsyncMistral(base_url=base_url) as client, client.chat.stream(model=MODEL, messages=HI, n=3) as s:
            got = [item async for item in view(s)]
        return got, s.result

    return asyncio.run(main())


def test_chunk_content_follows_the_choice_with_index_0(kind: str) -> None:
    with RawServer(_handler) as raw:
        chunks, result = _read(kind, raw.base_url, "chunks")
    assert [c.content for c in chunks] == ["", "", "Zero", "", " A", "!", ""]
    assert [c.finish_reason for c in chunks] == [None] * 6 + ["length"]
    assert [c.thinking for c in chunks] == [""] * 7
    assert result.content == "Zero A!" == "".join(c.content for c in chunks)
    assert result.finish_reason == "length"
    # The other choices are all there, by index.
    assert [len(c.choices) for c in chunks] == [1, 1, 1, 1, 2, 2, 3]
    assert [(choice.index, choice.content, choice.finish_reason) for choice in result.choices] == [
        (0, "Zero A!", "length"),
        (1, "One B", "tool_calls"),
        (2, "Two C", "stop"),
    ]
    assert result.choices[1].tool_calls[0].function.name == "f"
    assert result.tool_calls == []  # choice 0 called nothing


@pytest.mark.parametrize("how", ["text_stream", "buffered"])
def test_text_views_follow_the_choice_with_index_0(kind: str, how: str) -> None:
    with RawServer(_handler) as raw:
        texts, result = _read(kind, raw.base_url, how)
    assert "".join(texts) == "Zero A!" == result.content


def test_the_relays_chunk_event_follows_the_choice_with_index_0(kind: str) -> None:
    with RawServer(_handler) as raw:
        chunks, _ = _read(kind, raw.base_url, "chunks")
    events = [chunk_event(chunk) for chunk in chunks]
    assert events[:2] == [None, None]  # choices 2 and 1 are not relayed
    assert events[2] == {"content": "Zero"}
    assert events[4] == {"content": " A"}
    assert events[5] == {"content": "!"}  # choice 1's tool call is not choice 0's
    assert events[6] == {"finish_reason": "length", "usage": USAGE}
