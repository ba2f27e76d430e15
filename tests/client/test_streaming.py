"""Streaming against the real local server, through the sync and the async client alike."""

from __future__ import annotations

import pytest

from mistral_client import (
    APIError,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Models,
    StreamError,
    StreamResult,
    system,
    user,
)
from mistral_client.server import LocalServer
from tests.support.helpers import HI, MODEL, Runner


def test_stream_delivers_text_role_finish_and_usage(run: Runner) -> None:
    chunks, result = run.stream(extra_headers={"x-mock-tokens": "12"})

    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(isinstance(chunk.content, str) for chunk in chunks)  # never None
    text_chunks = [chunk for chunk in chunks if chunk.content]
    assert len(text_chunks) == 12
    assert result.content == "".join(chunk.content for chunk in chunks)
    assert result.content.strip()
    assert result.finish_reason == "stop"
    assert result.usage is not None and result.usage.completion_tokens == 12
    assert result.usage.total_tokens == result.usage.prompt_tokens + 12
    assert result.chunk_count == len(chunks) == len(result.chunks or [])
    assert result.id and result.id == chunks[0].id
    assert result.model == MODEL
    assert not result.cancelled


def test_only_the_final_chunk_is_last(run: Runner) -> None:
    chunks, _ = run.stream()
    assert [chunk.is_last for chunk in chunks] == [False] * (len(chunks) - 1) + [True]
    assert chunks[-1].usage is not None
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_usage_only_ending_marks_the_usage_chunk_last(run: Runner) -> None:
    chunks, result = run.stream(extra_headers={"x-mock-usage-chunk": "separate", "x-mock-tokens": "4"})
    last, before = chunks[-1], chunks[-2]
    assert last.choices == [] and last.usage is not None and last.is_last
    assert last.content == ""
    assert before.choices[0].finish_reason == "stop" and not before.is_last
    assert sum(chunk.is_last for chunk in chunks) == 1
    assert result.usage == last.usage
    assert result.finish_reason == "stop"


def test_latencies_add_up_to_the_total(run: Runner) -> None:
    chunks, result = run.stream(extra_headers={"x-mock-tokens": "5", "x-mock-token-delay": "0.01"})
    assert chunks[0].chunk_latency == pytest.approx(chunks[0].total_latency)
    assert sum(chunk.chunk_latency for chunk in chunks) == pytest.approx(chunks[-1].total_latency, rel=1e-9)
    assert all(chunk.chunk_latency >= 0 for chunk in chunks)
    totals = [chunk.total_latency for chunk in chunks]
    assert totals == sorted(totals)
    # The server waits 10 ms between its 5 content chunks and before the final one, so the client's
    # clock must see at least 50 ms in all. The gaps after the first content chunk must show too; half
    # of them is asked for, as a busy machine can deliver that first chunk late and the rest in one read.
    assert chunks[-1].total_latency >= 0.05
    assert sum(chunk.chunk_latency for chunk in chunks[2:]) >= 0.025
    assert result.total_latency is not None and result.total_latency >= chunks[-1].total_latency
    assert result.time_to_first_token is not None
    assert 0 < result.time_to_first_token <= chunks[-1].total_latency


def test_first_token_wait_is_counted_once(run: Runner) -> None:
    # The Go seed adds the wait for the headers to the first chunk twice; here it is in its latency once.
    chunks, _ = run.stream(extra_headers={"x-mock-tokens": "2", "x-mock-first-token-delay": "0.1"})
    assert 0.1 <= chunks[0].total_latency < 1.0  # the 0.1 s header wait, once (loose bound: busy CI)
    assert chunks[0].chunk_latency == pytest.approx(chunks[0].total_latency)
    assert sum(chunk.chunk_latency for chunk in chunks) == pytest.approx(chunks[-1].total_latency, rel=1e-9)


def test_stream_collect_calls_back_for_every_chunk(run: Runner) -> None:
    seen: list[ChatCompletionChunk] = []
    result = run.collect(seen.append, extra_headers={"x-mock-tokens": "7"})
    assert seen == result.chunks
    assert result.content == "".join(chunk.content for chunk in seen)
    assert result.chunk_count == len(seen) == 9  # role chunk, 7 tokens, final chunk


def test_stream_collect_stops_when_the_callback_returns_false(run: Runner, server: LocalServer) -> None:
    seen: list[str] = []

    def on_chunk(chunk: ChatCompletionChunk) -> bool:
        seen.append(chunk.content)
        return len(seen) < 3

    result = run.collect(on_chunk, extra_headers={"x-mock-tokens": "200", "x-mock-token-delay": "0.005"})
    assert len(seen) == 3
    assert result.cancelled
    assert result.chunk_count == 3
    assert server.wait_for_disconnect(5).chunks_sent < 200


def test_request_object_is_accepted(run: Runner, server: LocalServer) -> None:
    request = ChatCompletionRequest(model=Models.SMALL, messages=[system("Be brief."), user("Hi")], temperature=0)
    _, result = run.stream(request=request)
    assert result.content
    body = server.requests[-1].body
    assert body == {
        "model": "mistral-small-latest",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "temperature": 0,
        "stream": True,
    }


def test_only_set_fields_are_sent_and_falsy_values_are_kept(run: Runner, server: LocalServer) -> None:
    run.stream(temperature=0, random_seed=0, safe_prompt=False, max_tokens=5, top_p=None)
    body = server.requests[-1].body
    assert body == {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Say hello"}],
        "temperature": 0,
        "random_seed": 0,
        "safe_prompt": False,
        "max_tokens": 5,
        "stream": True,
    }
    headers = server.requests[-1].headers
    assert headers["accept"] == "text/event-stream"
    assert "authorization" not in headers  # a local server without a key gets no Authorization


def test_max_tokens_gives_length(run: Runner) -> None:
    _, result = run.stream(max_tokens=3)
    assert result.finish_reason == "length"
    assert result.usage is not None and result.usage.completion_tokens == 3


def test_same_seed_same_text(run: Runner) -> None:
    first = run.stream(random_seed=7)[1].content
    second = run.stream(random_seed=7)[1].content
    other = run.stream(random_seed=8)[1].content
    assert first == second
    assert first != other


def test_crlf_and_keepalive_comments_are_transparent(run: Runner) -> None:
    plain = run.stream(random_seed=3)[1]
    odd = run.stream(random_seed=3, extra_headers={"x-mock-crlf": "1", "x-mock-keepalive": "1"})[1]
    assert odd.content == plain.content
    assert odd.chunk_count == plain.chunk_count


def test_body_without_done_after_finish_is_complete(run: Runner) -> None:
    chunks, result = run.stream(extra_headers={"x-mock-no-done": "1", "x-mock-tokens": "3"})
    assert result.finish_reason == "stop"
    assert chunks[-1].is_last


def test_complete_returns_the_whole_answer(run: Runner) -> None:
    completion = run.complete(random_seed=5)
    streamed = run.stream(random_seed=5)[1]
    assert completion.content == streamed.content
    assert completion.choices[0].message.role == "assistant"
    assert completion.finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    assert completion.id


# --- failures inside the stream keep what arrived -------------------------------------------------


def _content_of_first(chunks: int, run: Runner, seed: int = 11) -> str:
    """The text of the first ``chunks`` content chunks of the answer to the seeded request."""
    _, result = run.stream(random_seed=seed, extra_headers={"x-mock-tokens": "20"})
    pieces = [chunk.content for chunk in (result.chunks or []) if chunk.content]
    return "".join(pieces[:chunks])


@pytest.mark.parametrize(
    ("header", "expected", "arrived"),
    [
        ("x-mock-disconnect-after", "connection broke", 5),  # the role chunk and four content chunks
        ("x-mock-error-event-after", "error event", 5),
        ("x-mock-finish-error-after", "finish_reason 'error'", 6),  # ... and the chunk that says "error"
        ("x-mock-malformed-after", "malformed event", 5),
    ],
)
def test_mid_stream_failure_raises_stream_error_with_partial(
    run: Runner, header: str, expected: str, arrived: int
) -> None:
    delivered: list[str] = []
    with pytest.raises(StreamError) as info:
        run.collect(
            lambda chunk: delivered.append(chunk.content),
            random_seed=11,
            extra_headers={header: "4", "x-mock-tokens": "20"},
        )
    error = info.value
    assert expected in str(error)
    partial = error.partial
    assert isinstance(partial, StreamResult)
    assert partial.content == _content_of_first(4, run) == "".join(delivered)
    assert partial.chunk_count == arrived
    assert not partial.cancelled
    assert partial.total_latency is not None


def test_error_event_carries_type_and_code(run: Runner) -> None:
    with pytest.raises(StreamError) as info:
        run.stream(extra_headers={"x-mock-error-event-after": "1"})
    assert info.value.type == "internal_error"
    assert info.value.code == "3000"
    assert info.value.request_id  # the answer's mistral-correlation-id


def test_html_answer_names_the_content_type(run: Runner) -> None:
    with pytest.raises(APIError) as info:
        run.stream(extra_headers={"x-mock-html": "1"})
    assert "text/html" in str(info.value)
    assert not isinstance(info.value, StreamError)


def test_stream_accepts_messages_built_from_helpers(run: Runner, server: LocalServer) -> None:
    run.stream(messages=[*HI, {"role": "assistant", "content": "Hello!"}, user("Again")])
    sent = server.requests[-1].body["messages"]
    assert sent == [
        {"role": "user", "content": "Say hello"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Again"},
    ]


def test_what_we_send_validates_against_the_official_schema(run: Runner, server: LocalServer) -> None:
    from mistral_client import assistant, tool
    from tests.support.openapi import conforms

    run.stream(
        messages=[
            system("Be brief."),
            user([{"type": "text", "text": "What's the weather?"}]),
            assistant(
                "",
                tool_calls=[
                    {"id": "abcDEF123", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
                ],
            ),
            tool("sunny", tool_call_id="abcDEF123", name="weather"),
        ],
        temperature=0,
        top_p=0.9,
        max_tokens=20,
        stop=["\n\n"],
        random_seed=1,
        response_format={"type": "text"},
        tools=[{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
        tool_choice="auto",
        presence_penalty=0.0,
        frequency_penalty=0.5,
        n=1,
        parallel_tool_calls=False,
        safe_prompt=False,
        prompt_cache_key="k",
    )
    run.complete()
    bodies = [record.body for record in server.requests]
    assert len(bodies) == 2
    for body in bodies:
        conforms("ChatCompletionRequest", body)


def test_models_list_and_retrieve(kind: str, server: LocalServer) -> None:
    import asyncio

    from mistral_client import AsyncMistral, Mistral, NotFoundError

    if kind == "sync":
        with Mistral(base_url=server.base_url) as client:
            models = client.models.list()
            card = client.models.retrieve(MODEL)
            with pytest.raises(NotFoundError):
                client.models.retrieve("retired-model-0")
    else:

        async def main() -> tuple[object, object]:
            async with AsyncMistral(base_url=server.base_url) as client:
                with pytest.raises(NotFoundError):
                    await client.models.retrieve("retired-model-0")
                return await client.models.list(), await client.models.retrieve(MODEL)

        models, card = asyncio.run(main())  # type: ignore[assignment]
    ids = [model.id for model in models.data]  # type: ignore[attr-defined]
    assert MODEL in ids and Models.LARGE in ids
    assert card.id == MODEL  # type: ignore[attr-defined]
