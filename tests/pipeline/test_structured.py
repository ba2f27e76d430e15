"""Structured output: a type as ``response_format``, the schema we send, and ``.parsed`` on the answer."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from typing import Any, TypedDict

import msgspec
import pydantic
import pytest

from mistral_client import AsyncMistral, InvalidRequestError, Mistral, StructuredOutputError, user
from mistral_client.server import LocalServer
from tests.support.openapi import conforms
from tests.support.rawserver import RawConnection, RawServer, chunk_json, sse


class BookStruct(msgspec.Struct):
    """A book and who wrote it."""

    name: str
    authors: list[str]


@dataclasses.dataclass
class BookDataclass:
    name: str
    authors: list[str]


class BookDict(TypedDict):
    name: str
    authors: list[str]


class BookModel(pydantic.BaseModel):
    name: str
    authors: list[str]


BOOK_TYPES = [BookStruct, BookDataclass, BookDict, BookModel]
ANSWER = '{"name": "Dune", "authors": ["Frank Herbert"]}'


@pytest.fixture(scope="module")
def json_server() -> Iterator[RawServer]:
    """Answers every stream with ``ANSWER`` in pieces, and every plain request with it whole."""

    def handler(conn: RawConnection) -> None:
        if json.loads(conn.request.body).get("stream"):
            pieces = [ANSWER[i : i + 7] for i in range(0, len(ANSWER), 7)]
            body = sse(chunk_json("", role=True), *map(chunk_json, pieces), chunk_json("", finish="stop", usage=True))
            conn.send_head()
            conn.send_chunk(body + b"data: [DONE]\n\n")
            conn.end_body()
        else:
            message = {"role": "assistant", "content": ANSWER}
            answer = {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": [
                {"index": 0, "message": message, "finish_reason": "stop"}]}  # fmt: skip
            conn.send_full(200, json.dumps(answer).encode())

    with RawServer(handler) as server:
        yield server


@pytest.mark.parametrize("book", BOOK_TYPES, ids=lambda t: t.__name__)
def test_a_type_is_sent_as_a_json_schema(book: Any, server: LocalServer) -> None:
    with (
        Mistral(base_url=server.base_url) as client,
        client.chat.stream(model="mistral-small-latest", messages=[user("A book?")], response_format=book) as stream,
    ):
        stream.until_done()
    sent = server.requests[-1].body["response_format"]
    conforms("ResponseFormat", sent)
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == book.__name__ and sent["json_schema"]["strict"] is True
    schema = sent["json_schema"]["schema"]
    assert schema["type"] == "object" and set(schema["required"]) == {"name", "authors"}
    assert schema["properties"]["authors"]["items"]["type"] == "string"
    if book is BookStruct:
        assert sent["json_schema"]["description"] == "A book and who wrote it."


@pytest.mark.parametrize("book", BOOK_TYPES, ids=lambda t: t.__name__)
def test_parsed_is_an_instance_of_the_type(book: Any, kind: str, json_server: RawServer) -> None:
    expected = (
        msgspec.json.decode(ANSWER, type=book) if book is not BookModel else BookModel.model_validate_json(ANSWER)
    )

    def sync() -> tuple[Any, Any, Any, list[Any]]:
        with Mistral(base_url=json_server.base_url) as client:
            completion = client.chat.complete(model="m", messages=[user("A book?")], response_format=book)
            partials = []
            with client.chat.stream(model="m", messages=[user("A book?")], response_format=book) as stream:
                for _ in stream:
                    partials.append(stream.partial_json())
                final = stream.get_final_completion()
            return completion.parsed, stream.result.parsed, final.parsed, partials

    async def main() -> tuple[Any, Any, Any, list[Any]]:
        async with AsyncMistral(base_url=json_server.base_url) as client:
            completion = await client.chat.complete(model="m", messages=[user("A book?")], response_format=book)
            partials = []
            async with client.chat.stream(model="m", messages=[user("A book?")], response_format=book) as stream:
                async for _ in stream:
                    partials.append(stream.partial_json())
                final = await stream.get_final_completion()
            return completion.parsed, stream.result.parsed, final.parsed, partials

    completed, streamed, final, partials = sync() if kind == "sync" else asyncio.run(main())
    assert completed == streamed == final == expected
    # The partial values grow towards the whole: a progressive UI can show each.
    assert partials[0] is None and partials[-1] == json.loads(ANSWER)
    assert {"name": "Dune", "authors": []} in partials or {"name": "Dune"} in partials


def test_parsed_is_none_without_a_type(json_server: RawServer) -> None:
    with Mistral(base_url=json_server.base_url) as client:
        result = client.chat.stream_collect(model="m", messages=[user("?")], response_format={"type": "json_object"})
    assert result.parsed is None and json.loads(result.content) == json.loads(ANSWER)


def test_an_answer_that_does_not_fit_the_type_keeps_its_text(json_server: RawServer) -> None:
    class Other(msgspec.Struct):
        title: str

    with Mistral(base_url=json_server.base_url) as client:
        result = client.chat.stream_collect(model="m", messages=[user("?")], response_format=Other)
    with pytest.raises(StructuredOutputError, match=r"does not decode into Other.*title") as info:
        _ = result.parsed
    assert info.value.content == ANSWER and info.value.output_type is Other


@pytest.mark.parametrize("bad", [42, "json_object", BookStruct(name="x", authors=[])], ids=["int", "str", "instance"])
def test_a_bad_response_format_fails_before_sending(bad: Any, server: LocalServer) -> None:
    with Mistral(base_url=server.base_url) as client, pytest.raises(InvalidRequestError, match="response_format"):
        client.chat.complete(model="m", messages=[user("?")], response_format=bad)
    assert server.requests == []
