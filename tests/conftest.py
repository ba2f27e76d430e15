"""Shared fixtures: a real local server on loopback, and one way to drive the sync and async clients.

``run`` is parametrized over the sync and the async client, so a behaviour test written once runs
against both; tests of what only one of them has (threads, task cancellation) are written apart.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from mistral_client.server import LocalServer
from tests.support.helpers import Runner
from tests.support.shared import take_deferred, unavailable


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's real key or base URL must never leak into a test, nor change its outcome.
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    monkeypatch.delenv("MISTRAL_BASE_URL", raising=False)


@pytest.fixture(autouse=True)
def _spec_cross_checks(subtests: pytest.Subtests) -> Iterator[None]:
    # A test whose cross-checks against ../shared could not run still ran its own assertions: it
    # passes on them, and the missing cross-checks show as one skipped subtest (a failure in CI).
    take_deferred()
    yield
    for reason in take_deferred():
        with subtests.test("cross-checks against ../shared"):
            unavailable(reason)


@pytest.fixture(scope="session")
def _session_server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server


@pytest.fixture
def server(_session_server: LocalServer) -> LocalServer:
    """The shared local server, with its records cleared for this test."""
    _session_server.clear_records()
    return _session_server


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def run(kind: str, server: LocalServer) -> Runner:
    """The sync or the async client, against the shared local server."""
    return Runner(kind, server.base_url)


def pytest_report_header() -> str:
    return f"mistral_client tests; CI={os.environ.get('CI', '')!r}"
