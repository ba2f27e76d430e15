"""Every knob, end to end through our client (sync and async): set per request with its x-mock-* header,
and set as a server default (``ServerConfig.mock_headers``, what the ``serve`` flags fill in)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from mistral_client import (
    APIError,
    APIStatusError,
    AuthenticationError,
    InternalServerError,
    RateLimitError,
    StreamError,
    StreamResult,
    StreamTimeoutError,
    Timeout,
    user,
)
from mistral_client.server import KNOBS, LocalServer, ServerConfig
from tests.support.helpers import Runner
from tests.support.servertools import WEATHER

Outcome = StreamResult | Exception


def plain(outcome: Outcome) -> None:
    assert isinstance(outcome, StreamResult), outcome
    assert outcome.finish_reason == "stop" and outcome.content.endswith(".")


def raises(kind: type[Exception], check: Callable[[Any], bool] = lambda exc: True) -> Callable[[Outcome], None]:
    def expect(outcome: Outcome) -> None:
        assert isinstance(outcome, kind), outcome
        assert check(outcome), outcome

    return expect


def broken_after_some_text(outcome: Outcome) -> None:
    assert isinstance(outcome, StreamError), outcome
    assert outcome.partial.content


def usage_alone(outcome: Outcome) -> None:
    plain(outcome)
    assert isinstance(outcome, StreamResult) and outcome.chunks is not None
    assert outcome.chunks[-1].choices == [] and outcome.usage is not None


def four_tokens(outcome: Outcome) -> None:
    plain(outcome)
    assert isinstance(outcome, StreamResult) and outcome.usage is not None
    assert outcome.usage.completion_tokens == 4


def fragmented_call(outcome: Outcome) -> None:
    assert isinstance(outcome, StreamResult), outcome
    (call,) = outcome.tool_calls
    assert json.loads(str(call.function.arguments))["city"]
    assert outcome.chunk_count > 5  # the arguments came in pieces


# header -> (the knob's headers, extra request fields, what the client must see)
CASES: dict[str, tuple[dict[str, str], dict[str, Any], Callable[[Outcome], None]]] = {
    "x-mock-status": ({"x-mock-status": "503"}, {}, raises(InternalServerError, lambda e: e.status_code == 503)),
    "x-mock-retry-after": (
        {"x-mock-status": "429", "x-mock-retry-after": "2"},
        {},
        raises(RateLimitError, lambda e: e.retry_after == 2),
    ),
    "x-mock-fail-times": ({"x-mock-status": "503", "x-mock-fail-times": "0", "x-mock-id": "knob-fail"}, {}, plain),
    "x-mock-id": ({"x-mock-id": "knobs"}, {}, plain),
    "x-mock-tokens": ({"x-mock-tokens": "4"}, {}, four_tokens),
    "x-mock-first-token-delay": ({"x-mock-first-token-delay": "0.01"}, {}, plain),
    "x-mock-token-delay": ({"x-mock-token-delay": "0.001"}, {}, plain),
    "x-mock-stall-after": (
        {"x-mock-stall-after": "2", "x-mock-stall-seconds": "30"},
        {},
        raises(StreamTimeoutError, lambda e: e.partial.content),
    ),
    "x-mock-stall-seconds": ({"x-mock-stall-after": "2", "x-mock-stall-seconds": "0.01"}, {}, plain),
    "x-mock-disconnect-after": ({"x-mock-disconnect-after": "2"}, {}, broken_after_some_text),
    "x-mock-error-event-after": (
        {"x-mock-error-event-after": "2"},
        {},
        raises(StreamError, lambda e: e.code == "3000" and e.partial.content),
    ),
    "x-mock-finish-error-after": ({"x-mock-finish-error-after": "2"}, {}, broken_after_some_text),
    "x-mock-malformed-after": ({"x-mock-malformed-after": "2"}, {}, broken_after_some_text),
    "x-mock-usage-chunk": ({"x-mock-usage-chunk": "separate"}, {}, usage_alone),
    "x-mock-no-done": ({"x-mock-no-done": "1"}, {}, plain),  # the finish reason arrived: complete
    "x-mock-html": ({"x-mock-html": "1"}, {}, raises(APIError, lambda e: not isinstance(e, APIStatusError))),
    "x-mock-crlf": ({"x-mock-crlf": "1"}, {}, plain),
    "x-mock-keepalive": ({"x-mock-keepalive": "1"}, {}, plain),
    "x-mock-tool-call-style": (
        {"x-mock-tool-call-style": "fragmented"},
        {"tools": [WEATHER], "tool_choice": "any"},
        fragmented_call,
    ),
    "x-mock-api-key": ({"x-mock-api-key": "not-the-clients"}, {}, raises(AuthenticationError)),
    "x-mock-rate-limit": ({"x-mock-rate-limit": "0"}, {}, raises(RateLimitError)),
    # The batch knobs act on the jobs a request creates (tests/server/test_batch.py); a chat is left alone.
    "x-mock-batch-fail-every": ({"x-mock-batch-fail-every": "1"}, {}, plain),
    "x-mock-batch-line-delay": ({"x-mock-batch-line-delay": "30"}, {}, plain),
    "x-mock-batch-timeout": ({"x-mock-batch-timeout": "0"}, {}, plain),
}


def test_the_table_covers_every_knob() -> None:
    assert set(CASES) == {knob.header for knob in KNOBS}


def collect(runner: Runner, fields: dict[str, Any], headers: dict[str, str]) -> Outcome:
    client = {"max_retries": 0, "timeout": Timeout(connect=5, read=0.5)}
    try:
        return runner.collect(None, client_kw=client, messages=[user("Tell me")], extra_headers=headers, **fields)
    except Exception as exc:
        return exc


@pytest.mark.parametrize("header", list(CASES))
def test_each_knob_by_request_header(run: Runner, header: str) -> None:
    headers, fields, expect = CASES[header]
    expect(collect(run, fields, headers))


@pytest.mark.parametrize("header", list(CASES))
def test_each_knob_as_a_server_default(header: str) -> None:
    headers, fields, expect = CASES[header]
    with LocalServer(config=ServerConfig(mock_headers=headers)) as server:
        expect(collect(Runner("sync", server.base_url), fields, {}))
