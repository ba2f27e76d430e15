"""The server's own observability, behind flags: a Prometheus ``/metrics`` endpoint and server-side spans.

``ServerConfig(metrics=True)`` (``serve --metrics``): ``GET /metrics`` answers in the Prometheus text
format (0.0.4) with requests by route and status, streams open, tokens by type and errors by type.
``ServerConfig(trace=True)`` (``serve --trace``): one SERVER span per request on the global OpenTelemetry
tracer provider, joined to the caller's trace by its ``traceparent`` header (the client's attempt spans
send one), so a trace shows the client's call, each attempt, and the server's work for it.

The text format is written here (four families of counters and a gauge, a few lines) rather than with
``prometheus_client``: no dependency for the server extra, no process-global registry to clash between
the servers of one test process, and the tests parse the output with ``prometheus_client``'s own parser.
"""

from __future__ import annotations

import threading
from typing import Any

import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Metered", "ServerMetrics"]

_CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


class _Usage(msgspec.Struct):
    prompt_tokens: Any = None
    completion_tokens: Any = None


class _Tail(msgspec.Struct):
    """What is read of an answer (or of one streamed event): its usage, or the type of its error."""

    usage: _Usage | None = None
    object: Any = None
    type: Any = None
    message: Any = None


_decode_tail = msgspec.json.Decoder(_Tail).decode


class ServerMetrics:
    """The counters, shared by every request of one server (under a lock: uvicorn may run threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = {}
        self.errors: dict[str, int] = {}
        self.tokens: dict[str, int] = {"input": 0, "output": 0}
        self.streams_open = 0

    def count_request(self, method: str, route: str, status: int) -> None:
        key = (method, route, str(status))
        with self._lock:
            self.requests[key] = self.requests.get(key, 0) + 1

    def count_error(self, kind: str) -> None:
        with self._lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def count_tokens(self, usage: _Usage) -> None:
        with self._lock:
            if isinstance(usage.prompt_tokens, int):
                self.tokens["input"] += usage.prompt_tokens
            if isinstance(usage.completion_tokens, int):
                self.tokens["output"] += usage.completion_tokens

    def stream_opened(self, delta: int) -> None:
        with self._lock:
            self.streams_open += delta

    def text(self) -> str:
        """The Prometheus text exposition format."""
        with self._lock:
            requests, errors = dict(self.requests), dict(self.errors)
            tokens, streams_open = dict(self.tokens), self.streams_open
        lines = [
            "# HELP mistral_server_requests_total Requests answered, by method, route and status.",
            "# TYPE mistral_server_requests_total counter",
        ]
        for (method, route, status), count in sorted(requests.items()):
            labels = f'method="{_label(method)}",route="{_label(route)}",status="{status}"'
            lines.append(f"mistral_server_requests_total{{{labels}}} {count}")
        lines += [
            "# HELP mistral_server_streams_open Streamed answers being sent now.",
            "# TYPE mistral_server_streams_open gauge",
            f"mistral_server_streams_open {streams_open}",
            "# HELP mistral_server_tokens_total Tokens in the answers' usage, by type (input, output).",
            "# TYPE mistral_server_tokens_total counter",
        ]
        for kind, count in sorted(tokens.items()):
            lines.append(f'mistral_server_tokens_total{{type="{kind}"}} {count}')
        lines += [
            "# HELP mistral_server_errors_total Error answers and mid-stream failures, by error type.",
            "# TYPE mistral_server_errors_total counter",
        ]
        for kind, count in sorted(errors.items()):
            lines.append(f'mistral_server_errors_total{{type="{_label(kind)}"}} {count}')
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metered:
    """ASGI middleware: answers ``GET /metrics`` (with ``metrics``) and counts (and traces) every request."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics | None, trace: bool) -> None:
        self.app = app
        self.metrics = metrics
        self.tracer: Any = None
        if trace:
            from opentelemetry import trace as otel_trace

            self.tracer = otel_trace.get_tracer("mistral_client.server")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = self.metrics
        if metrics is not None and scope["path"] == "/metrics" and scope["method"] == "GET":
            await _answer_metrics(metrics, send)
            return
        exchange = _Exchange(metrics)
        span = self._start_span(scope) if self.tracer is not None else None

        async def observed_send(message: Message) -> None:
            exchange.see(message)
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        except BaseException as exc:
            exchange.failed(type(exc).__name__)
            if span is not None:
                span.record_exception(exc)
            raise
        finally:
            exchange.close()
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            if metrics is not None:
                metrics.count_request(scope["method"], template, exchange.status)
            if span is not None:
                self._end_span(span, scope, template, exchange)

    def _start_span(self, scope: Scope) -> Any:
        from opentelemetry import propagate
        from opentelemetry.trace import SpanKind

        carrier = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        parent = propagate.extract(carrier)  # the caller's traceparent; never its key (only trace headers are read)
        server = scope.get("server") or ("", 0)
        attributes = {
            "http.request.method": scope["method"],
            "url.path": scope["path"],
            "server.address": server[0],
            "server.port": server[1],
        }
        return self.tracer.start_span(
            f"{scope['method']} {scope['path']}", context=parent, kind=SpanKind.SERVER, attributes=attributes
        )

    @staticmethod
    def _end_span(span: Any, scope: Scope, template: str, exchange: _Exchange) -> None:
        from opentelemetry.trace import StatusCode

        span.update_name(f"{scope['method']} {template}")
        span.set_attribute("http.route", template)
        span.set_attribute("http.response.status_code", exchange.status)
        if exchange.input_tokens is not None:
            span.set_attribute("gen_ai.usage.input_tokens", exchange.input_tokens)
        if exchange.output_tokens is not None:
            span.set_attribute("gen_ai.usage.output_tokens", exchange.output_tokens)
        if exchange.error is not None:
            span.set_attribute("error.type", exchange.error)
        if exchange.status >= 500 or (exchange.error is not None and exchange.status < 400):
            span.set_status(StatusCode.ERROR)
        span.end()


class _Exchange:
    """One request's answer as it goes out: its status, whether it streams, its usage, its error."""

    __slots__ = ("_body", "_closed", "_metrics", "_stream", "error", "input_tokens", "output_tokens", "status")

    def __init__(self, metrics: ServerMetrics | None) -> None:
        self._metrics = metrics
        self._stream = self._closed = False
        self._body: list[bytes] = []
        self.status = 500
        self.error: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None

    def see(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            content_type = next((v for n, v in message.get("headers", ()) if n.lower() == b"content-type"), b"")
            self._stream = content_type.startswith(b"text/event-stream")
            if self._stream and self._metrics is not None:
                self._metrics.stream_opened(1)
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            if self._stream:
                if b'"usage"' in body or b'"error"' in body:
                    self._events(body)
            elif body:
                self._body.append(body)
            if not message.get("more_body", False):
                self.close()

    def failed(self, kind: str) -> None:
        if self.error is None:
            self.error = kind
            if self._metrics is not None:
                self._metrics.count_error(kind)

    def close(self) -> None:
        """The answer ended (or the request failed): count what it carried, once."""
        if self._closed:
            return
        self._closed = True
        if self._stream:
            self._stream = False
            if self._metrics is not None:
                self._metrics.stream_opened(-1)
            return
        body, self._body = b"".join(self._body), []
        if not body:
            if self.status >= 400 and self.error is None:
                self.failed(f"http_{self.status}")
            return
        tail = _tail(body)
        if self.status >= 400:
            kind = tail.type if tail is not None and isinstance(tail.type, str) and tail.type else None
            self.failed(kind or f"http_{self.status}")
        elif tail is not None and tail.usage is not None:
            self._usage(tail.usage)

    def _events(self, body: bytes) -> None:
        for line in body.split(b"\n"):
            if not line.startswith(b"data:"):
                continue
            tail = _tail(line[5:].strip())
            if tail is None:
                continue
            if tail.usage is not None:
                self._usage(tail.usage)
            if tail.object == "error":
                kind = tail.type if isinstance(tail.type, str) and tail.type else "stream_error"
                self.failed(kind)

    def _usage(self, usage: _Usage) -> None:
        if isinstance(usage.prompt_tokens, int):
            self.input_tokens = usage.prompt_tokens
        if isinstance(usage.completion_tokens, int):
            self.output_tokens = usage.completion_tokens
        if self._metrics is not None:
            self._metrics.count_tokens(usage)


def _tail(data: bytes) -> _Tail | None:
    if data[:1] != b"{":
        return None
    try:
        return _decode_tail(data)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        return None


async def _answer_metrics(metrics: ServerMetrics, send: Send) -> None:
    body = metrics.text().encode()
    headers = [(b"content-type", _CONTENT_TYPE), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
