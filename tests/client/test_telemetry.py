"""OpenTelemetry: every span attribute and metric, checked against the real SDK's in-memory exporter and
reader, for each outcome (complete, cancel, mid-stream error, status error, retry, a stream dropped and
collected), sync and async, against the local server (docs/observability.md holds these promises)."""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from mistral_client import AsyncMistral, Mistral, StreamError, user
from mistral_client._async.resources._base import AsyncResource
from mistral_client._sync.resources._base import Resource
from mistral_client._telemetry import CAPTURE_ENV, Telemetry
from mistral_client.server import LocalServer
from tests.support.helpers import MODEL

KEY = "sk-telemetry-secret-0123456789"
HI = [user("Say hello")]


class Otel:
    """A real SDK tracer and meter provider recording in memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def telemetry(self, **kw: Any) -> Telemetry:
        return Telemetry(tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **kw)

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def call_spans(self) -> list[ReadableSpan]:
        return [s for s in self.spans() if "gen_ai.operation.name" in (s.attributes or {})]

    def attempts(self, parent: ReadableSpan) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.parent is not None and s.parent.span_id == parent.context.span_id]

    def metrics(self) -> dict[str, list[tuple[dict[str, Any], int, float]]]:
        """Each metric's points: (attributes, count, sum)."""
        out: dict[str, list[tuple[dict[str, Any], int, float]]] = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        out.setdefault(metric.name, []).append((dict(point.attributes), point.count, point.sum))
        return out


@pytest.fixture
def otel() -> Otel:
    return Otel()


def client_kw(server: LocalServer, otel: Otel, **telemetry: Any) -> dict[str, Any]:
    return {"base_url": server.base_url, "telemetry": otel.telemetry(**telemetry), "api_key": KEY}


def stream_read(kind: str, kw: dict[str, Any], *, stop_after: int | None = None, **call: Any) -> Any:
    """Read a chat stream in a ``with`` block (``stop_after``: cancel after that many chunks); its result
    and the error it raised, if any."""
    call.setdefault("model", MODEL)
    call.setdefault("messages", HI)
    if kind == "sync":
        with Mistral(**kw) as client, client.chat.stream(**call) as stream:
            try:
                for count, _ in enumerate(stream, 1):
                    if count == stop_after:
                        stream.cancel()
            except StreamError as exc:
                return stream.result, exc
        return stream.result, None

    async def main() -> Any:
        async with AsyncMistral(**kw) as client, client.chat.stream(**call) as stream:
            try:
                count = 0
                async for _ in stream:
                    count += 1
                    if count == stop_after:
                        stream.cancel()
            except StreamError as exc:
                return stream.result, exc
        return stream.result, None

    return asyncio.run(main())


def complete(kind: str, kw: dict[str, Any], method: str = "chat.complete", **call: Any) -> Any:
    api, name = method.split(".")
    if kind == "sync":
        with Mistral(**kw) as client:
            return getattr(getattr(client, api), name)(**call)

    async def main() -> Any:
        async with AsyncMistral(**kw) as client:
            return await getattr(getattr(client, api), name)(**call)

    return asyncio.run(main())


def base_attributes(server: LocalServer, operation: str = "chat", model: str | None = MODEL) -> dict[str, Any]:
    port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": "mistral_ai",
        "server.address": "127.0.0.1",
        "server.port": port,
    }
    if model is not None:
        attributes["gen_ai.request.model"] = model
    return attributes


def only(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


# -- calls without a stream ------------------------------------------------------------------------------


def test_chat_complete_span_and_metrics(kind: str, server: LocalServer, otel: Otel) -> None:
    answer = complete(
        kind,
        client_kw(server, otel),
        model=MODEL,
        messages=HI,
        temperature=0.5,
        top_p=0.9,
        max_tokens=12,
        random_seed=7,
        stop=["\n\n"],
        presence_penalty=0.1,
        frequency_penalty=0.2,
    )
    span = only(otel.call_spans())
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert span.parent is None
    base = base_attributes(server)
    assert dict(span.attributes or {}) == {
        **base,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.max_tokens": 12,
        "gen_ai.request.seed": 7,
        "gen_ai.request.stop_sequences": ("\n\n",),
        "gen_ai.request.presence_penalty": 0.1,
        "gen_ai.request.frequency_penalty": 0.2,
        "gen_ai.response.id": answer.id,
        "gen_ai.response.model": answer.model,
        "gen_ai.response.finish_reasons": (answer.choices[0].finish_reason,),
        "gen_ai.usage.input_tokens": answer.usage.prompt_tokens,
        "gen_ai.usage.output_tokens": answer.usage.completion_tokens,
    }
    assert otel.attempts(span) == []  # answered at its first try: the call's span says it all
    metric = {**base, "gen_ai.response.model": answer.model}
    metrics = otel.metrics()
    assert only(metrics["gen_ai.client.operation.duration"])[:2] == (metric, 1)
    assert sorted(metrics["gen_ai.client.token.usage"], key=lambda p: p[0]["gen_ai.token.type"]) == [
        ({**metric, "gen_ai.token.type": "input"}, 1, answer.usage.prompt_tokens),
        ({**metric, "gen_ai.token.type": "output"}, 1, answer.usage.completion_tokens),
    ]
    assert "gen_ai.client.operation.time_to_first_chunk" not in metrics


def test_status_error_sets_error_type(kind: str, server: LocalServer, otel: Otel) -> None:
    with pytest.raises(Exception) as raised:
        complete(kind, client_kw(server, otel), model=MODEL, messages=HI, extra_headers={"x-mock-status": "400"})
    span = only(otel.call_spans())
    assert span.status.status_code is StatusCode.ERROR
    attributes = dict(span.attributes or {})
    assert attributes["error.type"] == type(raised.value).__name__ == "BadRequestError"
    assert "gen_ai.response.id" not in attributes and "gen_ai.usage.input_tokens" not in attributes
    assert otel.attempts(span) == []  # not retried: one try, no span of its own
    point = only(otel.metrics()["gen_ai.client.operation.duration"])
    assert point[0] == {**base_attributes(server), "error.type": "BadRequestError"}
    assert "gen_ai.client.token.usage" not in otel.metrics()


def test_retries_are_child_spans_per_attempt(kind: str, server: LocalServer, otel: Otel) -> None:
    flaky = {"x-mock-status": "503", "x-mock-fail-times": "2", "x-mock-id": f"otel-retry-{kind}"}
    flaky["x-mock-retry-after"] = "0"
    complete(kind, client_kw(server, otel), model=MODEL, messages=HI, extra_headers=flaky)
    span = only(otel.call_spans())
    assert span.status.status_code is StatusCode.UNSET
    attempts = sorted(otel.attempts(span), key=lambda s: s.start_time or 0)
    assert [a.attributes.get("http.request.resend_count") for a in attempts] == [None, 1, 2]
    assert [a.attributes["http.response.status_code"] for a in attempts] == [503, 503, 200]
    assert [a.attributes.get("error.type") for a in attempts] == ["503", "503", None]
    assert [a.status.status_code for a in attempts] == [StatusCode.ERROR, StatusCode.ERROR, StatusCode.UNSET]
    first = attempts[0]  # made once the retry began, with its own times and the HTTP attributes of any try
    assert first.name == "POST" and first.kind is SpanKind.CLIENT
    assert dict(first.attributes or {}) == {
        "http.request.method": "POST",
        "server.address": "127.0.0.1",
        "server.port": base_attributes(server)["server.port"],
        "url.full": server.base_url.rstrip("/") + "/v1/chat/completions",
        "http.response.status_code": 503,
        "error.type": "503",
    }
    times = [span.start_time] + [t for a in attempts for t in (a.start_time, a.end_time)] + [span.end_time]
    assert times == sorted(times)  # type: ignore[type-var]  # one after the other, inside the call
    # One call, one measurement: the retries are inside its duration, not errors of their own.
    metrics = otel.metrics()
    duration = only(metrics["gen_ai.client.operation.duration"])
    assert duration[:2] == ({**base_attributes(server), "gen_ai.response.model": MODEL}, 1)
    assert duration[2] == pytest.approx((span.end_time - span.start_time) / 1e9, rel=0.5)  # type: ignore[operator]
    assert sorted(p[1] for p in metrics["gen_ai.client.token.usage"]) == [1, 1]


def test_fim_embeddings_and_models(kind: str, server: LocalServer, otel: Otel) -> None:
    kw = client_kw(server, otel)
    complete(kind, kw, "fim.complete", model="codestral-latest", prompt="def f(", suffix="return 1", max_tokens=5)
    vectors = complete(kind, kw, "embeddings.create", model="mistral-embed", input=["a", "b"], output_dimension=8)
    complete(kind, kw, "models.list")
    complete(kind, kw, "models.retrieve", model_id=MODEL)
    fim, embed, listed, retrieved = sorted(otel.call_spans(), key=lambda s: s.start_time or 0)
    assert fim.name == "text_completion codestral-latest"
    assert fim.attributes["gen_ai.operation.name"] == "text_completion"
    assert fim.attributes["gen_ai.request.max_tokens"] == 5
    assert fim.attributes["gen_ai.usage.output_tokens"] > 0
    assert embed.name == "embeddings mistral-embed"
    assert embed.attributes["gen_ai.embeddings.dimension.count"] == 8
    assert embed.attributes["gen_ai.usage.input_tokens"] == vectors.usage.prompt_tokens
    assert "gen_ai.usage.output_tokens" not in embed.attributes  # an embedding has no output tokens
    assert listed.name == "list_models" and "gen_ai.request.model" not in listed.attributes
    assert retrieved.name == f"retrieve_model {MODEL}"
    assert retrieved.attributes["gen_ai.request.model"] == MODEL
    assert retrieved.attributes["gen_ai.response.id"] == MODEL
    operations = {p[0]["gen_ai.operation.name"] for p in otel.metrics()["gen_ai.client.operation.duration"]}
    assert operations == {"text_completion", "embeddings", "list_models", "retrieve_model"}


def test_optional_request_attributes(kind: str, server: LocalServer, otel: Otel) -> None:
    kw = client_kw(server, otel)
    answer = complete(kind, kw, model=MODEL, messages=HI, n=2, response_format={"type": "json_object"})
    complete(kind, kw, "embeddings.create", model="mistral-embed", input="a", encoding_format="float")
    chat, embed = sorted(otel.call_spans(), key=lambda s: s.start_time or 0)
    assert chat.attributes["gen_ai.request.choice.count"] == 2
    assert chat.attributes["gen_ai.output.type"] == "json"
    assert chat.attributes["gen_ai.response.finish_reasons"] == tuple(c.finish_reason for c in answer.choices)
    assert embed.attributes["gen_ai.request.encoding_formats"] == ("float",)


def test_metrics_without_traces(kind: str, server: LocalServer, otel: Otel) -> None:
    kw = {"base_url": server.base_url, "telemetry": Telemetry(meter_provider=otel.meter_provider)}
    result, error = stream_read(kind, kw)
    assert error is None and otel.spans() == []
    check_stream_metrics(otel, server, result)


class BrokenProvider:
    """An SDK set up wrong: every span it is asked for raises."""

    def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
        return self

    def start_span(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("broken exporter configuration")


def test_a_broken_sdk_never_fails_a_call(kind: str, server: LocalServer) -> None:
    kw = {"base_url": server.base_url, "telemetry": Telemetry(tracer_provider=BrokenProvider())}
    assert complete(kind, kw, model=MODEL, messages=HI).content
    result, error = stream_read(kind, kw)
    assert error is None and result.chunk_count


def test_a_form_upload_is_traced_with_the_model_passed(kind: str, otel: Otel) -> None:
    # A multipart body has no JSON to read: the resource passes ``model=``; the answer is still read.
    from mistral_client._uploads import Multipart, upload_file
    from tests.support.rawserver import RawConnection, RawServer

    def answer(conn: RawConnection) -> None:
        conn.send_full(200, b'{"id":"tr-1","model":"voxtral-mini-latest","usage":{"prompt_tokens":7}}')

    form = Multipart({"model": "voxtral-mini-latest"}, [upload_file(b"RIFF....", filename="a.wav")])
    with RawServer(answer) as raw:
        kw = {"api_key": KEY, "base_url": raw.base_url, "max_retries": 0, "telemetry": otel.telemetry()}
        ask = {"operation": "transcription", "model": "voxtral-mini-latest"}
        if kind == "sync":
            with Mistral(**kw) as client:
                Resource(client).post_json("/audio/transcriptions", form, None, **ask)
        else:

            async def main() -> None:
                async with AsyncMistral(**kw) as client:
                    await AsyncResource(client).post_json("/audio/transcriptions", form, None, **ask)

            asyncio.run(main())
    span = only(otel.call_spans())
    assert span.name == "transcription voxtral-mini-latest"
    assert span.attributes["gen_ai.response.id"] == "tr-1"
    assert span.attributes["gen_ai.usage.input_tokens"] == 7
    assert KEY not in everything_recorded(otel)


def test_an_agent_conversation_answer(otel: Otel) -> None:
    # What the agents and conversations resources get from the base with ``operation=`` alone.
    from tests.support.rawserver import RawConnection, RawServer

    def answer(conn: RawConnection) -> None:
        body = b'{"conversation_id":"conv_1","outputs":[],"usage":{"prompt_tokens":3,"completion_tokens":5}}'
        conn.send_full(200, body)

    with RawServer(answer) as raw, Mistral(base_url=raw.base_url, telemetry=otel.telemetry()) as client:
        body = b'{"agent_id":"ag_9","inputs":"hi"}'
        Resource(client).post_json("/conversations", body, None, operation="invoke_agent")
    span = only(otel.call_spans())
    assert span.name == "invoke_agent"
    assert span.attributes["gen_ai.agent.id"] == "ag_9"
    assert span.attributes["gen_ai.conversation.id"] == "conv_1"
    assert (span.attributes["gen_ai.usage.input_tokens"], span.attributes["gen_ai.usage.output_tokens"]) == (3, 5)


# -- streams --------------------------------------------------------------------------------------------


def check_stream_metrics(otel: Otel, server: LocalServer, result: Any, error_type: str | None = None) -> None:
    metric = {**base_attributes(server), "gen_ai.response.model": result.model}
    if error_type is not None:
        metric["error.type"] = error_type
    metrics = otel.metrics()
    duration = only(metrics["gen_ai.client.operation.duration"])
    assert duration[:2] == (metric, 1)
    assert duration[2] == pytest.approx(result.total_latency)
    first = only(metrics["gen_ai.client.operation.time_to_first_chunk"])
    assert first[:2] == (metric, 1)
    assert first[2] == pytest.approx(result.chunks[0].total_latency)
    per = only(metrics["gen_ai.client.operation.time_per_output_chunk"])
    assert per[:2] == (metric, 1)
    expected = (result.chunks[-1].total_latency - result.chunks[0].total_latency) / (result.chunk_count - 1)
    assert per[2] == pytest.approx(expected)


def test_stream_complete(kind: str, server: LocalServer, otel: Otel) -> None:
    result, error = stream_read(kind, client_kw(server, otel), max_tokens=40)
    assert error is None
    span = only(otel.call_spans())
    assert span.name == f"chat {MODEL}"
    assert span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes or {}) == {
        **base_attributes(server),
        "gen_ai.request.max_tokens": 40,
        "gen_ai.request.stream": True,
        "gen_ai.response.id": result.id,
        "gen_ai.response.model": result.model,
        "gen_ai.response.finish_reasons": (result.finish_reason,),
        "gen_ai.response.time_to_first_chunk": result.chunks[0].total_latency,
        "gen_ai.usage.input_tokens": result.usage.prompt_tokens,
        "gen_ai.usage.output_tokens": result.usage.completion_tokens,
        "mistral_client.stream.chunks": result.chunk_count,
        "mistral_client.stream.outcome": "complete",
    }
    assert otel.attempts(span) == []
    check_stream_metrics(otel, server, result)
    tokens = otel.metrics()["gen_ai.client.token.usage"]
    assert sorted(p[2] for p in tokens) == sorted([result.usage.prompt_tokens, result.usage.completion_tokens])


def test_stream_without_kept_chunks(kind: str, server: LocalServer, otel: Otel) -> None:
    # keep_chunks=False: the first chunk's time is the first token's, the last is the end of the stream.
    result, error = stream_read(kind, client_kw(server, otel), keep_chunks=False)
    assert error is None and result.chunks is None
    span = only(otel.call_spans())
    assert span.attributes["gen_ai.response.time_to_first_chunk"] == result.time_to_first_token
    metrics = otel.metrics()
    assert only(metrics["gen_ai.client.operation.time_to_first_chunk"])[2] == pytest.approx(result.time_to_first_token)
    expected = (result.total_latency - result.time_to_first_token) / (result.chunk_count - 1)
    assert only(metrics["gen_ai.client.operation.time_per_output_chunk"])[2] == pytest.approx(expected)


def test_stream_cancel_is_not_an_error(kind: str, server: LocalServer, otel: Otel) -> None:
    result, error = stream_read(kind, client_kw(server, otel), stop_after=3, extra_headers={"x-mock-tokens": "50"})
    assert error is None and result.cancelled
    span = only(otel.call_spans())
    assert span.status.status_code is StatusCode.UNSET
    attributes = dict(span.attributes or {})
    assert attributes["mistral_client.stream.outcome"] == "cancelled"
    assert attributes["mistral_client.stream.chunks"] == 3
    assert "error.type" not in attributes and "gen_ai.response.finish_reasons" not in attributes
    check_stream_metrics(otel, server, result)


@pytest.mark.parametrize("how", ["break", "on_chunk"])
def test_leaving_early_is_a_cancel(kind: str, server: LocalServer, otel: Otel, how: str) -> None:
    kw, ask = client_kw(server, otel), {"model": MODEL, "messages": HI, "extra_headers": {"x-mock-tokens": "50"}}
    if how == "on_chunk":
        from tests.support.helpers import Runner

        result = Runner(kind, server.base_url).collect(lambda chunk: False, client_kw=kw, **ask)
    elif kind == "sync":
        with Mistral(**kw) as client, client.chat.stream(**ask) as stream:
            for _ in stream:
                break
        result = stream.result
    else:

        async def main() -> Any:
            async with AsyncMistral(**kw) as client, client.chat.stream(**ask) as stream:
                async for _ in stream:
                    break
            return stream.result

        result = asyncio.run(main())
    assert result.cancelled
    span = only(otel.call_spans())
    assert span.attributes["mistral_client.stream.outcome"] == "cancelled"
    assert span.status.status_code is StatusCode.UNSET and "error.type" not in span.attributes


def test_the_deadline_mid_stream_is_an_error(kind: str, server: LocalServer, otel: Otel) -> None:
    from mistral_client import StreamTimeoutError, Timeout

    stall = {"x-mock-stall-after": "2", "x-mock-stall-seconds": "5"}
    kw = {**client_kw(server, otel), "timeout": Timeout(total=0.5)}
    result, error = stream_read(kind, kw, extra_headers=stall)
    assert isinstance(error, StreamTimeoutError)
    span = only(otel.call_spans())
    assert span.attributes["error.type"] == "StreamTimeoutError"
    assert span.attributes["mistral_client.stream.outcome"] == "error"
    assert span.attributes["mistral_client.stream.chunks"] == result.chunk_count >= 2


@pytest.mark.parametrize(
    ("header", "error_type"),
    [("x-mock-disconnect-after", "StreamError"), ("x-mock-error-event-after", "StreamError")],
)
def test_stream_mid_error_keeps_usage_so_far(
    kind: str, server: LocalServer, otel: Otel, header: str, error_type: str
) -> None:
    headers = {header: "4", "x-mock-usage-chunk": "inline"}
    result, error = stream_read(kind, client_kw(server, otel), extra_headers=headers)
    assert error is not None and error.partial is result
    span = only(otel.call_spans())
    assert span.status.status_code is StatusCode.ERROR
    attributes = dict(span.attributes or {})
    assert attributes["error.type"] == type(error).__name__ == error_type
    assert attributes["mistral_client.stream.outcome"] == "error"
    assert attributes["mistral_client.stream.chunks"] == result.chunk_count >= 4
    assert attributes["gen_ai.response.id"] == result.id
    check_stream_metrics(otel, server, result, error_type)


def test_stream_usage_so_far_on_error(kind: str, server: LocalServer, otel: Otel) -> None:
    # A finish_reason "error" chunk that carries usage: the usage reached the span and the metric.
    result, error = stream_read(kind, client_kw(server, otel), extra_headers={"x-mock-finish-error-after": "3"})
    assert error is not None and result.usage is not None
    span = only(otel.call_spans())
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["gen_ai.response.finish_reasons"] == ("error",)
    assert span.attributes["gen_ai.usage.output_tokens"] == result.usage.completion_tokens
    outputs = [p for p in otel.metrics()["gen_ai.client.token.usage"] if p[0]["gen_ai.token.type"] == "output"]
    assert only(outputs)[2] == result.usage.completion_tokens


def test_stream_status_error(kind: str, server: LocalServer, otel: Otel) -> None:
    with pytest.raises(Exception) as raised:
        stream_read(kind, client_kw(server, otel), extra_headers={"x-mock-status": "429", "x-mock-retry-after": "0"})
    assert type(raised.value).__name__ == "RateLimitError"
    span = only(otel.call_spans())
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "RateLimitError"
    assert span.attributes["gen_ai.request.stream"] is True
    assert [a.attributes["http.response.status_code"] for a in otel.attempts(span)] == [429, 429, 429]
    metrics = otel.metrics()
    assert only(metrics["gen_ai.client.operation.duration"])[:2] == (
        {**base_attributes(server), "error.type": "RateLimitError"},
        1,
    )
    assert set(metrics) == {"gen_ai.client.operation.duration"}  # no chunk, no usage: nothing else to record


def test_stream_retried_then_complete(kind: str, server: LocalServer, otel: Otel) -> None:
    flaky = {"x-mock-status": "503", "x-mock-fail-times": "1", "x-mock-id": f"otel-stream-{kind}"}
    flaky["x-mock-retry-after"] = "0"
    _, error = stream_read(kind, client_kw(server, otel), extra_headers=flaky)
    assert error is None
    span = only(otel.call_spans())
    assert span.attributes["mistral_client.stream.outcome"] == "complete"
    attempts = sorted(otel.attempts(span), key=lambda s: s.start_time or 0)
    assert [a.attributes["http.response.status_code"] for a in attempts] == [503, 200]


def test_stream_span_is_current_while_iterating(kind: str, server: LocalServer, otel: Otel) -> None:
    tracer = otel.tracer_provider.get_tracer("app")
    kw = client_kw(server, otel)

    def inside() -> None:
        with tracer.start_as_current_span("caller work"):
            pass

    if kind == "sync":
        with tracer.start_as_current_span("app"), Mistral(**kw) as client:
            for count, _ in enumerate(client.chat.stream(model=MODEL, messages=HI), 1):
                if count == 2:
                    inside()
            after = trace.get_current_span()
    else:

        async def main() -> Any:
            with tracer.start_as_current_span("app"):
                async with AsyncMistral(**kw) as client:
                    count = 0
                    async for _ in client.chat.stream(model=MODEL, messages=HI):
                        count += 1
                        if count == 2:
                            inside()
                return trace.get_current_span()

        after = asyncio.run(main())
    spans = {s.name: s for s in otel.spans()}
    stream_span, app, work = spans[f"chat {MODEL}"], spans["app"], spans["caller work"]
    assert work.parent is not None and work.parent.span_id == stream_span.context.span_id
    assert stream_span.parent is not None and stream_span.parent.span_id == app.context.span_id
    assert after.get_span_context().span_id == app.context.span_id  # put back once the stream ended
    assert not trace.get_current_span().get_span_context().is_valid


def test_stream_dropped_unclosed_ends_once_when_collected(kind: str, server: LocalServer, otel: Otel) -> None:
    kw = client_kw(server, otel)
    tracer = otel.tracer_provider.get_tracer("app")
    ask = {"model": MODEL, "messages": HI, "extra_headers": {"x-mock-tokens": "50"}}
    if kind == "sync":
        with tracer.start_as_current_span("app") as app, Mistral(**kw) as client:
            for _ in client.chat.stream(**ask):
                break  # no ``with``, no close: the stream is garbage, in a cycle with its generator
            gc.collect()
            spans, current = otel.call_spans(), trace.get_current_span()
    else:

        async def main() -> Any:
            with tracer.start_as_current_span("app") as app:
                async with AsyncMistral(**kw) as client:
                    async for _ in client.chat.stream(**ask):
                        break
                    gc.collect()
                    for _ in range(1000):  # asyncio may close a dropped generator in a task of its own
                        if otel.call_spans():
                            break
                        await asyncio.sleep(0)
                    return app, otel.call_spans(), trace.get_current_span()

        app, spans, current = asyncio.run(main())
    gc.collect()
    span = only(spans)
    assert only(otel.call_spans()) is span  # ended exactly once
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["mistral_client.stream.outcome"] == "abandoned"
    assert span.attributes["mistral_client.stream.chunks"] == 1
    first = span.attributes["gen_ai.response.time_to_first_chunk"]
    assert first > 0
    metrics = otel.metrics()
    metric = {**base_attributes(server), "gen_ai.response.model": MODEL}
    duration = only(metrics["gen_ai.client.operation.duration"])
    assert duration[:2] == (metric, 1) and duration[2] >= first
    assert only(metrics["gen_ai.client.operation.time_to_first_chunk"]) == (metric, 1, first)
    assert "gen_ai.client.operation.time_per_output_chunk" not in metrics  # one chunk: no gap to measure
    assert "gen_ai.client.token.usage" not in metrics  # the usage comes with the last chunk, never read
    assert current is app  # the stream's span is no longer the current one


def test_streams_read_in_turns_put_the_context_back(kind: str, server: LocalServer, otel: Otel) -> None:
    # Two streams read in turns, the first ending first: the context ends as it began.
    kw = client_kw(server, otel)
    tracer = otel.tracer_provider.get_tracer("app")
    short, long = {"x-mock-tokens": "3"}, {"x-mock-tokens": "12"}
    if kind == "sync":
        with tracer.start_as_current_span("app") as app, Mistral(**kw) as client:
            first = client.chat.stream(model=MODEL, messages=HI, extra_headers=short)
            second = client.chat.stream(model=MODEL, messages=HI, extra_headers=long)
            for _ in itertools.zip_longest(first, second):
                pass
            current = trace.get_current_span()
    else:

        async def main() -> Any:
            with tracer.start_as_current_span("app") as app:
                async with AsyncMistral(**kw) as client:
                    first = client.chat.stream(model=MODEL, messages=HI, extra_headers=short)
                    second = client.chat.stream(model=MODEL, messages=HI, extra_headers=long)
                    done = [False, False]
                    while not all(done):
                        for index, stream in enumerate((first, second)):
                            if not done[index]:
                                try:
                                    await stream.__anext__()
                                except StopAsyncIteration:
                                    done[index] = True
                    return app, trace.get_current_span()

        app, current = asyncio.run(main())
    assert current is app
    assert [s.attributes["mistral_client.stream.outcome"] for s in otel.call_spans()] == ["complete", "complete"]


def test_a_named_event_stream_is_traced(kind: str, otel: Otel) -> None:
    # Any stream kind opened with ``stream_of(..., operation=...)`` (conversations, audio) gets the same span.
    from tests.client.test_event_stream import WHOLE, AsyncTextStream, SyncTextStream, serve
    from tests.support.rawserver import RawServer

    body = b'{"model":"mistral-medium-latest","agent_id":"ag_1","stream":true}'
    with RawServer(serve(WHOLE)) as raw:
        kw = {"api_key": KEY, "base_url": raw.base_url, "max_retries": 0, "telemetry": otel.telemetry()}
        if kind == "sync":
            with Mistral(**kw) as client:
                stream = Resource(client).stream_of(SyncTextStream, "/x", body, None, None, operation="invoke_agent")
                with stream:
                    list(stream)
        else:

            async def main() -> Any:
                async with AsyncMistral(**kw) as client:
                    opened = AsyncResource(client).stream_of(
                        AsyncTextStream, "/x", body, None, None, operation="invoke_agent"
                    )
                    async with opened:
                        [e async for e in opened]
                return opened

            stream = asyncio.run(main())
    span = only(otel.call_spans())
    result = stream.result
    assert span.name == "invoke_agent mistral-medium-latest"
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.agent.id"] == "ag_1" and attributes["gen_ai.request.stream"] is True
    assert attributes["mistral_client.stream.outcome"] == "complete"
    assert attributes["mistral_client.stream.chunks"] == result.event_count == 3
    assert attributes["gen_ai.response.time_to_first_chunk"] == result.events[0].total_latency
    assert attributes["server.address"] == "127.0.0.1"
    per = only(otel.metrics()["gen_ai.client.operation.time_per_output_chunk"])[2]
    assert per == pytest.approx((result.events[-1].total_latency - result.events[0].total_latency) / 2)


def test_nothing_of_telemetry_runs_per_chunk(kind: str, server: LocalServer, otel: Otel) -> None:
    # With the SDK recording: between the first chunk and the last, no function of _telemetry.py runs.
    import mistral_client._telemetry as telemetry_module

    source = telemetry_module.__file__
    calls: list[str] = []

    def profiler(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_filename == source:
            calls.append(frame.f_code.co_name)

    kw, ask = client_kw(server, otel), {"model": MODEL, "messages": HI, "extra_headers": {"x-mock-tokens": "40"}}
    if kind == "sync":
        with Mistral(**kw) as client, client.chat.stream(**ask) as stream:
            iterator = iter(stream)
            next(iterator)
            sys.setprofile(profiler)
            try:
                for _ in range(30):
                    next(iterator)
            finally:
                sys.setprofile(None)
    else:

        async def main() -> None:
            async with AsyncMistral(**kw) as client, client.chat.stream(**ask) as stream:
                await stream.__anext__()
                sys.setprofile(profiler)
                try:
                    for _ in range(30):
                        await stream.__anext__()
                finally:
                    sys.setprofile(None)

        asyncio.run(main())
    assert calls == []
    assert only(otel.call_spans()).attributes["mistral_client.stream.chunks"] == 31  # and it recorded them all


def test_an_attempt_without_an_answer(kind: str, otel: Otel) -> None:
    import socket

    from mistral_client import APIConnectionError

    with socket.socket() as closed:  # a port nothing listens on: each attempt is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    kw = {"base_url": f"http://127.0.0.1:{port}", "telemetry": otel.telemetry(), "max_retries": 1}
    with pytest.raises(APIConnectionError):
        complete(kind, kw, model=MODEL, messages=HI)
    span = only(otel.call_spans())
    assert span.attributes["error.type"] == "APIConnectionError" and span.attributes["server.port"] == port
    attempts = sorted(otel.attempts(span), key=lambda s: s.start_time or 0)
    assert [a.attributes.get("error.type") for a in attempts] == ["APIConnectionError", "APIConnectionError"]
    assert all("http.response.status_code" not in a.attributes for a in attempts)


# -- contents and secrets -------------------------------------------------------------------------------


def everything_recorded(otel: Otel) -> str:
    spans = [
        {"name": s.name, "attributes": dict(s.attributes or {}), "events": [dict(e.attributes or {}) for e in s.events]}
        for s in otel.spans()
    ]
    return json.dumps(spans, default=str) + repr(otel.metrics())


@pytest.mark.parametrize("capture", [None, True])
def test_contents_only_on_opt_in_and_never_the_key(
    kind: str, server: LocalServer, otel: Otel, capture: bool | None
) -> None:
    kw = client_kw(server, otel, capture_content=capture)
    messages = [{"role": "system", "content": "be brief"}, user("the secret word is pomegranate")]
    complete(kind, kw, model=MODEL, messages=messages)
    stream_read(kind, kw, messages=messages)
    recorded = everything_recorded(otel)
    assert KEY not in recorded and "Bearer" not in recorded
    spans = otel.call_spans()
    assert len(spans) == 2
    for span in spans:
        attributes = span.attributes or {}
        if capture:
            assert json.loads(attributes["gen_ai.input.messages"]) == [
                {"role": "user", "parts": [{"type": "text", "content": "the secret word is pomegranate"}]}
            ]
            assert json.loads(attributes["gen_ai.system_instructions"]) == [{"type": "text", "content": "be brief"}]
            output = json.loads(attributes["gen_ai.output.messages"])
            assert output[0]["role"] == "assistant" and output[0]["parts"][0]["type"] == "text"
            assert output[0]["parts"][0]["content"]
        else:
            assert "pomegranate" not in recorded
            assert not any(name.endswith(("messages", "instructions")) for name in attributes)


def test_capture_env_variable(server: LocalServer, otel: Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CAPTURE_ENV, "true")
    complete("sync", client_kw(server, otel), model=MODEL, messages=HI)
    assert "gen_ai.input.messages" in only(otel.call_spans()).attributes
    # The client's option wins over the variable.
    complete("sync", client_kw(server, otel, capture_content=False), model=MODEL, messages=HI)
    assert "gen_ai.input.messages" not in sorted(otel.call_spans(), key=lambda s: s.start_time or 0)[1].attributes


def test_tool_calls_captured(server: LocalServer, otel: Otel) -> None:
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    messages = [
        user("weather?"),
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "abcdefghi", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}],
        },
        {"role": "tool", "tool_call_id": "abcdefghi", "name": "weather", "content": "sunny"},
    ]
    complete("sync", client_kw(server, otel, capture_content=True), model=MODEL, messages=messages, tools=tools)
    attributes = only(otel.call_spans()).attributes
    assert json.loads(attributes["gen_ai.input.messages"])[1:] == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "abcdefghi", "name": "weather", "arguments": {"city": "Paris"}}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "abcdefghi", "response": "sunny"}]},
    ]
    assert json.loads(attributes["gen_ai.tool.definitions"]) == tools


# -- nothing configured ---------------------------------------------------------------------------------


def test_nothing_recorded_without_an_sdk(kind: str, server: LocalServer) -> None:
    # The global providers are the API's proxies (no SDK installed as global in this process): no span.
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    result, error = stream_read(kind, {"base_url": server.base_url})
    assert error is None and result.chunk_count
    assert not trace.get_current_span().get_span_context().is_valid


def test_telemetry_false_records_nothing(server: LocalServer, otel: Otel) -> None:
    complete("sync", {"base_url": server.base_url, "telemetry": False}, model=MODEL, messages=HI)
    assert otel.spans() == []


def test_import_and_calls_do_not_import_opentelemetry(server: LocalServer) -> None:
    code = (
        "import sys, mistral_client\n"
        "from mistral_client import Mistral, user\n"
        f"with Mistral(base_url={server.base_url!r}) as c:\n"
        "    c.chat.complete(model='mistral-small-latest', messages=[user('hi')])\n"
        "    with c.chat.stream(model='mistral-small-latest', messages=[user('hi')]) as s:\n"
        "        list(s)\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_global_sdk_is_picked_up(server: LocalServer) -> None:
    # In a process of its own: the global tracer provider can be set once per process.
    code = (
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter\n"
        "exporter = InMemorySpanExporter(); provider = TracerProvider()\n"
        "provider.add_span_processor(SimpleSpanProcessor(exporter)); trace.set_tracer_provider(provider)\n"
        "from mistral_client import Mistral, user\n"
        f"with Mistral(base_url={server.base_url!r}) as c:\n"
        "    c.chat.complete(model='mistral-small-latest', messages=[user('hi')])\n"
        "print(sorted(s.name for s in exporter.get_finished_spans()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "['chat mistral-small-latest']"


def test_bad_option_is_a_clear_error() -> None:
    from mistral_client import InvalidRequestError

    with pytest.raises(InvalidRequestError, match="telemetry must be"):
        Mistral(base_url="http://127.0.0.1:9", telemetry="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match="capture_content"):
        Telemetry(capture_content="true")  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_capture_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(CAPTURE_ENV, raising=False)
    yield


# -- the tool loop (conversations.run) -------------------------------------------------------------------


@pytest.mark.parametrize("capture", [False, True])
def test_the_tool_loop_traced(kind: str, server: LocalServer, otel: Otel, capture: bool) -> None:
    tracer = otel.tracer_provider.get_tracer("app")

    def get_weather(city: str) -> dict[str, Any]:
        """The weather in a city."""
        with tracer.start_as_current_span("lookup"):
            return {"city": city, "temperature": 21}

    kw = client_kw(server, otel, capture_content=capture)
    ask = {"model": "mistral-medium-latest", "tools": [get_weather], "max_rounds": 3}
    if kind == "sync":
        with Mistral(**kw) as client, tracer.start_as_current_span("app"):
            run = client.conversations.run("Weather in Paris?", **ask)
    else:

        async def main() -> Any:
            async with AsyncMistral(**kw) as client:
                with tracer.start_as_current_span("app"):
                    return await client.conversations.run("Weather in Paris?", **ask)

        run = asyncio.run(main())
    assert run.rounds == 1
    spans = sorted(otel.spans(), key=lambda s: s.start_time or 0)
    by_name = {s.name: s for s in spans}
    app, tool, lookup = by_name["app"], by_name["execute_tool get_weather"], by_name["lookup"]
    first, second = by_name["invoke_agent mistral-medium-latest"], by_name["invoke_agent"]
    assert [s.name for s in spans if s.parent is not None and s.parent.span_id == app.context.span_id] == [
        first.name,
        tool.name,
        second.name,
    ]
    assert lookup.parent is not None and lookup.parent.span_id == tool.context.span_id
    call = run.function_calls[0]
    assert dict(tool.attributes or {}) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.provider.name": "mistral_ai",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.call.id": call.tool_call_id,
        "gen_ai.tool.type": "function",
        **(
            {
                "gen_ai.tool.call.arguments": call.arguments,
                "gen_ai.tool.call.result": json.dumps(
                    call.parsed_arguments() | {"temperature": 21}, separators=(",", ":")
                ),
            }
            if capture
            else {}
        ),
    }
    assert (
        first.attributes["gen_ai.conversation.id"] == second.attributes["gen_ai.conversation.id"] == run.conversation_id
    )
    for turn in (first, second):
        assert turn.attributes["gen_ai.usage.output_tokens"] > 0
        assert otel.attempts(turn) == []
    assert ("gen_ai.tool.definitions" in first.attributes) is capture


def test_a_failing_tool_is_an_error_span(server: LocalServer, otel: Otel) -> None:
    def get_weather(city: str) -> str:
        """The weather in a city."""
        raise LookupError(f"no station in {city}")

    with Mistral(**client_kw(server, otel)) as client:
        run = client.conversations.run("Weather?", model="mistral-medium-latest", tools=[get_weather], max_rounds=2)
    assert run.function_results[0].result.startswith("error: LookupError")
    tool = next(s for s in otel.spans() if s.name == "execute_tool get_weather")
    assert tool.status.status_code is StatusCode.ERROR and tool.attributes["error.type"] == "LookupError"


# -- audio, OCR, moderation, classification -------------------------------------------------------------


def test_audio_ocr_and_moderation_are_traced(kind: str, server: LocalServer, otel: Otel, tmp_path: Any) -> None:
    from mistral_client.server import write_samples

    write_samples(tmp_path)
    kw = client_kw(server, otel)

    def calls(client: Any) -> Any:
        transcription = client.audio.transcriptions.create(tmp_path / "sample.wav", model="voxtral-mini-latest")
        client.audio.speech.create(input="Hello.", response_format="wav")
        client.ocr.process(tmp_path / "sample.pdf", model="mistral-ocr-latest")
        client.moderations.create(model="mistral-moderation-latest", input=["hello"])
        return transcription

    if kind == "sync":
        with Mistral(**kw) as client:
            transcription = calls(client)
            with client.audio.transcriptions.stream(tmp_path / "sample.wav", model="voxtral-mini-latest") as stream:
                list(stream)
    else:

        async def main() -> Any:
            async with AsyncMistral(**kw) as client:
                done = await client.audio.transcriptions.create(tmp_path / "sample.wav", model="voxtral-mini-latest")
                await client.audio.speech.create(input="Hello.", response_format="wav")
                await client.ocr.process(tmp_path / "sample.pdf", model="mistral-ocr-latest")
                await client.moderations.create(model="mistral-moderation-latest", input=["hello"])
                async with client.audio.transcriptions.stream(
                    tmp_path / "sample.wav", model="voxtral-mini-latest"
                ) as opened:
                    [event async for event in opened]
                return done, opened

        transcription, stream = asyncio.run(main())
    spans = sorted(otel.call_spans(), key=lambda s: s.start_time or 0)
    names = [s.attributes["gen_ai.operation.name"] for s in spans]
    assert names == ["transcription", "text_to_speech", "ocr", "moderation", "transcription"]
    assert spans[0].name == "transcription voxtral-mini-latest"  # a form: the model the resource passed
    assert spans[2].name == "ocr mistral-ocr-latest"  # JSON: the model read from the body
    assert spans[-1].attributes["mistral_client.stream.outcome"] == "complete"
    assert spans[-1].attributes["mistral_client.stream.chunks"] == stream.result.event_count
    assert all(s.status.status_code is StatusCode.UNSET for s in spans)
    assert transcription.text
    assert KEY not in everything_recorded(otel)


def test_files_batch_and_every_metadata_call_are_traced(
    kind: str, server: LocalServer, otel: Otel, tmp_path: Any
) -> None:
    # Every operation of the client has a span: the management calls too, under names of their own.
    lines = tmp_path / "in.jsonl"
    lines.write_text('{"custom_id": "a", "body": {"messages": [{"role": "user", "content": "hi"}]}}\n')
    kw = client_kw(server, otel)

    def calls(client: Any) -> Any:
        uploaded = client.files.upload(lines, purpose="batch")
        client.files.list()
        client.files.retrieve(uploaded.id)
        client.files.download(uploaded.id, tmp_path / "back.jsonl")
        client.files.get_signed_url(uploaded.id)
        job = client.batch.jobs.create(input_files=[uploaded.id], model=MODEL, endpoint="/v1/chat/completions")
        client.batch.jobs.get(job.id)
        client.batch.jobs.list()
        client.batch.jobs.cancel(job.id)
        client.files.delete(uploaded.id)
        agent = client.agents.create(model=MODEL, name="traced")
        client.agents.get(agent.id)
        client.agents.list()
        client.agents.delete(agent.id)
        client.conversations.list()
        client.audio.voices.list()

    if kind == "sync":
        with Mistral(**kw) as client:
            calls(client)
    else:

        async def main() -> None:
            async with AsyncMistral(**kw) as client:
                # The same calls, awaited: each returns a coroutine here.
                uploaded = await client.files.upload(lines, purpose="batch")
                await client.files.list()
                await client.files.retrieve(uploaded.id)
                await client.files.download(uploaded.id, tmp_path / "back.jsonl")
                await client.files.get_signed_url(uploaded.id)
                job = await client.batch.jobs.create(
                    input_files=[uploaded.id], model=MODEL, endpoint="/v1/chat/completions"
                )
                await client.batch.jobs.get(job.id)
                await client.batch.jobs.list()
                await client.batch.jobs.cancel(job.id)
                await client.files.delete(uploaded.id)
                agent = await client.agents.create(model=MODEL, name="traced")
                await client.agents.get(agent.id)
                await client.agents.list()
                await client.agents.delete(agent.id)
                await client.conversations.list()
                await client.audio.voices.list()

        asyncio.run(main())
    spans = sorted(otel.call_spans(), key=lambda s: s.start_time or 0)
    assert [s.attributes["gen_ai.operation.name"] for s in spans] == [
        "upload_file",
        "list_files",
        "retrieve_file",
        "download_file",
        "get_file_signed_url",
        "create_batch_job",
        "get_batch_job",
        "list_batch_jobs",
        "cancel_batch_job",
        "delete_file",
        "create_agent",
        "get_agent",
        "list_agents",
        "delete_agent",
        "list_conversations",
        "list_voices",
    ]
    assert all(s.status.status_code is StatusCode.UNSET and not otel.attempts(s) for s in spans)
    assert KEY not in everything_recorded(otel)


def test_every_call_a_resource_sends_names_its_operation() -> None:
    # A call made without ``operation=`` is not traced: no resource may send one.
    import ast
    from pathlib import Path

    senders = {"post_json", "get_json", "call", "open_stream", "stream_of", "_call"}
    missing = []
    folder = Path(__file__).resolve().parents[2] / "src" / "mistral_client" / "_async" / "resources"
    for path in sorted(folder.glob("*.py")):
        if path.name == "_base.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in senders
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "self"
                and not any(keyword.arg in ("operation", None) for keyword in node.keywords)
            ):
                missing.append(f"{path.name}:{node.lineno} {node.func.attr}")
    assert not missing, missing
