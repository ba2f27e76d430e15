"""Scenario 9 in a process of its own: N chat requests at concurrency C, through one client.

    python -m bench.bulk CLIENT BASE_URL N C

CLIENT is ``ours`` (the bulk runner's direct engine, writing its results file), ``mistralai`` or
``openai`` (a plain ``asyncio.gather`` over the SDK's async chat call, C at a time through a
semaphore, the answers kept in a list: what a user writes without a runner).  The server is the
local server (``mistral-client serve --fast``) in another process.  Prints one JSON line: requests
per second, client CPU per request (this process's user + system time), and peak RSS above what the
process held once its client was built and one request done (``rss_growth_mib``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.scenarios import Sizes, _child, peak_rss_mib

MODEL = "mistral-small-latest"
URL_LINE = "use it with: MISTRAL_BASE_URL="


def _line(number: int) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": f"question {number}"}], "max_tokens": 16}


async def _ours(base: str, n: int, c: int) -> int:
    from mistral_client import AsyncMistral
    from mistral_client.bulk import BulkRunner

    folder = tempfile.mkdtemp()
    async with AsyncMistral(base_url=base) as client:
        await client.chat.complete(**_line(-1))
        base_rss = peak_rss_mib()
        requests = ({"custom_id": f"q{k}", "body": _line(k)} for k in range(n))  # a generator: never all in memory
        runner = BulkRunner(
            requests,
            output=Path(folder) / "out.jsonl",
            client=client,
            concurrency=c,
            initial_concurrency=c,
            progress=False,
        )
        _mark(base_rss)
        stats = await runner.run()
    return stats.succeeded


async def _sdk(name: str, base: str, n: int, c: int) -> int:
    if name == "mistralai":
        from mistralai.client import Mistral

        sdk: Any = Mistral(api_key="bench", server_url=base)

        async def call(k: int) -> Any:
            return await sdk.chat.complete_async(**_line(k))

    else:
        import openai

        sdk = openai.AsyncOpenAI(api_key="bench", base_url=base + "/v1", max_retries=2)

        async def call(k: int) -> Any:
            return await sdk.chat.completions.create(**_line(k))

    await call(-1)
    _mark(peak_rss_mib())
    gate = asyncio.Semaphore(c)

    async def one(k: int) -> Any:
        async with gate:
            return await call(k)

    answers = await asyncio.gather(*(one(k) for k in range(n)))
    return sum(1 for answer in answers if answer.choices)


_START: dict[str, float] = {}


def _mark(base_rss: float) -> None:
    _START.update(rss=base_rss, cpu=time.process_time(), wall=time.perf_counter())


def measure(name: str, base: str, n: int, c: int) -> dict[str, Any]:
    done = asyncio.run(_ours(base, n, c) if name == "ours" else _sdk(name, base, n, c))
    cpu, wall = time.process_time() - _START["cpu"], time.perf_counter() - _START["wall"]
    if done != n:
        raise RuntimeError(f"{name}: {done} of {n} requests answered")
    return {
        "client": name,
        "requests": n,
        "concurrency": c,
        "requests_per_s": n / wall,
        "cpu_us_per_request": cpu / n * 1e6,
        "peak_rss_mib": peak_rss_mib(),
        "rss_growth_mib": peak_rss_mib() - _START["rss"],
    }


CLIENTS = ("ours", "mistralai", "openai")


def scenario(s: Sizes) -> dict[str, Any]:
    """Each client at both sizes, one child process a run: ``{client: {str(n): row}}``."""
    import importlib.util

    results: dict[str, Any] = {}
    with local_server() as base:
        for name in CLIENTS:
            if name != "ours" and importlib.util.find_spec(name) is None:
                continue
            rows = {}
            for n in s.bulk_runner:
                rows[str(n)] = _child("bench.bulk", name, base, str(n), str(s.bulk_runner_concurrency))
            results[name] = rows
    return results


@contextmanager
def local_server() -> Iterator[str]:
    """``mistral-client serve --fast`` in another process, with no rate limit in its headers to slow a run."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mistral_client",
            "serve",
            "--port",
            "0",
            "--fast",
            "--requests-per-minute",
            "1000000000",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={name: value for name, value in os.environ.items() if not name.startswith("MISTRAL_")},
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if URL_LINE in line:
                base = line.split(URL_LINE, 1)[1].strip()
                break
        else:
            raise RuntimeError("mistral-client serve did not start")
        _wait_listening(base)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def _wait_listening(base: str) -> None:
    import httpx2

    deadline = time.monotonic() + 20
    while True:
        try:
            httpx2.get(base + "/v1/models", timeout=1)
            return
        except httpx2.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


if __name__ == "__main__":
    client, base_url, count, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(measure(client, base_url, count, concurrency)))
