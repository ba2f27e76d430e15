"""Load and soak: many concurrent streams on one client, then many sequential ones.

    python bench/soak.py [--quick] [--streams 1000] [--chunks 200] [--sequential 10000]

1. ``--streams`` concurrent async streams of ``--chunks`` chunks each on one ``AsyncMistral``,
   against the local server running in another process (``mistral-client serve``), so one process
   is not both ends.  Every stream must complete without error, and the client's traced Python memory
   (tracemalloc) must come back to its baseline once the client is closed.
2. ``--sequential`` short streams one after the other on one client (sync, then async) against an
   in-process ``LocalServer``, whose records count the TCP connections: one must serve them all, and
   the process's file descriptors (``/proc/self/fd``) must not grow.

Loopback only.  ``tests/client/test_soak.py`` runs the same workloads at a reduced size and asserts on
them; this script prints the measurements and exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from mistral_client import AsyncMistral, Mistral, user

MODEL = "mistral-small-latest"


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@contextmanager
def server_process() -> Iterator[str]:
    """``mistral-client serve`` on a free loopback port, at full speed; yields its base URL."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "serve.log"
        with log.open("w") as err:
            cmd = [sys.executable, "-m", "mistral_client", "serve", "--port", "0"]
            cmd += ["--token-delay", "0", "--first-token-delay", "0"]
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 30
            while True:  # the server prints its address once it listens
                found = re.search(r"at (http://\S+)/v1", log.read_text())
                if found:
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mistral-client serve did not start:\n{log.read_text()}")
                time.sleep(0.02)
            yield found.group(1)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass
class Concurrent:
    streams: int
    chunks: int
    completed: int = 0
    errors: list[str] = field(default_factory=list)
    wrong_counts: int = 0  # streams that did not deliver every chunk
    most_connections: int = 0  # the client's pool at its fullest
    memory_before: int = 0  # bytes traced before the client existed
    memory_peak: int = 0
    memory_after: int = 0  # after the client was closed
    fds_before: int = 0
    fds_after: int = 0
    seconds: float = 0.0

    @property
    def memory_kept(self) -> int:
        return self.memory_after - self.memory_before


async def _stream(client: AsyncMistral, index: int, chunks: int) -> int:
    headers = {"x-mock-tokens": str(chunks)}
    messages = [user(f"load {index}")]
    count = 0
    async with client.chat.stream(model=MODEL, messages=messages, extra_headers=headers) as stream:
        async for _ in stream:
            count += 1
    return count


async def _burst(client: AsyncMistral, streams: int, chunks: int, run: Concurrent | None) -> None:
    pool = client._http._transport._pool
    watching = True

    async def watch() -> None:
        while watching:
            if run is not None:
                run.most_connections = max(run.most_connections, len(pool.connections))
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    results = await asyncio.gather(*(_stream(client, i, chunks) for i in range(streams)), return_exceptions=True)
    watching = False
    await watcher
    if run is None:
        return
    for outcome in results:
        if isinstance(outcome, BaseException):
            run.errors.append(f"{type(outcome).__name__}: {outcome}")
        else:
            run.completed += 1
            # content chunks, the role chunk, the finish chunk
            run.wrong_counts += outcome != chunks + 2


def concurrent(base_url: str, streams: int, chunks: int) -> Concurrent:
    """``streams`` streams at once on one ``AsyncMistral``; memory traced from before the client."""
    run = Concurrent(streams, chunks)

    async def main() -> None:
        tracemalloc.start()
        # A first client at the same concurrency, used and closed, grows what is sized by the
        # high-water mark (the loop's tables of sockets and tasks, which never shrink), so that
        # the baseline measures only what a client holds.  Tracing starts before it: a table that
        # grows while traced must also have been counted when it was smaller.
        async with AsyncMistral(base_url=base_url) as warm:
            await _burst(warm, streams, 2, None)
        gc.collect()
        run.fds_before = open_fds()
        run.memory_before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        started = time.perf_counter()
        async with AsyncMistral(base_url=base_url) as client:
            await _burst(client, streams, chunks, run)
        run.seconds = time.perf_counter() - started
        gc.collect()
        run.memory_after, run.memory_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        run.fds_after = open_fds()

    asyncio.run(main())
    return run


@dataclass
class Sequential:
    kind: str
    streams: int
    completed: int = 0
    errors: list[str] = field(default_factory=list)
    connections: int = 0  # distinct TCP connections the server saw
    fds: list[int] = field(default_factory=list)  # sampled 20 times along the way, and after the client closed
    seconds: float = 0.0


def sequential(server: object, kind: str, streams: int) -> Sequential:
    """``streams`` short streams one after the other on one client, against an in-process ``LocalServer``."""
    from mistral_client.server import LocalServer

    assert isinstance(server, LocalServer)
    server.clear_records()
    run = Sequential(kind, streams)
    headers = {"x-mock-tokens": "3"}
    messages = [user("short")]
    every = max(1, streams // 20)
    started = time.perf_counter()
    if kind == "sync":
        with Mistral(base_url=server.base_url) as client:
            for index in range(streams):
                try:
                    with client.chat.stream(model=MODEL, messages=messages, extra_headers=headers) as stream:
                        for _ in stream:
                            pass
                    run.completed += 1
                except Exception as exc:
                    run.errors.append(f"{type(exc).__name__}: {exc}")
                if index % every == 0:
                    run.fds.append(open_fds())
    else:

        async def main() -> None:
            async with AsyncMistral(base_url=server.base_url) as client:
                for index in range(streams):
                    try:
                        async with client.chat.stream(model=MODEL, messages=messages, extra_headers=headers) as s:
                            async for _ in s:
                                pass
                        run.completed += 1
                    except Exception as exc:
                        run.errors.append(f"{type(exc).__name__}: {exc}")
                    if index % every == 0:
                        run.fds.append(open_fds())

        asyncio.run(main())
    run.seconds = time.perf_counter() - started
    run.fds.append(open_fds())
    run.connections = len(server.connections)
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the reduced size the tests use")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--sequential", type=int, default=10_000)
    args = parser.parse_args()
    if args.quick:
        args.streams, args.chunks, args.sequential = 200, 50, 100

    failures: list[str] = []
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores\n")
    with server_process() as base_url:
        run = concurrent(base_url, args.streams, args.chunks)
    print(f"## {run.streams} concurrent async streams x {run.chunks} chunks, server in another process\n")
    print("| completed | errors | incomplete | most connections | seconds | traced memory: before / peak / after |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {run.completed} | {len(run.errors)} | {run.wrong_counts} | {run.most_connections} | {run.seconds:.1f} "
        f"| {run.memory_before / 1e6:.2f} / {run.memory_peak / 1e6:.2f} / {run.memory_after / 1e6:.2f} MB |"
    )
    if run.completed != run.streams or run.errors or run.wrong_counts:
        failures.append(f"concurrent: {run.errors[:3]}")
    if run.memory_kept > 256 * 1024:
        failures.append(f"concurrent: {run.memory_kept} bytes still traced after the client closed")
    if run.fds_after > run.fds_before:
        failures.append(f"concurrent: {run.fds_after - run.fds_before} file descriptors left open")

    from mistral_client.server import LocalServer

    print(f"\n## {args.sequential} sequential short streams on one client, in-process server\n")
    print("| client | completed | errors | TCP connections | fds first / last | seconds |")
    print("|---|---|---|---|---|---|")
    with LocalServer() as server:
        for kind in ("sync", "async"):
            seq = sequential(server, kind, args.sequential)
            print(
                f"| {kind} | {seq.completed} | {len(seq.errors)} | {seq.connections} "
                f"| {seq.fds[0]} / {seq.fds[-1]} | {seq.seconds:.1f} |"
            )
            if seq.completed != seq.streams or seq.errors or seq.connections != 1 or max(seq.fds) > seq.fds[0]:
                failures.append(f"sequential {kind}: {seq}")
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
