"""Load and soak at a reduced size: the workloads of ``bench/soak.py``, with their checks asserted.

The full size (1,000 concurrent streams of 200 chunks, 10,000 sequential streams) is
``python bench/soak.py``; nothing here asserts a time.
"""

from __future__ import annotations

import logging

import pytest

from bench import soak
from mistral_client.server import LocalServer

STREAMS, CHUNKS = 200, 20
SEQUENTIAL = 100


def test_concurrent_streams_complete_and_leave_nothing_behind(caplog: pytest.LogCaptureFixture) -> None:
    # Log records captured for the report would count as memory kept: log only what matters here.
    for name in (None, "mistral_client", "httpx2", "httpcore2", "asyncio"):
        caplog.set_level(logging.WARNING, logger=name)
    with soak.server_process() as base_url:
        run = soak.concurrent(base_url, STREAMS, CHUNKS)
    assert run.errors == []
    assert run.completed == STREAMS
    assert run.wrong_counts == 0  # every stream delivered every chunk
    # Side by side, not queued: more than httpx2's default pool of 100 connections would allow.
    assert run.most_connections > 100
    # Streams keep their chunks (the default): a stream, response or result kept alive would keep
    # kilobytes each.  What remains is the noise of tables that resize.
    assert run.memory_peak - run.memory_before > 1_000_000
    assert run.memory_kept < 256 * 1024, f"{run.memory_kept} bytes still traced after the client closed"
    assert run.fds_after <= run.fds_before


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_sequential_streams_reuse_one_connection(server: LocalServer, kind: str) -> None:
    run = soak.sequential(server, kind, SEQUENTIAL)
    assert run.errors == []
    assert run.completed == SEQUENTIAL
    assert run.connections == 1  # counted by the server: every stream went over the same TCP connection
    assert max(run.fds) == run.fds[0], run.fds  # sampled along the way and after the client closed
    assert run.fds[-1] < run.fds[0]  # closing the client released its socket
