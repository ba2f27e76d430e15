"""The local server's observability flags: ``GET /metrics`` in the Prometheus text format (parsed here by
prometheus_client's own parser) and server spans joined to the client's trace (docs/observability.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mistral_client import Mistral, RateLimitError, StreamError, user
from mistral_client.cli import _parser
from mistral_client.cli.serve import _serve_config
from mistral_client.server import LocalServer, ServerConfig
from tests.support.helpers import MODEL

HI = [user("hi")]


def scrape(base: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Each sample of GET /metrics: {name: {sorted labels: value}}."""
    response = httpx2.get(base + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def test_metrics_count_requests_streams_tokens_and_errors() -> None:
    with LocalServer(metrics=True) as server:
        root = server.base_url.removesuffix("/v1")
        with Mistral(base_url=server.base_url, max_retries=0) as client:
            answer = client.chat.complete(model=MODEL, messages=HI)
            with client.chat.stream(model=MODEL, messages=HI, extra_headers={"x-mock-token-delay": "0.01"}) as stream:
                next(iter(stream))
                during = scrape(root)  # the stream is being sent now
                for _ in stream:
                    pass
            with pytest.raises(RateLimitError):
                client.chat.complete(model=MODEL, messages=HI, extra_headers={"x-mock-status": "429"})
            with (
                pytest.raises(StreamError),
                client.chat.stream(
                    model=MODEL, messages=HI, extra_headers={"x-mock-error-event-after": "2"}
                ) as failing,
            ):
                list(failing)
            client.models.retrieve(MODEL)
        after = scrape(root)
    assert during["mistral_server_streams_open"][()] == 1
    assert after["mistral_server_streams_open"][()] == 0
    requests = after["mistral_server_requests_total"]
    chat = (("method", "POST"), ("route", "/v1/chat/completions"))
    assert requests[(*chat, ("status", "200"))] == 3
    assert requests[(*chat, ("status", "429"))] == 1
    assert requests[(("method", "GET"), ("route", "/v1/models/{model_id:path}"), ("status", "200"))] == 1
    tokens = after["mistral_server_tokens_total"]
    assert answer.usage is not None and stream.result.usage is not None
    assert tokens[(("type", "input"),)] == answer.usage.prompt_tokens + stream.result.usage.prompt_tokens
    assert tokens[(("type", "output"),)] == answer.usage.completion_tokens + stream.result.usage.completion_tokens
    errors = after["mistral_server_errors_total"]
    assert errors[(("type", "rate_limited"),)] == 1
    assert sum(errors.values()) == 2  # the 429 and the error event


def test_metrics_need_no_key_but_pass_the_host_guard() -> None:
    with LocalServer(metrics=True, api_key="sk-server") as server:
        root = server.base_url.removesuffix("/v1")
        assert httpx2.get(root + "/metrics").status_code == 200
        assert httpx2.get(root + "/v1/models").status_code == 401
        assert httpx2.get(root + "/metrics", headers={"Host": "attacker.example"}).status_code >= 400


def test_no_metrics_route_without_the_flag(server: LocalServer) -> None:
    assert httpx2.get(server.base_url.removesuffix("/v1") + "/metrics").status_code == 404


def test_serve_flags() -> None:
    config = _serve_config(_parser().parse_args(["serve", "--metrics", "--trace"]))
    assert config.metrics and config.trace
    config = _serve_config(_parser().parse_args(["serve"]))
    assert not config.metrics and not config.trace
    assert ServerConfig(metrics=True).metrics


def test_server_spans_join_the_client_trace(server: LocalServer) -> None:
    # In a process of its own: the global tracer provider (which both sides use) is set once per process.
    code = """
import json
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
exporter = InMemorySpanExporter(); provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter)); trace.set_tracer_provider(provider)
from mistral_client import Mistral, user
from mistral_client.server import LocalServer
with LocalServer(trace=True) as server, Mistral(base_url=server.base_url, api_key="sk-never-traced") as client:
    with client.chat.stream(model="mistral-small-latest", messages=[user("hi")]) as stream:
        list(stream)
    retried = {"x-mock-status": "503", "x-mock-fail-times": "1", "x-mock-retry-after": "0", "x-mock-id": "joined"}
    with client.chat.stream(model="mistral-small-latest", messages=[user("hi")], extra_headers=retried) as stream:
        list(stream)
spans = [
    {"name": s.name, "kind": s.kind.name, "id": s.context.span_id, "trace": s.context.trace_id,
     "parent": s.parent.span_id if s.parent else None, "attributes": dict(s.attributes)}
    for s in exporter.get_finished_spans()
]
print(json.dumps(spans))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "sk-never-traced" not in out
    spans: list[dict[str, Any]] = json.loads(out)
    calls = [s for s in spans if s["name"] == "chat mistral-small-latest"]
    assert len(calls) == 2 and all(s["kind"] == "CLIENT" for s in calls)
    trace = {call["id"]: [s for s in spans if s["trace"] == call["trace"] and s is not call] for call in calls}
    # Answered at once: the server's span is the call's child (no span for the only try).
    plain, retried = calls
    [served] = trace[plain["id"]]
    assert served["name"] == "POST /v1/chat/completions" and served["kind"] == "SERVER"
    assert served["parent"] == plain["id"]
    assert served["attributes"]["http.route"] == "/v1/chat/completions"
    assert served["attributes"]["http.response.status_code"] == 200
    # Retried: a span per try under the call; the retry's request names its own span as the parent.
    tries = [s for s in trace[retried["id"]] if s["name"] == "POST"]
    assert sorted(t["attributes"]["http.response.status_code"] for t in tries) == [200, 503]
    assert all(t["kind"] == "CLIENT" and t["parent"] == retried["id"] for t in tries)
    second = next(t for t in tries if t["attributes"]["http.response.status_code"] == 200)
    answered = [s for s in trace[retried["id"]] if s["kind"] == "SERVER" and s["parent"] == second["id"]]
    assert [s["attributes"]["http.response.status_code"] for s in answered] == [200]
    assert served["attributes"]["gen_ai.usage.output_tokens"] == plain["attributes"]["gen_ai.usage.output_tokens"]


def test_serve_metrics_in_a_real_process() -> None:
    from tests.support.serveproc import serving

    with serving("--metrics", "--fast") as served:
        with Mistral(base_url=served.base_url) as client:
            client.chat.complete(model=MODEL, messages=HI)
        samples = scrape(served.base_url)
    assert f"Prometheus metrics at {served.base_url}/metrics" in served.output
    chat = (("method", "POST"), ("route", "/v1/chat/completions"), ("status", "200"))
    assert samples["mistral_server_requests_total"][chat] == 1
