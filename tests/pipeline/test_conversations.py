"""The conversation stream's pipeline without I/O: bytes -> typed events -> ConversationResult."""

from __future__ import annotations

import json
from time import perf_counter
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mistral_client._exceptions import StreamError
from mistral_client._pipeline.conversations import CONVERSATION_EVENTS, ConversationResult
from mistral_client._pipeline.events import EventDecoder
from mistral_client._wire.conversations import (
    EVENT_TYPES,
    AgentHandoffEntry,
    FunctionCallEntry,
    MessageOutputEntry,
    ToolExecutionEntry,
    UnknownEntry,
    decode_response,
)
from mistral_client._wire.events import UnknownEvent
from tests.support import conversation_events as C
from tests.support.openapi import conforms

Decoder = EventDecoder[ConversationResult]


def decode(reads: list[bytes], keep_events: bool = True) -> tuple[list[Any], Decoder]:
    decoder = EventDecoder(perf_counter(), CONVERSATION_EVENTS, ConversationResult(keep_events=keep_events))
    out = []
    for read in reads:
        for event in decoder.feed(read):
            decoder.deliver(event)
            out.append(event)
    if not decoder.done and not decoder.failed:
        decoder.eof()
    decoder.stop()
    return out, decoder


def plain(events: list[Any]) -> list[Any]:
    """The events without the latencies the client stamps (they differ from run to run)."""
    out = []
    for event in events:
        fields = msgspec.structs.asdict(event)
        fields.pop("event_latency")
        fields.pop("total_latency")
        out.append((type(event).__name__, fields))
    return out


def test_the_fixture_events_are_what_the_spec_says() -> None:
    # The test stream is only worth something if the live service could send it.
    for name, data in [*C.EVENTS, C.ERROR]:
        conforms("ConversationEvents", {"event": name, "data": data})
    assert {name for name, _ in C.EVENTS} | {C.ERROR[0]} == set(EVENT_TYPES)


def test_every_event_type_decodes_into_its_struct() -> None:
    events, decoder = decode([C.with_unknown()])
    names = [name for name, _ in C.EVENTS]
    expected = [EVENT_TYPES[name].__name__ for name in names]
    expected.insert(len(expected) - 1, "UnknownEvent")
    assert [type(event).__name__ for event in events] == expected
    unknown = events[-2]
    assert isinstance(unknown, UnknownEvent)
    assert (unknown.type, unknown.data) == ("ping.future", {"type": "ping.future", "n": 1})
    assert decoder.complete and not decoder.failed
    for event in events:
        assert event.total_latency >= event.event_latency >= 0


def test_the_result_assembles_every_output() -> None:
    _, decoder = decode([C.body()])
    result = decoder.result
    assert result.conversation_id == C.CONVERSATION_ID
    assert result.text == C.TEXT
    outputs = result.outputs
    assert [type(output) for output in outputs] == [
        ToolExecutionEntry,
        AgentHandoffEntry,
        MessageOutputEntry,
        FunctionCallEntry,
    ]
    tool, handoff, message, call = outputs
    assert isinstance(tool, ToolExecutionEntry)
    assert (tool.name, tool.arguments, tool.info) == ("web_search", '{"query":"paris"}', {"results": 2})
    assert isinstance(handoff, AgentHandoffEntry)
    assert (handoff.previous_agent_name, handoff.next_agent_id) == ("router", "ag_b")
    assert isinstance(message, MessageOutputEntry)
    assert (message.text, message.model, message.agent_id) == (C.TEXT, "mistral-medium-latest", "ag_b")
    assert isinstance(call, FunctionCallEntry)
    assert (call.name, call.tool_call_id, call.arguments) == ("get_weather", "call_1", '{"city":"Paris"}')
    assert call.parsed_arguments() == {"city": "Paris"}
    assert result.usage is not None and result.usage.total_tokens == 12 and result.usage.connectors == {"web_search": 1}
    assert result.done and not result.cancelled
    assert result.event_count == len(C.EVENTS) == len(result.events or [])
    assert result.time_to_first_event is not None and result.total_latency is not None
    assert result.time_to_first_event <= result.total_latency
    assert result.function_calls == [call] and result.tool_executions == [tool] and result.handoffs == [handoff]


def test_to_response_is_what_the_call_without_a_stream_returns() -> None:
    _, decoder = decode([C.body()])
    response = decoder.result.to_response()
    encoded = msgspec.json.encode(response)
    again = decode_response(encoded)
    assert again.conversation_id == C.CONVERSATION_ID
    assert again.text == C.TEXT
    assert [type(entry) for entry in again.outputs] == [type(entry) for entry in response.outputs]


@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(C.with_unknown())), max_size=12))
def test_any_split_gives_the_same_events_and_result(cuts: list[int]) -> None:
    body = C.with_unknown()
    reference, whole = decode([body])
    points = sorted(set(cuts))
    reads = [body[start:end] for start, end in zip([0, *points], [*points, len(body)], strict=True)]
    events, decoder = decode(reads)
    assert plain(events) == plain(reference)
    assert decoder.result.outputs == whole.result.outputs
    assert decoder.result.usage == whole.result.usage


def test_a_split_at_every_byte_boundary_gives_the_same_events() -> None:
    body = C.with_unknown()
    reference = plain(decode([body])[0])
    for cut in range(len(body) + 1):
        assert plain(decode([body[:cut], body[cut:]])[0]) == reference, cut
    assert plain(decode([body[i : i + 1] for i in range(len(body))])[0]) == reference


def test_an_error_event_fails_the_stream_with_what_arrived_before_it() -> None:
    events, decoder = decode([C.body([*C.EVENTS[:8], C.ERROR])])
    assert len(events) == 8 and decoder.failed
    error = decoder.error()
    assert isinstance(error, StreamError)
    assert "the model is overloaded" in str(error) and error.code == "3000"
    partial = error.partial
    assert isinstance(partial, ConversationResult)
    assert partial.text == C.TEXT and partial.conversation_id == C.CONVERSATION_ID
    assert partial.error is not None and partial.error.message == "the model is overloaded"
    assert not partial.done


def test_a_body_that_ends_before_done_is_a_broken_stream() -> None:
    events, decoder = decode([C.body(C.EVENTS[:7])])
    assert len(events) == 7 and decoder.failed
    error = decoder.error()
    assert "conversation.response.done" in str(error)
    assert error.partial.text == "Héllo"


def test_nothing_after_done_is_read() -> None:
    events, decoder = decode([C.body() + C.frame(*C.EVENTS[6])])
    assert len(events) == len(C.EVENTS) and decoder.complete
    assert decoder.result.text == C.TEXT


def test_a_malformed_known_event_fails_but_an_unknown_one_is_kept() -> None:
    started = C.frame(*C.EVENTS[0])
    _, decoder = decode([started + b"event: message.output.delta\ndata: {nope\n\n"])
    assert decoder.failed and "malformed message.output.delta" in str(decoder.error())
    events, decoder = decode([started + b"event: other\ndata: {nope\n\n" + C.frame(*C.EVENTS[-1])])
    assert isinstance(events[1], UnknownEvent) and events[1].data == "{nope"
    assert decoder.complete


def test_events_without_a_name_are_read_by_their_type() -> None:
    # A server (or proxy) that drops the ``event:`` lines: the type inside the data still says it.
    body = b"".join(b"data: " + json.dumps(data).encode() + b"\n\n" for _, data in C.EVENTS)
    events, decoder = decode([body])
    assert plain(events) == plain(decode([C.body()])[0])
    assert decoder.complete


def test_nulls_read_as_missing_fields() -> None:
    nulls = [
        ("conversation.response.started", {"type": None, "conversation_id": None}),
        ("message.output.delta", {"output_index": None, "id": None, "content": None, "content_index": None}),
        ("function.call.delta", {"output_index": 1, "name": None, "arguments": None, "tool_call_id": None}),
        ("conversation.response.done", {"usage": None}),
    ]
    _, decoder = decode([C.body(nulls)])
    assert decoder.complete
    result = decoder.result
    assert result.text == "" and result.conversation_id == "" and result.usage is None
    assert result.function_calls[0].parsed_arguments() == {}


def test_list_content_gives_its_text_and_thinking() -> None:
    # The spec's delta carries one part (an object); a list of parts is read too.
    parts = [
        {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]},
        {"type": "text", "text": "Hi"},
        {"type": "tool_reference", "tool": "web_search", "title": "A page"},
    ]
    deltas = [("message.output.delta", {"type": "message.output.delta", "id": "m", "content": part}) for part in parts]
    for name, data in deltas:
        conforms("ConversationEvents", {"event": name, "data": data})
    as_list = [("message.output.delta", {"type": "message.output.delta", "id": "m", "content": parts})]
    for middle in (deltas, as_list):
        _, decoder = decode([C.body([C.EVENTS[0], *middle, C.EVENTS[-1]])])
        assert decoder.result.text == "Hi" and decoder.result.thinking == "hmm"


def test_without_kept_events_the_result_is_the_same() -> None:
    many = [C.EVENTS[0]] + [C.EVENTS[6]] * 600 + [C.EVENTS[-1]]
    _, kept = decode([C.body(many)])
    _, folded = decode([C.body(many)], keep_events=False)
    assert folded.result.events is None
    assert folded.result.text == kept.result.text == "Héllo" * 600
    assert folded.result.event_count == kept.result.event_count == 602


def test_a_new_entry_type_is_kept_in_an_answer() -> None:
    answer = {
        "object": "conversation.response",
        "conversation_id": "c",
        "outputs": [
            {"object": "entry", "type": "message.output", "id": "m", "role": "assistant", "content": "Hi"},
            {"object": "entry", "type": "future.entry", "id": "f", "x": 1},
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    response = decode_response(json.dumps(answer).encode())
    assert response.text == "Hi"
    assert isinstance(response.outputs[1], UnknownEntry) and response.outputs[1].data["x"] == 1


@pytest.mark.parametrize("null_id", [True, False])
def test_an_answer_with_a_null_conversation_id_decodes(null_id: bool) -> None:
    answer: dict[str, Any] = {"outputs": [], "usage": None}
    if null_id:
        answer["conversation_id"] = None
    assert decode_response(json.dumps(answer).encode()).conversation_id == ""


def test_the_benchs_conversation_stream_is_what_the_spec_says() -> None:
    # Scenario 8 measures every client on these bytes: they must be what the live service sends.
    from bench.conversations import CONVERSATION_ID, conversation_events

    raw = conversation_events(6)
    for event in raw:
        name, data = event.decode().split("\n")[:2]
        conforms("ConversationEvents", {"event": name.removeprefix("event: "), "data": json.loads(data[6:])})
    events, decoder = decode([b"".join(raw)])
    assert len(events) == 6 and decoder.complete
    assert decoder.result.conversation_id == CONVERSATION_ID and decoder.result.usage.completion_tokens == 4


@pytest.mark.parametrize(("arguments", "problem"), [('{"city":', "are not valid JSON"), ("[1]", "not an object")])
def test_bad_call_arguments_are_a_tool_arguments_error(arguments: str, problem: str) -> None:
    from mistral_client import ToolArgumentsError

    call = FunctionCallEntry(tool_call_id="call_1", name="get_weather", arguments=arguments)
    with pytest.raises(ToolArgumentsError, match=problem) as caught:
        call.parsed_arguments()
    assert caught.value.arguments == arguments and caught.value.tool_call.id == "call_1"
    assert FunctionCallEntry(arguments={"a": 1}).parsed_arguments() == {"a": 1}
    assert FunctionCallEntry(arguments="").parsed_arguments() == {}
