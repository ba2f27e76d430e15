"""What OpenTelemetry costs: the bulk and many-streams cases with tracing off, the API only, and the SDK.

    python -m bench.telemetry [--quick]

Each (mode, client) runs in a process of its own, as the global providers are set once per process:

- ``off``: OpenTelemetry not imported (what ``import mistral_client`` leaves);
- ``api``: the API imported, no SDK configured (its proxy providers);
- ``sdk``: the SDK's tracer provider (its batch span processor, with an exporter that drops the spans) and
  meter provider (an in-memory reader, never read), both global: every span and metric is made.

Clients: ``ours`` and ``ours-async`` (this package), and ``mistralai``, the official SDK, whose own
tracing turns on with the same global provider.  Against the bench server (``bench.server``):

- per chunk: one bulk stream of each of two sizes, CPU per chunk between them (medians of the runs);
- per stream: many short streams (``ours-async``: all at once on one loop; the sync clients: one after
  the other), CPU per stream;
- many streams (``ours-async``): scenario 3 of ``python -m bench`` (``bench.many``: many live-paced
  streams at once on one loop), CPU per chunk;
- the client's own share: every telemetry hook of a streamed call against providers that do nothing
  (what the SDK's spans and histograms cost is theirs, whoever calls them).

It prints a table of the three modes and the differences from ``off``, and judges nothing; the targets
(docs/observability.md) are: no measurable change per chunk without an SDK, at most 0.3 µs more per chunk
and 60 µs more per stream with it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.server import ROOT, ServerProcess

MODES = ("off", "api", "sdk")
MANY, MANY_QUICK = (200, 100, 0.005), (4, 20, 0.0)  # streams, chunks each, seconds between events
CLIENTS = ("ours", "ours-async", "mistralai")


def _configure(mode: str) -> None:
    if mode == "off":
        return
    import opentelemetry.metrics
    import opentelemetry.trace  # noqa: F401 - the API alone: its proxy providers
    from opentelemetry import metrics, trace

    if mode == "api":
        return
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Dropped(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Dropped()))  # what an application runs
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))


def _client(name: str, base: str) -> Any:
    from bench.clients import ASYNC, SYNC

    return (ASYNC if name.endswith("async") else SYNC)[name](base, None)


def _drain(client: Any, headers: dict[str, str]) -> int:
    from bench.scenarios import _drain_sync

    return _drain_sync(client, headers)


def child(mode: str, name: str, base: str, sizes: tuple[int, int], streams: int, chunks: int, reps: int) -> None:
    _configure(mode)
    from bench.scenarios import _drain_async

    client = _client(name, base)
    is_async = name.endswith("async")
    loop = asyncio.new_event_loop() if is_async else None

    async def together(headers: dict[str, str], count: int) -> None:
        await asyncio.gather(*(_drain_async(client, headers) for _ in range(count)))

    def run(headers: dict[str, str], count: int) -> float:
        gc.collect()
        start = time.process_time()
        if loop is not None:
            loop.run_until_complete(together(headers, count))
        else:
            for _ in range(count):
                _drain(client, headers)
        return time.process_time() - start

    bulk = {n: {"x-bench-n": str(n), "x-bench-mode": "bulk"} for n in sizes}
    short = {"x-bench-n": str(chunks), "x-bench-mode": "bulk"}
    run(short, 2)  # warm: imports, the pool's first connections
    per_chunk, per_stream = [], []
    for _ in range(reps):
        small, large = (run(bulk[n], 1) for n in sizes)
        per_chunk.append((large - small) / (sizes[1] - sizes[0]) * 1e6)
        per_stream.append(run(short, streams) / streams * 1e6)
    if loop is not None:
        loop.run_until_complete(client.close())
        loop.close()
    else:
        client.close()
    row: dict[str, Any] = {
        "us_per_chunk": statistics.median(per_chunk),
        "us_per_stream": statistics.median(per_stream),
        "sdk_loaded": "opentelemetry.sdk" in sys.modules,
    }
    if is_async:  # scenario 3 as python -m bench runs it: many live-paced streams at once
        from bench.many import run as many

        many_streams, many_chunks, gap = MANY_QUICK if sizes[0] < 1_000 else MANY
        row["many_us_per_chunk"] = statistics.median(
            asyncio.run(many(name, base, many_streams, many_chunks, gap))["us_per_chunk"] for _ in range(reps)
        )
    print(json.dumps(row))


def hooks_alone(count: int) -> float:
    """CPU per stream of the client's own telemetry code (µs): every hook of one streamed call, against
    providers that do nothing, so that what the SDK itself costs is left out."""
    import httpx2
    from opentelemetry.trace import SpanContext, TraceFlags

    from mistral_client._pipeline.accumulating import StreamResult
    from mistral_client._telemetry import Telemetry, begin, settings_for, trace_attempt
    from mistral_client._wire.answers import Usage

    class Span:
        context = SpanContext(1, 2, False, TraceFlags(1))

        def is_recording(self) -> bool:
            return True

        def get_span_context(self) -> SpanContext:
            return self.context

        def set_attribute(self, *args: Any) -> None: ...
        def set_attributes(self, *args: Any) -> None: ...
        def set_status(self, *args: Any) -> None: ...
        def end(self) -> None: ...

    class Nothing:
        def get_tracer(self, *args: Any, **kwargs: Any) -> Nothing:
            return self

        def get_meter(self, *args: Any, **kwargs: Any) -> Nothing:
            return self

        def start_span(self, *args: Any, **kwargs: Any) -> Span:
            return Span()

        def create_histogram(self, *args: Any, **kwargs: Any) -> Nothing:
            return self

        def record(self, *args: Any) -> None: ...

    settings = settings_for(Telemetry(tracer_provider=Nothing(), meter_provider=Nothing()), "http://127.0.0.1:1/v1")
    body = b'{"model":"mistral-small-latest","messages":[{"role":"user","content":"Hi"}],"stream":true}'
    request = httpx2.Request("POST", "http://127.0.0.1:1/v1/chat/completions")
    result = StreamResult()
    result.id, result.model, result.chunk_count = "id", "mistral-small-latest", 10
    result.total_latency, result.time_to_first_token = 0.1, 0.01
    result.usage = Usage(prompt_tokens=5, completion_tokens=10, total_tokens=15)

    def one() -> None:
        call = begin(settings, "chat", body, stream=True)
        assert call is not None
        call.enter()
        with trace_attempt(call, request, 0) as tried:
            tried.answered(200)
        call.stream_ended(result, None)

    for _ in range(min(count, 500)):
        one()
    gc.collect()
    start = time.process_time()
    for _ in range(count):
        one()
    return (time.process_time() - start) / count * 1e6


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.telemetry", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness runs")
    parser.add_argument("--clients", default=",".join(CLIENTS), help=f"which of {', '.join(CLIENTS)} (default: all)")
    parser.add_argument("--child", nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        mode, name, base, n1, n2, streams, rest = args.child
        chunks, reps = (int(x) for x in rest.split(","))
        child(mode, name, base, (int(n1), int(n2)), int(streams), chunks, reps)
        return {}
    sizes, streams, chunks, reps = ((200, 2_000), 20, 10, 3) if args.quick else ((2_000, 20_000), 200, 10, 5)
    results: dict[str, Any] = {}
    clients = [name for name in args.clients.split(",") if name]
    with ServerProcess() as base:
        for name in clients:
            for mode in MODES:
                line = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "bench.telemetry",
                        "--child",
                        mode,
                        name,
                        base,
                        str(sizes[0]),
                        str(sizes[1]),
                        str(streams),
                        f"{chunks},{reps}",
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=ROOT,
                ).stdout.strip()
                results[f"{name}/{mode}"] = json.loads(line.splitlines()[-1])
    print(
        f"{'client':<12} {'mode':<5} {'µs/chunk':>9} {'Δ':>7} {'µs/stream':>10} {'Δ':>8} {'many µs/chunk':>14} {'Δ':>7}"
    )
    for name in clients:
        off = results[f"{name}/off"]
        for mode in MODES:
            row = results[f"{name}/{mode}"]
            chunk_delta = row["us_per_chunk"] - off["us_per_chunk"]
            stream_delta = row["us_per_stream"] - off["us_per_stream"]
            many = ""
            if "many_us_per_chunk" in row:
                many_delta = row["many_us_per_chunk"] - off["many_us_per_chunk"]
                many = f" {row['many_us_per_chunk']:>14.3f} {many_delta:>+7.3f}"
            print(
                f"{name:<12} {mode:<5} {row['us_per_chunk']:>9.3f} {chunk_delta:>+7.3f} "
                f"{row['us_per_stream']:>10.1f} {stream_delta:>+8.1f}{many}"
            )
    results["hooks_us_per_stream"] = hooks_alone(2_000 if args.quick else 20_000)
    print(f"the client's own telemetry code, providers that do nothing: {results['hooks_us_per_stream']:.1f} µs/stream")
    return results


if __name__ == "__main__":
    main()
