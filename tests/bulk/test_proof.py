"""The issue's proof: the runner against the local server in another process.

- 2,000 requests under ``--rate-limit``: every result exactly once, and by the server's own count no
  request was sent more often than the client's retry rule allows;
- a run killed with SIGKILL halfway, then resumed: the outputs hold every input id exactly once, and
  the server saw each id finished by the first run once;
- Ctrl-C (SIGINT) during a run: exit 130, whole lines only, how to resume said; the resume finishes;
- the batch engine through upload, poll and download, from the command line.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from mistral_client import AsyncMistral
from mistral_client.bulk import BulkRunner
from tests.bulk.helpers import duplicates, read_results, result_ids, seen_statuses, write_requests
from tests.support.serveproc import serve_env, serving

RATE_LIMIT = 1900  # requests a minute: 2,000 requests run into it


@pytest.mark.timeout(240)  # the limit is per minute: the last hundred wait for the window to move (idle time)
async def test_2000_requests_under_a_rate_limit_each_arrive_once_within_the_retry_rule(tmp_path: Path) -> None:
    ids = write_requests(tmp_path / "in.jsonl", 2000)
    with serving("--rate-limit", str(RATE_LIMIT), "--fast") as server:
        async with AsyncMistral(base_url=server.base_url) as client:
            runner = BulkRunner(tmp_path / "in.jsonl", output=tmp_path / "out.jsonl", client=client, concurrency=16)
            stats = await runner.run()
        counts = seen_statuses(server.base_url)
    written = result_ids(tmp_path / "out.jsonl")
    assert duplicates(written) == {} and sorted(written) == sorted(ids)
    assert read_results(tmp_path / "out.errors.jsonl") == []
    assert stats.succeeded == 2000 and stats.failed == 0
    assert sorted(counts) == sorted(ids)
    ok = {custom_id: statuses.count(200) for custom_id, statuses in counts.items()}
    assert set(ok.values()) == {1}  # answered once each: nothing sent again after it succeeded
    refused = Counter(status for statuses in counts.values() for status in statuses if status != 200)
    assert set(refused) == {429}, refused  # the limit was reached...
    attempts = max(len(statuses) for statuses in counts.values())
    assert attempts <= 1 + client.max_retries  # ...and no request was retried past the rule
    # The remaining-requests header caps the concurrency as the minute runs out: about one request
    # meets the limit (one in a run here), not the whole concurrency of 16 at once.
    assert refused[429] <= 4, refused
    assert stats.throttled == refused[429]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "mistral_client", "batch", *args]


def start_run(requests: Path, output: Path, base_url: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli("run", str(requests), "-o", str(output), "--base-url", base_url, *extra),
        env=serve_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_lines(path: Path, count: int, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    """Until ``path`` holds ``count`` whole lines: the run is that far (a file growing is the event)."""
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_bytes().count(b"\n") >= count):
        assert proc.poll() is None, f"the run ended early: {proc.communicate()}"
        assert time.monotonic() < deadline, f"{path} did not reach {count} lines"
        time.sleep(0.005)


# A slow server (10 ms an answer), so that a run of 1,000 at concurrency 4 lasts seconds and can be cut.
SLOW = ("--first-token-delay", "0.01", "--token-delay", "0", "--requests-per-minute", "1000000")


def test_a_run_killed_halfway_then_resumed_sends_each_finished_id_once(tmp_path: Path) -> None:
    ids = write_requests(tmp_path / "in.jsonl", 1000)
    out = tmp_path / "out.jsonl"
    with serving(*SLOW) as server:
        first = start_run(tmp_path / "in.jsonl", out, server.base_url, "--concurrency", "4")
        wait_for_lines(out, 500, first)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert first.returncode == -signal.SIGKILL
        # A kill can cut the last line short: the whole lines before it are what the first run finished.
        finished = {line.split('"custom_id":')[1].split('"')[1] for line in out.read_text().split("\n")[:-1]}
        assert 500 <= len(finished) < 1000
        second = subprocess.run(
            cli("run", str(tmp_path / "in.jsonl"), "-o", str(out), "--base-url", server.base_url),
            env=serve_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        counts = seen_statuses(server.base_url)
    assert second.returncode == 0, second.stderr
    assert f"({len(finished):,} already there)" in second.stderr
    written = result_ids(out)  # every line whole: the torn one was cut before appending
    assert duplicates(written) == {} and sorted(written) == sorted(ids)
    assert all(len(counts[custom_id]) == 1 for custom_id in finished)
    sent_twice = [custom_id for custom_id, statuses in counts.items() if len(statuses) > 1]
    assert len(sent_twice) <= 16 and not set(sent_twice) & finished  # only what was in flight at the kill


def test_ctrl_c_stops_cleanly_says_how_to_resume_and_the_resume_finishes(tmp_path: Path) -> None:
    ids = write_requests(tmp_path / "in.jsonl", 1000)
    out = tmp_path / "out.jsonl"
    with serving(*SLOW) as server:
        run = start_run(tmp_path / "in.jsonl", out, server.base_url, "--concurrency", "4")
        wait_for_lines(out, 200, run)
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=20)
        assert run.returncode == 130, stderr
        assert "Traceback" not in stderr
        assert "interrupted:" in stderr and f"results in {out}" in stderr
        resume = next(line for line in stderr.splitlines() if "to resume:" in line).split("to resume: ", 1)[1]
        assert resume.startswith("mistral-client batch run ") and f"-o {out}" in resume
        finished = result_ids(out)  # no torn line: the run closed the file itself
        assert 200 <= len(finished) < 1000 and duplicates(finished) == {}
        args = resume.split()[2:]
        again = subprocess.run(cli(*args), env=serve_env(), capture_output=True, text=True, timeout=120)
        counts = seen_statuses(server.base_url)
    assert again.returncode == 0, again.stderr
    written = result_ids(out)
    assert duplicates(written) == {} and sorted(written) == sorted(ids)
    assert all(len(counts[custom_id]) == 1 for custom_id in finished)


def test_the_batch_engine_from_the_command_line_then_status_and_download(tmp_path: Path) -> None:
    ids = write_requests(tmp_path / "in.jsonl", 40)
    out = tmp_path / "out.jsonl"
    with serving("--batch-line-delay", "0.005", "--fast") as server:
        done = subprocess.run(
            cli("run", str(tmp_path / "in.jsonl"), "-o", str(out), "--engine", "batch", "--base-url", server.base_url),
            env=serve_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert sorted(result_ids(out)) == sorted(ids)
        assert seen_statuses(server.base_url) == {}  # nothing went to /v1/chat/completions: the job ran the lines
        job_id = done.stderr.split("batch job ", 1)[1].split(",", 1)[0]
        status = subprocess.run(
            cli("status", job_id, "--base-url", server.base_url), env=serve_env(), capture_output=True, text=True
        )
        assert status.returncode == 0 and "status:       SUCCESS" in status.stdout
        assert "40 of 40 done, 40 succeeded, 0 failed" in status.stdout
        target = tmp_path / "job.jsonl"
        fetched = subprocess.run(
            cli("download", job_id, "-o", str(target), "--base-url", server.base_url),
            env=serve_env(),
            capture_output=True,
            text=True,
        )
        assert fetched.returncode == 0, fetched.stderr
        assert sorted(result_ids(target)) == sorted(ids)
        cancelled = subprocess.run(
            cli("cancel", job_id, "--base-url", server.base_url), env=serve_env(), capture_output=True, text=True
        )
        assert "status:       SUCCESS" in cancelled.stdout  # a finished job stays as it was


PEAK = """
import asyncio, sys, tracemalloc
from mistral_client import AsyncMistral
from mistral_client.bulk import BulkRunner

async def main(base_url, requests, output):
    async with AsyncMistral(base_url=base_url) as client:
        await client.models.list()  # the pool and the imports, before measuring
        tracemalloc.start()
        stats = await BulkRunner(requests, output=output, client=client, concurrency=8, progress=False).run()
        assert stats.failed == 0
        print(stats.succeeded, tracemalloc.get_traced_memory()[1])

asyncio.run(main(*sys.argv[1:]))
"""


def test_a_runs_memory_does_not_grow_with_its_input(tmp_path: Path) -> None:
    def peak(count: int) -> int:
        write_requests(tmp_path / f"in{count}.jsonl", count)
        args = [server.base_url, str(tmp_path / f"in{count}.jsonl"), str(tmp_path / f"out{count}.jsonl")]
        done = subprocess.run(
            [sys.executable, "-c", PEAK, *args], env=serve_env(), capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        answered, peak_bytes = map(int, done.stdout.split())
        assert answered == count
        return peak_bytes

    # The run in a process of its own, so that only its allocations are traced.
    with serving("--fast", "--requests-per-minute", "1000000") as server:
        small, large = peak(300), peak(3000)
    # Ten times the requests: the peak grows only by the input check's ids (a dict of 3,000 short ids).
    assert large < small + 1_000_000, (small, large)
