"""OpenTelemetry GenAI spans and metrics for every call, attempt and stream, when an SDK is configured.

Nothing here imports ``opentelemetry`` on its own: a call looks in ``sys.modules`` for it (a dict look-up),
and only when an SDK's tracer or meter provider is installed does it build a span; with the API alone
(its proxy providers) or without it, every hook is ``None`` and costs a test of ``None``.  Nothing runs
per chunk: a stream's span and metrics are completed from what the stream measured, once, at its end.

Names follow the GenAI semantic conventions of opentelemetry-semantic-conventions 0.66b2 (written out here,
so that the package is not needed at run time).  The three hooks the client calls:

- ``begin(settings, operation, body, model, stream=...)``: the call's span (``{operation} {model}``), or
  ``None`` when nothing records; the resource base calls it (``operation=`` is what a resource passes);
- ``trace_attempt(call, request, number)``: around each try of the send loop (``_async/client.py``); a retried
  call gets one HTTP client span per attempt under its span, the first made once the retry begins;
- ``Call.answered(data)`` / ``Call.failed(exc)`` / ``Call.stream_ended(result, error)``: the end, exactly once.
"""

from __future__ import annotations

import logging
import os
import sys
from time import perf_counter, time_ns
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import msgspec

if TYPE_CHECKING:
    import httpx2


__all__ = [
    "CAPTURE_ENV",
    "Call",
    "Telemetry",
    "TelemetrySettings",
    "begin",
    "execute_tool",
    "settings_for",
    "trace_attempt",
]

logger = logging.getLogger("mistral_client")

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
PROVIDER = "mistral_ai"
_SCOPE = "mistral_client"
# Explicit bucket boundaries the GenAI conventions advise for the two client histograms.
_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
_CHUNK_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

# Request fields -> gen_ai.request.* attributes (Mistral's names on the left).
_REQUEST_ATTRIBUTES = (
    ("max_tokens", "gen_ai.request.max_tokens", int),
    ("temperature", "gen_ai.request.temperature", float),
    ("top_p", "gen_ai.request.top_p", float),
    ("random_seed", "gen_ai.request.seed", int),
    ("presence_penalty", "gen_ai.request.presence_penalty", float),
    ("frequency_penalty", "gen_ai.request.frequency_penalty", float),
    ("n", "gen_ai.request.choice.count", int),
    ("output_dimension", "gen_ai.embeddings.dimension.count", int),
)


class Telemetry:
    """What a client records with OpenTelemetry: ``AsyncMistral(telemetry=Telemetry(...))``.

    By default a client records when an OpenTelemetry SDK is configured (the global tracer and meter
    providers) and never records message contents unless ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``
    is ``true``.  ``capture_content=True`` or ``False`` decides for this client whatever the variable says;
    ``tracer_provider`` / ``meter_provider`` record to those instead of the global ones.
    ``telemetry=False`` turns recording off for the client.
    """

    __slots__ = ("capture_content", "meter_provider", "tracer_provider")

    def __init__(
        self, *, capture_content: bool | None = None, tracer_provider: Any = None, meter_provider: Any = None
    ) -> None:
        if capture_content is not None and not isinstance(capture_content, bool):
            from ._exceptions import InvalidRequestError

            raise InvalidRequestError(f"capture_content must be True, False or None, got {capture_content!r}")
        self.capture_content = capture_content
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider

    def __repr__(self) -> str:
        return f"Telemetry(capture_content={self.capture_content!r})"


class TelemetrySettings:
    """A client's resolved telemetry: where it records, whether contents are captured, the server's address."""

    __slots__ = ("capture", "meter_provider", "port", "server", "tracer_provider")

    def __init__(self, options: Telemetry, base_url: str) -> None:
        capture = options.capture_content
        if capture is None:
            capture = os.environ.get(CAPTURE_ENV, "").strip().lower() == "true"
        self.capture = capture
        self.tracer_provider = options.tracer_provider
        self.meter_provider = options.meter_provider
        parts = urlsplit(base_url)
        self.server = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)


def settings_for(telemetry: Telemetry | bool | None, base_url: str) -> TelemetrySettings | None:
    """The client's settings; ``None`` when the client was told never to record."""
    if telemetry is False:
        return None
    if telemetry is None or telemetry is True:
        telemetry = Telemetry()
    if not isinstance(telemetry, Telemetry):
        from ._exceptions import InvalidRequestError

        raise InvalidRequestError(
            f"telemetry must be a mistral_client.Telemetry, True, False or None, got {type(telemetry).__name__}"
        )
    return TelemetrySettings(telemetry, base_url)


class _Instruments:
    """A tracer and the four histograms, made once per pair of providers."""

    __slots__ = ("duration", "first_chunk", "per_chunk", "tokens", "tracer")

    def __init__(self, tracer_provider: Any, meter_provider: Any) -> None:
        self.tracer = tracer_provider.get_tracer(_SCOPE) if tracer_provider is not None else None
        self.duration = self.tokens = self.first_chunk = self.per_chunk = None
        if meter_provider is not None:
            meter = meter_provider.get_meter(_SCOPE)
            self.duration = meter.create_histogram(
                "gen_ai.client.operation.duration",
                unit="s",
                description="GenAI operation duration.",
                explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
            )
            self.tokens = meter.create_histogram(
                "gen_ai.client.token.usage",
                unit="{token}",
                description="Number of input and output tokens used.",
                explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
            )
            self.first_chunk = meter.create_histogram(
                "gen_ai.client.operation.time_to_first_chunk",
                unit="s",
                description="Time to receive the first chunk of a stream, from the request.",
                explicit_bucket_boundaries_advisory=_CHUNK_BUCKETS,
            )
            self.per_chunk = meter.create_histogram(
                "gen_ai.client.operation.time_per_output_chunk",
                unit="s",
                description="Mean time between output chunks of a stream, one value per stream.",
                explicit_bucket_boundaries_advisory=_CHUNK_BUCKETS,
            )


_cache: tuple[Any, Any, _Instruments] | None = None


def _providers(settings: TelemetrySettings) -> tuple[Any, Any]:
    """The SDK providers to record to; ``None`` for each that is not configured (the API's proxy or no-op)."""
    tracer_provider, meter_provider = settings.tracer_provider, settings.meter_provider
    if tracer_provider is None:
        trace = sys.modules.get("opentelemetry.trace")
        if trace is not None:
            tracer_provider = trace.get_tracer_provider()
            if isinstance(tracer_provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
                tracer_provider = None
    if meter_provider is None:
        metrics = sys.modules.get("opentelemetry.metrics")
        if metrics is not None:
            meter_provider = metrics.get_meter_provider()
            if isinstance(meter_provider, metrics.NoOpMeterProvider) or type(meter_provider).__name__ == (
                "_ProxyMeterProvider"
            ):
                meter_provider = None
    return tracer_provider, meter_provider


def _instruments(settings: TelemetrySettings) -> _Instruments | None:
    global _cache
    tracer_provider, meter_provider = _providers(settings)
    if tracer_provider is None and meter_provider is None:
        return None
    cache = _cache
    if cache is not None and cache[0] is tracer_provider and cache[1] is meter_provider:
        return cache[2]
    instruments = _Instruments(tracer_provider, meter_provider)
    _cache = (tracer_provider, meter_provider, instruments)
    return instruments


_NONE = msgspec.Raw(b"")  # a field that was absent (``Raw`` takes no ``None`` in a union)


class _Request(msgspec.Struct):
    """The request fields telemetry reads; any type is taken (checked below), the rest of the body skipped."""

    model: Any = None
    agent_id: Any = None
    stream: Any = None
    max_tokens: Any = None
    temperature: Any = None
    top_p: Any = None
    random_seed: Any = None
    presence_penalty: Any = None
    frequency_penalty: Any = None
    n: Any = None
    output_dimension: Any = None
    stop: Any = None
    encoding_format: Any = None
    response_format: Any = None
    messages: msgspec.Raw = _NONE
    tools: msgspec.Raw = _NONE
    prompt: msgspec.Raw = _NONE
    suffix: msgspec.Raw = _NONE
    input: msgspec.Raw = _NONE
    inputs: msgspec.Raw = _NONE


class _Usage(msgspec.Struct):
    prompt_tokens: Any = None
    completion_tokens: Any = None


class _Choice(msgspec.Struct):
    finish_reason: Any = None
    message: msgspec.Raw = _NONE


class _Answer(msgspec.Struct):
    id: Any = None
    conversation_id: Any = None
    model: Any = None
    usage: _Usage | None = None
    choices: list[_Choice] | None = None


_decode_request = msgspec.json.Decoder(_Request).decode
_decode_answer = msgspec.json.Decoder(_Answer).decode
_decode_any = msgspec.json.decode
_encode = msgspec.json.encode


def _is(value: object, kind: type) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind) and not isinstance(value, bool)


def begin(
    settings: TelemetrySettings | None,
    operation: str | None,
    body: object,
    model: str | None = None,
    *,
    stream: bool = False,
) -> Call | None:
    """Start the call's span (and its clock), or ``None`` when nothing records this call."""
    if settings is None or operation is None:
        return None
    try:
        return _begin(settings, operation, body, model, stream)
    except Exception:  # recording must never fail a call: a broken SDK setup is logged and skipped
        logger.debug("OpenTelemetry: the call is not recorded", exc_info=True)
        return None


def _begin(settings: TelemetrySettings, operation: str, body: object, model: str | None, stream: bool) -> Call | None:
    instruments = _instruments(settings)
    if instruments is None:
        return None
    if instruments.tracer is not None:
        _Slot.sweep()
    request = None
    if isinstance(body, bytes) and body[:1] == b"{":
        try:
            request = _decode_request(body)
        except (msgspec.DecodeError, UnicodeDecodeError, msgspec.ValidationError):
            request = None
    if model is None and request is not None:
        model = request.model if isinstance(request.model, str) else None
    return Call(settings, instruments, operation, model, request, stream)


class Call:
    """One call (or stream) being recorded: its span, its metric attributes, its clock."""

    __slots__ = ("_base", "_capture", "_ended", "_first_try", "_instruments", "_slot", "span", "started")

    def __init__(
        self,
        settings: TelemetrySettings,
        instruments: _Instruments,
        operation: str,
        model: str | None,
        request: _Request | None,
        stream: bool,
    ) -> None:
        self._instruments = instruments
        self._capture = settings.capture
        self._ended = False
        self._slot: _Slot | None = None
        self._first_try: _FirstTry | None = None
        base: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": PROVIDER,
            "server.address": settings.server,
            "server.port": settings.port,
        }
        if model:
            base["gen_ai.request.model"] = model
        self._base = base
        self.started = perf_counter()
        self.span: Any = None
        tracer = instruments.tracer
        if tracer is None:
            return
        from opentelemetry.trace import SpanKind

        attributes = dict(base)
        if stream:
            attributes["gen_ai.request.stream"] = True
        if request is not None:
            _request_attributes(request, attributes, settings.capture)
        name = f"{operation} {model}" if model else operation
        span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        self.span = span if span.is_recording() else None

    # -- the span as the current context ----------------------------------------------------------
    def enter(self) -> None:
        """Make the span the current context (in the caller's context) until the call ends."""
        if self.span is not None and self._slot is None:
            self._slot = _Slot(self.span)

    # -- the end, exactly once ------------------------------------------------------------------------
    def answered(self, data: bytes) -> None:
        """A whole answer arrived: its id, model, finish reasons, usage and (opt-in) output messages."""
        if self._ended:
            return
        try:
            self._answered(data)
        except Exception:
            self._give_up()

    def _answered(self, data: bytes) -> None:
        answer = None
        if data[:1] == b"{":
            try:
                answer = _decode_answer(data)
            except (msgspec.DecodeError, UnicodeDecodeError, msgspec.ValidationError):
                answer = None
        attributes: dict[str, Any] = {}
        usage = (None, None)
        response_model = None
        if answer is not None:
            if isinstance(answer.id, str) and answer.id:
                attributes["gen_ai.response.id"] = answer.id
            if isinstance(answer.conversation_id, str) and answer.conversation_id:
                attributes["gen_ai.conversation.id"] = answer.conversation_id
            if isinstance(answer.model, str) and answer.model:
                response_model = attributes["gen_ai.response.model"] = answer.model
            if answer.choices:
                reasons = [c.finish_reason for c in answer.choices if isinstance(c.finish_reason, str)]
                if reasons:
                    attributes["gen_ai.response.finish_reasons"] = reasons
                if self._capture:
                    attributes["gen_ai.output.messages"] = _output_from_choices(answer.choices)
            if answer.usage is not None:
                usage = (answer.usage.prompt_tokens, answer.usage.completion_tokens)
        self._end(attributes, response_model, usage, None)

    def failed(self, exc: BaseException) -> None:
        """The call raised before its answer was whole."""
        if self._ended:
            return
        try:
            self._end({}, None, (None, None), exc)
        except Exception:
            self._give_up()

    def stream_ended(self, result: Any, error: BaseException | None, *, abandoned: bool = False) -> None:
        """The stream ended (completed, cancelled, failed or dropped): all from what it measured.

        ``result`` is a chat ``StreamResult`` or a named-event ``EventResult``: what either has is read.
        """
        if self._ended:
            return
        try:
            self._stream_ended(result, error, abandoned)
        except Exception:
            self._give_up()

    def _stream_ended(self, result: Any, error: BaseException | None, abandoned: bool) -> None:
        attributes: dict[str, Any] = {}
        response_model = None
        response_id, model = getattr(result, "id", None), getattr(result, "model", None)
        if isinstance(response_id, str) and response_id:
            attributes["gen_ai.response.id"] = response_id
        conversation = getattr(result, "conversation_id", None)
        if isinstance(conversation, str) and conversation:
            attributes["gen_ai.conversation.id"] = conversation
        if isinstance(model, str) and model:
            response_model = attributes["gen_ai.response.model"] = model
        choices = getattr(result, "choices", None) or ()
        reasons = [c.finish_reason for c in choices if c.finish_reason]
        if reasons:
            attributes["gen_ai.response.finish_reasons"] = reasons
        timing = _Timing(result)
        if timing.first is not None:
            attributes["gen_ai.response.time_to_first_chunk"] = timing.first
        attributes["mistral_client.stream.chunks"] = timing.count
        if error is not None:
            outcome = "error"
        elif abandoned:
            outcome = "abandoned"  # dropped unclosed: the garbage collector ended it
        else:
            outcome = "cancelled" if getattr(result, "cancelled", False) else "complete"
        attributes["mistral_client.stream.outcome"] = outcome
        if self._capture and timing.count:
            attributes["gen_ai.output.messages"] = _output_from_result(result)
        usage = getattr(result, "usage", None)
        if isinstance(usage, dict):
            tokens = (usage.get("prompt_tokens"), usage.get("completion_tokens"))
        else:
            tokens = (getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None))
        self._end(attributes, response_model, tokens, error, timing)

    def _give_up(self) -> None:
        """A hook failed (a broken SDK, an answer of an odd shape): end the span, put the context back."""
        logger.debug("OpenTelemetry: the call's record is incomplete", exc_info=True)
        self._ended = True
        try:
            if self.span is not None and self.span.is_recording():
                self.span.end()
            if self._slot is not None:
                self._slot.leave()
        except Exception:
            pass

    def _end(
        self,
        attributes: dict[str, Any],
        response_model: str | None,
        usage: tuple[Any, Any],
        error: BaseException | None,
        timing: _Timing | None = None,
    ) -> None:
        self._ended = True
        elapsed = perf_counter() - self.started
        error_type = _error_type(error) if error is not None else None
        input_tokens, output_tokens = usage
        if _is(input_tokens, int):
            attributes["gen_ai.usage.input_tokens"] = input_tokens
        if self._base["gen_ai.operation.name"] == "embeddings":
            output_tokens = None  # the API says 0: an embedding has no output tokens to count
        if _is(output_tokens, int):
            attributes["gen_ai.usage.output_tokens"] = output_tokens
        span = self.span
        if span is not None:
            if error_type is not None:
                from opentelemetry.trace import StatusCode

                attributes["error.type"] = error_type
                span.set_status(StatusCode.ERROR, _describe(error))
            span.set_attributes(attributes)
            span.end()
        slot = self._slot
        if slot is not None:
            slot.leave()
        instruments = self._instruments
        if instruments.duration is None:
            return
        metric = dict(self._base)
        if response_model:
            metric["gen_ai.response.model"] = response_model
        if error_type is not None:
            metric["error.type"] = error_type
        if timing is not None and timing.total is not None:
            elapsed = timing.total  # from the request, as the stream measured it
        instruments.duration.record(elapsed, metric)
        if _is(input_tokens, int):
            instruments.tokens.record(input_tokens, {**metric, "gen_ai.token.type": "input"})  # type: ignore[union-attr]
        if _is(output_tokens, int):
            instruments.tokens.record(output_tokens, {**metric, "gen_ai.token.type": "output"})  # type: ignore[union-attr]
        if timing is not None and timing.first is not None:
            instruments.first_chunk.record(timing.first, metric)  # type: ignore[union-attr]
            per = timing.per_chunk()
            if per is not None:
                instruments.per_chunk.record(per, metric)  # type: ignore[union-attr]


class _Timing:
    """A stream's timings, read once at its end from its result (no work was done per chunk).

    The first chunk: the first kept chunk's latency, else the result's first-content (chat) or first-event
    time.  Time per output chunk: one value per stream, the mean gap from the first chunk to the last
    (the last kept chunk, else the end of the stream).
    """

    __slots__ = ("count", "first", "last", "total")

    def __init__(self, result: Any) -> None:
        items = getattr(result, "chunks", None)
        if items is None:
            items = getattr(result, "events", None)
        count = getattr(result, "chunk_count", None)
        self.count: int = count if isinstance(count, int) else getattr(result, "event_count", 0)
        self.total: float | None = getattr(result, "total_latency", None)
        self.first: float | None
        self.last: float | None
        if items:
            self.first, self.last = items[0].total_latency, items[-1].total_latency
        else:
            first = getattr(result, "time_to_first_token", None)
            if first is None:
                first = getattr(result, "time_to_first_event", None)
            self.first, self.last = first, self.total

    def per_chunk(self) -> float | None:
        if self.first is None or self.last is None or self.count < 2:
            return None
        return max(self.last - self.first, 0.0) / (self.count - 1)


def _error_type(error: BaseException) -> str:
    return type(error).__name__


def _describe(error: BaseException | None) -> str:
    # Our exceptions never hold the key (``_exceptions.redact``); the message is cut to stay small.
    text = str(error) if error is not None else ""
    return text[:300]


def _request_attributes(request: _Request, attributes: dict[str, Any], capture: bool) -> None:
    for field, name, kind in _REQUEST_ATTRIBUTES:
        value = getattr(request, field)
        if value is not None and _is(value, kind):
            attributes[name] = value
    stop = request.stop
    if isinstance(stop, str):
        attributes["gen_ai.request.stop_sequences"] = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        attributes["gen_ai.request.stop_sequences"] = stop
    if isinstance(request.encoding_format, str):
        attributes["gen_ai.request.encoding_formats"] = [request.encoding_format]
    response_format = request.response_format
    if isinstance(response_format, dict):
        format_type = response_format.get("type")
        if format_type in ("json_object", "json_schema"):
            attributes["gen_ai.output.type"] = "json"
        elif format_type == "text":
            attributes["gen_ai.output.type"] = "text"
    if isinstance(request.agent_id, str):
        attributes["gen_ai.agent.id"] = request.agent_id
    if capture:
        _capture_input(request, attributes)


def _capture_input(request: _Request, attributes: dict[str, Any]) -> None:
    """The opt-in contents, as the conventions shape them (JSON strings on the span)."""
    try:
        if request.messages:
            system, messages = _input_messages(_decode_any(request.messages))
            if system:
                attributes["gen_ai.system_instructions"] = _encode(system).decode()
            attributes["gen_ai.input.messages"] = _encode(messages).decode()
        elif request.prompt:
            parts = [{"type": "text", "content": _decode_any(request.prompt)}]
            if request.suffix:
                parts.append({"type": "text", "content": _decode_any(request.suffix)})
            attributes["gen_ai.input.messages"] = _encode([{"role": "user", "parts": parts}]).decode()
        elif request.input or request.inputs:
            value = _decode_any(request.input or request.inputs)
            texts = value if isinstance(value, list) else [value]
            parts = [{"type": "text", "content": t} for t in texts]
            attributes["gen_ai.input.messages"] = _encode([{"role": "user", "parts": parts}]).decode()
        if request.tools:
            attributes["gen_ai.tool.definitions"] = bytes(request.tools).decode()
    except (msgspec.DecodeError, UnicodeDecodeError, TypeError):
        pass  # contents are a courtesy; a body the server takes must not fail here


def _parts_of(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    parts: list[dict[str, Any]] = []
    if isinstance(content, list):
        for piece in content:
            if isinstance(piece, dict) and piece.get("type") == "text":
                parts.append({"type": "text", "content": piece.get("text", "")})
            elif isinstance(piece, dict) and piece.get("type") == "thinking":
                parts.append({"type": "reasoning", "content": _encode(piece.get("thinking")).decode()})
            else:
                parts.append({"type": str(piece.get("type")) if isinstance(piece, dict) else "unknown"})
    return parts


def _call_parts(tool_calls: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for call in tool_calls or ():
        if not isinstance(call, dict):
            continue
        function = call.get("function") or {}
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            try:
                arguments = _decode_any(arguments)
            except msgspec.DecodeError:
                pass
        parts.append({"type": "tool_call", "id": call.get("id"), "name": function.get("name"), "arguments": arguments})
    return parts


def _input_messages(messages: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role == "system":
            system.extend(_parts_of(message.get("content")))
        elif role == "tool":
            content = message.get("content")
            out.append(
                {
                    "role": "tool",
                    "parts": [{"type": "tool_call_response", "id": message.get("tool_call_id"), "response": content}],
                }
            )
        else:
            parts = _parts_of(message.get("content")) + _call_parts(message.get("tool_calls"))
            out.append({"role": role, "parts": parts})
    return system, out


def _output_from_choices(choices: list[_Choice]) -> str:
    out = []
    for choice in choices:
        message = _decode_any(choice.message) if choice.message else {}
        if not isinstance(message, dict):
            message = {}
        parts = _parts_of(message.get("content")) + _call_parts(message.get("tool_calls"))
        out.append({"role": "assistant", "parts": parts, "finish_reason": choice.finish_reason or ""})
    return _encode(out).decode()


def _output_from_result(result: Any) -> str:
    out = []
    choices = getattr(result, "choices", None)
    if choices is None:  # a named-event stream: the text it carried
        text = getattr(result, "text", "")
        said = [{"type": "text", "content": text}] if isinstance(text, str) and text else []
        return _encode([{"role": "assistant", "parts": said, "finish_reason": ""}]).decode()
    for choice in choices:
        parts: list[dict[str, Any]] = []
        if choice.thinking:
            parts.append({"type": "reasoning", "content": choice.thinking})
        if choice.content:
            parts.append({"type": "text", "content": choice.content})
        for call in choice.tool_calls:
            arguments: Any = call.function.arguments
            try:
                arguments = _decode_any(arguments)
            except (msgspec.DecodeError, TypeError):
                pass
            parts.append({"type": "tool_call", "id": call.id, "name": call.function.name, "arguments": arguments})
        out.append({"role": "assistant", "parts": parts, "finish_reason": choice.finish_reason or ""})
    return _encode(out).decode()


class _Slot:
    """A span made the current context in the caller's context, and put back exactly once at the end.

    A stream's span becomes current when it is first used and stops being current when it ends, so the
    caller's spans made while it iterates nest under it.  The end may come in another context (a garbage
    collector's finaliser, asyncio's task for an abandoned generator): there, nothing is reset (a token
    only resets in its own context).  Two streams ended out of order (read in turns): the one that ends
    under another is put back when the one above it ends.
    """

    __slots__ = ("context", "ended", "token")

    _KEY = "mistral_client.stream"

    def __init__(self, span: Any) -> None:
        from opentelemetry import context
        from opentelemetry.trace import set_span_in_context

        self.ended = False
        self.context = context.set_value(self._KEY, self, set_span_in_context(span))
        self.token = context.attach(self.context)

    def leave(self) -> None:
        self.ended = True
        _Slot.sweep()

    @classmethod
    def sweep(cls) -> None:
        """Put back every ended slot on top of the current context, if the reset belongs to this context.

        Called when a stream ends, and when the next call begins: a stream the garbage collector ended
        elsewhere (asyncio closes a dropped generator in a task of its own) is put back by the next call
        of the task that read it.
        """
        from opentelemetry import context

        current = context.get_current()
        slot = current.get(cls._KEY)
        while isinstance(slot, _Slot) and slot.ended and current is slot.context:
            token = slot.token
            var = getattr(token, "var", None)
            try:
                if var is None:
                    context.detach(token)
                else:
                    var.reset(token)  # as ``detach`` does, without its logged error in a foreign context
            except (ValueError, RuntimeError):
                return
            current = context.get_current()
            slot = current.get(cls._KEY)


class _NoAttempt:
    """The attempt hook when nothing records: every method does nothing."""

    __slots__ = ()

    def __enter__(self) -> _NoAttempt:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        return None

    def answered(self, status: int) -> None:
        pass

    def failed(self, error: BaseException) -> None:
        pass


_NO_ATTEMPT = _NoAttempt()


def _http_attributes(method: str, url: httpx2.URL, number: int) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "http.request.method": method,
        "server.address": url.host,
        "server.port": url.port or (443 if url.scheme == "https" else 80),
        "url.full": str(url.copy_with(query=None)) if url.query else str(url),
    }
    if number:
        attributes["http.request.resend_count"] = number
    return attributes


class _Try:
    """What one try of the send loop ended with: the answer's status, and the error type if it failed."""

    __slots__ = ("error", "status")

    def __init__(self) -> None:
        self.status: int | None = None
        self.error: str | None = None

    def answered(self, status: int) -> None:
        self.status = status
        if status >= 400:
            self.error = str(status)

    def failed(self, error: BaseException) -> None:
        if self.error is None:
            self.error = _error_type(error)

    def _settle(self, exc: BaseException | None) -> None:
        if exc is not None and self.error is None:
            self.error = _error_type(exc)


class _FirstTry(_Try):
    """A call's first try, timed but not yet a span: most calls are answered at once, and a span of their
    only try would repeat the call's own at the cost of a second span.  When the call is retried, this try
    becomes a span with its own times, beside the next ones (``made_a_span``).

    Its request carries the call's span as the trace's parent, so the server's span nests under the call.
    """

    __slots__ = ("call", "ended", "method", "started", "url")

    def __init__(self, call: Call, request: httpx2.Request) -> None:
        from opentelemetry import propagate
        from opentelemetry.trace import set_span_in_context

        super().__init__()
        self.call: Call | None = call
        self.method, self.url = request.method, request.url  # not the request: it holds the key
        self.ended = 0
        propagate.inject(request.headers, context=set_span_in_context(call.span))
        self.started = time_ns()

    def __enter__(self) -> _FirstTry:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.ended = time_ns()
        self._settle(exc)
        call, self.call = self.call, None  # no cycle: a call is freed as soon as its stream is
        if call is not None:
            call._first_try = self

    def made_a_span(self, call: Call) -> None:
        """The call is retried: this try as the span it would have been, under the call's span."""
        from opentelemetry.trace import SpanKind, set_span_in_context

        tracer = call._instruments.tracer
        assert tracer is not None
        attributes = _http_attributes(self.method, self.url, 0)
        span = tracer.start_span(
            self.method,
            context=set_span_in_context(call.span),
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=self.started,
        )
        _end_attempt(span, self.status, self.error, self.ended or None)


def _end_attempt(span: Any, status: int | None, error: str | None, ended: int | None = None) -> None:
    if status is not None:
        span.set_attribute("http.response.status_code", status)
    if error is not None:
        from opentelemetry.trace import StatusCode

        span.set_attribute("error.type", error)
        span.set_status(StatusCode.ERROR)
    span.end(end_time=ended)


class _Attempt(_Try):
    """A retry of the send loop as an HTTP client span under the call's span (``http.request.resend_count``)."""

    __slots__ = ("span",)

    def __init__(self, call: Call, request: httpx2.Request, number: int) -> None:
        from opentelemetry import propagate
        from opentelemetry.trace import SpanKind, set_span_in_context

        super().__init__()
        tracer = call._instruments.tracer
        assert tracer is not None
        parent = set_span_in_context(call.span)
        attributes = _http_attributes(request.method, request.url, number)
        self.span = tracer.start_span(request.method, context=parent, kind=SpanKind.CLIENT, attributes=attributes)
        # The server can join the trace (the local server's spans do): only trace headers, never the key.
        propagate.inject(request.headers, context=set_span_in_context(self.span))

    def __enter__(self) -> _Attempt:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._settle(exc)
        _end_attempt(self.span, self.status, self.error)


class _Tool:
    """``execute_tool {name}``: one function the tool loop runs, current while it runs (its spans nest)."""

    __slots__ = ("capture", "slot", "span")

    def __init__(self, tracer: Any, capture: bool, name: str, call_id: str, arguments: Any) -> None:
        from opentelemetry.trace import SpanKind

        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.provider.name": PROVIDER,
            "gen_ai.tool.name": name,
            "gen_ai.tool.call.id": call_id,
            "gen_ai.tool.type": "function",
        }
        if capture:
            attributes["gen_ai.tool.call.arguments"] = _json_text(arguments)
        self.capture = capture
        self.span = tracer.start_span(f"execute_tool {name}", kind=SpanKind.INTERNAL, attributes=attributes)
        self.slot: _Slot | None = None

    def __enter__(self) -> _Tool:
        self.slot = _Slot(self.span)
        return self

    def returned(self, value: Any) -> None:
        if self.capture:
            self.span.set_attribute("gen_ai.tool.call.result", _json_text(value))

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        span = self.span
        if exc is not None:
            from opentelemetry.trace import StatusCode

            span.set_attribute("error.type", _error_type(exc))
            span.set_status(StatusCode.ERROR, _describe(exc))
        span.end()
        if self.slot is not None:
            self.slot.leave()


class _NoTool(_NoAttempt):
    __slots__ = ()

    def __enter__(self) -> _NoTool:
        return self

    def returned(self, value: Any) -> None:
        pass


_NO_TOOL = _NoTool()


def _json_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return _encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        return repr(value)


def execute_tool(settings: TelemetrySettings | None, name: str, call_id: str, arguments: Any) -> _Tool | _NoTool:
    """The span of one function the tool loop runs (``with execute_tool(...) as tool``), or a no-op."""
    if settings is None:
        return _NO_TOOL
    try:
        instruments = _instruments(settings)
        if instruments is None or instruments.tracer is None:
            return _NO_TOOL
        return _Tool(instruments.tracer, settings.capture, name, call_id, arguments)
    except Exception:
        logger.debug("OpenTelemetry: the tool call is not recorded", exc_info=True)
        return _NO_TOOL


def trace_attempt(call: Call | None, request: httpx2.Request, number: int) -> _FirstTry | _Attempt | _NoAttempt:
    """The hook around one try (``with trace_attempt(...) as tried``): the first try is timed, and becomes a
    span only if a retry follows; each retry is a span; a hook that does nothing when nothing records."""
    if call is None or call.span is None:
        return _NO_ATTEMPT
    try:
        if not number:
            return _FirstTry(call, request)
        first, call._first_try = call._first_try, None
        if first is not None:
            first.made_a_span(call)
        return _Attempt(call, request, number)
    except Exception:
        logger.debug("OpenTelemetry: the attempt is not recorded", exc_info=True)
        return _NO_ATTEMPT
