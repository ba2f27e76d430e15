"""Scenario 10 of ``python -m bench``: what OpenTelemetry costs a stream (also ``python -m bench.telemetry``).

Modes, for our clients (``ours``, ``ours-async``):

- ``off``: the client told not to record (``telemetry=False``), which costs what OpenTelemetry not
  installed costs: one test of ``None`` per call;
- ``api``: OpenTelemetry's API imported and no SDK configured (its proxy providers), the client left to
  its default, so it looks for a configured SDK at each call and finds none;
- ``sdk``: the SDK's tracer provider (its batch span processor, with an exporter that counts the spans
  and drops them) and meter provider (an in-memory reader, never read): every span and histogram record
  is made;
- ``floor``: the client told not to record, while the bench itself makes, around each stream, what the
  client records for it on the same SDK providers: the call's span with the same attributes (current
  while the stream is read) and the same five histogram records.  That is what recording those things
  costs anyone; the gap between ``sdk`` and ``floor`` is the client's own code.

All four modes run in one process per client, their providers passed to each client rather than set
globally, and take turns in every repetition (in a rotating order), so a machine that gets busier slows
them alike; each difference from ``off`` is taken within a repetition, and the median of those reported.

``mistralai``, the official SDK, traces through the global provider (since 3.7, only with
``MISTRAL_SDK_TELEMETRY=global``, which its ``sdk`` process sets), so it runs ``off`` and ``sdk`` in a
process each.  Measured, against the bench server (``bench.server``):

- per chunk: one bulk stream of each of two sizes, CPU per chunk between them;
- per stream: many short streams (``ours-async``: all at once on one loop; the sync clients: one after
  the other), CPU per stream;
- many streams (``ours-async``): scenario 3's many live-paced streams at once on one loop, CPU per chunk,
  which holds each stream's fixed cost spread over its chunks;
- the client's own share: every telemetry hook of a streamed call against providers that do nothing.

Targets (issue 18; judged in the targets table of docs/benchmarks.md): without an SDK, no measurable
change per chunk (under 0.1 µs); with one, at most 0.3 µs more per chunk and 60 µs more per stream.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.scenarios import QUICK, Sizes, _drain_async, _drain_sync
from bench.server import ROOT, ServerProcess

MODES = ("off", "api", "sdk", "floor")
OURS = ("ours", "ours-async")
SDK_MODES = ("off", "sdk")  # mistralai: its tracing follows the global provider
API_PER_CHUNK_US, SDK_PER_CHUNK_US, SDK_PER_STREAM_US = 0.1, 0.3, 60.0  # the targets
MEASURES = ("us_per_chunk", "us_per_stream", "many_us_per_chunk")


EXPORTED = [0]  # spans the exporter was handed: a mode that made none measured nothing


def _sdk_providers() -> tuple[Any, Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Dropped(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            EXPORTED[0] += len(spans)
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Dropped()))  # what an application runs
    return tracer_provider, MeterProvider(metric_readers=[InMemoryMetricReader()])


class Floor:
    """The span and the five records the client makes for one stream, made by hand on the SDK."""

    def __init__(self, tracer_provider: Any, meter_provider: Any, base: str) -> None:
        from urllib.parse import urlsplit

        from bench.clients import MODEL
        from mistral_client._telemetry import PROVIDER, _Instruments

        self.instruments = _Instruments(tracer_provider, meter_provider)  # the same histograms, same buckets
        parts = urlsplit(base)
        self.metric = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": PROVIDER,
            "server.address": parts.hostname,
            "server.port": parts.port,
            "gen_ai.request.model": MODEL,
        }
        self.name = f"chat {MODEL}"
        self.started = {**self.metric, "gen_ai.request.stream": True}

    def around(self, drain: Callable[[], int]) -> int:
        begun = self.begun()
        count = drain()
        self.ended(*begun, count)
        return count

    async def around_async(self, drain: Any) -> int:
        begun = self.begun()
        count: int = await drain
        self.ended(*begun, count)
        return count

    def begun(self) -> tuple[Any, Any, float]:
        """The call's span, current from now on: the span, the context's token and the start."""
        from opentelemetry import context
        from opentelemetry.trace import SpanKind, set_span_in_context

        assert self.instruments.tracer is not None
        start = time.perf_counter()
        span = self.instruments.tracer.start_span(self.name, kind=SpanKind.CLIENT, attributes=self.started)
        return span, context.attach(set_span_in_context(span)), start

    def ended(self, span: Any, token: Any, start: float, count: int) -> None:
        from opentelemetry import context

        from bench.clients import MODEL

        elapsed = time.perf_counter() - start
        span.set_attributes(
            {
                "gen_ai.response.id": "bench",
                "gen_ai.response.model": MODEL,
                "gen_ai.response.finish_reasons": ["stop"],
                "gen_ai.response.time_to_first_chunk": elapsed / 2,
                "mistral_client.stream.chunks": count,
                "mistral_client.stream.outcome": "complete",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": count,
            }
        )
        span.end()
        context.detach(token)
        instruments, metric = self.instruments, {**self.metric, "gen_ai.response.model": MODEL}
        assert instruments.duration and instruments.tokens and instruments.first_chunk and instruments.per_chunk
        instruments.duration.record(elapsed, metric)
        instruments.tokens.record(10, {**metric, "gen_ai.token.type": "input"})
        instruments.tokens.record(count, {**metric, "gen_ai.token.type": "output"})
        instruments.first_chunk.record(elapsed / 2, metric)
        instruments.per_chunk.record(elapsed / 2 / max(count, 1), metric)


def child_ours(name: str, base: str, sizes: Sizes) -> dict[str, Any]:
    """All four modes in this process, taking turns: medians and the per-repetition differences from off."""
    import opentelemetry.metrics
    import opentelemetry.trace  # noqa: F401 - the API alone: ``api`` mode's proxy providers

    from bench.clients import ASYNC, SYNC
    from mistral_client import Telemetry

    tracer_provider, meter_provider = _sdk_providers()
    floor = Floor(tracer_provider, meter_provider, base)
    options: dict[str, dict[str, Any]] = {
        "off": {"telemetry": False},
        "api": {},
        "sdk": {"telemetry": Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)},
        "floor": {"telemetry": False},
    }
    is_async = name.endswith("async")
    loop = asyncio.new_event_loop() if is_async else None
    clients = {mode: (ASYNC if is_async else SYNC)[name](base, None, **options[mode]) for mode in MODES}

    def drain_sync(mode: str) -> Callable[[Any, dict[str, str]], int]:
        if mode != "floor":
            return _drain_sync
        return lambda client, headers: floor.around(lambda: _drain_sync(client, headers))

    def drain_async(mode: str) -> Callable[[Any, dict[str, str]], Any]:
        if mode != "floor":
            return _drain_async
        return lambda client, headers: floor.around_async(_drain_async(client, headers))

    async def together(mode: str, headers: dict[str, str], count: int) -> None:
        drain = drain_async(mode)
        await asyncio.gather(*(drain(clients[mode], headers) for _ in range(count)))

    def cpu(mode: str, headers: dict[str, str], count: int) -> float:
        gc.collect()
        start = time.process_time()
        if loop is not None:
            loop.run_until_complete(together(mode, headers, count))
        else:
            drain = drain_sync(mode)
            for _ in range(count):
                drain(clients[mode], headers)
        return time.process_time() - start

    def many(mode: str) -> float:
        from bench.many import run

        ran = asyncio.run(
            run(
                name,
                base,
                sizes.telemetry_many_streams,
                sizes.telemetry_many_chunks,
                sizes.many_gap,
                options=options[mode],
                drain=drain_async(mode),
            )
        )
        return float(ran["us_per_chunk"])

    bulk = {n: {"x-bench-n": str(n), "x-bench-mode": "bulk"} for n in sizes.bulk}
    short = {"x-bench-n": str(sizes.telemetry_chunks), "x-bench-mode": "bulk"}
    for mode in MODES:
        cpu(mode, short, 2)  # warm: imports, the pool's first connections, the SDK's instruments
    runs: dict[str, dict[str, list[float]]] = {mode: {key: [] for key in MEASURES} for mode in MODES}
    small, large = sizes.bulk
    for rep in range(sizes.telemetry_reps):
        for mode in MODES[rep % len(MODES) :] + MODES[: rep % len(MODES)]:
            row = runs[mode]
            row["us_per_chunk"].append((cpu(mode, bulk[large], 1) - cpu(mode, bulk[small], 1)) / (large - small) * 1e6)
            streams = sizes.telemetry_streams
            row["us_per_stream"].append(cpu(mode, short, streams) / streams * 1e6)
            if is_async:
                row["many_us_per_chunk"].append(many(mode))
    if loop is not None:
        for client in clients.values():
            loop.run_until_complete(client.close())
        loop.close()
    else:
        for client in clients.values():
            client.close()
    tracer_provider.shutdown()  # exports what is left
    out = summary(runs, MODES)
    out["spans_exported"] = EXPORTED[0]
    return out


def summary(runs: dict[str, dict[str, list[float]]], modes: tuple[str, ...]) -> dict[str, Any]:
    """Each mode's medians (with the runs), and each mode's difference from ``off``, repetition by repetition."""
    out: dict[str, Any] = {"runs": len(runs["off"]["us_per_chunk"])}
    for mode in modes:
        out[mode] = {key: statistics.median(values) for key, values in runs[mode].items() if values}
        out[mode]["runs"] = {key: values for key, values in runs[mode].items() if values}
    out["delta"] = {
        mode: {
            key: statistics.median(a - b for a, b in zip(runs[mode][key], runs["off"][key], strict=True))
            for key in MEASURES
            if runs[mode].get(key)
        }
        for mode in modes
        if mode != "off"
    }
    return out


def child_sdk(mode: str, name: str, base: str, sizes: Sizes) -> dict[str, Any]:
    """mistralai in one mode (its tracing follows the global providers, set once per process)."""
    tracer_provider = None
    if mode == "sdk":
        from opentelemetry import metrics, trace

        tracer_provider, meter_provider = _sdk_providers()
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
        os.environ["MISTRAL_SDK_TELEMETRY"] = "global"  # mistralai 3.7 traces only when told to
    from bench.clients import SYNC

    client = SYNC[name](base, None)
    small, large = (n // 10 for n in sizes.bulk)  # the SDK costs a hundred times more per chunk

    def cpu(headers: dict[str, str], count: int) -> float:
        gc.collect()
        start = time.process_time()
        for _ in range(count):
            _drain_sync(client, headers)
        return time.process_time() - start

    short = {"x-bench-n": str(sizes.telemetry_chunks), "x-bench-mode": "bulk"}
    cpu(short, 2)
    per_chunk, per_stream = [], []
    streams = max(1, sizes.telemetry_streams // 4)
    for _ in range(sizes.sdk_reps):
        a = cpu({"x-bench-n": str(small), "x-bench-mode": "bulk"}, 1)
        b = cpu({"x-bench-n": str(large), "x-bench-mode": "bulk"}, 1)
        per_chunk.append((b - a) / (large - small) * 1e6)
        per_stream.append(cpu(short, streams) / streams * 1e6)
    client.close()
    if tracer_provider is not None:
        tracer_provider.shutdown()
    return {"us_per_chunk": per_chunk, "us_per_stream": per_stream, "spans_exported": EXPORTED[0]}


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


def _in_child(*args: str) -> dict[str, Any]:
    line = subprocess.run(
        [sys.executable, "-m", "bench.telemetry", "--child", *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.strip()
    result: dict[str, Any] = json.loads(line.splitlines()[-1])
    return result


def scenario(base: str, sizes: Sizes, clients: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Scenario 10: our clients in the four modes, mistralai off and traced, and the client's own share."""
    from bench.clients import installed

    wanted = clients or sizes.clients
    sized = json.dumps(dataclasses.asdict(sizes))
    results: dict[str, Any] = {}
    for name in OURS:
        if name in wanted:
            results[name] = _in_child("ours", name, base, sized)
    if "mistralai" in wanted and installed("mistralai"):
        runs = {mode: _in_child(mode, "mistralai", base, sized) for mode in SDK_MODES}
        exported = runs["sdk"].pop("spans_exported")
        runs["off"].pop("spans_exported")
        results["mistralai"] = {**summary(runs, SDK_MODES), "spans_exported": exported}
    results["hooks_us_per_stream"] = hooks_alone(500 if sizes.telemetry_reps < 2 else 20_000)
    return results


def table(results: dict[str, Any]) -> list[list[str]]:
    """Rows of client, mode, µs/chunk, Δ, µs/stream, Δ, many µs/chunk, Δ."""
    rows = []
    for name, by_mode in results.items():
        if not isinstance(by_mode, dict):
            continue
        for mode in MODES:
            if mode not in by_mode:
                continue
            row, delta = by_mode[mode], by_mode["delta"].get(mode, {})
            cells = [name, mode]
            for key, digits in (("us_per_chunk", 3), ("us_per_stream", 1), ("many_us_per_chunk", 3)):
                if key not in row:
                    cells += ["-", "-"]
                    continue
                change = delta.get(key)
                cells += [f"{row[key]:.{digits}f}", "-" if change is None else f"{change:+.{digits}f}"]
            rows.append(cells)
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.telemetry", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness runs")
    parser.add_argument("--clients", default="ours,ours-async,mistralai", help="which clients (default: all three)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, name, base, sized = args.child
        sizes = Sizes(**{k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(sized).items()})
        result = child_ours(name, base, sizes) if kind == "ours" else child_sdk(kind, name, base, sizes)
        print(json.dumps(result))
        return {}
    sizes = QUICK if args.quick else Sizes()
    with ServerProcess() as base:
        results = scenario(base, sizes, tuple(args.clients.split(",")))
    head = ["client", "mode", "µs/chunk", "Δ", "µs/stream", "Δ", "many µs/chunk", "Δ"]
    for cells in [head, *table(results)]:
        print(" ".join(f"{cell:>13}" for cell in cells))
    print(f"the client's own telemetry code, providers that do nothing: {results['hooks_us_per_stream']:.1f} µs/stream")
    exported = {name: row["spans_exported"] for name, row in results.items() if isinstance(row, dict)}
    print("spans exported: " + ", ".join(f"{name} {count:,}" for name, count in exported.items()))
    return results


if __name__ == "__main__":
    main()
