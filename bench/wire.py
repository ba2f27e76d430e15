"""The bytes every client reads: chat streams in the 2026 wire format, and their HTTP framing.

Chunk events are shaped as the live API sends them: a role chunk, content chunks of one to three words (some of them
non-ASCII), a last chunk with ``finish_reason`` and ``usage``, then ``[DONE]``; every chunk after the
first carries the random-length ``p`` padding.  Streams are built from a fixed seed, so the server
sends the same bytes to every client in a run, and from one run to the next.
"""

from __future__ import annotations

import json
import random
import string

WORDS = [
    " the", " of", " and", " to", " a", " in", " is", " that", " for", " it", " as", " with", " on",
    " stream", " event", " token", " model", " Mistral", " Paris", " réponse", " café", " naïve",
    " —", " 😀", " 中文", " données", "\n", ",", ".", " «", "»", " 1", "2", "3",
]  # fmt: skip
PAD_ALPHABET = string.ascii_letters + string.digits
MODEL = "mistral-small-latest"
HTTP_CHUNK = 64 * 1024  # the largest HTTP chunk of a body written in one go, as our LocalServer writes


def chunk_events(n: int, seed: int = 0, stream_id: str | None = None) -> list[bytes]:
    """``n`` chunk events (``data: {...}\\n\\n``), then ``data: [DONE]\\n\\n``: ``n + 1`` events."""
    if n < 2:
        raise ValueError("a stream has at least the role chunk and the last chunk")
    rng = random.Random(seed)
    if stream_id is None:
        stream_id = "".join(rng.choices("0123456789abcdef", k=32))
    head = {"id": stream_id, "object": "chat.completion.chunk", "created": 1787865810, "model": MODEL}
    events = []
    for i in range(n):
        chunk: dict[str, object]
        if i == 0:
            chunk = {
                **head,
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
            }
        elif i == n - 1:
            chunk = {**head, "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "stop"}]}
            chunk["usage"] = {"prompt_tokens": 19, "total_tokens": 19 + n - 2, "completion_tokens": n - 2}
        else:
            content = "".join(rng.choices(WORDS, k=rng.randint(1, 3)))
            chunk = {**head, "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
        if i:
            chunk["p"] = "".join(rng.choices(PAD_ALPHABET, k=rng.randint(4, 64)))
        body = json.dumps(chunk, ensure_ascii=False, separators=(",", ":")).encode()
        events.append(b"data: " + body + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events


def http_chunk(data: bytes) -> bytes:
    """One piece of a ``Transfer-Encoding: chunked`` body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


END_OF_BODY = b"0\r\n\r\n"


def bulk_body(events: list[bytes]) -> bytes:
    """The whole chunked body, events packed into HTTP chunks of up to 64 KiB (one write)."""
    pieces, size, out = [], 0, []
    for event in events:
        pieces.append(event)
        size += len(event)
        if size >= HTTP_CHUNK:
            out.append(http_chunk(b"".join(pieces)))
            pieces, size = [], 0
    if pieces:
        out.append(http_chunk(b"".join(pieces)))
    out.append(END_OF_BODY)
    return b"".join(out)


def large_event(size: int) -> bytes:
    """One chunk event whose ``data:`` line is exactly ``size`` bytes (its content fills it), then a blank line."""
    head = f'data: {{"id":"big","object":"chat.completion.chunk","created":1,"model":"{MODEL}",'
    head += '"choices":[{"index":0,"delta":{"content":"'
    tail = '"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}'
    filler = size - len(head) - len(tail)
    if filler < 0:
        raise ValueError(f"an event of {size} bytes is too small for a chunk")
    text = ("lorem ipsum dolor sit amet " * (filler // 27 + 1))[:filler]
    return (head + text + tail).encode() + b"\n\n"


def request_body(model: str = MODEL) -> bytes:
    return json.dumps({"model": model, "messages": [{"role": "user", "content": "bench"}], "stream": True}).encode()
