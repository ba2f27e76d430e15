"""Draw docs/observability-trace.png: a real trace of a tool loop whose first request was retried.

Real spans, not a drawing: the OpenTelemetry SDK records them in memory while ``conversations.run``
talks to the local server (with ``trace=True``, so the server's spans join the trace) and runs the
app's function between the turns; matplotlib draws them as a timeline, one row per span, indented by
depth.

    python scripts/trace_picture.py [docs/observability-trace.png]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mistral_client import Mistral
from mistral_client.server import LocalServer


def record() -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    tracer = trace.get_tracer("app")

    def get_weather(city: str) -> dict[str, Any]:
        """The current weather in a city."""
        with tracer.start_as_current_span("weather lookup"):
            time.sleep(0.03)  # the app's own work, so that it shows
            return {"city": city, "temperature": 21}

    flaky = {
        "x-mock-status": "503",
        "x-mock-fail-times": "1",
        "x-mock-id": "picture",
        "x-mock-retry-after": "0.05",
        "x-mock-first-token-delay": "0.05",
        "x-mock-token-delay": "0.005",
    }
    server = LocalServer(trace=True).start()
    try:
        with Mistral(base_url=server.base_url) as client, tracer.start_as_current_span("answer question"):
            client.conversations.run(
                "What's the weather in Paris?",
                model="mistral-medium-latest",
                tools=[get_weather],
                extra_headers=flaky,
            )
            with tracer.start_as_current_span("save answer"):
                pass
    finally:
        server.stop()
    return list(exporter.get_finished_spans())


def draw(spans: list[ReadableSpan], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_id = {s.context.span_id: s for s in spans}

    def depth(span: ReadableSpan) -> int:
        parent = span.parent
        return 0 if parent is None or parent.span_id not in by_id else 1 + depth(by_id[parent.span_id])

    def order(span: ReadableSpan) -> list[Any]:
        chain = [span]
        while chain[-1].parent is not None and chain[-1].parent.span_id in by_id:
            chain.append(by_id[chain[-1].parent.span_id])
        return [s.start_time for s in reversed(chain)]

    rows = sorted(spans, key=order)
    start = min(s.start_time or 0 for s in rows)
    colours = {"CLIENT": "#4c72b0", "SERVER": "#55a868", "INTERNAL": "#8172b2"}
    fig, ax = plt.subplots(figsize=(11, 0.42 * len(rows) + 1.0))
    from matplotlib.transforms import blended_transform_factory

    fig.subplots_adjust(left=0.42, right=0.9)  # the names, indented by depth, in the left part of the figure
    labels = blended_transform_factory(fig.transFigure, ax.transData)
    for row, span in enumerate(rows):
        begin = ((span.start_time or 0) - start) / 1e6
        width = max(((span.end_time or 0) - (span.start_time or 0)) / 1e6, 1.5)
        failed = span.status.status_code.name == "ERROR"
        colour = "#c44e52" if failed else colours.get(span.kind.name, "#888888")
        ax.barh(row, width, left=begin, color=colour, height=0.6)
        attributes = span.attributes or {}
        note = ""
        if "http.response.status_code" in attributes:
            note = f"  {attributes['http.response.status_code']}"
        if "gen_ai.usage.output_tokens" in attributes and span.kind.name == "CLIENT":
            note = f"  {attributes['gen_ai.usage.output_tokens']} tokens"
        label = "    " * depth(span) + f"{span.name} ({span.kind.name.lower()})"
        ax.text(0.01, row, label, ha="left", va="center", fontsize=8, family="monospace", transform=labels)
        ax.text(begin + width + 1, row, note, va="center", fontsize=7)
    ax.set_xlim(left=-5)
    ax.set_yticks([])
    ax.invert_yaxis()
    ax.set_xlabel("milliseconds since the first span began")
    ax.set_title("A tool loop (conversations.run), its first request retried after a 503", fontsize=9)
    ax.spines[["top", "right", "left"]].set_visible(False)
    fig.savefig(out, dpi=110, bbox_inches="tight")


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "docs" / "observability-trace.png"
    draw(record(), out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
