"""The direct engine's concurrency (AIMD) and the results file's syncing, on their own.

The limiter reads real ``httpx2.Response`` heads (status and headers): nothing is sent; the HTTP
behaviour around it is in test_proof.py, against a server in another process.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx2
import pytest

from mistral_client.bulk import BulkRunner
from mistral_client.bulk._limiter import AIMDLimiter
from mistral_client.bulk._output import ResultsFile


def answer(status: int, **headers: str) -> httpx2.Response:
    return httpx2.Response(status, headers=headers)


def test_a_run_starts_at_a_quarter_of_its_concurrency(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text("")
    assert BulkRunner(tmp_path / "in.jsonl", output=tmp_path / "o.jsonl", concurrency=32).initial_concurrency == 8
    assert BulkRunner(tmp_path / "in.jsonl", output=tmp_path / "o.jsonl", concurrency=2).initial_concurrency == 1


def test_the_limit_grows_by_one_a_round_of_successes_up_to_the_maximum() -> None:
    limiter = AIMDLimiter(4, 6)
    for _ in range(4):
        limiter.observe(answer(200), 0)
    assert limiter.current == 4  # 1/limit each: a round of four successes brings it just short of 5
    limiter.observe(answer(200), 0)
    assert limiter.current == 5
    for _ in range(100):
        limiter.observe(answer(200), 0)
    assert limiter.current == 6


@pytest.mark.parametrize("status", [429, 503])
def test_a_refusal_halves_the_limit_once_per_round(status: int) -> None:
    limiter = AIMDLimiter(16, 16)
    epoch = 0
    for _ in range(10):  # ten requests of one round refused together: one piece of news
        limiter.observe(answer(status), epoch)
    assert limiter.current == 8 and limiter.decreases == 1 and limiter.throttled == 10
    limiter.observe(answer(status), 1)  # a request sent after the decrease: halves again
    assert limiter.current == 4
    limiter.observe(answer(500), 2)  # a server error says nothing about load
    assert limiter.current == 4


def test_remaining_requests_cap_the_limit() -> None:
    limiter = AIMDLimiter(16, 16)
    limiter.observe(answer(200, **{"x-ratelimit-remaining-req-minute": "3"}), 0)
    assert limiter.current == 3
    limiter.observe(answer(200, **{"x-ratelimit-remaining-req-minute": "0"}), 0)
    assert limiter.current == 1
    limiter.observe(answer(200, **{"x-ratelimit-remaining-req-minute": "500"}), 0)
    assert limiter.current == 2  # and grows again from there


async def test_retry_after_holds_every_new_request_back() -> None:
    limiter = AIMDLimiter(4, 4)
    epoch = await limiter.acquire()
    limiter.observe(answer(429, **{"retry-after-ms": "300"}), epoch)
    await limiter.release()
    started = time.monotonic()
    await asyncio.wait_for(limiter.acquire(), 5)
    assert time.monotonic() - started >= 0.25


async def test_no_more_than_the_limit_is_in_flight() -> None:
    limiter = AIMDLimiter(2, 2)
    await limiter.acquire()
    await limiter.acquire()
    third = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0)
    assert not third.done()
    await limiter.release()
    await asyncio.wait_for(third, 5)
    assert limiter.in_flight == 2


def test_the_results_file_is_fsynced_at_most_once_a_second_and_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mistral_client.bulk import _output

    synced: list[int] = []
    real = _output.os.fsync
    monkeypatch.setattr(_output.os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    clock = [1000.0]
    monkeypatch.setattr(_output.time, "monotonic", lambda: clock[0])
    results = ResultsFile(tmp_path / "out.jsonl").open()
    for _ in range(50):
        results.write(b'{"custom_id":"a"}\n')
    assert synced == []  # within the same second: flushed, not synced
    clock[0] += 1.0
    results.write(b'{"custom_id":"b"}\n')
    assert len(synced) == 1
    results.close()
    assert len(synced) == 2
    assert (tmp_path / "out.jsonl").read_bytes().count(b"\n") == 51
