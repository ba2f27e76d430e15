"""Every real answer recorded from the live Mistral API decodes right, through both clients.

``../shared/captures`` (or ``$MISTRAL_CAPTURES``) holds one folder per recorded answer: the body as
it came (``response.body``) and ``meta.json`` (status, content type, headers, endpoint, whether the
request streamed, and where it was recorded). Each folder is replayed by a raw socket server, its
body cut into small random pieces (seeded by the folder's name), to the sync and the async client.
A new folder is picked up as it is: the tests are parametrized by listing the directory.

What each answer must decode to is computed here from the raw bytes, by a plain reading of the
format (SSE events split on blank lines, ``json.loads``), not by the client's code: text, reasoning,
tool calls, finish reason, usage and ids; for errors, the exception class, status, type, code,
message, request id and the 422 field list.

Folders whose ``meta.json`` says ``"body_exact": false`` were rebuilt from a test file, an issue or
a re-serialised cassette: the values are real but the bytes may not be the wire's. They are decoded
and checked the same way; the only difference is that they prove nothing about framing the live
service would send, so no test here relies on their exact bytes beyond what they contain.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from mistral_client import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ChatCompletion,
    ChatCompletionChunk,
    EmbeddingResponse,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    StreamResult,
    UnprocessableEntityError,
    user,
)
from tests.support.helpers import call
from tests.support.rawserver import RawConnection, RawServer
from tests.support.shared import shared_path, unavailable

CAPTURES = shared_path("MISTRAL_CAPTURES", "captures")
NOT_HERE = "(no captures)"


def _names() -> list[str]:
    if not CAPTURES.is_dir():
        return [NOT_HERE]
    return sorted(entry.name for entry in CAPTURES.iterdir() if (entry / "meta.json").is_file())


@dataclass
class Capture:
    name: str
    meta: dict[str, Any]
    body: bytes
    request: dict[str, Any] | None

    @classmethod
    def load(cls, name: str) -> Capture:
        if name == NOT_HERE:
            unavailable(f"the recorded live answers are not here ({CAPTURES}); set MISTRAL_CAPTURES")
        folder = CAPTURES / name
        request = folder / "request.json"
        return cls(
            name=name,
            meta=json.loads((folder / "meta.json").read_text(encoding="utf-8")),
            body=(folder / "response.body").read_bytes(),
            request=json.loads(request.read_text(encoding="utf-8")) if request.is_file() else None,
        )

    @property
    def endpoint(self) -> str:
        return str(self.meta["endpoint"])

    @property
    def streams(self) -> bool:
        """The request asked for a stream (so the client opens one, whatever came back)."""
        return bool(self.meta.get("request_stream", self.meta.get("stream", False)))

    @property
    def request_id(self) -> str | None:
        headers = {name.lower(): value for name, value in self.meta.get("headers", {}).items()}
        return headers.get("mistral-correlation-id")


# --- What the bytes say, read plainly -------------------------------------------------------------


def sse_data(body: bytes) -> list[str]:
    """The data of each event: lines split on any line ending, events on blank lines."""
    events: list[str] = []
    lines: list[str] = []
    for line in body.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line:
            if lines:
                events.append("\n".join(lines))
                lines = []
        elif line.startswith("data:"):
            value = line[5:]
            lines.append(value[1:] if value.startswith(" ") else value)
    if lines:  # the body ended inside an event (a recorded "data: [DONE]" without its blank line)
        events.append("\n".join(lines))
    return events


def text_in(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text") or "" for part in content or [] if part.get("type") == "text")


def thinking_in(content: Any) -> str:
    if isinstance(content, str):
        return ""
    return "".join(text_in(part.get("thinking")) for part in content or [] if part.get("type") == "thinking")


def arguments_of(function: dict[str, Any]) -> str:
    arguments = function.get("arguments") or ""
    return arguments if isinstance(arguments, str) else json.dumps(arguments, separators=(",", ":"))


@dataclass
class Choice:
    content: str = ""
    thinking: str = ""
    finish_reason: str | None = None
    calls: dict[int, list[Any]] = field(default_factory=dict)  # index -> [id, name, arguments]

    @property
    def tool_calls(self) -> list[tuple[str | None, str, str]]:
        return [(id_, name, arguments) for id_, name, arguments in self.calls.values()]


@dataclass
class Answer:
    """What a 200 answer carries, stream or not."""

    id: str
    model: str
    created: int | None
    usage: tuple[int, int, int] | None
    choices: dict[int, Choice]
    events: int = 0  # JSON events of a stream

    @property
    def first(self) -> Choice:
        return self.choices.get(0, Choice())


def usage_of(value: Any) -> tuple[int, int, int] | None:
    if not isinstance(value, dict):
        return None
    return (value.get("prompt_tokens") or 0, value.get("completion_tokens") or 0, value.get("total_tokens") or 0)


def read_stream(body: bytes) -> Answer:
    chunks = []
    for data in sse_data(body):
        if data.strip() == "[DONE]":
            break
        chunks.append(json.loads(data))
    first = chunks[0]
    answer = Answer(first["id"], first["model"], first.get("created"), None, {}, events=len(chunks))
    for chunk in chunks:
        if chunk.get("usage") is not None:
            answer.usage = usage_of(chunk["usage"])
        for choice in chunk.get("choices") or []:
            got = answer.choices.setdefault(choice.get("index") or 0, Choice())
            delta = choice.get("delta") or {}
            got.content += text_in(delta.get("content"))
            got.thinking += thinking_in(delta.get("content"))
            for piece in delta.get("tool_calls") or []:
                # Pieces of one call share its index; a call without one is whole and comes next.
                index = piece["index"] if piece.get("index") is not None else len(got.calls)
                known = got.calls.setdefault(index, [None, "", ""])
                function = piece.get("function") or {}
                known[0] = piece.get("id") or known[0]
                known[1] = function.get("name") or known[1]
                known[2] += arguments_of(function)
            if choice.get("finish_reason") is not None:
                got.finish_reason = choice["finish_reason"]
    return answer


def read_completion(body: bytes) -> Answer:
    whole = json.loads(body)
    answer = Answer(whole["id"], whole["model"], whole.get("created"), usage_of(whole.get("usage")), {})
    for choice in whole["choices"]:
        message = choice.get("message") or {}
        calls = {
            index: [call.get("id"), call["function"].get("name") or "", arguments_of(call["function"])]
            for index, call in enumerate(message.get("tool_calls") or [])
        }
        answer.choices[choice.get("index") or 0] = Choice(
            text_in(message.get("content")), thinking_in(message.get("content")), choice.get("finish_reason"), calls
        )
    return answer


def field_errors(detail: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc'] if part != 'body')}: {item['msg']}" for item in detail
    )


def read_error(body: bytes) -> tuple[str, str | None, str | None, list[Any]]:
    """Message, type, code and the 422 field list of an error body."""
    whole = json.loads(body)
    message = whole.get("message")
    if isinstance(message, str) and message.startswith("{"):
        message = json.loads(message)  # a proxy sent the whole error again, as a string
    detail = message.get("detail") if isinstance(message, dict) else whole.get("detail")
    if isinstance(detail, list):
        text = field_errors(detail)
    else:
        text, detail = (message if isinstance(message, str) else detail), []
    code = whole.get("code")
    return text, whole.get("type"), None if code is None else str(code), detail


ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


# --- The replay -----------------------------------------------------------------------------------


def pieces(body: bytes, seed: str) -> Iterator[bytes]:
    rng = random.Random(seed)
    at = 0
    while at < len(body):
        size = rng.randint(1, 24)
        yield body[at : at + size]
        at += size


def replay(capture: Capture, seed: str) -> RawServer:
    extra = "".join(f"{name}: {value}\r\n" for name, value in capture.meta.get("headers", {}).items())

    def handler(conn: RawConnection) -> None:
        assert conn.request.path == capture.endpoint, conn.request.path
        conn.send_head(int(capture.meta["status"]), str(capture.meta["content_type"]), extra)
        for piece in pieces(capture.body, seed):
            conn.send_chunk(piece)
        conn.end_body()

    return RawServer(handler)


def ask(kind: str, base_url: str, capture: Capture) -> Any:
    """Ask the way the capture's request did: a stream (its chunks, result and request id) or a whole answer."""
    model = (capture.request or {}).get("model") or "mistral-small-latest"
    options = {"base_url": base_url, "max_retries": 0, "timeout": 10}
    if capture.endpoint.endswith("/embeddings"):
        return call(kind, options, "embeddings.create", model=model, input=["Hello"])
    if capture.endpoint.endswith("/fim/completions"):
        return call(kind, options, "fim.stream" if capture.streams else "fim.complete", model=model, prompt="def f(")
    method = "chat.stream" if capture.streams else "chat.complete"
    return call(kind, options, method, model=model, messages=[user("Hi")])


def check_result(result: StreamResult | ChatCompletion, expected: Answer) -> None:
    assert (result.id, result.model) == (expected.id, expected.model)
    if expected.created is not None:
        assert result.created == expected.created
    usage = result.usage
    assert (None if usage is None else (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)) == (
        expected.usage
    )
    assert [choice.index for choice in result.choices] == sorted(expected.choices)
    for choice in result.choices:
        want = expected.choices[choice.index]
        if isinstance(result, StreamResult):
            content, thinking, calls = choice.content, choice.thinking, choice.tool_calls
        else:
            message = choice.message
            content, thinking, calls = message.text, message.thinking, message.tool_calls or []
        assert content == want.content
        assert thinking == want.thinking
        assert choice.finish_reason == want.finish_reason
        assert [(c.id, c.function.name, c.function.arguments) for c in calls] == want.tool_calls
    assert result.content == expected.first.content
    assert result.thinking == expected.first.thinking
    assert result.finish_reason == expected.first.finish_reason


@pytest.mark.parametrize("name", _names())
def test_every_recorded_answer_decodes_right(kind: str, name: str) -> None:
    capture = Capture.load(name)
    status = int(capture.meta["status"])
    with replay(capture, seed=f"{name}/{kind}") as server:
        if status >= 400:
            with pytest.raises(APIStatusError) as caught:
                ask(kind, server.base_url, capture)
            got = None
        else:
            got = ask(kind, server.base_url, capture)

    if status >= 400:
        error = caught.value
        message, type_, code, detail = read_error(capture.body)
        assert type(error) is ERRORS.get(status, InternalServerError if status >= 500 else APIStatusError)
        assert (error.status_code, error.type, error.code, error.request_id) == (
            status,
            type_,
            code,
            capture.request_id,
        )
        assert error.message == message
        assert str(error).startswith(f"{status} {message}")
        if isinstance(error, UnprocessableEntityError):
            assert error.detail == detail
        return

    if capture.endpoint.endswith("/embeddings"):
        whole = json.loads(capture.body)
        assert isinstance(got, EmbeddingResponse)
        assert (got.id, got.model) == (whole["id"], whole["model"])
        data = sorted(whole["data"], key=lambda item: item["index"])
        assert got.vectors == [item["embedding"] for item in data]
        assert got.usage is not None
        assert (got.usage.prompt_tokens, got.usage.total_tokens) == usage_of(whole["usage"])[::2]
        return

    if capture.streams:
        chunks, result, request_id = got
        assert request_id == capture.request_id
        expected = read_stream(capture.body)
        check_result(result, expected)
        assert not result.cancelled and result.chunk_count == expected.events == len(chunks)
        assert [chunk.is_last for chunk in chunks] == [False] * (len(chunks) - 1) + [True]
        assert all(isinstance(chunk, ChatCompletionChunk) for chunk in chunks)
        assert "".join(chunk.content for chunk in chunks) == expected.first.content
        assert "".join(chunk.thinking for chunk in chunks) == expected.first.thinking
        assert chunks[-1].finish_reason == expected.first.finish_reason or chunks[-1].choices == []
        if expected.usage is not None:
            last = chunks[-1].usage
            assert (
                last is not None and (last.prompt_tokens, last.completion_tokens, last.total_tokens) == expected.usage
            )
    else:
        assert isinstance(got, ChatCompletion)
        check_result(got, read_completion(capture.body))
