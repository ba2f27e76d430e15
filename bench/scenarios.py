"""The seven scenarios of the benchmark.  Each returns plain data (dicts of numbers) for the report.

CPU is the client process's own (``time.process_time``, or ``getrusage`` in a child process): the
server runs in another process.  Every client of a scenario takes its turn within each repetition,
so a machine that gets busier slows them alike, and the report gives medians and ratios.  Where a
row's value is a median of runs, the row keeps each run's value too (``<key>_runs``), so that the
report can show the spread and how many runs there were.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx2

from bench.clients import ASYNC, SDK_OF, SYNC, available, split_events
from bench.server import MAX_WAIT, ROOT
from bench.wire import MODEL, chunk_events, large_event

MiB = 1024 * 1024


@dataclass
class Sizes:
    """How big each scenario is; ``QUICK`` only checks that the harness runs."""

    reps: int = 5
    sdk_reps: int = 3  # the SDKs are far slower (see the tables): fewer runs of them keep the suite to minutes
    bulk: tuple[int, int] = (2_000, 20_000)
    trickle: tuple[int, int] = (2_000, 20_000)
    trickle_gap: float = 50e-6
    many_streams: int = 200
    many_chunks: int = 500
    many_gap: float = 0.005
    many_reps: int = 5  # K: each row of scenario 3 is the median of K runs, with their min and max
    many_sdk_reps: int = 1  # an SDK run takes 10-40 s of the total: once
    # Scenario 3 again with events further apart: the cost per event depends on how many events
    # each wakeup of the loop finds ready, so the rate is part of what a figure means.
    many_rate_gaps: tuple[float, ...] = (0.005, 0.01, 0.02, 0.04)
    many_rate_seconds: float = 1.0  # each stream lasts about this long, whatever its gap
    many_rate_reps: int = 3
    cold_chunks: int = 10
    cold_reps: int = 9
    cold_extras: bool = True  # a warm-up run, and processes that only import
    ttfc_wait: float = 0.05
    ttfc_reps: int = 30
    cancel_gap: float = 0.002
    cancel_reps: int = 7
    large_sizes: tuple[int, ...] = (1 * MiB, 2 * MiB, 4 * MiB, 8 * MiB, 16 * MiB)
    large_read: int = 1024
    large_reps: int = 3
    bulk_runner: tuple[int, int] = (1_000, 10_000)  # scenario 9: chat requests of a run, at two sizes
    bulk_runner_concurrency: int = 32
    # Scenario 10 (OpenTelemetry): short streams of telemetry_chunks, telemetry_streams at a time; scenario 3's
    # many streams at a smaller size; every mode in each of telemetry_reps repetitions.
    telemetry_reps: int = 7
    telemetry_streams: int = 200
    telemetry_chunks: int = 10
    telemetry_many_streams: int = 200
    telemetry_many_chunks: int = 100
    clients: tuple[str, ...] = ("ours", "ours-async", "httpx2", "httpx2-async", "httpx2+json", "openai", "mistralai")


QUICK = Sizes(
    reps=1,
    sdk_reps=1,
    bulk=(20, 60),
    trickle=(20, 60),
    trickle_gap=0.0,
    many_streams=4,
    many_chunks=20,
    many_gap=0.0,
    many_reps=2,
    many_rate_gaps=(0.001, 0.002),
    many_rate_seconds=0.02,
    many_rate_reps=1,
    cold_reps=1,
    cold_extras=False,
    ttfc_wait=0.01,
    ttfc_reps=1,
    cancel_reps=1,
    large_sizes=(16 * 1024, 64 * 1024),
    large_reps=1,
    bulk_runner=(20, 40),
    bulk_runner_concurrency=4,
    telemetry_reps=1,
    telemetry_streams=4,
    telemetry_many_streams=4,
    telemetry_many_chunks=20,
)


CORE_READ = 64 * 1024  # the decoding core alone is fed reads of this size in the bulk case
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


def median(values: list[float]) -> float:
    return statistics.median(values)


def without_proxies() -> list[str]:
    """Remove proxy variables from this process's environment (and so its children's); their names.

    The server is on loopback, where no proxy applies, but ``AsyncMistral`` sees a proxy variable and
    sends through httpx2's transport instead of its own (it leaves ``NO_PROXY`` to httpx2): with one
    set, the async rows would measure httpx2's transport under our name.
    """
    removed = [name for name in os.environ if name.lower() in PROXY_VARIABLES]
    for name in removed:
        del os.environ[name]
    return sorted(removed)


def turns(names: list[str], rep: int) -> list[str]:
    """Every client once, in an order that flips each repetition: no client is always first."""
    return names if rep % 2 == 0 else names[::-1]


# --- running one stream ---


def _drain_sync(client: Any, headers: dict[str, str]) -> int:
    handle = client.open(headers)
    text = client.text
    n = 0
    for item in handle.items:
        text(item)
        n += 1
    handle.close()
    return n


async def _drain_async(client: Any, headers: dict[str, str]) -> int:
    handle = await client.open(headers)
    text = client.text
    n = 0
    async for item in handle.items:
        text(item)
        n += 1
    await handle.close()
    return n


def _expect(name: str, got: int, n: int) -> None:
    # The floor counts [DONE] as an event; the others hand out chunks only.
    if got not in (n, n + 1):
        raise RuntimeError(f"{name} delivered {got} items from a stream of {n} chunks")


class Clients:
    """The sync and async clients of a run, built once, closed together."""

    def __init__(self, base: str, names: tuple[str, ...]) -> None:
        self.loop = asyncio.new_event_loop()
        self.names = available(names)
        self.clients: dict[str, Any] = {}
        for name in self.names:
            if name in SYNC:
                self.clients[name] = SYNC[name](base)
            else:
                self.clients[name] = self.loop.run_until_complete(_build_async(name, base))

    def cpu(self, name: str, headers: dict[str, str], n: int) -> float:
        """Client CPU seconds for one whole stream (request, every chunk, close)."""
        client = self.clients[name]
        gc.collect()
        start = time.process_time()
        if name in SYNC:
            got = _drain_sync(client, headers)
        else:
            got = self.loop.run_until_complete(_drain_async(client, headers))
        elapsed = time.process_time() - start
        _expect(name, got, n)
        return elapsed

    def close(self) -> None:
        for name, client in self.clients.items():
            if name in SYNC:
                client.close()
            else:
                self.loop.run_until_complete(client.close())
        self.loop.close()


async def _build_async(name: str, base: str) -> Any:
    return ASYNC[name](base)


# --- 1 and 2: one stream, bulk and trickle ---


def marginal(times: dict[int, list[float]], sizes: tuple[int, int]) -> dict[str, Any]:
    """µs per chunk between the two sizes, run by run (each run streams both sizes), and its median."""
    small, large = sizes
    each = [(b - a) / (large - small) * 1e6 for a, b in zip(times[small], times[large], strict=True)]
    return {"us_per_chunk": median(each), "us_per_chunk_runs": each}


def per_chunk(
    clients: Clients, sizes: tuple[int, int], reps: int, sdk_reps: int, headers: Callable[[int], dict[str, str]]
) -> dict[str, Any]:
    """Marginal CPU per chunk between the two sizes, per client (``reps`` runs, ``sdk_reps`` for the SDKs)."""
    small, large = sizes
    runs: dict[str, dict[int, list[float]]] = {name: {small: [], large: []} for name in clients.names}
    for name in clients.names:  # warm-up: connections, caches, lazy imports
        clients.cpu(name, headers(small), small)
    for rep in range(reps):
        for name in turns(clients.names, rep):
            if rep >= sdk_reps and name in SDK_OF:
                continue
            for n in sizes:
                runs[name][n].append(clients.cpu(name, headers(n), n))
    out = {}
    for name, by_size in runs.items():
        out[name] = {
            **marginal(by_size, sizes),
            "stream_ms": {str(small): median(by_size[small]) * 1e3, str(large): median(by_size[large]) * 1e3},
        }
    return out


def bulk(clients: Clients, s: Sizes) -> dict[str, Any]:
    out = per_chunk(clients, s.bulk, s.reps, s.sdk_reps, lambda n: {"x-bench-n": str(n), "x-bench-mode": "bulk"})
    out["ours-core"] = core(s.bulk, s.reps, one_event_reads=False)
    return out


def core(sizes: tuple[int, int], reps: int, *, one_event_reads: bool) -> dict[str, Any]:
    """Our decoding core alone (bytes -> events -> typed chunks -> result), no I/O: what of a
    client's cost is ours rather than the HTTP layer's.  Fed ``CORE_READ`` reads, or one event a read."""
    from mistral_client._pipeline.decoding import ChunkDecoder

    def reads(n: int) -> list[bytes]:
        events = chunk_events(n)
        if one_event_reads:
            return events
        body = b"".join(events)
        return [body[i : i + CORE_READ] for i in range(0, len(body), CORE_READ)]

    def once(pieces: list[bytes], n: int) -> float:
        gc.collect()
        start = time.process_time()
        decoder = ChunkDecoder(time.perf_counter())
        deliver = decoder.deliver
        for piece in pieces:
            for chunk in decoder.feed(piece):
                deliver(chunk)
                chunk.content  # noqa: B018 - read the text, as every client does
        elapsed = time.process_time() - start
        _expect("ours-core", decoder.result.chunk_count, n)
        return elapsed

    pieces = {n: reads(n) for n in sizes}
    times: dict[int, list[float]] = {n: [] for n in sizes}
    for _ in range(max(reps, 3)):
        for n in sizes:
            times[n].append(once(pieces[n], n))
    return marginal(times, sizes)


def trickle(clients: Clients, base: str, s: Sizes) -> dict[str, Any]:
    def headers(n: int) -> dict[str, str]:
        return {"x-bench-n": str(n), "x-bench-mode": "trickle", "x-bench-gap": repr(s.trickle_gap)}

    out = per_chunk(clients, s.trickle, s.reps, s.sdk_reps, headers)
    out["ours-core"] = core(s.trickle, s.reps, one_event_reads=True)
    out["_reads_per_event"], out["_us_between_events"] = _reads_per_event(base, headers(s.trickle[0]))
    return out


def _reads_per_event(base: str, headers: dict[str, str]) -> tuple[float, float]:
    """How many reads the floor made per event (near 1: the events did arrive one by one), and how
    far apart they came, in µs (the server's pace, longer than its gap on a busy machine)."""
    reads = events = 0
    start = time.perf_counter()
    with (
        httpx2.Client() as http,
        http.stream("POST", base + "/v1/chat/completions", content=b"{}", headers=headers) as r,
    ):

        def counted() -> Iterator[bytes]:
            nonlocal reads
            for data in r.iter_raw():
                reads += 1
                yield data

        for _ in split_events(counted()):
            events += 1
    return reads / events, (time.perf_counter() - start) / events * 1e6


# --- 3: many concurrent streams (each client in a process of its own) ---


OUR_TRANSPORT = "mistral_client._transport.http11.AsyncTransport"


def many(base: str, s: Sizes, loop: str = "asyncio") -> dict[str, Any]:
    """Each client in ``many_reps`` fresh processes (the SDKs in ``many_sdk_reps``), turn by turn."""
    names = [name for name in available(ASYNC) if _short(name) in s.clients]
    if "ours" in s.clients:
        names.insert(1, "ours-async")  # the default, which keeps every chunk in stream.result.chunks
    names.append("loop-floor")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for rep in range(s.many_reps):
        for name in turns(names, rep):
            if rep >= s.many_sdk_reps and name in SDK_OF:
                continue
            args = (name, base, str(s.many_streams), str(s.many_chunks), repr(s.many_gap), loop)
            runs[name].append(_paced(base, lambda args=args: _checked(args[0], _child("bench.many", *args))))
    return {_short(name): _medians(results) for name, results in runs.items()}


def many_rates(base: str, s: Sizes, loops: tuple[str, ...]) -> dict[str, Any]:
    """Ours (as a relay) and the loop alone, with events ``many_rate_gaps`` apart in each stream.

    ``{loop: {gap in ms: {client: row}}}``; each stream lasts about ``many_rate_seconds``.
    """
    names = ["ours-async-relay", "loop-floor"] if "ours" in s.clients else ["loop-floor"]
    out: dict[str, Any] = {}
    for loop in loops:
        by_gap: dict[str, Any] = {}
        for gap in s.many_rate_gaps:
            chunks = max(2, round(s.many_rate_seconds / gap))
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
            for rep in range(s.many_rate_reps):
                for name in turns(names, rep):
                    args = (name, base, str(s.many_streams), str(chunks), repr(gap), loop)
                    runs[name].append(_paced(base, lambda args=args: _checked(args[0], _child("bench.many", *args))))
            by_gap[f"{gap * 1e3:g}"] = {_short(name): {**_medians(r), "chunks": chunks} for name, r in runs.items()}
        out[loop] = by_gap
    return out


def _paced(base: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``run()``'s result, with how the server paced its events meanwhile: how many it wrote per
    wakeup (they reach the client together) and how late, on average, in ms."""
    with httpx2.Client(base_url=base) as control:
        before = control.get("/_bench/pacer").json()
        result = run()
        after = control.get("/_bench/pacer").json()
    wakes, events = after["wakes"] - before["wakes"], after["events"] - before["events"]
    result["events_per_server_wake"] = events / wakes if wakes else None
    result["server_late_ms"] = (after["late_s"] - before["late_s"]) / events * 1e3 if events else None
    return result


def _checked(name: str, result: dict[str, Any]) -> dict[str, Any]:
    """A run of ours on another transport than its own measured something else: stop there."""
    if name.startswith("ours") and result.get("transport") != OUR_TRANSPORT:
        raise RuntimeError(f"{name} sent through {result.get('transport')}, not {OUR_TRANSPORT} (a proxy variable?)")
    return result


def _medians(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each number over the runs, each run's CPU per chunk, and the labels they share."""
    out: dict[str, Any] = {}
    for key, first in results[0].items():
        values = [r[key] for r in results]
        if isinstance(first, (int, float)):
            out[key] = median(values)
        elif len(set(values)) > 1:
            raise RuntimeError(f"runs of one client disagree on {key}: {sorted(set(map(str, values)))}")
        else:
            out[key] = first
    out["us_per_chunk_runs"] = [r["us_per_chunk"] for r in results]
    return out


def has_uvloop() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def _short(name: str) -> str:
    """The name of the sync client behind an async one; the relay variant of ours is reported apart."""
    return {"ours-async-relay": "ours", "ours-async": "ours (keep_chunks=True)"}.get(name, name.removesuffix("-async"))


def _child(module: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=600
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


# --- 4: cold start ---

COLD = {
    "ours": """
from mistral_client import Mistral, user
with Mistral(api_key="bench", base_url=BASE) as client:
    with client.chat.stream(model=MODEL, messages=[user("bench")], extra_headers=HEADERS) as stream:
        n = sum(1 for chunk in stream if chunk.content is not None)
""",
    "httpx2": """
import httpx2
with httpx2.Client() as http:
    with http.stream("POST", BASE + "/v1/chat/completions", content=BODY, headers=HEADERS) as response:
        n, tail = 0, b""
        for data in response.iter_raw():
            events = (tail + data).split(b"\\n\\n")
            tail = events.pop()
            n += len(events) - (events[-1:] == [b"data: [DONE]"])
""",
    "openai": """
import openai
with openai.OpenAI(api_key="bench", base_url=BASE + "/v1", max_retries=0) as client:
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "bench"}], stream=True, extra_headers=HEADERS
    )
    n = sum(1 for chunk in stream)
""",
    "mistralai": """
from mistralai.client import Mistral
with Mistral(api_key="bench", server_url=BASE) as client:
    messages = [{"role": "user", "content": "bench"}]
    with client.chat.stream(model=MODEL, messages=messages, http_headers=HEADERS) as events:
        n = sum(1 for event in events)
""",
}


# The command line's own start-up (issue 17): what the console script runs, and nothing more. argparse
# ends --help and --version with SystemExit, caught here so that the child still reports its peak.
COMMANDS = {
    f"mistral-client {flag}": f"""
from mistral_client.cli import main
try:
    main([{flag!r}])
except SystemExit as done:
    assert done.code == 0, done.code
"""
    for flag in ("--help", "--version")
}


# Appended to each cold-start child: its peak RSS, read without importing anything more.
_REPORT_PEAK = """
with open("/proc/self/status") as status:
    print(next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:")))
"""


def _cold_once(code: str) -> tuple[float, float]:
    """Wall seconds from spawn to exit, and the child's peak RSS in MiB (read as it exits)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code + _REPORT_PEAK], env=_env(), capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"a cold-start child failed ({done.returncode}):\n{code}\n{done.stderr}")
    return wall, float(done.stdout.split()[-1])


def cold_start(base: str, s: Sizes) -> dict[str, Any]:
    names = [name for name in available(COLD) if name in s.clients or name in ("ours", "httpx2")]
    headers = {"x-bench-n": str(s.cold_chunks), "x-bench-mode": "bulk"}
    prelude = f"BASE, MODEL, HEADERS = {base!r}, {MODEL!r}, {headers!r}\nBODY = b'{{}}'\n"
    codes = {name: prelude + COLD[name] + f"assert n == {s.cold_chunks}, n\n" for name in names}
    imports = {
        "ours": "import mistral_client",
        "httpx2": "import httpx2",
        "openai": "import openai",
        "mistralai": "import mistralai.client",
    }
    if s.cold_extras:
        for code in (*codes.values(), *COMMANDS.values()):
            _cold_once(code)  # warm-up: bytecode caches and the page cache, as on any second run
    walls: dict[str, list[float]] = {name: [] for name in names}
    rss: dict[str, list[float]] = {name: [] for name in names}
    import_walls: dict[str, list[float]] = {name: [] for name in names}
    bare: list[float] = []
    for rep in range(s.cold_reps):
        for name in turns(names, rep):
            wall, peak = _cold_once(codes[name])
            walls[name].append(wall)
            rss[name].append(peak)
            if s.cold_extras:
                import_walls[name].append(_cold_once(imports[name])[0])
        for command, code in COMMANDS.items():  # a command streams nothing: the httpx2 floor is not its measure
            wall, peak = _cold_once(code)
            walls.setdefault(command, []).append(wall)
            rss.setdefault(command, []).append(peak)
            import_walls.setdefault(command, [])
        bare.append(_cold_once("pass")[0])  # in each round, so that a busier machine slows it alike
    python_ms = median(bare) * 1e3
    return {
        name: {
            "wall_ms": median(walls[name]) * 1e3,
            "peak_rss_mib": median(rss[name]),
            "import_wall_ms": median(import_walls[name]) * 1e3 if import_walls[name] else None,
            "python_wall_ms": python_ms,
            "over_python_ms": median(walls[name]) * 1e3 - python_ms,
        }
        for name in walls
    }


# --- 5: time to first chunk ---


def ttfc(clients: Clients, s: Sizes) -> dict[str, Any]:
    headers = {"x-bench-n": "3", "x-bench-mode": "trickle", "x-bench-wait": repr(s.ttfc_wait)}
    runs: dict[str, dict[str, list[float]]] = {
        name: {"ttfc_ms": [], "client_ms": [], "request_ms": [], "delivery_ms": []} for name in clients.names
    }
    for rep in range(s.ttfc_reps + 1):
        for name in turns(clients.names, rep):
            client = clients.clients[name]
            if name in SYNC:
                start, first_at, first = _first_sync(client, headers)
            else:
                start, first_at, first = clients.loop.run_until_complete(_first_async(client, headers))
            received, sent = (int(part) for part in client.chunk_id(first).split("-"))
            if rep:  # the first round warms connections up
                run = runs[name]
                run["ttfc_ms"].append((first_at - start) / 1e6)
                run["request_ms"].append((received - start) / 1e6)
                run["delivery_ms"].append((first_at - sent) / 1e6)
                run["client_ms"].append((first_at - start - (sent - received)) / 1e6)
    return {name: {key: median(values) for key, values in run.items()} for name, run in runs.items()}


def _first_sync(client: Any, headers: dict[str, str]) -> tuple[int, int, Any]:
    start = time.monotonic_ns()
    handle = client.open(headers)
    first = next(iter(handle.items))
    first_at = time.monotonic_ns()
    for _ in handle.items:
        pass
    handle.close()
    return start, first_at, first


async def _first_async(client: Any, headers: dict[str, str]) -> tuple[int, int, Any]:
    start = time.monotonic_ns()
    handle = await client.open(headers)
    first = await handle.items.__anext__()
    first_at = time.monotonic_ns()
    async for _ in handle.items:
        pass
    await handle.close()
    return start, first_at, first


# --- 6: cancellation ---


def cancellation(clients: Clients, base: str, s: Sizes) -> dict[str, Any]:
    """Milliseconds from the client's close (or task cancel) to the server seeing the socket close."""
    control = httpx2.Client(base_url=base)
    counter = 0

    def headers() -> dict[str, str]:
        nonlocal counter
        counter += 1
        return {
            "x-bench-n": "20000",
            "x-bench-mode": "trickle",
            "x-bench-gap": repr(s.cancel_gap),
            "x-bench-id": f"c{counter}",
        }

    def seen(h: dict[str, str], since: int) -> float | None:
        # The server waits up to MAX_WAIT for the close; past that the close counts as missed.
        closed = control.get(f"/_bench/closed/{h['x-bench-id']}", timeout=MAX_WAIT * 2).json()["closed_ns"]
        return None if closed is None else (closed - since) / 1e6

    ways = []
    for name in clients.names:
        ways.append((name, "close" if name in SYNC else "aclose"))
        if name not in SYNC:
            ways.append((name, "task cancel"))
    runs: dict[tuple[str, str], list[float | None]] = {way: [] for way in ways}
    try:
        for rep in range(s.cancel_reps):
            for name, how in ways if rep % 2 == 0 else ways[::-1]:
                client, h = clients.clients[name], headers()
                if name in SYNC:
                    since = _close_sync(client, h)
                else:
                    since = clients.loop.run_until_complete(_close_async(client, h, how == "task cancel"))
                runs[(name, how)].append(seen(h, since))
    finally:
        control.close()
    out: dict[str, Any] = {}
    for (name, how), values in runs.items():
        got = [v for v in values if v is not None]
        out[f"{name} {how}"] = {"ms": median(got) if got else None, "missed": len(values) - len(got)}
    return out


def _close_sync(client: Any, headers: dict[str, str]) -> int:
    handle = client.open(headers)
    items = iter(handle.items)
    for _ in range(3):
        next(items)
    since = time.monotonic_ns()
    handle.close()
    return since


async def _close_async(client: Any, headers: dict[str, str], cancel_task: bool) -> int:
    if not cancel_task:  # aclose() in the reading task, right after the third chunk
        handle = await client.open(headers)
        n = 0
        async for _ in handle.items:
            n += 1
            if n == 3:
                break
        since = time.monotonic_ns()
        await handle.close()
        return since

    three = asyncio.Event()

    async def read() -> None:  # what ``async with client.stream(...)`` does around a loop
        handle = await client.open(headers)
        try:
            n = 0
            async for _ in handle.items:
                n += 1
                if n == 3:
                    three.set()
        finally:
            await handle.close()

    task = asyncio.ensure_future(read())
    await three.wait()
    since = time.monotonic_ns()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    return since


# --- 7: one large event in small reads ---


def _ours_sse(event: bytes, read: int) -> int:
    from mistral_client._pipeline.sse import SSEDecoder

    decoder = SSEDecoder(max_event_size=None)
    got = 0
    for i in range(0, len(event), read):
        got += len(decoder.feed(event[i : i + read]))
    return got


def _ours_chunks(event: bytes, read: int) -> int:
    from mistral_client._config import DEFAULT_MAX_EVENT_SIZE
    from mistral_client._pipeline.decoding import ChunkDecoder

    decoder = ChunkDecoder(time.perf_counter(), max_event_size=DEFAULT_MAX_EVENT_SIZE)
    got = 0
    for i in range(0, len(event), read):
        got += len(decoder.feed(event[i : i + read]))
    if decoder.failed:
        raise decoder.error()
    return got + len(decoder.eof())


def _httpx2_sse(event: bytes, read: int) -> int:
    import codecs

    from httpx2._sse import _SSEParser

    parser = _SSEParser(None)
    text = codecs.getincrementaldecoder("utf-8")(errors="replace")
    return sum(1 for i in range(0, len(event), read) for _ in parser.decode(text.decode(event[i : i + read])))


def _openai_sse(event: bytes, read: int) -> int:
    from openai._streaming import SSEDecoder

    return sum(1 for _ in SSEDecoder().iter_bytes(event[i : i + read] for i in range(0, len(event), read)))


class _Body:
    """What mistralai's event parser reads from: ``iter_bytes()`` and ``close()``."""

    def __init__(self, event: bytes, read: int) -> None:
        self.event, self.read = event, read

    def iter_bytes(self) -> Iterator[bytes]:
        return (self.event[i : i + self.read] for i in range(0, len(self.event), self.read))

    def close(self) -> None:
        pass


def _mistralai_sse(event: bytes, read: int) -> int:
    from mistralai.client.utils.eventstreaming import stream_events

    return sum(1 for _ in stream_events(_Body(event, read), lambda raw: raw))  # type: ignore[arg-type]


LARGE = {
    "ours (SSE)": _ours_sse,
    "ours (SSE + chunk)": _ours_chunks,
    "httpx2 SSE": _httpx2_sse,
    "openai SSE": _openai_sse,
    "mistralai SSE": _mistralai_sse,
}
LARGE_NEEDS = {"openai SSE": "openai", "mistralai SSE": "mistralai"}
LARGE_SLOW_CAP = {"mistralai SSE": 4 * MiB}  # a Python loop per byte: larger sizes only add minutes


def large(s: Sizes) -> dict[str, Any]:
    from bench.clients import installed

    out: dict[str, Any] = {}
    for name, fn in LARGE.items():
        if not installed(LARGE_NEEDS.get(name, "")):
            continue
        per_mib: dict[str, float] = {}
        for size in s.large_sizes:
            if size > LARGE_SLOW_CAP.get(name, size):
                continue
            event = large_event(size)
            times = []
            for _ in range(s.large_reps):
                gc.collect()
                start = time.process_time()
                got = fn(event, s.large_read)
                times.append(time.process_time() - start)
                if got != 1:
                    raise RuntimeError(f"{name} decoded {got} events from one")
            per_mib[str(size)] = median(times) / (size / MiB) * 1e3
        out[name] = per_mib
    return out


def peak_rss_mib() -> float:
    """This process's peak resident memory, in MiB.

    ``VmHWM`` rather than ``getrusage``: Linux carries ``ru_maxrss`` across ``exec``, so a child of a
    big parent would report at least the parent's size.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def stream_bytes(n: int) -> int:
    return sum(len(event) for event in chunk_events(n))
