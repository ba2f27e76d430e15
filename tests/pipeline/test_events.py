"""The named-event decoder (``_pipeline/events.py``), I/O-free: a family's table of event types in,
typed events and an accumulated result out, with the guarantees chat streams have."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mistral_client._exceptions import StreamError
from mistral_client._pipeline.events import EventDecoder, EventKinds, EventResult
from mistral_client._wire.events import StreamEvent, UnknownEvent


class Delta(StreamEvent, kw_only=True):
    content: str = ""


class Done(StreamEvent, kw_only=True):
    usage: dict[str, int] | None = None


class Failed(StreamEvent, kw_only=True):
    message: Any = None
    code: Any = None


KINDS = EventKinds({"t.delta": Delta, "t.done": Done, "t.error": Failed}, end={"t.done"}, errors={"t.error"})


class TextResult(EventResult):
    def __init__(self, *, keep_events: bool = True) -> None:
        super().__init__(keep_events=keep_events)
        self.parts: list[str] = []
        self.usage: dict[str, int] | None = None

    def apply(self, event: StreamEvent) -> None:
        if isinstance(event, Delta):
            self.parts.append(event.content)
        elif isinstance(event, Done):
            self.usage = event.usage

    @property
    def text(self) -> str:
        return "".join(self.parts)


def named(name: str, data: str) -> bytes:
    return f"event: {name}\ndata: {data}\n\n".encode()


BODY = (
    named("t.delta", '{"type":"t.delta","content":"Hel"}')
    + named("t.future", '{"type":"t.future","x":[1,2]}')
    + named("t.delta", '{"type":"t.delta","content":"lo é"}')
    + named("t.done", '{"type":"t.done","usage":{"total_tokens":5}}')
)


def decoder(**kw: Any) -> EventDecoder[TextResult]:
    return EventDecoder(0.0, KINDS, TextResult(), **kw)


def read_all(dec: EventDecoder[TextResult], pieces: list[bytes]) -> list[StreamEvent]:
    out = []
    for piece in pieces:
        for event in dec.feed(piece):
            dec.deliver(event)
            out.append(event)
    for event in dec.eof():
        dec.deliver(event)
        out.append(event)
    return out


def test_events_are_typed_unknown_ones_kept_and_the_result_assembled() -> None:
    dec = decoder()
    events = read_all(dec, [BODY])
    assert [type(e) for e in events] == [Delta, UnknownEvent, Delta, Done]
    unknown = events[1]
    assert isinstance(unknown, UnknownEvent) and unknown.type == "t.future" and unknown.data["x"] == [1, 2]
    assert dec.result.text == "Hello é" and dec.result.usage == {"total_tokens": 5}
    assert dec.done and dec.complete and not dec.failed
    assert dec.result.event_count == 4 and dec.result.events == events
    assert all(e.total_latency >= e.event_latency >= 0 for e in events)
    assert dec.result.time_to_first_event == events[0].total_latency


@given(st.lists(st.integers(min_value=0, max_value=len(BODY)), max_size=6))
def test_any_split_of_the_bytes_gives_the_same_events(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(BODY)]
    pieces = [BODY[a:b] for a, b in itertools.pairwise(bounds)]
    dec = decoder()
    events = read_all(dec, pieces)
    assert [(e.type, getattr(e, "content", None)) for e in events] == [
        ("t.delta", "Hel"),
        ("t.future", None),
        ("t.delta", "lo é"),
        ("t.done", None),
    ]
    assert dec.result.text == "Hello é" and dec.complete


def test_an_event_without_a_name_is_named_by_its_type_field() -> None:
    events = read_all(decoder(), [b'data: {"type":"t.delta","content":"a"}\n\n' + named("t.done", "{}")])
    assert isinstance(events[0], Delta) and events[0].content == "a"
    assert events[1].type == "t.done"


def test_an_error_event_fails_after_what_came_before_and_the_partial_holds_it() -> None:
    dec = decoder(request_id="req-1")
    body = named("t.delta", '{"content":"par"}') + named("t.error", '{"message":"overloaded","code":"3505"}')
    out = dec.feed(body)
    assert [e.type for e in out] == ["t.delta"] and dec.failed
    for event in out:
        dec.deliver(event)
    error = dec.error()
    assert isinstance(error, StreamError)
    assert "overloaded" in str(error) and "1 events (3 characters of text)" in str(error)
    assert error.partial is dec.result and error.request_id == "req-1" and error.code == "3505"
    assert dec.result.text == "par" and [e.type for e in dec.result.events or []] == ["t.delta", "t.error"]


def test_a_body_that_ends_before_the_last_event_is_broken() -> None:
    dec = decoder()
    for event in dec.feed(named("t.delta", '{"content":"x"}')):
        dec.deliver(event)
    assert dec.eof() == [] and dec.failed
    assert "no t.done event" in str(dec.error()) and dec.error().partial.text == "x"


def test_malformed_json_fails_naming_the_event() -> None:
    dec = decoder()
    assert dec.feed(named("t.delta", "{not json")) == [] and dec.failed
    assert "malformed t.delta event" in str(dec.error())


def test_nothing_after_the_end_is_decoded() -> None:
    dec = decoder()
    out = dec.feed(named("t.done", "{}") + named("t.delta", '{"content":"late"}'))
    assert [e.type for e in out] == ["t.done"]
    assert dec.feed(named("t.delta", '{"content":"later"}')) == []


def test_events_are_not_kept_when_asked() -> None:
    dec = EventDecoder(0.0, KINDS, TextResult(keep_events=False))
    read_all(dec, [BODY])
    assert dec.result.events is None and dec.result.event_count == 4 and dec.result.text == "Hello é"


def test_an_event_over_the_size_limit_fails_after_the_ones_before() -> None:
    dec = decoder(max_event_size=64)
    out = dec.feed(named("t.delta", '{"content":"ok"}') + named("t.delta", '{"content":"' + "x" * 200 + '"}'))
    assert [getattr(e, "content", None) for e in out] == ["ok"] and dec.failed


@pytest.mark.parametrize("done", [b"data: [DONE]\n\n", b"data:  [DONE]\n\n"])
def test_done_ends_a_named_event_stream(done: bytes) -> None:
    dec = decoder()
    read_all(dec, [named("t.delta", '{"content":"x"}') + done])
    assert dec.done and not dec.failed and dec.complete
